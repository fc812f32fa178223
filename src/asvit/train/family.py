"""Pick the family members to train from ``artifacts/family.jsonl`` (written by ``grow``: one JSON
object a line with ``name`` and ``topology`` in scaled form, among others)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..records import read_records
from ..space import Topology
from .loop import TrainError


def select_members(path: Path | str, names: Sequence[str], key: str = "train.models") -> dict[str, Topology]:
    """The topologies of ``names``, in that order; an unknown name is an error naming ``key``."""
    records = read_records(path, "asvit")
    family = {str(r.extra.get("name", r.id)): r.arch for r in records}
    unknown = [n for n in names if n not in family]
    if unknown:
        raise TrainError(f"{key}: unknown model {', '.join(map(repr, unknown))}; {path} has "
                         f"{', '.join(family)}")
    return {n: family[n] for n in names}


def check_members(path: Path | str, models: Sequence[str], backbone: str) -> None:
    """``train.models`` and ``detect.backbone`` name members of the family at ``path``, and the backbone
    is among the trained models; the error names the key."""
    select_members(path, models)
    select_members(path, [backbone], key="detect.backbone")
    if backbone not in models:
        raise TrainError(f"detect.backbone: {backbone} is not in train.models ({', '.join(models)}), so it has no "
                         "trained weights; add it there")
