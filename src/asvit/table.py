"""A results table that an interrupted stage continues: a CSV of ``id``, ``arch``, value columns,
appended and flushed row by row, so a stop loses at most the row in progress.

A sidecar ``<name>.settings.json`` records the settings the rows were measured with; in the
pipeline it is a DVC output beside the table, so it travels through ``dvc push``/``pull`` with it.
:meth:`ResumableTable.resume` keeps the rows measured with the current settings for the same
architectures; a table measured otherwise is moved aside with its sidecar to ``<name>.stale`` (then
``<name>.stale.2``, ``<name>.stale.3``, ...), never deleted or overwritten.

What each row cost is a timing, so it stays out of the (deterministic, cached) table: a table given a
``seconds`` ledger records each appended row's seconds there as ``{id: {name: seconds}}``, keeps the
entries of the rows it resumes, and so reports the cost of the whole table however many runs measured
it. In the pipeline the ledger is an uncached, persistent DVC output under ``metrics/seconds/``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import mean
from typing import Any

from .atomic import atomic_path, write_json

Ledger = dict[str, dict[str, float]]  # row id -> {name: seconds}


def read_ledger(path: Path | str) -> Ledger:
    """The seconds ledger at ``path``; empty when it is missing or unreadable (resumed rows then have
    no recorded cost)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def mean_seconds(ledger: Ledger) -> dict[str, float]:
    """Mean seconds per row of each name in ``ledger``, over the rows that record it."""
    names = dict.fromkeys(name for entry in ledger.values() for name in entry)
    return {name: mean(entry[name] for entry in ledger.values() if name in entry) for name in names}


class ResumableTable:
    def __init__(self, path: Path | str, value_columns: Sequence[str], fingerprint: Mapping[str, Any],
                 seconds: Path | str | None = None) -> None:
        self.path = Path(path)
        self.columns = ["id", "arch", *value_columns]
        self.sidecar = self.path.with_name(self.path.name + ".settings.json")
        self.fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back from the sidecar
        self.ledger = Path(seconds) if seconds is not None else None
        self.seconds: Ledger = {}

    def _read_rows(self) -> list[dict[str, str]] | None:
        """The rows of a readable table with matching columns and settings, else None."""
        if not (self.path.exists() and self.sidecar.exists()):
            return None
        try:
            if json.loads(self.sidecar.read_text()) != self.fingerprint:
                return None
        except json.JSONDecodeError:
            return None
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            return list(reader) if reader.fieldnames == self.columns else None

    def resume(self, wanted: Mapping[str, str]) -> set[str]:
        """Keep the rows whose (id, arch) is in ``wanted`` (id -> arch text) and were measured with
        the same settings; return their ids."""
        rows = self._read_rows()
        if rows is None and self.path.exists():
            stale = self._move_aside()
            print(f"{self.path} was measured with other settings or code; moved to {stale}")
        kept = [r for r in rows or [] if wanted.get(r["id"]) == r["arch"]]
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(kept)
        write_json(self.sidecar, self.fingerprint)
        recorded = read_ledger(self.ledger) if self.ledger is not None else {}
        self.seconds = {r["id"]: recorded[r["id"]] for r in kept if r["id"] in recorded}
        self._write_ledger()
        return {r["id"] for r in kept}

    def _write_ledger(self) -> None:
        if self.ledger is not None:
            write_json(self.ledger, self.seconds, indent=1)

    def _move_aside(self) -> Path:
        """Rename the table (and its sidecar) to the first free ``.stale`` name; return it."""
        stale = self.path.with_name(self.path.name + ".stale")
        number = 1
        while stale.exists():
            number += 1
            stale = self.path.with_name(f"{self.path.name}.stale.{number}")
        self.path.replace(stale)
        if self.sidecar.exists():
            self.sidecar.replace(stale.with_name(stale.name + ".settings.json"))
        return stale

    def append(self, row: Mapping[str, object], seconds: Mapping[str, float] | None = None) -> None:
        """Append ``row`` and record ``seconds`` (what measuring it cost, by name) under its id, in the
        ledger file if there is one."""
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)
        if seconds is not None:
            self.seconds[str(row["id"])] = {name: float(s) for name, s in seconds.items()}
            self._write_ledger()

    def mean_seconds(self) -> dict[str, float]:
        """Mean seconds per row of each name, over the rows appended in this run and, with a ledger, the
        resumed rows it holds."""
        return mean_seconds(self.seconds)


def total_seconds(ledger: Ledger) -> float:
    """Seconds of every row and name in ``ledger``: what the whole table cost."""
    return sum(sum(entry.values()) for entry in ledger.values())
