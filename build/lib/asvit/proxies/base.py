"""The proxy registry and the inputs every proxy receives."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import AsvitError


class BadTopology(ArithmeticError):
    """A proxy value that cannot be trusted: NaN, inf, or a failed eigensolve."""


@dataclass(frozen=True)
class ProxyInputs:
    """What a proxy may read besides the network: the image side and an image batch."""

    image_size: int
    images: torch.Tensor  # (B, 3, image_size, image_size), for data-dependent proxies


ProxyFn = Callable[[nn.Module, ProxyInputs], float]


@dataclass(frozen=True)
class Proxy:
    """A registered proxy. ``stochastic`` ones are averaged over freshly initialised networks;
    ``higher_is_better`` gives the direction in which the proxy predicts accuracy."""

    name: str
    fn: ProxyFn
    higher_is_better: bool
    stochastic: bool


PROXIES: dict[str, Proxy] = {}


def register(name: str, *, higher_is_better: bool, stochastic: bool) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator adding a proxy function to :data:`PROXIES` under ``name``."""

    def wrap(fn: ProxyFn) -> ProxyFn:
        PROXIES[name] = Proxy(name, fn, higher_is_better, stochastic)
        return fn

    return wrap


class UnknownProxy(AsvitError, KeyError):
    """A proxy name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_proxy(name: str) -> Proxy:
    try:
        return PROXIES[name]
    except KeyError:
        raise UnknownProxy(f"unknown proxy {name!r}; registered: {', '.join(PROXIES)}") from None


def finite(value: float | torch.Tensor, what: str) -> float:
    """``value`` as a float, or :class:`BadTopology` if it is NaN or infinite."""
    value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    if not math.isfinite(value):
        raise BadTopology(f"{what} is {value}")
    return value
