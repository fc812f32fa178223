"""The family payoff (docs/design.md section 15): the family the scaling rule grew against baseline
families at the same MACs, each member trained with the ``train`` recipe, and the area between the
two fronts of top-1 against MACs. ``BASELINE_FAMILIES`` names the baselines:

- ``uniform``: the seed scaled uniformly, every stage's depth and the width grown by one factor;
- ``deit``: plain DeiT-style ViTs (:func:`asvit.outcome.references.deit_at`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import AsvitError
from ..models import Architecture
from ..registry import Registry
from ..space import Topology
from ..space.asvit import MAX_WIDTH
from ..train.retokenize import asvit_macs
from .references import TOLERANCE, closest, deit_at

MAX_DEPTH_FACTOR = 8  # the uniform family's largest depth multiple of the seed


def uniform_at(seed: Topology, target_macs: int, image_size: int, num_classes: int) -> Topology:
    """The seed with every stage's depth multiplied by k and stage-1 width C' = (H/8) j, the j whose
    MACs (:func:`asvit.train.asvit_macs`, exact) come closest to ``target_macs`` at that k; of the
    k = 1..8 within 10% of the target, the one whose depth factor k is closest to its width factor
    C'/C (log scale): depth and width grown together."""
    step = seed.stage_heads[0]  # stage widths must split over their heads
    candidates = []
    for k in range(1, MAX_DEPTH_FACTOR + 1):
        depths = tuple(k * d for d in seed.depths)
        j, reached = closest(lambda j: asvit_macs(seed.scaled(depths, step * j), image_size,
                                                  num_classes=num_classes), target_macs, 1, MAX_WIDTH // (8 * step))
        if reached > (1 + TOLERANCE) * target_macs and j == 1:
            break  # deeper is larger still
        if abs(reached - target_macs) <= TOLERANCE * target_macs:
            candidates.append((abs(math.log(k * seed.width / (step * j))), k, seed.scaled(depths, step * j)))
    if not candidates:
        raise AsvitError(f"no uniform scaling of {seed.scaled_string()} within {TOLERANCE:.0%} of "
                         f"{target_macs:,} MACs at {image_size} px")
    return min(candidates, key=lambda c: c[:2])[2]


BASELINE_FAMILIES: Registry[Callable[[Topology, int, int, int], Architecture]] = Registry("baseline family", {
    "uniform": uniform_at,
    "deit": lambda seed, target_macs, image_size, num_classes: deit_at(target_macs, image_size, num_classes),
})
"""Baseline families by name, each member built for (seed at real width, target MACs, image side, classes)."""


def front_gap(grown: Sequence[tuple[float, float]], baseline: Sequence[tuple[float, float]]) -> dict[str, float]:
    """The area between two fronts of (MACs, top-1) points, each joined by straight lines over
    x = log2 MACs: A = integral of (grown - baseline) dx over the MACs both cover, in top-1 points x
    doublings of MACs, and the mean gap A / (x_hi - x_lo) in points (positive: the grown family is better)."""
    (gx, gy), (bx, by) = (_sorted_log(points) for points in (grown, baseline))
    low, high = max(gx[0], bx[0]), min(gx[-1], bx[-1])
    if high <= low:
        return {"area": math.nan, "mean_gap": math.nan, "doublings": 0.0}
    x = np.unique(np.concatenate([[low, high], gx, bx]))
    x = x[(x >= low) & (x <= high)]
    area = float(np.trapezoid(np.interp(x, gx, gy) - np.interp(x, bx, by), x))
    return {"area": area, "mean_gap": area / (high - low), "doublings": float(high - low)}


def _sorted_log(points: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    ordered = sorted(points)
    return np.log2([m for m, _ in ordered]), np.asarray([t for _, t in ordered], dtype=float)
