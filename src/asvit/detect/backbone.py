"""The As-ViT network as a torchvision detection backbone, and the detectors that take it.

:class:`ASViTBackbone` feeds the four stage outputs of ``ASViT.forward_stages`` (strides 4, 8, 16
and 32, widths min(mC, 1024) for m = 1, 2, 4, 8) to torchvision's ``FeaturePyramidNetwork``, which maps each
to ``out_channels`` and adds a stride-64 level by max pooling: the five levels ``'0'``-``'3'`` and
``'pool'`` that torchvision's detectors expect. torchvision's ``GeneralizedRCNNTransform`` resizes
each image and pads the batch to a multiple of 32, so every stage grid is even; attention windows
that do not divide a grid are padded and masked inside the network as in training.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, MaskRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7

from ..models import ASViT
from ..registry import Registry
from ..space import Topology

STRIDES = (4, 8, 16, 32)


class ASViTBackbone(nn.Module):
    """As-ViT stage outputs through a feature pyramid: ``forward`` gives ``OrderedDict`` levels
    ``'0'``, ``'1'``, ... for the ``stages`` used (0-based; strides ``STRIDES``) plus the extra levels
    of ``extra_blocks``, each with ``out_channels`` channels."""

    def __init__(self, body: ASViT, out_channels: int = 256, extra_blocks: nn.Module | None = None,
                 stages: tuple[int, ...] = (0, 1, 2, 3)) -> None:
        super().__init__()
        self.body = body
        self.stages = stages
        self.fpn = FeaturePyramidNetwork([body.topology.widths[i] for i in stages], out_channels,
                                         extra_blocks=extra_blocks or LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        outputs = self.body.forward_stages(images)
        return self.fpn(OrderedDict((str(level), outputs[i]) for level, i in enumerate(self.stages)))


def _box_head(channels: int) -> TwoMLPHead:
    """torchvision's box head, its width scaled with the pyramid's: 1024 at the usual 256 channels."""
    return TwoMLPHead(channels * 7 * 7, 4 * channels)


def _mask_rcnn(backbone: ASViTBackbone, num_classes: int, **kwargs) -> nn.Module:
    channels = backbone.out_channels
    return MaskRCNN(backbone, box_head=_box_head(channels),
                    box_predictor=FastRCNNPredictor(4 * channels, num_classes),
                    mask_head=MaskRCNNHeads(channels, (channels,) * 4, 1),
                    mask_predictor=MaskRCNNPredictor(channels, channels, num_classes), **kwargs)


def _faster_rcnn(backbone: ASViTBackbone, num_classes: int, **kwargs) -> nn.Module:
    channels = backbone.out_channels
    return FasterRCNN(backbone, box_head=_box_head(channels),
                      box_predictor=FastRCNNPredictor(4 * channels, num_classes), **kwargs)


def _retinanet(backbone: ASViTBackbone, num_classes: int, **kwargs) -> nn.Module:
    return RetinaNet(backbone, num_classes=num_classes, **kwargs)


def _fcos(backbone: ASViTBackbone, num_classes: int, **kwargs) -> nn.Module:
    return FCOS(backbone, num_classes=num_classes, **kwargs)


@dataclass(frozen=True)
class DetectorSpec:
    """How a detector is built: its constructor, the stages it reads and its extra pyramid levels."""

    build: Callable[..., nn.Module]
    stages: tuple[int, ...]
    extra_blocks: Callable[[int], nn.Module]


# The R-CNNs read all four stages plus a max-pooled level (five levels, strides 4-64); RetinaNet and
# FCOS read stages 2-4 plus P6 and P7 (strides 8-128), as torchvision's own ResNet versions do.
DETECTORS: Registry[DetectorSpec] = Registry("detector", {
    "maskrcnn": DetectorSpec(_mask_rcnn, (0, 1, 2, 3), lambda channels: LastLevelMaxPool()),
    "fasterrcnn": DetectorSpec(_faster_rcnn, (0, 1, 2, 3), lambda channels: LastLevelMaxPool()),
    "retinanet": DetectorSpec(_retinanet, (1, 2, 3), lambda channels: LastLevelP6P7(channels, channels)),
    "fcos": DetectorSpec(_fcos, (1, 2, 3), lambda channels: LastLevelP6P7(channels, channels)),
})


def build_detector(name: str, body: ASViT, num_classes: int, out_channels: int = 256,
                   anchor_sizes: Sequence[int] | None = None, **kwargs) -> nn.Module:
    """Detector ``name`` (a key of :data:`DETECTORS`) over ``body``; ``num_classes`` counts the
    background; ``kwargs`` go to the torchvision detector (``min_size``, ``max_size``, ...). The
    R-CNN box and mask heads scale with ``out_channels`` and equal torchvision's at 256;
    ``anchor_sizes`` (one per level, torchvision's 32-512 by default, made for 800 px images) sets
    the R-CNN region proposals' anchors, with aspect ratios 0.5, 1 and 2."""
    spec = DETECTORS.lookup(name)
    if anchor_sizes is not None and spec.build in (_mask_rcnn, _faster_rcnn):
        kwargs["rpn_anchor_generator"] = AnchorGenerator(tuple((s,) for s in anchor_sizes),
                                                         ((0.5, 1.0, 2.0),) * len(anchor_sizes))
    backbone = ASViTBackbone(body, out_channels, spec.extra_blocks(out_channels), spec.stages)
    return spec.build(backbone, num_classes, **kwargs)


CONTROLS: Registry[Callable[[Topology], ASViT]] = Registry("detection control", {
    "scratch": lambda topology: ASViT(topology, num_classes=1),
})
"""Other starts of the detection backbone, trained beside the trained one to measure what its training
is worth: ``scratch``, a fresh initialisation of the same topology."""


def detection_backbone(name: str, family: Path, models: Path, control: str | None = None) -> ASViT:
    """The As-ViT network of family member ``name``: the trained weights of ``models/<name>.pt``, or
    the start of :data:`CONTROLS` ``control``. Errors name ``detect.backbone``."""
    from ..train import TrainError, load_model, select_members

    [topology] = select_members(family, [name], key="detect.backbone").values()
    if control is not None:
        return CONTROLS.lookup(control)(topology)
    path = models / f"{name}.pt"
    if not path.is_file():
        raise TrainError(f"detect.backbone: {name} was not trained ({path} not found); add it to train.models")
    return load_model(path).model
