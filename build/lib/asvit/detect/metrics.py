"""COCO metrics with pycocotools' ``COCOeval``: box AP (and mask AP when the predictions carry
masks) averaged over IoU 0.50:0.95, at IoU 0.50 and 0.75, and for small, medium and large objects."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# COCOeval.stats positions of the reported numbers.
STATS = {"AP": 0, "AP50": 1, "AP75": 2, "APs": 3, "APm": 4, "APl": 5}


def coco_results(image_id: int, output: Mapping[str, torch.Tensor], mask_threshold: float = 0.5
                 ) -> list[dict[str, Any]]:
    """One torchvision detector output (boxes x1,y1,x2,y2; labels = category ids; scores; optional
    soft masks (N, 1, H, W)) as COCO result records (bbox as x, y, w, h; masks run-length encoded)."""
    boxes = output["boxes"].detach().cpu().double()
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()
    records = [{"image_id": image_id, "category_id": int(label), "bbox": box, "score": float(score)}
               for box, label, score in zip(xywh, output["labels"].tolist(), output["scores"].tolist(), strict=True)]
    if "masks" in output:
        binary = (output["masks"][:, 0] > mask_threshold).cpu().numpy().astype(np.uint8)
        for record, mask in zip(records, binary, strict=True):
            rle = coco_mask.encode(np.asfortranarray(mask))
            record["segmentation"] = {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}
    return records


def coco_metrics(truth: COCO, results: Sequence[Mapping[str, Any]], masks: bool | None = None
                 ) -> dict[str, dict[str, float | None]]:
    """``{"bbox": {"AP": ..., "AP50": ..., ...}, "segm": {...}}`` in [0, 1]; None where the truth has
    no object of that size (COCOeval's -1). ``segm`` is there when ``masks`` (by default: when every
    result has a segmentation); with no results every AP is 0. COCOeval's printout is suppressed."""
    if masks is None:
        masks = bool(results) and all("segmentation" in r for r in results)
    kinds = ["bbox", "segm"] if masks else ["bbox"]
    if not results:
        return {kind: dict.fromkeys(STATS, 0.0) for kind in kinds}
    with contextlib.redirect_stdout(io.StringIO()):
        predicted = truth.loadRes([dict(r) for r in results])
        metrics = {}
        for kind in kinds:
            evaluation = COCOeval(truth, predicted, kind)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
            metrics[kind] = {name: (float(evaluation.stats[i]) if evaluation.stats[i] >= 0 else None)
                             for name, i in STATS.items()}
    return metrics
