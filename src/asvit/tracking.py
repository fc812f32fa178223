"""MLflow tracking for stage runs: one run per stage execution in one experiment, tagged with the
stage, the git revision and the DVC experiment name, with params, metrics and artifacts.

The embedded default store is ``sqlite:///mlflow.db`` in the project's repository (artifacts in
``mlartifacts/``), also for a queued experiment that DVC runs in a temporary copy of the repository;
``MLFLOW_TRACKING_URI`` points it at a team server instead.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .atomic import write_json

EXPERIMENT = "asvit"


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"proxy": {"repeats": 5}} -> {"proxy.repeats": 5}."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def project_root() -> Path:
    """The repository whose store the runs go to: ``DVC_ROOT``, which DVC sets for every stage command
    (for a queued experiment, the repository that queued it, not the temporary workspace the
    experiment runs in), else the working directory."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def run_tags(stage: str) -> dict[str, str]:
    """The tags of a stage run: the stage, the git commit the run started from, and the DVC experiment
    (``DVC_EXP_NAME``, or ``workspace`` for a plain ``dvc repro``) with its baseline commit. The
    experiment's own commit exists only once DVC has run all its stages; ``asvit compare`` adds it
    as ``dvc_exp_commit``."""
    revision = git_revision()
    return {"stage": stage, "git_revision": revision, "mlflow.source.git.commit": revision,
            "dvc_experiment": os.environ.get("DVC_EXP_NAME") or "workspace",
            "dvc_exp_baseline": os.environ.get("DVC_EXP_BASELINE_REV", revision)}


def configure(root: Path | None = None) -> str:
    """Point MLflow at the configured store and return the experiment id."""
    import mlflow

    root = root or project_root()
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (root / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(name, artifact_location=location)


class StageRun:
    """Handle passed to a stage body for logging metrics and artifacts to its MLflow run."""

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        import mlflow

        numeric = {k: float(v) for k, v in flatten(metrics).items() if isinstance(v, (int, float))}
        mlflow.log_metrics(numeric, step=step)

    def write_metrics(self, path: Path | str, metrics: Mapping[str, Any]) -> None:
        """Write the DVC metrics file ``path`` (JSON) and log its numbers to the run."""
        write_json(path, metrics)
        self.log_metrics(metrics)

    def log_artifact(self, path: Path | str) -> None:
        import mlflow

        if Path(path).exists():
            mlflow.log_artifact(str(path))


@contextmanager
def stage_run(stage: str, params: Mapping[str, Any], root: Path | None = None) -> Iterator[StageRun]:
    """Open an MLflow run for ``stage`` with its ``params`` logged and :func:`run_tags`."""
    import mlflow

    experiment_id = configure(root)
    with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=run_tags(stage)):
        mlflow.log_params({k: str(v) for k, v in flatten(params).items()})
        yield StageRun()
