"""The classification data module: every source, the prepared format and its errors."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from asvit.data import (SHAPES, SOURCES, DataError, dataset_info, generate_shapes, open_classification,
                        prepare_classification)
from asvit.registry import UnknownName

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_PER_BATCH = 4


def _pickle(path: Path, content: object) -> None:
    path.write_bytes(pickle.dumps(content))


def _cifar_batch(path: Path, offset: int, count: int = CIFAR_PER_BATCH) -> None:
    """A batch in the official format: uint8 rows of 3072 (R, G, B planes) and a list of int labels."""
    data = (np.arange(count * 3072, dtype=np.int64).reshape(count, 3072) * 7 + offset) % 256
    _pickle(path, {b"batch_label": b"fixture", b"labels": [(offset + i) % 10 for i in range(count)],
                   b"data": data.astype(np.uint8), b"filenames": [b"x.png"] * count})


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar"
    folder.mkdir()
    for index in range(1, 6):
        _cifar_batch(folder / f"data_batch_{index}", offset=index)
    _cifar_batch(folder / "test_batch", offset=0, count=6)
    _pickle(folder / "batches.meta", {b"label_names": [name.encode() for name in CIFAR_NAMES],
                                      b"num_cases_per_batch": CIFAR_PER_BATCH, b"num_vis": 3072})
    return folder


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """An ImageNet-layout folder of tiny non-square PNGs: 3 train and 2 val images in each of 2 classes."""
    root = tmp_path / "images"
    for split, count in (("train", 3), ("val", 2)):
        for label, name in enumerate(("ant", "bee")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = np.full((12, 20, 3), 40 + 120 * label + index, dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.png")
    return root


def _prepare_generated(out: Path, **overrides: object) -> dict:
    settings = {"image_size": 16, "seed": 0, "num_classes": 4, "train_size": 42, "val_size": 12} | overrides
    return prepare_classification("generated", out, **settings)


def test_generated_is_deterministic_per_seed() -> None:
    first, labels = generate_shapes(30, 5, 16, seed=3)
    again, labels_again = generate_shapes(30, 5, 16, seed=3)
    other, _ = generate_shapes(30, 5, 16, seed=4)
    assert torch.equal(first, again) and torch.equal(labels, labels_again)
    assert not torch.equal(first, other)


def test_generated_draws_every_shape() -> None:
    images, labels = generate_shapes(len(SHAPES) * 2, len(SHAPES), 24, seed=0)
    assert images.shape == (len(SHAPES) * 2, 3, 24, 24) and images.dtype == torch.uint8
    assert labels.bincount().tolist() == [2] * len(SHAPES)
    assert images.float().std() > 20  # not blank


def _bright_share(images: torch.Tensor) -> float:
    """The share of pixels whose darkest channel is bright: shapes are drawn in channels of 0.6 to 1 over a
    background below 0.35, so this measures how much of the image the shapes cover."""
    return (images.amin(dim=1) > 150).float().mean().item()


def test_shape_size_sets_how_much_of_the_image_a_shape_covers(tmp_path: Path) -> None:
    small, labels = generate_shapes(200, 4, 32, seed=1, shape_size=(0.1, 0.1))
    large, labels_again = generate_shapes(200, 4, 32, seed=1, shape_size=(0.3, 0.3))
    assert torch.equal(labels, labels_again)
    ratio = _bright_share(large) / _bright_share(small)
    assert 5 < ratio < 13  # area grows with the radius squared: (0.3 / 0.1)^2 = 9
    info = _prepare_generated(tmp_path, shape_size=(0.2, 0.25))
    assert info["shape_size"] == [0.2, 0.25]


@pytest.mark.parametrize("size", [(0.0, 0.2), (0.3, 0.2), (0.2, 0.6)])
def test_bad_shape_size_names_the_parameter(size: tuple[float, float]) -> None:
    with pytest.raises(DataError, match=r"data.shape_size=.*0 < low <= high <= 0.5"):
        generate_shapes(4, 2, 16, seed=0, shape_size=size)


def test_generated_prepares_balanced_distinct_splits(tmp_path: Path) -> None:
    info = _prepare_generated(tmp_path)
    train = torch.load(tmp_path / "train.pt", weights_only=True)
    val = torch.load(tmp_path / "val.pt", weights_only=True)
    assert train["images"].shape == (42, 3, 16, 16) and train["images"].dtype == torch.uint8
    assert train["labels"].dtype == torch.int64 and val["images"].shape == (12, 3, 16, 16)
    counts = train["labels"].bincount(minlength=4)
    assert counts.max() - counts.min() <= 1 and len(counts) == 4
    flat_train, flat_val = train["images"].flatten(1), val["images"].flatten(1)
    assert not (flat_val[:, None] == flat_train[None]).all(dim=2).any()
    assert info == json.loads((tmp_path / "info.json").read_text())
    assert info["class_names"] == list(SHAPES)[:4] and (info["train_size"], info["val_size"]) == (42, 12)
    assert not list(tmp_path.glob(".*tmp"))


def test_generated_round_trips_through_open(tmp_path: Path) -> None:
    _prepare_generated(tmp_path, train_size=64)
    stored = torch.load(tmp_path / "train.pt", weights_only=True)
    dataset = open_classification(tmp_path, "train")
    image, label = dataset[5]
    assert len(dataset) == 64 and image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert isinstance(label, int) and label == stored["labels"][5]
    batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
    assert batch.mean(dim=(0, 2, 3)).abs().max() < 1e-3
    assert (batch.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-2
    assert len(open_classification(tmp_path, "val")) == 12 and dataset_info(tmp_path)["source"] == "generated"


def test_digits_has_ten_real_classes(tmp_path: Path) -> None:
    info = prepare_classification("digits", tmp_path, image_size=16, seed=0)
    assert info["num_classes"] == 10 and info["class_names"] == [str(d) for d in range(10)]
    assert info["train_size"] + info["val_size"] == 1797
    val = torch.load(tmp_path / "val.pt", weights_only=True)
    assert val["images"].shape == (info["val_size"], 3, 16, 16)
    assert val["labels"].unique().tolist() == list(range(10))
    assert torch.equal(val["images"][:, 0], val["images"][:, 2])  # grey in 3 channels
    again = prepare_classification("digits", tmp_path / "again", image_size=16, seed=0)
    assert again == info and torch.equal(torch.load(tmp_path / "again/val.pt", weights_only=True)["images"],
                                         val["images"])


def test_digits_sizes_are_upper_bounds_and_every_digit_is_a_class(tmp_path: Path) -> None:
    info = prepare_classification("digits", tmp_path, image_size=8, seed=1, num_classes=3, train_size=50,
                                  val_size=20)
    train = torch.load(tmp_path / "train.pt", weights_only=True)
    assert (info["train_size"], info["val_size"], info["num_classes"]) == (50, 20, 10)  # num_classes: generated only
    assert info["class_names"] == [str(d) for d in range(10)] and train["labels"].max() > 2


def test_cifar10_reads_the_pickle_batches(cifar_dir: Path, tmp_path: Path) -> None:
    info = prepare_classification("cifar10", tmp_path / "out", image_size=32, seed=0, path=cifar_dir)
    assert info["class_names"] == CIFAR_NAMES and (info["train_size"], info["val_size"]) == (20, 6)
    train = torch.load(tmp_path / "out/train.pt", weights_only=True)
    assert train["labels"].tolist() == [(batch + i) % 10 for batch in range(1, 6) for i in range(4)]
    with (cifar_dir / "data_batch_1").open("rb") as stream:
        first = pickle.load(stream, encoding="bytes")[b"data"][0]
    assert torch.equal(train["images"][0], torch.from_numpy(first.reshape(3, 32, 32)))
    val = open_classification(tmp_path / "out", "val")
    assert len(val) == 6 and val[0][0].shape == (3, 32, 32) and val[3][1] == 3


def test_cifar10_resizes_and_finds_the_archive_folder(cifar_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "download"
    archive.mkdir()
    cifar_dir.rename(archive / "cifar-10-batches-py")
    info = prepare_classification("cifar10", tmp_path / "out", image_size=16, seed=0, path=archive, num_classes=5)
    train = torch.load(tmp_path / "out/train.pt", weights_only=True)
    assert train["images"].shape[1:] == (3, 16, 16) and train["labels"].max() > 5  # the data's 10 classes
    assert info["num_classes"] == 10 and info["train_size"] == len(train["labels"])


def test_imagefolder_is_read_lazily(image_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    info = prepare_classification("imagefolder", out, image_size=8, seed=0, path=image_root, num_classes=2)
    assert [path.name for path in out.iterdir()] == ["info.json"]
    assert info["root"] == str(image_root.resolve()) and info["class_names"] == ["ant", "bee"]
    assert (info["train_size"], info["val_size"]) == (6, 4)
    train = open_classification(out, "train")
    image, label = train[4]
    assert len(train) == 6 and image.shape == (3, 8, 8) and image.dtype == torch.float32 and label == 1
    assert len(open_classification(out, "val")) == 4


def test_imagefolder_keeps_a_seeded_subset(image_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    info = prepare_classification("imagefolder", out, image_size=8, seed=0, path=image_root, num_classes=2,
                                  train_size=4)
    assert info["train_size"] == 4 and len(open_classification(out, "train")) == 4


def _break_batch(folder: Path) -> None:
    (folder / "data_batch_3").unlink()


def _garble_batch(folder: Path) -> None:
    (folder / "data_batch_2").write_bytes(b"not a pickle")


def _misshape_batch(folder: Path) -> None:
    _pickle(folder / "data_batch_4", {b"data": np.zeros((4, 100), dtype=np.uint8), b"labels": [0, 1, 2, 3]})


def _mislabel_batch(folder: Path) -> None:
    _pickle(folder / "test_batch", {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0]})


@pytest.mark.parametrize(("damage", "message"), [
    (_break_batch, "missing CIFAR-10 file data_batch_3"),
    (_garble_batch, "corrupt CIFAR-10 file .*data_batch_2"),
    (_misshape_batch, "corrupt CIFAR-10 file .*data_batch_4.*3072"),
    (_mislabel_batch, "corrupt CIFAR-10 file .*test_batch.*labels"),
])
def test_cifar10_damage_names_the_file(cifar_dir: Path, tmp_path: Path, damage, message: str) -> None:
    damage(cifar_dir)
    with pytest.raises(DataError, match=message):
        prepare_classification("cifar10", tmp_path / "out", image_size=32, seed=0, path=cifar_dir)


def test_unknown_source_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(UnknownName, match="unknown data source 'mnist'; allowed: " + ", ".join(SOURCES)):
        prepare_classification("mnist", tmp_path, image_size=32, seed=0)


@pytest.mark.parametrize("source", ["cifar10", "imagefolder"])
def test_sources_on_disk_need_data_path(source: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"{source} source needs data.path"):
        prepare_classification(source, tmp_path, image_size=32, seed=0)
    with pytest.raises(DataError, match="is not a directory"):
        prepare_classification(source, tmp_path, image_size=32, seed=0, path=tmp_path / "nowhere")


def test_empty_image_folders_are_rejected(image_root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="empty image folder .*train: no class sub-folders"):
        prepare_classification("imagefolder", tmp_path / "a", image_size=8, seed=0, path=empty)
    for png in (image_root / "val/bee").iterdir():
        png.unlink()
    with pytest.raises(DataError, match="empty image folder .*val"):
        prepare_classification("imagefolder", tmp_path / "b", image_size=8, seed=0, path=image_root, num_classes=2)


def test_an_image_folder_has_the_classes_of_its_folders(image_root: Path, tmp_path: Path) -> None:
    for name, shade in (("cat", 30), ("dog", 90), ("eel", 150)):
        for split in ("train", "val"):
            (image_root / split / name).mkdir()
            Image.fromarray(np.full((12, 20, 3), shade, dtype=np.uint8)).save(image_root / split / name / "0.png")
    info = prepare_classification("imagefolder", tmp_path / "five", image_size=8, seed=0, path=image_root,
                                  num_classes=3)  # num_classes is the generated task's: an image folder ignores it
    assert info["num_classes"] == 5 and info["class_names"] == ["ant", "bee", "cat", "dog", "eel"]
    for name in ("bee", "cat", "dog", "eel"):
        for split in ("train", "val"):
            shutil.rmtree(image_root / split / name)
    with pytest.raises(DataError, match=r"the imagefolder source holds 1 class \(ant\); a classification needs at "
                                        "least 2"):
        prepare_classification("imagefolder", tmp_path / "one", image_size=8, seed=0, path=image_root)
    with pytest.raises(DataError, match="data.num_classes=13: the generated source"):
        _prepare_generated(tmp_path, num_classes=13)


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_corrupt_image_stops_the_data_stage_naming_the_file(image_root: Path, tmp_path: Path, split: str) -> None:
    corrupt = image_root / split / "bee" / "1.png"
    corrupt.write_bytes(corrupt.read_bytes()[:60])  # a truncated PNG: its header opens, its pixels do not
    with pytest.raises(DataError, match=f"unreadable image {corrupt}"):
        prepare_classification("imagefolder", tmp_path / "out", image_size=8, seed=0, path=image_root)
    assert not (tmp_path / "out" / "info.json").exists()


def test_bad_settings_name_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data.train_size=0"):
        _prepare_generated(tmp_path, train_size=0)
    with pytest.raises(DataError, match="data.image_size=4"):
        _prepare_generated(tmp_path, image_size=4)


def test_unprepared_directory_says_to_run_the_data_stage(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no info.json: run the `data` stage"):
        open_classification(tmp_path, "train")
    with pytest.raises(DataError, match="no info.json: run the `data` stage"):
        dataset_info(tmp_path)


def test_prepared_files_are_checked(tmp_path: Path) -> None:
    _prepare_generated(tmp_path)
    with pytest.raises(DataError, match="unknown split 'test'"):
        open_classification(tmp_path, "test")
    (tmp_path / "val.pt").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"val.pt: is truncated or corrupt; prepare it again with `dvc repro -f data`"):
        open_classification(tmp_path, "val")
    (tmp_path / "train.pt").unlink()
    with pytest.raises(DataError, match="missing prepared file .*train.pt"):
        open_classification(tmp_path, "train")
