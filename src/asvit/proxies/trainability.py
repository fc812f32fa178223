"""NTK condition number kappa (trainability; lower is better), docs/design.md section 6.

g_i = d sum(f(x_i)) / d w over every parameter named ``weight``; Theta = G G^T;
kappa = lambda_max(Theta) / lambda_min(Theta). The 16 per-sample gradients come from one
batched pass (``torch.func.vmap`` over ``grad``).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .base import BadTopology, ProxyInputs, finite, register

CHUNK = 4  # samples whose gradients are computed at once: bounds memory, costs no time (measured)


def is_weight(name: str) -> bool:
    """The NTK differentiates the parameters named ``weight`` (not biases, tokens or embeddings)."""
    return name.rsplit(".", 1)[-1] == "weight"


def per_sample_weight_gradients(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """G: (B, P) with row i the gradient of sum(f(x_i)) over all weights, flattened."""
    weights = {n: p.detach() for n, p in model.named_parameters() if is_weight(n)}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not is_weight(n)}
    frozen.update(dict(model.named_buffers()))

    def summed_features(w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**w, **frozen}, (x.unsqueeze(0),)).sum()

    with warnings.catch_warnings():
        # The fused attention kernel has no vmap batching rule; functorch loops over the batch for that
        # one op, which is still ~3x faster than plain softmax attention on large windows (measured).
        warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
        grads = vmap(grad(summed_features), in_dims=(None, 0), chunk_size=CHUNK)(weights, images)
    return torch.cat([g.flatten(1) for g in grads.values()], dim=1)


def condition_number(gram: torch.Tensor) -> float:
    """lambda_max / lambda_min of a symmetric PSD matrix, from a float64 symmetric eigensolve."""
    if not torch.isfinite(gram).all():
        raise BadTopology("the NTK has non-finite entries")
    try:
        eigenvalues = torch.linalg.eigvalsh(gram.double())
    except torch.linalg.LinAlgError as exc:
        raise BadTopology(f"the NTK eigensolve failed: {exc}") from None
    smallest, largest = eigenvalues[0].item(), eigenvalues[-1].item()
    if smallest <= 0:
        raise BadTopology(f"the NTK is singular (smallest eigenvalue {smallest:.3g})")
    return finite(largest / smallest, "the NTK condition number")


class PooledFeatures(nn.Module):
    """Wraps a network so that its forward is f(x), the proxies' pooled features."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.pooled_features(x)


@register("ntk_cond", higher_is_better=False, stochastic=True, reads_images=True)
def ntk_condition_number(model: nn.Module, inputs: ProxyInputs) -> float:
    """kappa of the empirical NTK of f on the proxy image batch."""
    gradients = per_sample_weight_gradients(PooledFeatures(model.eval()), inputs.images)
    return condition_number(gradients @ gradients.T)
