"""Training checkpoints (written atomically every epoch, loaded with ``weights_only=True``) and the
trained-model files ``models/<name>.pt``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_path
from ..errors import AsvitError
from ..models import ASViT
from ..safe_load import UnreadableFileError, load_weights_only
from ..space import Topology, TopologyError
from .distributed import DistInfo, all_gather


class CheckpointError(AsvitError):
    """A checkpoint or model file that is missing, unreadable or not of this project."""


def atomic_save(obj: Any, path: Path | str) -> None:
    """``torch.save`` to a temporary file renamed into place, so a crash never leaves half a file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_file(path: Path | str, remedy: str) -> dict[str, Any]:
    """A checkpoint or model file, loaded weights-only onto the CPU; ``remedy`` ends the message of a
    file that is missing, unreadable or not a dictionary."""
    try:
        data = load_weights_only(path, remedy)
    except UnreadableFileError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dictionary, got {type(data).__name__}; {remedy}")
    return data


MODEL_REMEDY = "restore it with `dvc checkout models` (or `dvc pull`), or retrain with `dvc repro -f train`"


def rng_state() -> dict[str, Any]:
    """The python, numpy and torch (CPU and CUDA) random states, in types ``weights_only`` loads."""
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": numpy_state["state"]["pos"], "has_gauss": numpy_state["has_gauss"],
                  "gauss": numpy_state["gauss"]},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
                         "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resume_training(path: Path | None, fingerprint: str, info: DistInfo, model: nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler: Any, seed: int) -> list[dict[str, Any]]:
    """Continue from the checkpoint at ``path`` when it was written with the same ``fingerprint``:
    load the model, optimizer and scheduler states and this process's random state, and return the
    saved per-epoch history; otherwise seed every generator with ``seed + rank`` and return []."""
    state = None
    if path is not None and path.is_file():
        state = load_file(path, f"delete {path.parent} to train this model from scratch")
        if state.get("fingerprint") != fingerprint:
            if info.is_main:
                print(f"{path}: written for other settings; training from scratch")
            state = None
    if state is None:
        seed_everything(seed + info.rank)
        return []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    history = list(state["history"])
    if len(state["rng"]) == info.world_size:
        set_rng_state(state["rng"][info.rank])
    else:  # another process count than the checkpoint's: fresh, still reproducible streams
        seed_everything(seed + info.rank + 1000 * len(history))
    return history


def save_training(path: Path | None, fingerprint: str, info: DistInfo, model: nn.Module,
                  optimizer: torch.optim.Optimizer, scheduler: Any, history: list[dict[str, Any]]) -> None:
    """Write the checkpoint :func:`resume_training` reads (rank 0 only; the random states of every
    process are gathered first, so every process must call this)."""
    states = all_gather(rng_state())
    if info.is_main and path is not None:
        atomic_save({"fingerprint": fingerprint, "epoch": len(history) - 1, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": states,
                     "history": history}, path)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class TrainedModel:
    """A trained As-ViT network and what its file recorded (name, metrics, recipe, image size)."""

    model: ASViT
    topology: Topology
    meta: dict[str, Any]


def save_model(path: Path | str, model: ASViT, num_classes: int, **meta: Any) -> None:
    """``models/<name>.pt``: the state dict, the topology string (scaled form) and metadata."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save({"state_dict": state, "topology": model.topology.scaled_string(),
                 "num_classes": num_classes, "meta": meta}, path)


def load_model(path: Path | str) -> TrainedModel:
    """Rebuild the network of a file written by :func:`save_model` (full tokenization, eval mode)."""
    data = load_file(path, MODEL_REMEDY)
    missing = [k for k in ("state_dict", "topology", "num_classes") if k not in data]
    if missing:
        raise CheckpointError(f"{path}: not a trained-model file (missing {', '.join(missing)})")
    try:
        topology = Topology.parse(data["topology"])
    except TopologyError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    model = ASViT(topology, num_classes=data["num_classes"])
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit topology {data['topology']}: {exc}") from None
    return TrainedModel(model.eval(), topology, dict(data.get("meta", {})))
