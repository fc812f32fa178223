"""The hardware proxy ``latency_ms``: the forward pass's median milliseconds on the device of
``hardware.*`` (:func:`asvit.deploy.latency.measure_latency`), lower is better. It times the machine
as well as the network, so it is measured in the scoring process alone, never beside other work."""

from __future__ import annotations

from torch import nn

from ..deploy.latency import measure_latency
from ..errors import AsvitError
from .base import ProxyInputs, register


@register("latency_ms", higher_is_better=False, stochastic=False, timed=True)
def latency_ms(model: nn.Module, inputs: ProxyInputs) -> float:
    if inputs.latency is None:
        raise AsvitError("proxy latency_ms: no latency settings (hardware.*) in the proxy inputs")
    return measure_latency(model, inputs.latency).median_ms
