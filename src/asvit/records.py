"""Architecture records: one JSON object a line, read with errors that name the file and line."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_path
from .errors import AsvitError
from .registry import Registry
from .space import (ArchitectureError, AutoFormerArch, AutoFormerSpace, Topology, TopologyError, sample_autoformer,
                    sample_topologies)

SPACES = ("asvit", "autoformer")


class RecordError(AsvitError):
    """A missing, unreadable or malformed architecture file."""


@dataclass(frozen=True)
class ArchRecord:
    """An architecture with its id and whatever else the record carried (e.g. accuracies)."""

    id: str
    arch: Topology | AutoFormerArch
    extra: dict[str, Any]


def _asvit_arch(record: dict[str, Any]) -> Topology:
    if "topology" not in record:
        raise TopologyError("missing field 'topology'")
    return Topology.parse(record["topology"])


READERS: Registry[Callable[[dict[str, Any]], Topology | AutoFormerArch]] = Registry("record format", {
    "asvit": _asvit_arch,
    "autoformer": AutoFormerArch.from_record,
})


def json_lines(path: Path, what: str = "file") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; errors name the file and the line."""
    if not path.is_file():
        raise RecordError(f"{path}: {what} not found")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise RecordError(f"{path}:{number}: expected a JSON object, got {type(data).__name__}")
        yield number, data


def read_records(path: Path | str, space: str) -> list[ArchRecord]:
    """Every record of ``path``; ids default to the line number and must be unique."""
    path = Path(path)
    reader = READERS.lookup(space)
    records: list[ArchRecord] = []
    seen: set[str] = set()
    for number, data in json_lines(path, "architecture file"):
        try:
            arch = reader(data)
        except (TopologyError, ArchitectureError) as exc:
            raise RecordError(f"{path}:{number}: {exc}") from None
        rid = str(data.get("id", number))
        if rid in seen:
            raise RecordError(f"{path}:{number}: duplicate id {rid!r}")
        seen.add(rid)
        records.append(ArchRecord(rid, arch, {k: v for k, v in data.items() if k != "id"}))
    if not records:
        raise RecordError(f"{path}: no architecture records")
    return records


def write_records(path: Path | str, records: list[dict[str, Any]]) -> None:
    """Write JSON lines atomically (a temporary file renamed into place)."""
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))


def sample_records(space: str | AutoFormerSpace, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` distinct architecture records drawn uniformly from ``space`` (``asvit`` or the
    choice sets of an AutoFormer space), with ids ``arch-0000``, ``arch-0001``, ..."""
    if space == "asvit":
        bodies = [{"topology": t.seed_string()} for t in sample_topologies(count, seed)]
    elif isinstance(space, AutoFormerSpace):
        if count > space.size:
            raise RecordError(f"cannot draw {count} distinct architectures from an AutoFormer space of {space.size}")
        rng = random.Random(seed)
        unique: dict[str, dict[str, Any]] = {}
        while len(unique) < count:
            body = sample_autoformer(space, rng).to_record()
            unique.setdefault(json.dumps(body), body)
        bodies = list(unique.values())
    else:
        raise RecordError(f"unknown space {space!r}; expected 'asvit' or an AutoFormerSpace")
    return [{"id": f"arch-{i:04d}", **body} for i, body in enumerate(bodies)]


def record_text(record: dict[str, Any]) -> str:
    """A sampled record's architecture as a score table writes it: the topology, or the JSON record."""
    if "topology" in record:
        return record["topology"]
    return json.dumps({k: v for k, v in record.items() if k != "id"})
