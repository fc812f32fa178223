"""Length distortion L^E (expressivity; higher is better), docs/design.md section 6.

The input curve is the unit circle x(t) = U [cos t, sin t] in image space (U: two orthonormal
directions); L^E = sum_t || d f(x(t)) / dt ||_2 with LayerNorms removed, where
d f / dt = J_f(x(t)) U [-sin t, cos t] is one forward-mode Jacobian-vector product (attention
differentiated by :mod:`asvit.models.forward_attention`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models import attention_kernel, jvp_attention
from .base import ProxyInputs, finite, register

CURVE_POINTS = 10


def without_layernorm(model: nn.Module) -> nn.Module:
    """Replace every LayerNorm of ``model`` with identity, in place."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.LayerNorm):
                setattr(module, child_name, nn.Identity())
    return model


def unit_circle(image_size: int, points: int = CURVE_POINTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Points x(t) and tangents dx/dt of a random unit circle through image space, t in [0, 2 pi]
    with both end points, each (points, 3, S, S). Draws from torch's global generator."""
    dim = 3 * image_size * image_size
    basis, _, _ = torch.linalg.svd(torch.randn(dim, 2), full_matrices=False)
    t = torch.linspace(0, 2 * math.pi, points)
    position = torch.stack([t.cos(), t.sin()])
    tangent = torch.stack([-t.sin(), t.cos()])
    shape = (points, 3, image_size, image_size)
    return (basis @ position).T.reshape(shape), (basis @ tangent).T.reshape(shape)


@register("length_distortion", higher_is_better=True, stochastic=True)
def length_distortion(model: nn.Module, inputs: ProxyInputs) -> float:
    """L^E of ``model`` (modified in place: its LayerNorms are removed). The curve is closed, so the
    end point t = 2 pi repeats the start t = 0: its term is counted from the start's derivative."""
    model = without_layernorm(model).eval()
    curve, tangent = unit_circle(inputs.image_size)
    with attention_kernel(model, fused=True), jvp_attention(), torch.no_grad():  # forward mode only
        _, velocity = torch.func.jvp(model.pooled_features, (curve[:-1],), (tangent[:-1],))
    speeds = velocity.flatten(1).norm(dim=1)
    return finite(speeds.sum() + speeds[0], "length distortion")
