"""Where a trained pick stands among the sampled architectures trained with the same recipe
(docs/design.md section 15): its percentile, its regret and the seed noise that bounds both."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def percentile(value: float, population: Sequence[float]) -> float:
    """100 * (#{p < value} + #{p = value} / 2) / n: the share of the population the value beats."""
    below = sum(p < value for p in population)
    equal = sum(p == value for p in population)
    return 100.0 * (below + equal / 2) / len(population)


def regret(value: float, population: Sequence[float]) -> float:
    """max(population) - value: what the best sampled architecture has over the pick (negative when the
    pick beats every one)."""
    return max(population) - value


def seed_noise(per_seed: pd.DataFrame) -> float:
    """The pooled standard deviation sigma of one training run's accuracy about its architecture's
    mean: sqrt(mean over architectures of the sample variance across seeds) (columns = seeds)."""
    if per_seed.shape[1] < 2:
        return math.nan
    return float(per_seed.var(axis=1, ddof=1).mean() ** 0.5)


def difference_interval(noise: float, seeds: int) -> float:
    """Half-width of the 95% interval of the difference between two means of ``seeds`` runs each:
    z * sigma * sqrt(2 / seeds); two picks closer than this are not told apart by the training."""
    return Z95 * noise * math.sqrt(2 / seeds)
