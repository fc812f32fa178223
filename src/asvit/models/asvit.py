"""The As-ViT network built from a :class:`~asvit.space.Topology` (docs/design.md section 4)."""

from __future__ import annotations

import torch
from torch import nn

from ..space import Topology
from .init import init_weights
from .layers import PatchMerge, Tokenizer, WindowBlock


class ASViT(nn.Module):
    """Four stages of widths min(mC, 1024) for m = 1, 2, 4, 8 with H/8, H/4, H/2, H heads; a stage-1
    tokenizer (stride 4), patch merges before stages 2-4, and the head LayerNorm, average pool,
    Linear(F, F), Tanh, Linear(F, classes).

    Accepts any input whose token grids divide by the splits; ``forward_stages`` returns the four
    stage outputs as (B, C_i, H_i, W_i) maps; ``pooled_features`` is the proxies' f(x).
    """

    def __init__(self, topology: Topology, num_classes: int = 1000, in_chans: int = 3,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.topology = topology
        self.num_classes = num_classes
        widths, heads = topology.widths, topology.stage_heads
        total = sum(topology.depths)
        rates = [drop_path_rate * i / max(1, total - 1) for i in range(total)]  # plain floats: meta-device safe
        self.tokenizer = Tokenizer(topology.kernels[0], widths[0], in_chans)
        self.stages = nn.ModuleList()
        for i in range(4):
            merge = PatchMerge(topology.kernels[i], widths[i - 1], widths[i]) if i else nn.Identity()
            blocks = [WindowBlock(widths[i], heads[i], topology.expansions[i], topology.splits[i],
                                  rates.pop(0)) for _ in range(topology.depths[i])]
            self.stages.append(nn.Sequential(merge, *blocks))
        self.num_features = widths[-1]
        self.head_norm = nn.LayerNorm(self.num_features)
        self.head = nn.Sequential(nn.Linear(self.num_features, self.num_features), nn.Tanh(),
                                  nn.Linear(self.num_features, num_classes))
        self.apply(init_weights)

    @property
    def arch(self) -> Topology:
        """The architecture the network was built from (every trainable network has one)."""
        return self.topology

    def set_tokenizer(self, stride: int, dilation: int = 1) -> None:
        """Change the stage-1 tokenizer's stride and dilation; its weights are untouched."""
        self.tokenizer.set_stride(stride, dilation)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four stage outputs, each (B, C_i, H_i, W_i)."""
        x = self.tokenizer(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x.permute(0, 3, 1, 2))
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage tokens (B, H_4, W_4, F), before the head LayerNorm."""
        x = self.tokenizer(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): last-stage features average-pooled over tokens, before the final LayerNorm."""
        return self.forward_features(x).mean(dim=(1, 2))

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_norm(tokens).mean(dim=(1, 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
