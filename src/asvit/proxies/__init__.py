"""Training-free proxies: a registry of name -> function(network, inputs) -> float. Scoring
architectures with them is :mod:`asvit.proxies.scoring`, which the package does not import, so a
reader of the registry (a proxy's direction) does not depend on the scoring machinery."""

from . import expressivity, latency, saliency, size, trainability  # noqa: F401  (register the proxies)
from .base import PROXIES, BadTopology, Proxy, ProxyInputs, get_proxy, register

__all__ = ["PROXIES", "BadTopology", "Proxy", "ProxyInputs", "get_proxy", "register"]
