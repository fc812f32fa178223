"""AutoFormer's 2D relative position encodings in the AutoFormer-space ViT: the attention against
a per-token definition, parameter counts derived from the layer shapes, the state dict, and the
proxies on the new attention."""

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from asvit.deploy import LatencySettings
from asvit.models import AutoFormerViT
from asvit.models.autoformer import relative_indices
from asvit.proxies import PROXIES
from asvit.proxies.expressivity import length_distortion
from asvit.proxies.reference import length_distortion_reference
from asvit.proxies.scoring import ScoreSettings
from asvit.space import AutoFormerArch

SMALL = AutoFormerArch(embed_dim=32, depth=2, num_heads=(1, 2), mlp_ratio=(2.0, 3.0))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# --- a per-token definition of the attention -----------------------------------------------------

def table_rows(i: int, j: int, grid: int) -> tuple[int, int]:
    """(vertical, horizontal) table rows of query token i and key token j: row 0 if either is the
    class token, else the key's grid coordinate minus the query's, clipped to [-14, 14], plus 15."""
    if i == 0 or j == 0:
        return 0, 0
    (yi, xi), (yj, xj) = divmod(i - 1, grid), divmod(j - 1, grid)
    return min(max(yj - yi, -14), 14) + 15, min(max(xj - xi, -14), 14) + 15


def pair_embeddings(module, grid: int) -> torch.Tensor:
    """r_ij = vertical[row_v(i, j)] + horizontal[row_h(i, j)] for all pairs, (N, N, 64)."""
    tokens = grid * grid + 1
    rows = [[table_rows(i, j, grid) for j in range(tokens)] for i in range(tokens)]
    vertical = torch.tensor([[r[0] for r in row] for row in rows])
    horizontal = torch.tensor([[r[1] for r in row] for row in rows])
    return module.vertical[vertical] + module.horizontal[horizontal]


def attention_reference(attn, x: torch.Tensor, grid: int) -> torch.Tensor:
    """One query token of one head at a time, all keys together: a_ij = (q_i . k_j + q_i . r^K_ij) / 8,
    o_i = sum_j softmax_j(a_ij) (v_j + r^V_ij); q, k, v are the rows of the one q/k/v Linear in the
    order q, k, v and head by head within each."""
    heads, width = attn.num_heads, 64
    qkv = x @ attn.qkv.weight.T + attn.qkv.bias
    r_k, r_v = pair_embeddings(attn.rel_pos_k, grid), pair_embeddings(attn.rel_pos_v, grid)
    batch, tokens, _ = x.shape
    out = torch.empty(batch, tokens, heads * width, dtype=x.dtype)
    for b in range(batch):
        for h in range(heads):
            q, k, v = (qkv[b, :, (part * heads + h) * width:(part * heads + h + 1) * width] for part in range(3))
            for i in range(tokens):  # all keys j at once: row j of k + r_k[i] is k_j + r^K_ij
                p = (((k + r_k[i]) @ q[i]) * 64 ** -0.5).softmax(dim=0)
                out[b, i, h * width:(h + 1) * width] = p @ (v + r_v[i])
    return out @ attn.proj.weight.T + attn.proj.bias


def features_reference(model, images: torch.Tensor, grid: int) -> torch.Tensor:
    """All tokens after the last block (the class token alone would not see the patch-pair rows)."""
    x = model.patch_embed(images).flatten(2).transpose(1, 2)
    x = torch.cat([model.cls_token.expand(len(x), -1, -1), x], dim=1) + model.pos_embed
    for block in model.blocks:
        x = x + attention_reference(block.attn, block.norm1(x), grid)
        x = x + block.mlp(block.norm2(x))
    return x


@pytest.mark.parametrize("image_size, arch", [
    (64, SMALL),  # 4 x 4 grid: no distance is clipped
    (256, AutoFormerArch(embed_dim=16, depth=1, num_heads=(2,), mlp_ratio=(2.0,))),  # 16 x 16: 15 is clipped
])
def test_attention_equals_the_per_token_definition(image_size, arch):
    model = AutoFormerViT(arch, num_classes=3, image_size=image_size).double().eval()
    images = torch.randn(2, 3, image_size, image_size, dtype=torch.float64)
    with torch.no_grad():
        features = features_reference(model, images, image_size // 16)
        torch.testing.assert_close(model.forward_features(images), features)
        torch.testing.assert_close(model(images), model.head(model.norm(features)[:, 0]))


def test_relative_indices_clip_and_reserve_row_0_for_the_class_token():
    vertical, horizontal = relative_indices(16)
    assert vertical.shape == horizontal.shape == (257, 257)
    for index in (vertical, horizontal):
        assert (index[0] == 0).all() and (index[:, 0] == 0).all()
        assert index[1:, 1:].min() == 1 and index[1:, 1:].max() == 29
    assert vertical[1, 1 + 15 * 16] == 29 and vertical[1 + 15 * 16, 1] == 1  # rows 15 apart, clipped to 14
    assert horizontal[1, 16] == 29 and horizontal[1, 1 + 14] == 29 and horizontal[1, 1 + 13] == 28
    assert horizontal[1, 1 + 16] == 15  # the same column one row down


# --- parameter counts ------------------------------------------------------------------------------

def hand_count(arch: AutoFormerArch, image_size: int = 224, classes: int = 1000) -> int:
    e = arch.embed_dim
    total = 3 * 16 * 16 * e + e  # patch embedding: Conv2d 3 -> E, kernel 16 x 16, with bias
    total += e  # class token
    total += ((image_size // 16) ** 2 + 1) * e  # absolute position embedding: 196 patches + class token
    for h, r in zip(arch.num_heads, arch.mlp_ratio):
        hidden = int(e * r)
        total += 4 * e  # norm1 and norm2: weight and bias each
        total += e * 3 * 64 * h + 3 * 64 * h  # qkv Linear E -> 3 x 64h, with bias
        total += 64 * h * e + e  # proj Linear 64h -> E, with bias
        total += e * hidden + hidden + hidden * e + e  # MLP fc1 E -> rE and fc2 rE -> E, with biases
        total += 2 * 2 * 30 * 64  # relative positions: 2 modules (keys, values) x 2 tables of 30 x 64
    total += 2 * e  # final LayerNorm
    total += e * classes + classes  # head Linear E -> classes, with bias
    return total


ARCHS = {
    "tiny-uniform": AutoFormerArch(192, 12, (3,) * 12, (4.0,) * 12),
    "tiny-mixed": AutoFormerArch(240, 14, (3, 4) * 7, (3.5, 4.0, 4.0, 3.5) * 3 + (3.5, 4.0)),
    "small-mixed": AutoFormerArch(384, 13, (5, 6, 7) * 4 + (6,), (3.0, 3.5, 4.0) * 4 + (3.5,)),
}


@pytest.mark.parametrize("name", ARCHS)
def test_parameter_count_equals_the_layer_shapes(name):
    arch = ARCHS[name]
    assert n_params(AutoFormerViT(arch, num_classes=1000, image_size=224)) == hand_count(arch)


def test_tiny_uniform_parameter_count():
    """Embed 192, depth 12, 3 heads, MLP 4: 5,717,416 without relative positions + 12 x 7,680.
    AutoFormer-T (13 mixed layers) is published at 5.7M; the counts here have that magnitude."""
    assert hand_count(ARCHS["tiny-uniform"]) == 5_809_576 == 5_717_416 + 12 * 7_680


def test_state_dict_holds_four_relative_position_tables_per_block():
    arch = ARCHS["tiny-mixed"]
    state = AutoFormerViT(arch, num_classes=10, image_size=224).state_dict()
    for layer in range(arch.depth):
        tables = {k: v for k, v in state.items() if k.startswith(f"blocks.{layer}.attn.rel_pos_")}
        assert sorted(k.rsplit(".attn.", 1)[1] for k in tables) == [
            "rel_pos_k.horizontal", "rel_pos_k.vertical", "rel_pos_v.horizontal", "rel_pos_v.vertical"]
        assert all(v.shape == (30, 64) for v in tables.values())
    assert not any("index" in k for k in state)  # the row indices are not saved


def test_tables_are_initialised_with_std_0_02():
    model = AutoFormerViT(ARCHS["tiny-uniform"], num_classes=10)
    tables = torch.cat([p.flatten() for n, p in model.named_parameters() if ".rel_pos_" in n])
    assert tables.std().item() == pytest.approx(0.02, rel=0.05)
    assert abs(tables.mean().item()) < 0.001


# --- the proxies on the new attention --------------------------------------------------------------

def test_forward_mode_length_distortion_equals_the_row_by_row_reference():
    torch.manual_seed(3)
    fast = length_distortion(AutoFormerViT(SMALL, num_classes=5, image_size=32), _inputs())
    torch.manual_seed(3)
    reference = length_distortion_reference(AutoFormerViT(SMALL, num_classes=5, image_size=32), 32)
    assert fast > 0
    assert abs(fast - reference) / reference < 1e-4


def test_flops_count_the_relative_position_products():
    """Per attention: qkv and proj Linears, and four (N x N x 64) products per head: q k^T, q r^K,
    p v and p r^V."""
    model = AutoFormerViT(SMALL, num_classes=5, image_size=64).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 64, 64))
    counts = counter.get_flop_counts()
    tokens, e = 17, SMALL.embed_dim
    for layer, heads in enumerate(SMALL.num_heads):
        expected = 2 * tokens * e * 3 * 64 * heads + 2 * tokens * 64 * heads * e + 4 * 2 * heads * tokens * tokens * 64
        assert sum(counts[f"AutoFormerViT.blocks.{layer}.attn"].values()) == expected


def _inputs():
    return ScoreSettings(image_size=32, batch_size=6, latency=LatencySettings(image_size=32)).inputs()


@pytest.mark.parametrize("name", sorted(PROXIES))
def test_every_proxy_runs_on_the_autoformer_vit(name):
    value = PROXIES[name].fn(AutoFormerViT(SMALL, num_classes=5, image_size=32), _inputs())
    assert math.isfinite(value) and value > 0
