"""The rank rule of the scaling step (docs/design.md section 8), also used to pick the best topology of
the random and evolutionary searches.

Each metric ranks the candidates densely in its own direction (kappa ascending, L^E descending);
the lowest rank sum wins. Ties on the sum are broken by one of :data:`TIE_BREAKS`:

- ``fixed`` (the default): the metric with the larger relative spread (max - min) / max over the
  tied candidates decides, in its own direction;
- ``official``: the official As-ViT code's choice, kept to rebuild the paper's family. The spread
  is taken over all candidates, only the first two tied candidates (in candidate order) are
  compared, and the smaller value wins, also for L^E (where larger is better).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from ..proxies import get_proxy
from ..registry import Registry

RANK_METRICS = ("ntk_cond", "length_distortion")


def dense_ranks(values: Sequence[float], higher_is_better: bool) -> list[int]:
    """0 for the best value, equal values share a rank and the next value gets the next rank."""
    order = {v: rank for rank, v in enumerate(sorted(set(values), reverse=higher_is_better))}
    return [order[v] for v in values]


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) / |max|; 0 when all values are equal."""
    top, bottom = max(values), min(values)
    return (top - bottom) / abs(top) if top != bottom else 0.0


TieBreak = Callable[[Sequence[Mapping[str, float]], list[int], list[int], Sequence[str]], int]
"""(rows, valid row indices, tied row indices in row order, metrics) -> the winning row index."""


def _fixed_tie_break(rows: Sequence[Mapping[str, float]], valid: list[int], tied: list[int],
                     metrics: Sequence[str]) -> int:
    decider = max(metrics, key=lambda m: relative_spread([rows[i][m] for i in tied]))
    best = max if get_proxy(decider).higher_is_better else min
    return best(tied, key=lambda i: rows[i][decider])


def _official_tie_break(rows: Sequence[Mapping[str, float]], valid: list[int], tied: list[int],
                        metrics: Sequence[str]) -> int:
    decider = max(metrics, key=lambda m: relative_spread([rows[i][m] for i in valid]))
    first, second = tied[:2]
    return second if rows[second][decider] < rows[first][decider] else first


TIE_BREAKS: Registry[TieBreak] = Registry("tie break", {"fixed": _fixed_tie_break, "official": _official_tie_break})


def rank_select(rows: Sequence[Mapping[str, float]], metrics: Sequence[str] = RANK_METRICS,
                tie_break: str = "fixed") -> int | None:
    """Index of the winning row under the rank rule with tie break ``tie_break`` (a key of
    :data:`TIE_BREAKS`); rows with a NaN metric (bad topologies) take no part; None if no row is
    valid. Remaining ties (equal spreads, or equal values in the deciding metric) go to the metric
    listed first and then to the earliest row."""
    valid = [i for i, row in enumerate(rows) if all(not math.isnan(row[m]) for m in metrics)]
    if not valid:
        return None
    ranks = {m: dense_ranks([rows[i][m] for i in valid], get_proxy(m).higher_is_better) for m in metrics}
    sums = [sum(ranks[m][k] for m in metrics) for k in range(len(valid))]
    tied = [i for i, s in zip(valid, sums) if s == min(sums)]
    if len(tied) == 1:
        return tied[0]
    return TIE_BREAKS.lookup(tie_break)(rows, valid, tied, metrics)
