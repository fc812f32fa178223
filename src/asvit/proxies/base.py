"""The proxy registry and the inputs every proxy receives."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..deploy.latency import LatencySettings
from ..registry import Registry


class BadTopology(ArithmeticError):
    """A proxy value that cannot be trusted: NaN, inf, or a failed eigensolve."""


@dataclass(frozen=True)
class ProxyInputs:
    """What a proxy may read besides the network: the image side, an image batch and, for the timed
    proxies, where and how to time."""

    image_size: int
    images: torch.Tensor  # (B, 3, image_size, image_size), for data-dependent proxies
    latency: LatencySettings | None = None


ProxyFn = Callable[[nn.Module, ProxyInputs], float]


@dataclass(frozen=True)
class Proxy:
    """A registered proxy. ``stochastic`` ones are averaged over freshly initialised networks;
    ``higher_is_better`` gives the direction in which the proxy predicts accuracy; ``reads_images``
    says whether it reads the image batch of its :class:`ProxyInputs` (the others need only the side);
    ``timed`` ones time the machine (latency), so they run alone, in the scoring process."""

    name: str
    fn: ProxyFn
    higher_is_better: bool
    stochastic: bool
    reads_images: bool = False
    timed: bool = False


PROXIES: Registry[Proxy] = Registry("proxy")


def register(name: str, *, higher_is_better: bool, stochastic: bool, reads_images: bool = False,
             timed: bool = False) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator adding a proxy function to :data:`PROXIES` under ``name``."""

    def wrap(fn: ProxyFn) -> ProxyFn:
        PROXIES[name] = Proxy(name, fn, higher_is_better, stochastic, reads_images, timed)
        return fn

    return wrap


def get_proxy(name: str) -> Proxy:
    """The proxy registered under ``name`` (an error names the registered ones)."""
    return PROXIES.lookup(name)


def finite(value: float | torch.Tensor, what: str) -> float:
    """``value`` as a float, or :class:`BadTopology` if it is NaN or infinite."""
    value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    if not math.isfinite(value):
        raise BadTopology(f"{what} is {value}")
    return value
