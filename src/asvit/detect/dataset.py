"""COCO-format detection data read through pycocotools' ``COCO`` API: any annotation file and image
folder (real COCO 2017 or the generated set), checked before any training.

:func:`open_coco` stops with one line naming the file, the annotation id or the image on: a
missing or malformed annotation file, an image or annotation record missing a field or holding one of
the wrong type, an image file that does not exist, a box outside its image, and an annotation whose
category id is not among the file's categories; with ``decode`` (the ``detect_data`` stage), also an
image file that does not decode or whose size is not the one its record states. Items are what
torchvision's detectors take: a float image (3, H, W) in [0, 1] and a target with ``boxes``
(x1, y1, x2, y2), ``labels`` (contiguous 1..K, 0 being the background), ``masks`` (N, H, W) and
``image_id``; crowd annotations are left out of training, as in torchvision's references.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from pycocotools.coco import COCO
from torch.utils.data import Dataset
from torchvision.transforms.functional import pil_to_tensor
from tqdm import tqdm

from ..data.errors import DataError
from ..data.imageops import decoded_size
from ..errors import AsvitError


class DetectionDataError(AsvitError):
    """A COCO-format annotation file or image folder that cannot be used."""


def _load_annotations(path: Path) -> COCO:
    if not path.is_file():
        raise DetectionDataError(f"{path}: annotation file not found")
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DetectionDataError(f"{path}: not valid JSON ({exc})") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(content, dict) or k not in content]
    if missing:
        raise DetectionDataError(f"{path}: not a COCO instances file (no {', '.join(missing)})")
    for kind, (one, fields) in RECORD_FIELDS.items():
        for record in content[kind]:
            _check_fields(record, fields, f"{path}: {one}")
    coco = COCO()
    coco.dataset = content
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _box(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


# Per list of the file: what one record is called, and the fields it needs, each with the test its
# value must pass and what that test asks for.
POSITIVE = (_positive, "a positive integer")
RECORD_FIELDS: dict[str, tuple[str, dict[str, tuple[object, str]]]] = {
    "images": ("image", {"id": POSITIVE, "file_name": (lambda v: isinstance(v, str) and v, "a path"),
                         "width": POSITIVE, "height": POSITIVE}),
    "annotations": ("annotation", {"id": POSITIVE, "image_id": POSITIVE, "category_id": POSITIVE,
                                   "bbox": (_box, "[x, y, width, height]")}),
    "categories": ("category", {"id": POSITIVE}),
}


def _check_fields(record: object, fields: dict[str, tuple[object, str]], what: str) -> None:
    """One line naming the record (``what`` and its id) and its first missing or malformed field."""
    if not isinstance(record, dict):
        raise DetectionDataError(f"{what}: expected a JSON object, got {record!r:.60}")
    for name, (valid, expected) in fields.items():
        if name not in record:
            raise DetectionDataError(f"{what} {record.get('id')}: no {name!r} field")
        if not valid(record[name]):
            raise DetectionDataError(f"{what} {record.get('id')}: {name} must be {expected}, got {record[name]!r}")


def _check_image_files(coco: COCO, images: Path) -> None:
    """Decode every image once and compare its size with its record's."""
    for record in tqdm(coco.dataset["images"], desc=f"checking {images.name} images", unit="image", leave=False):
        path = images / record["file_name"]
        try:
            size = decoded_size(path)
        except DataError as error:
            raise DetectionDataError(f"image id {record['id']}: {error}") from None
        if size != (record["width"], record["height"]):
            raise DetectionDataError(f"{path}: image id {record['id']} is {size[0]} x {size[1]} px, its record says "
                                     f"{record['width']} x {record['height']}")


def _check(coco: COCO, annotations: Path, images: Path) -> None:
    categories = set(coco.getCatIds())
    for ann in coco.dataset["annotations"]:
        where = f"{annotations}: annotation {ann.get('id')}"
        if ann.get("category_id") not in categories:
            raise DetectionDataError(f"{where}: category id {ann.get('category_id')} is not in the file's categories "
                                     f"({', '.join(map(str, sorted(categories)))})")
        image = coco.imgs.get(ann.get("image_id"))
        if image is None:
            raise DetectionDataError(f"{where}: image id {ann.get('image_id')} is not in the file's images")
        x, y, w, h = ann["bbox"]
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > image["width"] + 0.5 or y + h > image["height"] + 0.5:
            raise DetectionDataError(f"{where}: box {ann['bbox']} lies outside its image "
                                     f"({image['width']} x {image['height']}, {image['file_name']})")
    for image in coco.dataset["images"]:
        if not (images / image["file_name"]).is_file():
            raise DetectionDataError(f"{images / image['file_name']}: image file of image id {image['id']} not found")


@dataclass
class CocoDetection(Dataset):
    """One split: the ``COCO`` index, the image folder, and category id <-> contiguous label maps."""

    coco: COCO
    images: Path
    with_masks: bool = True

    def __post_init__(self) -> None:
        self.ids = sorted(self.coco.getImgIds())
        self.category_ids = sorted(self.coco.getCatIds())
        self.label_of = {c: i + 1 for i, c in enumerate(self.category_ids)}

    @property
    def num_classes(self) -> int:
        """Categories plus the background."""
        return len(self.category_ids) + 1

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        with Image.open(self.images / info["file_name"]) as file:
            image = pil_to_tensor(file.convert("RGB")).float() / 255
        anns = [a for a in self.coco.imgToAnns[image_id] if not a.get("iscrowd", 0)]
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns], dtype=torch.float32).reshape(-1, 4)
        target = {"boxes": boxes, "labels": torch.tensor([self.label_of[a["category_id"]] for a in anns],
                                                         dtype=torch.int64),
                  "image_id": torch.tensor(image_id)}
        if self.with_masks:
            masks = [torch.from_numpy(self.coco.annToMask(a)) for a in anns]
            target["masks"] = (torch.stack(masks) if masks else
                               torch.zeros(0, info["height"], info["width"], dtype=torch.uint8))
        return image, target


def open_coco(annotations: Path | str, images: Path | str, with_masks: bool = True,
              decode: bool = False) -> CocoDetection:
    """A checked COCO-format split: ``annotations`` (instances JSON) over the image folder ``images``;
    ``decode`` also decodes every image and checks its size against its record."""
    annotations, images = Path(annotations), Path(images)
    coco = _load_annotations(annotations)
    _check(coco, annotations, images)
    if decode:
        _check_image_files(coco, images)
    return CocoDetection(coco, images, with_masks)
