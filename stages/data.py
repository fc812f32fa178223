"""Stage ``data``: prepare the classification dataset in ``data/cls/``."""

from pathlib import Path

from asvit.config import load_params
from asvit.data import prepare_classification
from asvit.errors import exit_on_user_error
from asvit.tracking import stage_run

OUT = Path("data/cls")


@exit_on_user_error
def main() -> None:
    data = load_params().data
    with stage_run("data", {"data": data.model_dump()}) as run:
        info = prepare_classification(data.source, OUT, image_size=data.image_size, seed=data.seed, path=data.path,
                                      num_classes=data.num_classes, train_size=data.train_size,
                                      val_size=data.val_size, shape_size=data.shape_size)
        run.log_metrics({"train_size": info["train_size"], "val_size": info["val_size"],
                         "num_classes": info["num_classes"]})
        run.log_artifact(OUT / "info.json")
    print(f"prepared {data.source}: {info['train_size']} train / {info['val_size']} val images, "
          f"{info['num_classes']} classes, {info['image_size']} px")


if __name__ == "__main__":
    main()
