"""Progressive re-tokenization (docs/design.md section 9): the stage-1 tokenizer trains at stride 16, then 8,
then 4 (m = 4, 2, 1 times the final stride) with dilation d = round((m K1 - 1) / (K1 - 1)), so the
dilated kernel d (K1 - 1) + 1 still spans about m K1 pixels; its weights never change.

Also the forward multiply-accumulates (MACs) of an As-ViT network at any tokenizer stride, by formula
(exactly what ``torch.utils.flop_counter`` counts: convolutions, linear layers and the two attention
matmuls) and measured, to state what each phase costs relative to full tokenization.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import AsvitError
from ..models import ASViT
from ..models.counting import count_flops
from ..space import Topology

FINAL_STRIDE = 4
STRIDE_MULTIPLES = (4, 2, 1)


class ScheduleError(AsvitError):
    """An image too small for the token grid of a re-tokenization phase."""


def dilation_for(multiple: int, kernel: int) -> int:
    """d = round((m K1 - 1) / (K1 - 1)), halves rounded up (K1 = 4 gives 5, 2, 1 for m = 4, 2, 1)."""
    return math.floor((multiple * kernel - 1) / (kernel - 1) + 0.5)


@dataclass(frozen=True)
class Phase:
    """Tokenizer setting used from ``start`` (inclusive) to ``end`` (exclusive), in epochs."""

    stride: int
    dilation: int
    start: int
    end: int


def phase_schedule(epochs: int, kernel: int, phase_ends: Sequence[float] | None) -> list[Phase]:
    """The phases over ``epochs``: stride 16, 8, 4 ending at round(f * epochs) for the two fractions
    ``phase_ends`` (validated by :class:`~asvit.config.Recipe`; a phase may be empty in a short run);
    ``None`` trains at the final stride only."""
    if phase_ends is None:
        return [Phase(FINAL_STRIDE, 1, 0, epochs)]
    bounds = [0, *(round(f * epochs) for f in phase_ends), epochs]
    return [Phase(m * FINAL_STRIDE, dilation_for(m, kernel), start, end)
            for m, start, end in zip(STRIDE_MULTIPLES, bounds, bounds[1:])]


def phase_at(phases: list[Phase], epoch: int) -> Phase:
    """The phase that covers ``epoch`` (the last phase for epochs past the end)."""
    return next((p for p in phases if p.start <= epoch < p.end), phases[-1])


def _merged_side(side: int, kernel: int) -> int:
    """Grid side after a patch merge: pad ((K-2)//2, (K-1)//2), windows of K with stride 2."""
    return (side + (kernel - 2) // 2 + (kernel - 1) // 2 - kernel) // 2 + 1


def stage_grids(topology: Topology, image_size: int, stride: int = FINAL_STRIDE) -> tuple[int, ...]:
    """Token-grid sides of the four stages: g1 = image / stride, then each merge halves (floor)."""
    grids = [image_size // stride]
    for kernel in topology.kernels[1:]:
        grids.append(max(0, _merged_side(grids[-1], kernel)))
    return tuple(grids)


def check_phases(topology: Topology, image_size: int, phases: list[Phase], key: str = "phase_ends") -> None:
    """Every non-empty phase must leave at least one token in every stage."""
    for phase in phases:
        grids = stage_grids(topology, image_size, phase.stride)
        if phase.end > phase.start and min(grids) < 1:
            raise ScheduleError(
                f"{key}: at tokenizer stride {phase.stride} a {image_size} px image gives stage grids "
                f"{'x'.join(map(str, grids))} (an empty stage); progressive re-tokenization needs larger "
                f"images (stride 16 needs about 128 px) or must be switched off")


def _block_macs(grid: int, dim: int, heads: int, expansion: int, split: int) -> int:
    """One pre-norm block: qkv and proj on the window-padded grid P^2, the two attention matmuls
    2 P^2 T A (T tokens per window, A = heads * head_dim), and the FFN 2 g^2 c hidden."""
    if grid == 0:
        return 0
    window = max(1, grid // split)
    padded = math.ceil(grid / window) * window
    attn_dim = heads * max(1, dim // heads)
    hidden = int(dim * expansion)
    tokens = padded * padded
    return tokens * (4 * dim * attn_dim + 2 * window * window * attn_dim) + 2 * grid * grid * dim * hidden


def asvit_macs(topology: Topology, image_size: int, stride: int = FINAL_STRIDE, num_classes: int = 1000) -> int:
    """Forward MACs of one image through :class:`~asvit.models.ASViT` with the tokenizer at ``stride``
    (dilation changes no MAC count): tokenizer g1^2 C 3 K1^2, merges g_i^2 K_i^2 C_{i-1} C_i, blocks,
    and the head F^2 + F * classes."""
    grids = stage_grids(topology, image_size, stride)
    widths, heads = topology.widths, topology.stage_heads
    total = grids[0] ** 2 * widths[0] * 3 * topology.kernels[0] ** 2
    for i in range(4):
        if i:
            total += grids[i] ** 2 * topology.kernels[i] ** 2 * widths[i - 1] * widths[i]
        total += topology.depths[i] * _block_macs(grids[i], widths[i], heads[i], topology.expansions[i],
                                                  topology.splits[i])
    features = widths[-1]
    return total + features * features + features * num_classes


def measured_macs(model: ASViT, image_size: int, stride: int = FINAL_STRIDE, dilation: int = 1) -> float:
    """MACs counted with ``FlopCounterMode`` (FLOPs / 2) at the given tokenizer setting; the model's
    tokenizer setting and training mode are restored afterwards."""
    previous, training = (model.tokenizer.stride, model.tokenizer.dilation), model.training
    model.set_tokenizer(stride, dilation)
    try:
        return count_flops(model, image_size) / 2
    finally:
        model.set_tokenizer(*previous)
        model.train(training)


def phase_cost(topology: Topology, image_size: int, phases: list[Phase], num_classes: int = 1000) -> float:
    """Training MACs of the schedule relative to training every epoch at full tokenization:
    sum over phases of epochs * MACs(stride) / (total epochs * MACs(4))."""
    full = asvit_macs(topology, image_size, FINAL_STRIDE, num_classes)
    epochs = sum(p.end - p.start for p in phases)
    spent = sum((p.end - p.start) * asvit_macs(topology, image_size, p.stride, num_classes) for p in phases)
    return spent / (epochs * full)


def relative_macs(topology: Topology, image_size: int, num_classes: int = 1000) -> dict[int, float]:
    """MACs at strides 16, 8, 4 relative to stride 4, by formula."""
    full = asvit_macs(topology, image_size, FINAL_STRIDE, num_classes)
    return {m * FINAL_STRIDE: asvit_macs(topology, image_size, m * FINAL_STRIDE, num_classes) / full
            for m in STRIDE_MULTIPLES}
