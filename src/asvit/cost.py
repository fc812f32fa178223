"""What ranking the sampled architectures cost, in seconds on the machine that measured it: the
figure beside each predictor's tau, so a user can weigh agreement against price."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .predictors import PREDICTOR, RANK_AGGREGATE

SUPERNET = "supernet"  # the inherited-weight accuracy column of the Kendall study


def ranking_seconds(architectures: int, proxy_seconds: Mapping[str, float], aggregate: Sequence[str],
                    truth_seconds: float, supernet_seconds: float | None = None) -> dict[str, float]:
    """Seconds to score ``architectures`` architectures with each predictor.

    ``proxy_seconds`` are each proxy's seconds per architecture: a proxy costs N times that, the rank
    aggregation the sum over its proxies, the learned ranker every proxy plus ``truth_seconds`` (the
    ground truth it is fitted on); ``supernet_seconds`` is the supernet column's whole cost, training
    included.
    """
    seconds = {name: per_arch * architectures for name, per_arch in proxy_seconds.items()}
    seconds[RANK_AGGREGATE] = sum(seconds[name] for name in aggregate)
    seconds[PREDICTOR] = sum(seconds[name] for name in proxy_seconds) + truth_seconds
    if supernet_seconds is not None:
        seconds[SUPERNET] = supernet_seconds
    return seconds
