"""The AutoFormer search space: a plain ViT (patch 16) with one embedding width and, per layer,
a head count and an MLP ratio; the q/k/v width is 64 x heads. The patch size and the per-head
width are fields of the space, so a scaled-down space (``space.autoformer_embedded``) trains on
a CPU."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from ..errors import AsvitError

PATCH_SIZE = 16
HEAD_DIM = 64
# Bounds of any record, so that one line of a file cannot ask for a network past the machine's memory:
# far above AutoFormer-Base (depth 16, width 624, 10 heads, ratio 4).
MAX_DEPTH = 64
MAX_EMBED_DIM = 4096
MAX_HEADS = 64
MAX_MLP_RATIO = 16.0


class ArchitectureError(AsvitError):
    """An AutoFormer architecture record that is malformed or inconsistent."""


@dataclass(frozen=True)
class AutoFormerSpace:
    """Choice sets of one AutoFormer super-network size, and the patch size and per-head q/k/v
    width its networks share."""

    embed_dims: tuple[int, ...]
    heads: tuple[int, ...]
    mlp_ratios: tuple[float, ...]
    depths: tuple[int, ...]
    patch_size: int = PATCH_SIZE
    head_dim: int = HEAD_DIM

    @property
    def size(self) -> int:
        """Distinct architectures: |E| * sum over depths d of (|heads| |MLP ratios|)^d."""
        per_layer = len(self.heads) * len(self.mlp_ratios)
        return len(self.embed_dims) * sum(per_layer ** d for d in self.depths)


AUTOFORMER_SPACES: dict[str, AutoFormerSpace] = {
    "tiny": AutoFormerSpace((192, 216, 240), (3, 4), (3.5, 4.0), (12, 13, 14)),
    "small": AutoFormerSpace((320, 384, 448), (5, 6, 7), (3.0, 3.5, 4.0), (12, 13, 14)),
    "base": AutoFormerSpace((528, 576, 624), (9, 10), (3.0, 3.5, 4.0), (14, 15, 16)),
}


@dataclass(frozen=True)
class AutoFormerArch:
    """One AutoFormer-space ViT: ``patch_size`` x ``patch_size`` patches, q/k/v width ``head_dim``
    x heads in every layer (16 and 64 in AutoFormer's spaces)."""

    embed_dim: int
    depth: int
    num_heads: tuple[int, ...]
    mlp_ratio: tuple[float, ...]
    patch_size: int = PATCH_SIZE
    head_dim: int = HEAD_DIM

    def __post_init__(self) -> None:
        for name, most in (("embed_dim", MAX_EMBED_DIM), ("depth", MAX_DEPTH), ("patch_size", None),
                           ("head_dim", None)):
            value = getattr(self, name)
            if value < 1:
                raise ArchitectureError(f"{name} must be positive, got {value}")
            if most is not None and value > most:
                raise ArchitectureError(f"{name} = {value} is above the largest allowed, {most}")
        for name, most in (("num_heads", MAX_HEADS), ("mlp_ratio", MAX_MLP_RATIO)):
            values = getattr(self, name)
            if len(values) != self.depth:
                raise ArchitectureError(f"{name} has {len(values)} entries but depth is {self.depth}")
            if any(not 0 < v <= most for v in values):
                raise ArchitectureError(f"{name} must be above 0 and at most {most}, got {list(values)}")

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AutoFormerArch:
        """Read the fields ``embed_dim``, ``depth``, ``num_heads``, ``mlp_ratio`` of a record, and
        ``patch_size`` and ``head_dim`` where it has them (else AutoFormer's 16 and 64)."""
        missing = [k for k in ("embed_dim", "depth", "num_heads", "mlp_ratio") if k not in record]
        if missing:
            raise ArchitectureError(f"missing field(s) {', '.join(missing)}")
        try:
            return cls(embed_dim=int(record["embed_dim"]), depth=int(record["depth"]),
                       num_heads=tuple(int(h) for h in record["num_heads"]),
                       mlp_ratio=tuple(float(r) for r in record["mlp_ratio"]),
                       patch_size=int(record.get("patch_size", PATCH_SIZE)),
                       head_dim=int(record.get("head_dim", HEAD_DIM)))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ArchitectureError):
                raise
            raise ArchitectureError(f"a field has the wrong type: {exc}") from None

    def __str__(self) -> str:
        return json.dumps(self.to_record(), separators=(",", ":"))

    def to_record(self) -> dict[str, Any]:
        """The record fields; ``patch_size`` and ``head_dim`` only where they differ from
        AutoFormer's, so records of the paper spaces keep the published format."""
        record: dict[str, Any] = {"embed_dim": self.embed_dim, "depth": self.depth,
                                  "num_heads": list(self.num_heads), "mlp_ratio": list(self.mlp_ratio)}
        for name, default in (("patch_size", PATCH_SIZE), ("head_dim", HEAD_DIM)):
            if getattr(self, name) != default:
                record[name] = getattr(self, name)
        return record


def sample_autoformer(space: AutoFormerSpace, rng: random.Random) -> AutoFormerArch:
    """One architecture drawn uniformly: width and depth, then per-layer heads and MLP ratio."""
    depth = rng.choice(space.depths)
    return AutoFormerArch(embed_dim=rng.choice(space.embed_dims), depth=depth,
                          num_heads=tuple(rng.choice(space.heads) for _ in range(depth)),
                          mlp_ratio=tuple(rng.choice(space.mlp_ratios) for _ in range(depth)),
                          patch_size=space.patch_size, head_dim=space.head_dim)
