"""The outcome metrics and plot rows: every pick's trained accuracy, where it stands among the sampled
architectures, and whether the best design method wins beyond the seed noise."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..groundtruth import seed_columns
from .picks import Pick
from .standing import Z95, difference_interval, percentile, regret, seed_noise

PLOT_COLUMNS = ("name", "kind", "macs", "top1")
SAMPLED = "sampled"  # the plot's kind of the sampled population


def pick_entry(pick: Pick, row: pd.Series, macs: int, population: Sequence[float], noise: float,
               seeds: int) -> dict[str, Any]:
    """One pick's line of ``metrics/outcome.json`` from its trained row (``val_top1``, the per-seed
    columns, ``params``)."""
    top1 = float(row["val_top1"])
    return {"kind": pick.kind, "arch": str(pick.arch), "params": int(row["params"]), "macs": macs, "top1": top1,
            "top1_seeds": [float(row[c]) for c in seed_columns("val_top1", seeds)],
            "interval95": Z95 * noise / math.sqrt(seeds), "percentile": percentile(top1, population),
            "regret": regret(top1, population), "find_seconds": round(pick.find_seconds, 1)}


def _margin(entries: Mapping[str, Mapping[str, Any]], winner: str, others: Sequence[str]) -> float:
    return entries[winner]["top1"] - max((entries[n]["top1"] for n in others), default=math.nan)


def outcome_summary(picks: Sequence[Pick], trained: pd.DataFrame, sampled: pd.DataFrame, macs: Mapping[str, int],
                    seeds: int, target_macs: int) -> dict[str, Any]:
    """``metrics/outcome.json``: each pick's entry (``trained`` and ``sampled`` are training tables
    indexed by id; ``macs`` by pick name), the sampled population (``target_macs``: its median
    architecture's MACs, the references' size), the seed noise sigma and the best
    design method with its margins over the next method and over the best reference, each to be read
    against the 95% interval of a difference of two means."""
    population = sampled["val_top1"].astype(float).tolist()
    noise = seed_noise(sampled[seed_columns("val_top1", seeds)].astype(float))
    entries = {pick.name: pick_entry(pick, trained.loc[pick.id], macs[pick.name], population, noise, seeds)
               for pick in picks}
    methods = sorted((n for n, e in entries.items() if e["kind"] != "reference"), key=lambda n: -entries[n]["top1"])
    references = [n for n, e in entries.items() if e["kind"] == "reference"]
    interval = difference_interval(noise, seeds)
    best = methods[0] if methods else None
    margins = {"over_next_method": _margin(entries, best, methods[1:]),
               "over_best_reference": _margin(entries, best, references)} if best else {}
    return {"picks": entries,
            "sampled": {"count": len(population), "median_top1": float(pd.Series(population).median()),
                        "best_top1": max(population), "median_macs": target_macs},
            "seed_noise": noise, "difference_interval95": interval, "best_method": best,
            "margins": margins, "beyond_noise": {k: bool(v > interval) for k, v in margins.items()}}


def plot_rows(summary: Mapping[str, Any], sampled: pd.DataFrame, sampled_macs: Mapping[str, int]) -> list[dict]:
    """``plots/outcome.csv``: the sampled population (kind ``sampled``) and every pick, top-1 against MACs."""
    rows = [{"name": rid, "kind": SAMPLED, "macs": sampled_macs[rid], "top1": float(top1)}
            for rid, top1 in sampled["val_top1"].items()]
    rows += [{"name": name, "kind": e["kind"], "macs": e["macs"], "top1": e["top1"]}
             for name, e in summary["picks"].items()]
    return rows
