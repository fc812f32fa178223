"""Validation of ``params.yaml`` against the live registries: every name (space, data source,
proxy, search method and objective, reference network, baseline family, tie break, regressor, detector,
detection control) must be registered, and an AutoFormer space's patch must divide the image sides.
The ``validate`` stage runs it before any other stage; the schema itself (:mod:`asvit.config`)
imports nothing of the library, so a stage that loads its params depends on no registry it does not
use."""

from __future__ import annotations

from pathlib import Path

from .config import DEFAULT_PARAMS, Params, load_params
from .data.sources import SOURCES
from .detect.backbone import CONTROLS, DETECTORS
from .outcome.family import BASELINE_FAMILIES
from .outcome.references import REFERENCES
from .predictors import RANKERS
from .proxies import PROXIES
from .registry import Registry
from .search.objective import OBJECTIVES
from .search.ranking import TIE_BREAKS
from .search.runner import SEARCH_METHODS
from .space import SPACES


def live_registries() -> dict[str, Registry]:
    """Every registry a params name is checked against, by the kind of component it holds."""
    return {r.kind: r for r in (SPACES, SOURCES, PROXIES, SEARCH_METHODS, OBJECTIVES, REFERENCES, BASELINE_FAMILIES,
                                TIE_BREAKS, RANKERS, DETECTORS, CONTROLS)}


def validate_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """``params.yaml`` read, validated and its names checked against the live registries."""
    return load_params(path, live_registries())
