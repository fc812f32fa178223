"""Detector speed with the As-ViT backbone beside torchvision's ``maskrcnn_resnet50_fpn``, the same
Mask R-CNN (256 pyramid channels, torchvision's heads) at the same input size, random weights,
nothing downloaded; measured side by side in one run.

    python benchmarks/detect_speed.py [--topology T] [--size 256] [--batch 2] [--iters 3]

Prints training and inference images/s of both and their ratios, and each backbone's MACs for
one image (``torch.utils.flop_counter``; the ResNet-50 body without its pyramid, the As-ViT body).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection import maskrcnn_resnet50_fpn

from asvit.detect.backbone import build_detector
from asvit.models import ASViT, attention_kernel
from asvit.space import Topology

DEFAULT_TOPOLOGY = "8,2,3,1|4,1,2,1|4,1,4,1|4,1,6,1|32,64"  # the paper's seed at stage-1 width 64


def images_and_targets(batch: int, size: int) -> tuple[list[torch.Tensor], list[dict]]:
    images = [torch.rand(3, size, size) for _ in range(batch)]
    box = torch.tensor([[size * 0.2, size * 0.2, size * 0.6, size * 0.7]])
    mask = torch.zeros(1, size, size, dtype=torch.uint8)
    mask[:, int(size * 0.2):int(size * 0.7), int(size * 0.2):int(size * 0.6)] = 1
    return images, [{"boxes": box, "labels": torch.tensor([1]), "masks": mask} for _ in range(batch)]


def rates(model: nn.Module, batch: int, size: int, iters: int) -> tuple[float, float]:
    """(training images/s, inference images/s), after one untimed step of each."""
    images, targets = images_and_targets(batch, size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for i in range(iters + 1):
        if i == 1:
            start = time.perf_counter()
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train = batch * iters / (time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        for i in range(iters + 1):
            if i == 1:
                start = time.perf_counter()
            model(images)
    return train, batch * iters / (time.perf_counter() - start)


def backbone_macs(body: nn.Module, size: int) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        body(torch.rand(1, 3, size, size))
    return counter.get_total_flops() / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default=DEFAULT_TOPOLOGY, help="As-ViT topology, scaled form")
    parser.add_argument("--size", type=int, default=256, help="input side (min_size = max_size)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    body = ASViT(Topology.parse(args.topology), num_classes=1)
    asvit = build_detector("maskrcnn", body, 91, min_size=args.size, max_size=args.size)
    resnet = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=args.size, max_size=args.size)
    rows = {"As-ViT " + args.topology: asvit, "ResNet-50 (maskrcnn_resnet50_fpn)": resnet}
    measured = {name: rates(model, args.batch, args.size, args.iters) for name, model in rows.items()}
    with attention_kernel(body, fused=False):
        macs = {"As-ViT " + args.topology: backbone_macs(body.forward_stages, args.size),
                "ResNet-50 (maskrcnn_resnet50_fpn)": backbone_macs(resnet.backbone.body, args.size)}
    print(f"Mask R-CNN at {args.size} px, batch {args.batch}, {args.iters} timed iterations, "
          f"{torch.get_num_threads()} threads")
    print(f"{'backbone':<50} {'train img/s':>12} {'infer img/s':>12} {'backbone GMACs':>15} {'params (M)':>11}")
    for name, model in rows.items():
        train, infer = measured[name]
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:<50} {train:12.2f} {infer:12.2f} {macs[name] / 1e9:15.2f} {params:11.1f}")
    (a_train, a_infer), (r_train, r_infer) = measured.values()
    print(f"As-ViT / ResNet-50: training {a_train / r_train:.2f}x, inference {a_infer / r_infer:.2f}x images/s")


if __name__ == "__main__":
    main()
