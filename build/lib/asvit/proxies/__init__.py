"""Training-free proxies: a registry of name -> function(network, inputs) -> float."""

from . import expressivity, saliency, size, trainability  # noqa: F401  (register the proxies)
from .base import PROXIES, BadTopology, Proxy, ProxyInputs, get_proxy, register
from .scoring import ScoreJob, ScoreResult, ScoreSettings, ScoreTable, score_file, score_network, score_records

__all__ = ["PROXIES", "BadTopology", "Proxy", "ProxyInputs", "get_proxy", "register", "ScoreJob", "ScoreResult",
           "ScoreSettings", "ScoreTable", "score_file", "score_network", "score_records"]
