"""Validation of ``params.yaml`` against the live registries: every name (space, data source,
proxy, search method and objective, reference network, baseline family, tie break, regressor, detector,
detection control) must be registered, an AutoFormer space's patch must divide the image sides, and
``hardware.device`` must be a device of this machine.
The ``validate`` stage runs it before any other stage; the schema itself (:mod:`asvit.config`)
imports nothing of the library, so a stage that loads its params depends on no registry it does not
use."""

from __future__ import annotations

from pathlib import Path

from .config import DEFAULT_PARAMS, Params, load_params
from .data.sources import SOURCES
from .deploy.latency import unreachable_device_problem
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


def validation_context() -> dict[str, object]:
    """What :func:`~asvit.config.parse_params` checks values against: the live registries and, under
    ``device``, whether a device name is one of this machine's."""
    return {**live_registries(), "device": unreachable_device_problem}


def validate_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """``params.yaml`` read, validated, its names checked against the live registries and its device
    against this machine."""
    return load_params(path, validation_context())
