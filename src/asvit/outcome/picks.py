"""The architectures the design methods pick, and the hand-designed references trained beside them
(docs/design.md section 15). As-ViT topologies are kept as seeds: they are trained at the ground
truth's stage-1 width C, like the sampled population they are ranked in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import AsvitError
from ..groundtruth import training_size
from ..models import Architecture
from ..predictors import PREDICTOR
from ..records import ArchRecord
from ..scaling import read_seed_topology
from ..space import AutoFormerArch
from ..table import read_ledger, total_seconds
from .references import REFERENCES, macs_of


@dataclass(frozen=True)
class Pick:
    """One architecture to train: its name (``asvit-reinforce``, ``supernet``, ``deit``, ...), what chose
    it (``search``, ``supernet`` or ``reference``) and the seconds of one worker spent finding it (0 for
    a hand-designed one)."""

    name: str
    kind: str
    arch: Architecture
    find_seconds: float

    @property
    def id(self) -> str:
        """The training table's row: one per distinct architecture, whichever picks share it."""
        return hashlib.sha256(str(self.arch).encode()).hexdigest()[:12]

    def record(self) -> ArchRecord:
        return ArchRecord(self.id, self.arch, {})


def macs(arch: Architecture, width: int, image_size: int, num_classes: int) -> int:
    """Multiply-accumulates of one image through ``arch`` at its training size."""
    return macs_of(training_size(arch, width), image_size, num_classes)


def search_picks(objectives: Sequence[str], methods: Sequence[str], seeds: Path, ledgers: Path,
                 truth_seconds: float) -> list[Pick]:
    """The seed of every search ``<objective>-<method>`` (``seeds/<name>.json``), costing the seconds its
    proxies took (the ledger ``ledgers/<name>.json``) and, for the learned ranker, ``truth_seconds``:
    what the labelled architectures it was fitted on cost."""
    picks = []
    for objective in objectives:
        for method in methods:
            name = f"{objective}-{method}"
            spent = total_seconds(read_ledger(ledgers / f"{name}.json"))
            picks.append(Pick(name, "search", read_seed_topology(seeds / f"{name}.json"),
                              spent + (truth_seconds if objective == PREDICTOR else 0.0)))
    return picks


def supernet_pick(path: Path, record_format: str, seconds: float) -> Pick:
    """The supernet evolution's best architecture (``artifacts/supernet_seed.json``), costing ``seconds``
    (training the supernet and the evolution)."""
    if record_format == "asvit":
        return Pick("supernet", "supernet", read_seed_topology(path), seconds)
    if not path.is_file():
        raise AsvitError(f"{path}: supernet seed not found; run the supernet stage first")
    return Pick("supernet", "supernet", AutoFormerArch.from_record(json.loads(path.read_text())), seconds)


def reference_picks(names: Sequence[str], target_macs: int, image_size: int, num_classes: int) -> list[Pick]:
    """The hand-designed references ``names`` built for ``target_macs``."""
    return [Pick(name, "reference", REFERENCES.lookup(name)(target_macs, image_size, num_classes), 0.0)
            for name in names]


def distinct_records(picks: Sequence[Pick]) -> list[ArchRecord]:
    """One training record per distinct architecture, in the picks' order."""
    return list({pick.id: pick.record() for pick in picks}.values())
