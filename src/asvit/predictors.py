"""Predictors of trained accuracy built from several training-free proxies (docs/design.md section 6).

``rank_aggregate`` is AZ-NAS's non-linear rank aggregation: each proxy m ranks the N architectures
in its own direction (r_m = 1 for the worst, N for the best, ties averaged), and the score is
s = sum_m log(r_m / N). The logarithm punishes an architecture that one proxy ranks poorly far more
than it rewards one ranked well, so the winner must be good on every proxy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import AsvitError

RANK_AGGREGATE = "rank_aggregate"


def rank_aggregate(scores: pd.DataFrame, names: Sequence[str], key: str = "predictor.aggregate") -> pd.Series:
    """s = sum_m log(r_m / N) over the proxies ``names`` of ``scores`` (one row per architecture);
    NaN for a row where any of them is NaN (a bad topology), which takes no part in the ranks.
    A proxy missing from the table is named with ``key``."""
    from .proxies import PROXIES

    missing = [name for name in names if name not in scores.columns]
    if missing:
        raise AsvitError(f"{key}: {', '.join(missing)} not in the score table (columns: "
                         f"{', '.join(scores.columns)}); add it to proxy.names")
    valid = scores[list(names)].dropna()
    total = pd.Series(0.0, index=valid.index)
    for name in names:
        oriented = valid[name] if PROXIES[name].higher_is_better else -valid[name]
        total += np.log(oriented.rank(method="average") / len(valid))
    return total.reindex(scores.index).rename(RANK_AGGREGATE)
