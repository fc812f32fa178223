"""Speed of the project's As-ViT proxies against straightforward implementations of the official
method, measured side by side in one run on the same networks and the same curve / image batch.

    python benchmarks/proxy_speed.py [--image-size 224] [--repeats 1]

Prints both values (they must agree) and the speed-up ratios. Goal: >= 20x for the length
distortion (forward-mode JVP vs one backward pass per feature coordinate) and >= 5x for the NTK
condition number (vmap over per-sample gradients vs one backward pass per sample). A third row
times the same JVP through plain softmax attention instead of :mod:`asvit.models.forward_attention`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from asvit.models import ASViT, attention_kernel
from asvit.proxies.expressivity import length_distortion, unit_circle, without_layernorm
from asvit.proxies.reference import length_distortion_reference, ntk_condition_number_reference
from asvit.proxies.scoring import ScoreSettings
from asvit.proxies.trainability import ntk_condition_number
from asvit.space import Topology

PAPER_SEED = "8,2,3|4,1,2|4,1,4|4,1,6|32"


def timed(fn: Callable[[], float], seed: int) -> tuple[float, float]:
    """(value, seconds) of ``fn`` run after seeding torch, so both sides draw the same numbers."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def length_distortion_plain_attention(model: torch.nn.Module, image_size: int) -> float:
    """L^E by one JVP over all 10 curve points with attention as plain softmax(q k^T) v."""
    model = without_layernorm(model).eval()
    curve, tangent = unit_circle(image_size)
    with attention_kernel(model, fused=False):
        _, velocity = torch.func.jvp(model.pooled_features, (curve,), (tangent,))
    return velocity.flatten(1).norm(dim=1).sum().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=1, help="networks timed per proxy")
    parser.add_argument("--topology", default=PAPER_SEED)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest relative difference allowed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    topology = Topology.parse(args.topology)
    inputs = ScoreSettings(image_size=args.image_size, batch_size=16).inputs()
    size = args.image_size
    cases = {
        "length_distortion": (lambda: length_distortion(ASViT(topology), inputs),
                              lambda: length_distortion_reference(ASViT(topology), size)),
        "length_distortion vs plain-attention JVP": (
            lambda: length_distortion(ASViT(topology), inputs),
            lambda: length_distortion_plain_attention(ASViT(topology), size)),
        "ntk_cond": (lambda: ntk_condition_number(ASViT(topology), inputs),
                     lambda: ntk_condition_number_reference(ASViT(topology), inputs.images)),
    }
    print(f"topology {topology}  image {size}px  torch threads {torch.get_num_threads()}")
    print(f"{'proxy':<40} {'fast value':>14} {'reference value':>16} {'rel. diff':>10} "
          f"{'fast s':>8} {'ref. s':>8} {'speed-up':>9}")
    disagree = []
    for name, (fast, reference) in cases.items():
        for repeat in range(args.repeats):
            fast_value, fast_s = timed(fast, repeat)
            ref_value, ref_s = timed(reference, repeat)
            rel = abs(fast_value - ref_value) / abs(ref_value)
            if rel > args.tolerance:
                disagree.append(name)
            print(f"{name:<40} {fast_value:>14.7e} {ref_value:>16.7e} {rel:>10.1e} "
                  f"{fast_s:>8.2f} {ref_s:>8.2f} {ref_s / fast_s:>8.1f}x")
    if disagree:
        raise SystemExit(f"values disagree beyond {args.tolerance:g}: {', '.join(disagree)}")
    print(f"values agree within {args.tolerance:g}")


if __name__ == "__main__":
    main()
