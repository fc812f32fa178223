"""The REINFORCE reward of the seed search and its baseline (docs/design.md section 7).

For each metric m: delta_t(m) = (m_t - m_{t-1}) / (max W_t - min W_t + 1e-6), with W_t the last
``window`` values of m up to and including m_t; r_t = delta_t(L^E) - delta_t(kappa) (each metric
signed by its direction: + where higher is better), and r_0 = 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..proxies import get_proxy

REWARD_METRICS = ("length_distortion", "ntk_cond")
EPSILON = 1e-6


class WindowedReward:
    """Turns each step's metric values into the normalised-change reward r_t.

    A bad value (NaN) is replaced by the worst value of that metric seen so far (the largest kappa,
    the smallest L^E), as the official code does for kappa; the official code never marks L^E bad,
    here it gets the same treatment in its own direction. Before any valid value of a metric is seen
    there is nothing to impute: that metric contributes 0 to the reward until two consecutive values
    are known, and unknown values are left out of the window's range.
    """

    def __init__(self, metrics: Sequence[str] = REWARD_METRICS, window: int = 20) -> None:
        self.metrics = tuple(metrics)
        self.window = window
        self.signs = {m: 1.0 if get_proxy(m).higher_is_better else -1.0 for m in self.metrics}
        self.series: dict[str, list[float]] = {m: [] for m in self.metrics}

    def _imputed(self, metric: str, value: float) -> float:
        if not math.isnan(value):
            return value
        seen = [v for v in self.series[metric] if not math.isnan(v)]
        if not seen:
            return math.nan
        return min(seen) if self.signs[metric] > 0 else max(seen)

    def _delta(self, metric: str) -> float:
        values = self.series[metric]
        if len(values) < 2 or math.isnan(values[-1]) or math.isnan(values[-2]):
            return 0.0
        known = [v for v in values[-self.window:] if not math.isnan(v)]
        return (values[-1] - values[-2]) / (max(known) - min(known) + EPSILON)

    def update(self, values: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """Record one step; return r_t and the (imputed) values it used."""
        used = {m: self._imputed(m, float(values[m])) for m in self.metrics}
        for m in self.metrics:
            self.series[m].append(used[m])
        return sum(self.signs[m] * self._delta(m) for m in self.metrics), used

    def state_dict(self) -> dict[str, list[float]]:
        return {m: list(v) for m, v in self.series.items()}

    def load_state_dict(self, state: Mapping[str, Sequence[float]]) -> None:
        self.series = {m: list(state[m]) for m in self.metrics}


class EMABaseline:
    """Bias-corrected exponential moving average: b_t = n_t / d_t with n_t = mu n_{t-1} + (1 - mu) r_t
    and d_t = mu d_{t-1} + (1 - mu) = 1 - mu^t."""

    def __init__(self, momentum: float = 0.9) -> None:
        self.momentum = momentum
        self.numerator = 0.0
        self.denominator = 0.0

    def update(self, reward: float) -> float:
        """Add r_t and return the new baseline b_t."""
        self.numerator = self.momentum * self.numerator + (1 - self.momentum) * reward
        self.denominator = self.momentum * self.denominator + (1 - self.momentum)
        return self.value

    @property
    def value(self) -> float:
        return self.numerator / self.denominator if self.denominator else 0.0

    def state_dict(self) -> dict[str, float]:
        return {"numerator": self.numerator, "denominator": self.denominator}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.numerator, self.denominator = float(state["numerator"]), float(state["denominator"])
