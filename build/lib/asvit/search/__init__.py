"""Seed search (REINFORCE, random, evolution) over the As-ViT space and the scaling rule that grows
the seed into a family, both driven by the training-free proxies L^E and kappa."""

from .baselines import EvolutionSearch, RandomSearch, SearchFailed
from .cache import ScoreCache, Scorer
from .grow import (ALL_BAD, NOTHING_FITS, TARGET_REACHED, GrowError, Grower, GrowResult, Member,
                   grow_candidates, grow_family, grow_fingerprint, member_name, read_seed, real_size_counters)
from .outputs import write_csv, write_json
from .policy import CategoricalPolicy, ReinforceSearch
from .ranking import RANK_METRICS, dense_ranks, rank_select, relative_spread
from .reward import REWARD_METRICS, EMABaseline, WindowedReward
from .runner import HISTORY_COLUMNS, SEARCH_METHODS, SearchResult, run_search, search_fingerprint
from .scorer import ProxyScorer

__all__ = [
    "EvolutionSearch", "RandomSearch", "SearchFailed", "ScoreCache", "Scorer",
    "ALL_BAD", "NOTHING_FITS", "TARGET_REACHED", "GrowError", "Grower", "GrowResult", "Member",
    "grow_candidates", "grow_family", "grow_fingerprint", "member_name", "read_seed", "real_size_counters",
    "write_csv", "write_json", "CategoricalPolicy", "ReinforceSearch",
    "RANK_METRICS", "dense_ranks", "rank_select", "relative_spread",
    "REWARD_METRICS", "EMABaseline", "WindowedReward",
    "HISTORY_COLUMNS", "SEARCH_METHODS", "SearchResult", "run_search", "search_fingerprint", "ProxyScorer",
]
