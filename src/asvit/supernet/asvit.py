"""A weight-sharing supernet over the As-ViT space, at one stage-1 width C and depth 1 per stage.

The supernet owns only the weights of :func:`largest_topology`; every topology of the same C and
depths runs on them:

- kernels K: the K x K crop of the largest kernel (the 8 x 8 tokenizer conv for K1; the 4 x 4
  patch-merge window for K2..K4, in both the merge LayerNorm and its reduction) at offset
  Kmax // 2 - K // 2 on each axis, so every shared tap reads the same input pixel as it does in
  the largest network;
- expansions E: the leading int(dim E) hidden units of each MLP (fc1 rows, fc2 columns);
- heads H: the whole q/k/v and projection of each block; the q/k/v width is the stage width dim
  for every head count, and H only changes how it is split into heads of dim / H_i channels;
- splits S: no weights (they only set the attention windows).

The tokenizer bias and norm, the block LayerNorms and the classification head are used whole.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import torch
from torch import nn
from torch.func import functional_call

from ..models.asvit import ASViT
from ..space import DECISIONS, Topology, TopologyError


def _choices(name: str) -> tuple[int, ...]:
    return next(d.choices for d in DECISIONS if d.name == name)


def largest_topology(width: int) -> Topology:
    """The network that holds every weight: each stage's largest kernel and expansion, depth 1,
    stage-1 width ``width``. Splits and heads own no weights, so their smallest choices stand in."""
    stages = range(1, 5)
    return Topology(kernels=tuple(max(_choices(f"K{i}")) for i in stages),
                    splits=tuple(min(_choices(f"S{i}")) for i in stages),
                    expansions=tuple(max(_choices(f"E{i}")) for i in stages),
                    heads=min(_choices("H")), width=width)


def _crop(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    """The ``kernel`` x ``kernel`` crop of the last two (Kmax x Kmax) axes at offset
    o = Kmax // 2 - K // 2.

    Both layers pad K // 2 - c before the input (the tokenizer (K - 4) // 2 with c = 2, the merge
    (K - 2) // 2 with c = 1), so at output p and stride s tap t of a K kernel reads input
    s p + c + t - K // 2, the pixel tap o + t of the largest kernel reads. For even Kmax - K this
    is the symmetric centre crop (Kmax - K) / 2; for odd Kmax - K the centre rounded up
    (K1 = 5: o = 2, K = 3 in a merge: o = 1).
    """
    start = weight.shape[-1] // 2 - kernel // 2
    return weight[..., start:start + kernel, start:start + kernel]


@lru_cache(maxsize=256)
def _skeleton(topology: Topology, num_classes: int, in_chans: int) -> ASViT:
    """A weightless :class:`ASViT` of ``topology`` on the meta device: the module structure that
    ``functional_call`` runs on the supernet's slices (its init is a no-op on meta tensors)."""
    with torch.device("meta"):
        return ASViT(topology, num_classes, in_chans)


class SuperASViT(nn.Module):
    """The supernet: ``largest`` is an :class:`ASViT` of :func:`largest_topology` and holds every
    weight; ``forward(x, topology)`` runs ``topology`` on the crops and slices of those weights
    given by :meth:`subnet_weights`, so gradients reach the shared weights.

    C must let every stage width divide into its heads for every H (a multiple of 8), so that the
    q/k/v width does not depend on H.
    """

    def __init__(self, width: int, num_classes: int, in_chans: int = 3) -> None:
        super().__init__()
        top = largest_topology(width)
        for heads in _choices("H"):
            for dim, stage_heads in zip(top.widths, replace(top, heads=heads).stage_heads):
                if dim % stage_heads:
                    raise TopologyError(
                        f"C = {width}: a stage of width {dim} does not split into {stage_heads} "
                        f"heads (H = {heads}), so its q/k/v width would depend on H")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.largest = ASViT(top, num_classes, in_chans)

    def check(self, topology: Topology) -> None:
        """Raise :class:`TopologyError` unless ``topology`` has the supernet's width and depths."""
        top = self.largest.topology
        if topology.width != top.width:
            raise TopologyError(f"width C = {topology.width} differs from the supernet's C = {top.width}")
        if topology.depths != top.depths:
            raise TopologyError(
                f"depths (L1..L4) = {topology.depths} differ from the supernet's {top.depths}")

    def subnet_weights(self, topology: Topology) -> dict[str, torch.Tensor]:
        """The crops and slices of the shared weights that ``topology`` uses, keyed by the parameter
        names of an :class:`ASViT` of ``topology``; views or differentiable copies of the shared
        parameters, not detached.

        A merge's features are channel-major (index c K^2 + i K + j), so its LayerNorm weight and
        bias are viewed as (C_in, Kmax, Kmax) and its reduction as (C_out, C_in, Kmax, Kmax),
        cropped, and flattened back.
        """
        self.check(topology)
        big, widths = self.largest, topology.widths
        w = dict(big.named_parameters())  # used whole unless replaced below
        w["tokenizer.conv.weight"] = _crop(big.tokenizer.conv.weight, topology.kernels[0])
        for i in range(1, 4):
            merge, k, p = big.stages[i][0], topology.kernels[i], f"stages.{i}.0."
            c_in, c_out, kmax = widths[i - 1], widths[i], merge.kernel
            for name in ("weight", "bias"):
                norm = getattr(merge.norm, name).view(c_in, kmax, kmax)
                w[f"{p}norm.{name}"] = _crop(norm, k).reshape(-1)
            reduction = merge.reduction.weight.view(c_out, c_in, kmax, kmax)
            w[p + "reduction.weight"] = _crop(reduction, k).reshape(c_out, -1)
        for i, stage in enumerate(big.stages):
            hidden = int(widths[i] * topology.expansions[i])
            for j, block in enumerate(stage[1:], start=1):
                mlp, p = block.mlp, f"stages.{i}.{j}.mlp."
                w[p + "fc1.weight"] = mlp.fc1.weight[:hidden]
                w[p + "fc1.bias"] = mlp.fc1.bias[:hidden]
                w[p + "fc2.weight"] = mlp.fc2.weight[:, :hidden]
        return w

    def forward(self, x: torch.Tensor, topology: Topology) -> torch.Tensor:
        """Class logits of ``topology`` on images ``x``, in the supernet's train/eval mode."""
        weights = self.subnet_weights(topology)
        skeleton = _skeleton(topology, self.num_classes, self.in_chans).train(self.training)
        return functional_call(skeleton, weights, (x,), strict=True)


def extract_asvit_subnet(supernet: SuperASViT, topology: Topology) -> ASViT:
    """A standalone :class:`ASViT` of ``topology`` whose parameters are copies of the crops and
    slices of the supernet's weights that ``topology`` uses, on the supernet's device and dtype and
    in its train/eval mode."""
    weights = supernet.subnet_weights(topology)
    reference = supernet.largest.head_norm.weight
    subnet = ASViT(topology, supernet.num_classes, supernet.in_chans)
    subnet.to(device=reference.device, dtype=reference.dtype)
    with torch.no_grad():
        subnet.load_state_dict({name: value.detach() for name, value in weights.items()}, strict=True)
    return subnet.train(supernet.training)
