"""What the learned ranker sees of an architecture (docs/design.md section 6): named groups of numeric
features computed from a score table (an ``arch`` column and the proxy columns, indexed by id).

- ``proxies``: the signed log sign(x) log(1 + |x|) of each measured proxy;
- ``summary``: the architecture's own decisions. As-ViT: kernels K, splits S, expansions E and depths
  L per stage, heads H and width C; AutoFormer: embedding width, depth, mean heads and MLP ratio;
- ``layers``: where the capacity sits. AutoFormer: each layer's heads and MLP ratio by position (zero
  past the depth), the count of each head and ratio value, and their means over the first, middle
  and last third of the depth. As-ViT: per stage at 224 px, the tokens g^2, the tokens of one
  attention window T, the width and the attention matmuls' MACs 2 L g^2 T C, and the total depth.
  Every ``layers`` column is named ``layer_...`` and is zero where an architecture has no such layer
  or value.

``diverse_subset`` picks architectures that cover the space: greedy k-center over standardised
features; ``sample_labelled`` draws the architectures a ground truth labels, uniformly or spread by it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import AsvitError
from .registry import Registry

LAYER = "layer_"  # prefix of the layers group's columns: absent means zero
DESIGN_SIZE = 224  # the image side the As-ViT layer features describe (the paper's)

FeatureGroup = Callable[[pd.DataFrame, Sequence[str]], pd.DataFrame]


def proxy_features(table: pd.DataFrame, proxies: Sequence[str]) -> pd.DataFrame:
    """``log_<proxy>`` = sign(x) log(1 + |x|) of each of ``proxies``; a proxy missing from the table is an error."""
    missing = [name for name in proxies if name not in table.columns]
    if missing:
        raise AsvitError(f"predictor: {', '.join(missing)} not in the score table; add it to proxy.names")
    return table[list(proxies)].apply(lambda x: np.sign(x) * np.log1p(np.abs(x))).add_prefix("log_")


def architecture_features(arch: str) -> dict[str, float]:
    """An architecture's own decisions as numbers, from its text in a score table (the ``summary`` group)."""
    from .space import AutoFormerArch, Topology

    if _is_autoformer(arch):
        record = AutoFormerArch.from_record(json.loads(arch))
        return {"embed_dim": record.embed_dim, "depth": record.depth,
                "mean_heads": float(np.mean(record.num_heads)), "mean_mlp_ratio": float(np.mean(record.mlp_ratio))}
    topology = Topology.parse(arch)
    features: dict[str, float] = {"H": topology.heads, "C": topology.width}
    for letter, values in (("K", topology.kernels), ("S", topology.splits), ("E", topology.expansions),
                           ("L", topology.depths)):
        features.update({f"{letter}{stage + 1}": value for stage, value in enumerate(values)})
    return features


def layer_features(arch: str) -> dict[str, float]:
    """The ``layers`` group of one architecture (module docstring), only the columns it has."""
    from .space import AutoFormerArch, Topology

    if _is_autoformer(arch):
        record = AutoFormerArch.from_record(json.loads(arch))
        features: dict[str, float] = {}
        for name, values in (("heads", record.num_heads), ("mlp", record.mlp_ratio)):
            features.update({f"{LAYER}{name}_at{i + 1}": float(v) for i, v in enumerate(values)})
            for value in sorted(set(values)):
                features[f"{LAYER}{name}_n{value:g}"] = float(values.count(value))
            thirds = [[v for i, v in enumerate(values) if 3 * i // record.depth == part] for part in range(3)]
            features.update({f"{LAYER}{name}_{part}": float(np.mean(t)) for part, t in
                             zip(("first", "middle", "last"), thirds) if t})
        return features
    from .train.retokenize import stage_grids

    topology = Topology.parse(arch)
    features = {f"{LAYER}depth": float(sum(topology.depths))}
    grids = stage_grids(topology, DESIGN_SIZE)
    for i, (grid, width) in enumerate(zip(grids, topology.widths)):
        window = max(1, grid // topology.splits[i]) ** 2
        features.update({f"{LAYER}tokens{i + 1}": float(grid * grid), f"{LAYER}window{i + 1}": float(window),
                         f"{LAYER}width{i + 1}": float(width),
                         f"{LAYER}attention{i + 1}": float(2 * topology.depths[i] * grid * grid * window * width)})
    return features


def _is_autoformer(arch: str) -> bool:
    return arch.lstrip().startswith("{")


def _per_architecture(features: Callable[[str], dict[str, float]]) -> FeatureGroup:
    return lambda table, proxies: pd.DataFrame([features(a) for a in table["arch"]], index=table.index)


def _layers(table: pd.DataFrame, proxies: Sequence[str]) -> pd.DataFrame:
    return _per_architecture(layer_features)(table, proxies).fillna(0.0)


FEATURE_GROUPS: Registry[FeatureGroup] = Registry("feature group", {
    "proxies": proxy_features,
    "summary": _per_architecture(architecture_features),
    "layers": _layers,
})
"""Feature groups by name, each a table of features by id from (score table, proxies measured)."""

DEFAULT_GROUPS = ("proxies", "summary")  # what a ranker of a fixed regressor sees


def feature_table(table: pd.DataFrame, proxies: Sequence[str], groups: Sequence[str] = DEFAULT_GROUPS) -> pd.DataFrame:
    """The ranker's inputs for a score table: the feature ``groups`` side by side, in their order."""
    return pd.concat([FEATURE_GROUPS.lookup(group)(table, proxies) for group in groups], axis=1)


def diverse_subset(features: pd.DataFrame, count: int, start: int | None = None) -> list[str]:
    """Greedy k-center: standardise each column (a constant one is dropped), start from row ``start``
    (by default the row nearest the mean), then add the row farthest (Euclidean) from every row chosen
    so far, ``count`` rows in all; ties go to the first row. Returns the chosen index labels in order."""
    if not 1 <= count <= len(features):
        raise AsvitError(f"cannot pick {count} of {len(features)} architectures")
    values = features.to_numpy(float)
    spread = values.std(axis=0)
    x = (values[:, spread > 0] - values[:, spread > 0].mean(axis=0)) / spread[spread > 0]
    chosen = [int(np.argmin((x ** 2).sum(axis=1))) if start is None else start]
    distance = np.sqrt(((x - x[chosen[0]]) ** 2).sum(axis=1))
    while len(chosen) < count:
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.sqrt(((x - x[chosen[-1]]) ** 2).sum(axis=1)))
    return [features.index[i] for i in chosen]


LabelPicker = Callable[[pd.DataFrame, int, np.random.Generator], list[str]]

LABELLINGS: Registry[LabelPicker] = Registry("label selection", {
    "random": lambda features, count, rng: list(features.index[rng.permutation(len(features))[:count]]),
    "diverse": lambda features, count, rng: diverse_subset(features, count, int(rng.integers(len(features)))),
})
"""Which architectures to label (train), by name, each from (their features, how many, a random
generator): ``random``, uniformly; ``diverse``, greedy k-center from a random first one."""


POOL_FACTOR = 10  # sample.labels diverse: architectures drawn per architecture kept


def sample_labelled(space: Any, count: int, seed: int, labels: str = "random") -> list[dict[str, Any]]:
    """The ``count`` architecture records the ground truth will label (ids ``arch-0000``, ...): drawn
    uniformly (``random``, :func:`asvit.records.sample_records`), or (``diverse``) the ``count`` that
    greedy k-center picks over the standardised decisions of ``POOL_FACTOR`` x ``count`` drawn
    uniformly, so that a small ground truth covers the space."""
    from .records import record_text, sample_records
    from .space import AutoFormerSpace

    if labels == "random":
        return sample_records(space, count, seed)
    size = space.size if isinstance(space, AutoFormerSpace) else count * POOL_FACTOR
    pool = sample_records(space, min(count * POOL_FACTOR, size), seed)
    decisions = pd.DataFrame([architecture_features(record_text(r)) for r in pool])
    return [{**pool[i], "id": f"arch-{k:04d}"} for k, i in enumerate(diverse_subset(decisions, count))]
