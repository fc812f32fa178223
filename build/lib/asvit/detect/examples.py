"""A picture of what a detector does: validation images with the ground truth (green boxes and
masks) beside the predictions above a score threshold (red boxes, masks, labels and scores)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks, make_grid, save_image

from ..atomic import atomic_path
from .dataset import CocoDetection


def _drawn(image: torch.Tensor, boxes: torch.Tensor, masks: torch.Tensor | None, labels: list[str],
           colour: str) -> torch.Tensor:
    picture = (image * 255).to(torch.uint8)
    if masks is not None and len(masks):
        picture = draw_segmentation_masks(picture, masks.bool(), alpha=0.35, colors=colour)
    return draw_bounding_boxes(picture, boxes, labels=labels, colors=colour, width=1)


@torch.no_grad()
def draw_examples(model: nn.Module, dataset: CocoDetection, path: Path, count: int = 4,
                  score_threshold: float = 0.5) -> Path:
    """``path`` (PNG): ``count`` validation images, one row each, ground truth left and predictions right."""
    was_training = model.training
    model.eval()
    names = {label: dataset.coco.cats[c]["name"] for c, label in dataset.label_of.items()}
    tiles = []
    for index in range(min(count, len(dataset))):
        image, target = dataset[index]
        [output] = model([image])
        keep = output["scores"] >= score_threshold
        masks = output["masks"][keep, 0] > 0.5 if "masks" in output else None
        tiles.append(_drawn(image, target["boxes"], target.get("masks"),
                            [names[int(i)] for i in target["labels"]], "lime"))
        tiles.append(_drawn(image, output["boxes"][keep], masks,
                            [f"{names[int(i)]} {s:.2f}" for i, s in zip(output["labels"][keep],
                                                                        output["scores"][keep], strict=True)], "red"))
    model.train(was_training)
    with atomic_path(path) as tmp:
        save_image(make_grid(torch.stack(tiles).float() / 255, nrow=2, padding=4), tmp, format="png")
    return path
