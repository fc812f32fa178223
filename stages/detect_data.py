"""Stage ``detect_data``: the detection splits in ``data/det/`` (the generated COCO-format set, or
the COCO-format files of ``detect.data``), every split checked before any training."""

from pathlib import Path

from asvit.config import load_params
from asvit.detect.data import SPLITS_FILE, prepare_detection
from asvit.errors import exit_on_user_error
from asvit.tracking import stage_run

OUT = Path("data/det")


@exit_on_user_error
def main() -> None:
    data = load_params().detect.data
    with stage_run("detect_data", {"detect": {"data": data.model_dump()}}) as run:
        splits = prepare_detection(data, OUT)
        run.log_artifact(OUT / SPLITS_FILE)
    for split, entry in splits.items():
        print(f"{split}: {entry['annotations']} over {entry['images']}")


if __name__ == "__main__":
    main()
