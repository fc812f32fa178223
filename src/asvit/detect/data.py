"""The embedded detection set: seeded, generated images with several objects each, written in COCO
format (``annotations/instances_<split>.json`` and ``images/<split>/*.png``) so that it is read
back through pycocotools like real COCO.

Every image draws 2 to ``max_objects`` shapes of the generated classification task's categories
(``asvit.data.generated.SHAPES``) at random sizes, aspects, rotations and positions anywhere in the
image, in random bright colours, over the same cluttered background (gradient, soft blobs, line
strokes) and pixel noise. Objects are drawn one after another, so later ones occlude earlier ones:
objects touch and overlap. An object's annotation is what stays visible: its instance mask (run-length
encoded), the box around that mask and its pixel area. An object with less than ``MIN_VISIBLE``
visible pixels gets no annotation (it stays in the image as clutter).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as coco_mask
from torch import Tensor

from ..atomic import atomic_path, write_json
from ..data.errors import DataError
from ..data.generated import (SHAPES, background, composite, draw_blobs, draw_strokes, one_thread, per_image,
                              pixel_grid, shape_names, uniform)
from ..data.sampling import generator, split_seed
from .dataset import CocoDetection, DetectionDataError, open_coco

if TYPE_CHECKING:
    from ..config import DetectDataParams

MIN_VISIBLE = 16  # pixels an object must show to be annotated
_RADIUS = (0.07, 0.2)  # object radius as a fraction of the image side
_LOG_ASPECT = 0.3
_COLOUR = (0.55, 1.0)


def _object_coverage(count: int, size: int, category: Tensor, names: list[str], gen: torch.Generator) -> Tensor:
    """(count, size, size) antialiased coverage of one object per image, placed anywhere in the image."""
    radius = uniform(gen, (count,), *_RADIUS)
    stretch = uniform(gen, (count,), -_LOG_ASPECT, _LOG_ASPECT).exp().sqrt()
    angle = uniform(gen, (count,), -math.pi, math.pi)
    centre = radius.unsqueeze(1) + torch.rand(count, 2, generator=gen) * (1 - 2 * radius.unsqueeze(1))
    x, y = pixel_grid(size)
    dx, dy = x - per_image(centre[:, 0]), y - per_image(centre[:, 1])
    cos, sin = per_image(angle.cos()), per_image(angle.sin())
    u = (dx * cos + dy * sin) / per_image(radius * stretch)
    v = (dy * cos - dx * sin) / per_image(radius / stretch)
    field = torch.empty_like(u)
    for label, name in enumerate(names):
        chosen = category == label
        field[chosen] = SHAPES[name](u[chosen], v[chosen])
    return (field * per_image(radius) * size + 0.5).clamp_(0, 1)


def render_scenes(count: int, size: int, num_categories: int, max_objects: int, seed: int
                  ) -> tuple[Tensor, list[list[tuple[int, np.ndarray]]]]:
    """``count`` uint8 images (count, 3, size, size) and, per image, its annotated objects as
    (category index, visible boolean mask of shape (size, size)) in drawing order."""
    if max_objects < 2:
        raise DataError(f"detect.data.max_objects={max_objects}: at least 2 objects per image")
    names = shape_names(num_categories)
    gen = generator(seed)
    with one_thread():
        canvas = background(count, size, gen)
        draw_blobs(canvas, 2, gen)
        draw_strokes(canvas, 3, (0.004, 0.015), gen)
        present = torch.randint(2, max_objects + 1, (count,), generator=gen)
        categories = torch.randint(0, num_categories, (count, max_objects), generator=gen)
        solid = []
        for slot in range(max_objects):
            coverage = _object_coverage(count, size, categories[:, slot], names, gen)
            coverage = coverage * per_image((slot < present).float())
            composite(canvas, uniform(gen, (count, 3), *_COLOUR), coverage)
            solid.append(coverage > 0.5)
        draw_strokes(canvas, 1, (0.003, 0.008), gen)
        canvas.add_(torch.randn(canvas.shape, generator=gen) * 0.03)
    images = canvas.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    covered_later = torch.zeros(count, size, size, dtype=torch.bool)
    visible = [torch.empty(0)] * max_objects
    for slot in reversed(range(max_objects)):
        visible[slot] = solid[slot] & ~covered_later
        covered_later |= solid[slot]
    objects = []
    for i in range(count):
        kept = [(int(categories[i, s]), visible[s][i].numpy()) for s in range(int(present[i]))]
        objects.append([(c, m) for c, m in kept if m.sum() >= MIN_VISIBLE])
    return images, objects


def _annotation(ann_id: int, image_id: int, category_id: int, mask: np.ndarray) -> dict[str, Any]:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    x, y, w, h = (float(v) for v in coco_mask.toBbox(rle))
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [x, y, w, h],
            "area": float(coco_mask.area(rle)), "iscrowd": 0,
            "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}}


def write_coco_split(out_dir: Path, split: str, count: int, size: int, num_categories: int, max_objects: int,
                     seed: int) -> Path:
    """Generate one split into ``out_dir`` (images, then the annotation file, written last so that
    its presence marks a complete split); return the annotation file's path."""
    images, objects = render_scenes(count, size, num_categories, max_objects, seed)
    image_dir = out_dir / "images" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    image_records, annotations = [], []
    for index, (image, scene) in enumerate(zip(images, objects, strict=True)):
        image_id = index + 1
        name = f"{image_id:06d}.png"
        with atomic_path(image_dir / name) as tmp:
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
        image_records.append({"id": image_id, "file_name": name, "width": size, "height": size})
        for category, mask in scene:
            annotations.append(_annotation(len(annotations) + 1, image_id, category + 1, mask))
    categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(shape_names(num_categories))]
    path = out_dir / "annotations" / f"instances_{split}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"images": image_records, "annotations": annotations, "categories": categories}))
    return path


SPLITS_FILE = "splits.json"


def prepare_detection(data: DetectDataParams, out_dir: Path) -> dict[str, dict[str, str]]:
    """The ``detect_data`` stage: generate both splits into ``out_dir`` (``source: generated``) or take
    the user's COCO-format files (``source: coco``), check every split through :func:`open_coco`
    before any training, and write ``out_dir/splits.json``: each split's annotation file and image
    folder (relative to ``out_dir`` when generated)."""
    out_dir = Path(out_dir)
    if data.source == "generated":
        sizes = {"train": data.train_size, "val": data.val_size}
        splits = {}
        for split, count in sizes.items():
            annotations = write_coco_split(out_dir, split, count, data.image_size, data.num_categories,
                                           data.max_objects, split_seed(data.seed, split))
            splits[split] = {"annotations": str(annotations.relative_to(out_dir)), "images": f"images/{split}"}
    else:
        splits = {split: {"annotations": str(Path(getattr(data, f"{split}_annotations")).resolve()),
                          "images": str(Path(getattr(data, f"{split}_images")).resolve())}
                  for split in ("train", "val")}
    for split in splits:
        open_split(out_dir, split, splits, decode=True)
    write_json(out_dir / SPLITS_FILE, splits)
    return splits


def open_split(out_dir: Path, split: str, splits: dict[str, dict[str, str]] | None = None,
               decode: bool = False) -> CocoDetection:
    """The checked split ``split`` that ``detect_data`` prepared in ``out_dir`` (``decode``: every image
    decoded and its size checked too)."""
    if splits is None:
        path = Path(out_dir) / SPLITS_FILE
        if not path.is_file():
            raise DetectionDataError(f"{path}: not found; run the `detect_data` stage")
        splits = json.loads(path.read_text())
    entry = splits[split]
    return open_coco(Path(out_dir) / entry["annotations"], Path(out_dir) / entry["images"], decode=decode)
