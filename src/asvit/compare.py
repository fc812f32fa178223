"""A readable comparison of DVC experiments: the params that differ between them, the pipeline's
key metrics under names that say what they are and the other metrics that differ, in a table under
about 120 characters wide (``dvc exp show`` prints every param, metric and source-file hash: about
200 columns).

The rows come from ``dvc exp show --json``: the workspace, each baseline commit and its experiments.
Each experiment's commit is also written on its MLflow runs (tag ``dvc_exp_commit``), which a stage
cannot do itself: DVC makes the commit only after the experiment's last stage.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AsvitError
from .tracking import configure, flatten, project_root

WIDTH = 120


class CompareError(AsvitError):
    """DVC could not list the experiments."""


# Key metrics: column label -> (metrics file, key path in it). The top-1 of each trained member and of
# each design method's pick are added from the entries of the files of ENTRY_TOP1.
KEY_METRICS: dict[str, tuple[str, str]] = {
    "tau L^E": ("metrics/kendall.json", "length_distortion.kendall_tau"),
    "tau kappa": ("metrics/kendall.json", "ntk_cond.kendall_tau"),
    "tau #params": ("metrics/kendall.json", "params.kendall_tau"),
    "tau FLOPs": ("metrics/kendall.json", "flops.kendall_tau"),
    "members": ("metrics/grow.json", "members"),
    "largest (params)": ("metrics/grow.json", "largest_member_params"),
}
# (metrics file, prefix of its entries, column label of an entry's top-1)
ENTRY_TOP1 = (("metrics/evaluate.json", "", "top-1 {}"), ("metrics/outcome.json", "picks.", "pick {}"))


@dataclass
class Row:
    """One revision: its label, commit, baseline commit, experiment name (None for a commit or the
    workspace), flattened params and metrics (``file:key`` -> value)."""

    label: str
    rev: str
    baseline: str
    experiment: str | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def _row(label: str, entry: Mapping[str, Any], baseline: str, experiment: str | None) -> Row:
    data = entry.get("data") or {}
    params = {key: value for values in (data.get("params") or {}).values()
              for key, value in flatten(values.get("data", {})).items()}
    metrics = {f"{path}:{key}": value for path, values in (data.get("metrics") or {}).items()
               for key, value in flatten(values.get("data", {})).items()}
    return Row(label, entry.get("rev", ""), baseline, experiment, params, metrics)


def experiment_rows(repo: Path) -> list[Row]:
    """The workspace, every baseline and every experiment of ``dvc exp show --json`` in ``repo``."""
    result = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repo,
                            capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise CompareError(f"`dvc exp show` failed in {repo}: {last}")
    return rows_from_json(json.loads(result.stdout))


def rows_from_json(shown: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The rows of ``dvc exp show --json`` output: each commit (the workspace first), then its experiments."""
    rows = []
    for commit in shown:
        rev = commit.get("rev", "")
        rows.append(_row(commit.get("name") or (rev if rev == "workspace" else rev[:7]), commit, rev, None))
        for experiment in commit.get("experiments") or []:
            for entry in experiment.get("revs", []):
                name = entry.get("name") or experiment.get("name") or entry.get("rev", "")[:7]
                rows.append(_row(name, entry, rev, name))
    return rows


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "-" if value is None else str(value)


Column = tuple[str, Callable[[Row], Any]]


def _differing(values: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys whose value is not the same in every mapping of ``values``, in the order first seen."""
    keys = dict.fromkeys(key for mapping in values for key in mapping)
    return [key for key in keys if len({json.dumps(mapping.get(key), sort_keys=True) for mapping in values}) > 1]


def _metric_label(key: str) -> str:
    """``metrics/kendall.json:predictor.kendall_tau`` -> ``kendall:predictor.kendall_tau``."""
    path, name = key.split(":", 1)
    return f"{Path(path).stem}:{name}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fit(chosen: list[Column], columns: Sequence[Column], at: int, rows: Sequence[Row], width: int,
         left_out: list[str]) -> list[Column]:
    """``chosen`` with each of ``columns`` inserted in order from position ``at`` where the table still fits
    in ``width`` characters; the names of those that do not fit are added to ``left_out``."""
    for column in columns:
        trial = [*chosen[:at], column, *chosen[at:]]
        if _table_width(trial, rows) <= width:
            chosen, at = trial, at + 1
        else:
            left_out.append(column[0])
    return chosen


def comparison(rows: Sequence[Row], width: int = WIDTH) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, cells, columns left out for width): the experiment, the params that differ between the
    rows, the key metrics that any row has, then the other numeric metrics that differ (labelled
    ``<file stem>:<key>``). The key metrics come first; then the differing params and metrics, in that
    order, as many as fit in ``width`` characters. Between several rows, a key metric equal in every row
    tells nothing apart, so it gives way to any differing column that would not fit otherwise."""
    key_metrics = {label: f"{path}:{key}" for label, (path, key) in KEY_METRICS.items()}
    for path, prefix, label in ENTRY_TOP1:
        start = f"{path}:{prefix}"
        entries = sorted({k[len(start):].split(".")[0] for r in rows for k in r.metrics if k.startswith(start)})
        key_metrics.update({label.format(entry): f"{start}{entry}.top1" for entry in entries})
    keys: list[Column] = [(label, lambda r, k=key: r.metrics.get(k)) for label, key in key_metrics.items()
                          if any(key in r.metrics for r in rows)]
    constant = [c for c in keys if len(rows) > 1 and len({_format(c[1](r)) for r in rows}) == 1]
    chosen: list[Column] = [("experiment", lambda r: r.label), *(c for c in keys if c not in constant)]
    while len(chosen) > 1 and _table_width(chosen, rows) > width:
        chosen.pop()
    params = [(key, lambda r, k=key: r.params.get(k)) for key in sorted(_differing([r.params for r in rows]))]
    metrics = [(_metric_label(key), lambda r, k=key: r.metrics.get(k)) for key in _differing([r.metrics for r in rows])
               if key not in key_metrics.values() and any(_is_number(r.metrics.get(key)) for r in rows)]
    left_out: list[str] = []
    chosen = _fit(chosen, params, 1, rows, width, left_out)
    end_of_keys = len(chosen)
    chosen = _fit(chosen, metrics, end_of_keys, rows, width, left_out)
    chosen = _fit(chosen, constant, end_of_keys, rows, width, left_out)
    header = [name for name, _ in chosen]
    cells = [[_format(getter(r)) for _, getter in chosen] for r in rows]
    return header, cells, left_out


def _table_width(columns: Sequence[Column], rows: Sequence[Row]) -> int:
    return sum(max(len(name), *(len(_format(g(r))) for r in rows)) + 2 for name, g in columns) - 2


def render(header: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def tag_experiment_commits(rows: Sequence[Row]) -> int:
    """Write each experiment's commit on its MLflow runs (tag ``dvc_exp_commit``); return how many
    runs were tagged. Does nothing when the project has no MLflow store yet."""
    from mlflow.tracking import MlflowClient

    if not os.environ.get("MLFLOW_TRACKING_URI") and not (project_root() / "mlflow.db").exists():
        return 0
    experiment_id = configure()
    client = MlflowClient()
    tagged = 0
    for row in rows:
        if row.experiment is None:
            continue
        query = f"tags.dvc_experiment = '{row.experiment}' and tags.dvc_exp_baseline = '{row.baseline}'"
        for run in client.search_runs([experiment_id], filter_string=query):
            if run.data.tags.get("dvc_exp_commit") != row.rev:
                client.set_tag(run.info.run_id, "dvc_exp_commit", row.rev)
                tagged += 1
    return tagged
