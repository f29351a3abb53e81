"""model=vit (Dosovitskiy et al. 2020, a small patch transformer) and the transformer
initializations: GPT-2's scaled residual projections, BERT's truncated normal, T-Fixup."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import QUICK, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from initlab.config.errors import ConfigError
from initlab.initializers import apply, get_initializer
from initlab.initializers.forward_order import ordered_blocks
from initlab.models.builders import vit
from initlab.models.residual_blocks import ResidualBlock, Scale
from initlab.models.transformer_blocks import SelfAttention
from initlab.training.run import run
from initlab.training.spec import build


@pytest.fixture(autouse=True)
def _fixed_global_seed():
    torch.manual_seed(0)


def test_parameter_count_by_hand():
    # patch 4 on 28×28: 49 tokens; width 8, 2 heads, MLP 16, one pre-norm layer:
    # patches 1·8·16 + 8; positions 49·8; attention LN 2·8, q/k/v 3·8·8 + 24, out 8·8 + 8;
    # MLP LN 2·8, 8·16 + 16, 16·8 + 8; final LN 2·8; head 8·10 + 10
    hand = 136 + 392 + 16 + 216 + 72 + 16 + 144 + 136 + 16 + 90
    net = vit((1, 28, 28), 10, nn.GELU, depth=1, width=8, heads=2, mlp_ratio=2)
    assert sum(p.numel() for p in net.parameters()) == hand == 1234
    post = vit((1, 28, 28), 10, nn.GELU, depth=1, width=8, heads=2, norm_position="post")
    assert sum(p.numel() for p in post.parameters()) == hand - 16  # no final LN
    bare = vit((1, 28, 28), 10, nn.GELU, depth=1, width=8, heads=2, norm="none")
    assert sum(p.numel() for p in bare.parameters()) == hand - 3 * 16


@pytest.mark.parametrize("position", ["pre", "post"])
@pytest.mark.parametrize("norm", ["layer", "none"])
@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_option_on_every_image_shape(position, norm, in_shape):
    depth = 3
    with torch.device("meta"):
        net = vit(in_shape, 10, nn.GELU, depth=depth, norm=norm, norm_position=position)
    assert net(torch.empty(2, *in_shape, device="meta")).shape == (2, 10)
    # patches, positions, per layer q k v out + two MLP Linears, the head
    blocks = ordered_blocks(net, in_shape)
    assert len(blocks) == 2 + 6 * depth + 1
    assert [b.gate for b in blocks[2:6]] == ["q", "k", "v", "out"]
    residual = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(residual) == 2 * depth
    norms = [m for m in net.modules() if isinstance(m, nn.LayerNorm)]
    expected = 0 if norm == "none" else 2 * depth + (position == "pre")
    assert len(norms) == expected
    tokens = (in_shape[1] // 4) * (in_shape[2] // 4)
    assert net[1].table.num_embeddings == tokens


def test_pre_and_post_norm_compute_what_they_say():
    x = torch.randn(2, 16, 8)
    pre = vit((1, 16, 16), 10, nn.GELU, depth=1, width=8, heads=2)
    attn, ln = pre[2].branch[1], pre[2].branch[0]
    with torch.no_grad():
        torch.testing.assert_close(pre[2](x), x + attn(ln(x)))
    post = vit((1, 16, 16), 10, nn.GELU, depth=1, width=8, heads=2, norm_position="post")
    attn, ln = post[2].branch[0], post[2].act
    with torch.no_grad():
        torch.testing.assert_close(post[2](x), ln(x + attn(x)))
    assert isinstance(attn, SelfAttention)


@pytest.mark.parametrize(
    "overrides, key, reason",
    [
        (["model.patch=3"], "model.patch", "must divide the 8×8 image"),
        (["model.heads=5"], "model.heads", "must divide width=64"),
        (["model.norm=batch"], "model.norm", "must be one of layer, none"),
        (["model.norm_position=middle"], "model.norm_position", "must be one of pre, post"),
        (["model.depth=0"], "model.depth", "must be"),
        (["dataset=gaussian"], "model.name", "needs image input (C, H, W)"),
        (
            ["init=t_fixup"],
            "init.name",
            "LayerNorm (module '2.branch.0'): use model=vit model.norm=none",
        ),
        (["init=fixup", "model.norm=none"], "init.name", "needs m ≥ 2"),
        (["init=gpt2", "init.std=0"], "init.std", "must be > 0"),
        (["init=t_fixup", "model.norm=none", "init.base=lsuv"], "init.base", "closed-form"),
    ],
)
def test_bad_values_are_refused_by_name(overrides, key, reason):
    with pytest.raises(ConfigError) as info:
        build(make_cfg("dataset=digits", "model=vit", *overrides))
    assert info.value.key == key and reason in str(info.value)


def _by_tensor(layers, module_type, net) -> dict:
    modules = dict(net.named_modules())
    return {
        (lp.module, lp.tensor): lp for lp in layers if isinstance(modules[lp.module], module_type)
    }


@pytest.mark.parametrize("depth", [2, 6, 12])
def test_gpt2_scales_the_residual_projections_by_one_over_root_2_depth(depth):
    """Radford et al. (2019): N(0, 0.02²) everywhere, the attention's output projection and the
    MLP's second Linear N(0, (0.02/√(2·depth))²); biases 0, LayerNorms 1 and 0."""
    net = vit((1, 28, 28), 10, nn.GELU, depth=depth, width=32, heads=4)
    layers = apply(get_initializer("gpt2"), net, seed=0, in_shape=(1, 28, 28))
    small = 0.02 / math.sqrt(2 * depth)
    projections, others = [], []
    for k in range(depth):
        attn_block, mlp_block = net[2 + 2 * k], net[3 + 2 * k]
        projections += [attn_block.branch[1].attn.out_proj.weight, mlp_block.branch[3].weight]
        others += [attn_block.branch[1].attn.in_proj_weight, mlp_block.branch[1].weight]
    for lp in layers:
        is_projection = lp.tensor == "out_proj.weight" or lp.module.endswith("branch.3")
        assert lp.weight.std == pytest.approx(small if is_projection else 0.02, rel=1e-12)
    # the draws: every projection together, every other matrix together
    assert torch.cat([w.flatten() for w in projections]).std().item() == pytest.approx(
        small, rel=0.05
    )
    assert torch.cat([w.flatten() for w in others]).std().item() == pytest.approx(0.02, rel=0.05)
    assert net[1].table.weight.std().item() == pytest.approx(0.02, rel=0.05)
    for m in net.modules():
        if isinstance(m, nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        elif isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None:
            assert torch.all(m.bias == 0)
    assert torch.all(net[2].branch[1].attn.in_proj_bias == 0)


def test_bert_is_tensorflows_truncated_normal():
    """Devlin et al. (2019): stddev 0.02 redrawn outside ±0.04, so the draw's std is 0.88·0.02."""
    net = vit((1, 28, 28), 10, nn.GELU, depth=4, width=64)
    apply(get_initializer("bert"), net, seed=0, in_shape=(1, 28, 28))
    weights = torch.cat(
        [
            p.flatten()
            for name, p in net.named_parameters()
            if name.endswith("weight") and p.dim() > 1
        ]
    )
    assert weights.abs().max().item() <= 0.04
    assert weights.std().item() == pytest.approx(0.02 * 0.8796, rel=0.02)


def test_t_fixup_scales_by_its_formulas():
    """Huang et al. (2020), encoder: Xavier uniform; q, k ×1/√2; v, the output projection and
    the MLP ×0.67·N^(−1/4); the position table N(0, d^(−1/2))·(9N)^(−1/4); the patch embedding
    Xavier·(9N)^(−1/4); the classifier Xavier."""
    depth, width = 4, 32
    net = vit((1, 28, 28), 10, nn.GELU, depth=depth, width=width, heads=4, norm="none")
    layers = apply(get_initializer("t_fixup"), net, seed=0, in_shape=(1, 28, 28))

    def xavier(fan_in, fan_out):  # the std of U(±√(6/(fan_in + fan_out)))
        return math.sqrt(2 / (fan_in + fan_out))

    inside, embed = 0.67 * depth**-0.25, (9 * depth) ** -0.25
    expected = {"q": 2**-0.5, "k": 2**-0.5, "v": inside, "out": inside}
    for lp in layers:
        block = lp.block
        if block.gate:
            want = xavier(width, width) * expected[block.gate]
        elif lp.module == "0.proj":
            want = xavier(16, width * 16) * embed
        elif lp.module == "1.table":
            want = width**-0.5 * embed
            assert lp.weight.method == "normal"
        elif "branch" in lp.module:  # the MLP: 32→64, 64→32
            want = xavier(width, 2 * width) * inside
        else:  # the classifier
            want = xavier(width, 10)
        assert lp.weight.std == pytest.approx(want, rel=1e-12), lp.module
    out = net[2].branch[0].attn.out_proj.weight
    assert out.std().item() == pytest.approx(xavier(width, width) * inside, rel=0.05)
    assert out.abs().max().item() <= math.sqrt(3) * xavier(width, width) * inside


@pytest.mark.parametrize("position", ["pre", "post"])
def test_skipinit_on_a_vit_makes_every_block_its_shortcut(position):
    net = vit((1, 28, 28), 10, nn.GELU, depth=2, width=16, heads=2, norm_position=position)
    apply(get_initializer("skipinit"), net, seed=0, in_shape=(1, 28, 28))
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 4 and all(isinstance(b.branch[-1], Scale) for b in blocks)
    x = torch.randn(2, 49, 16)
    with torch.no_grad():
        for b in blocks:  # pre: x + 0; post: LN(x + 0)
            torch.testing.assert_close(b(x), x if position == "pre" else b.act(x))


@pytest.mark.parametrize(
    "init, extra",
    [("gpt2", []), ("bert", ["model.norm_position=post"]), ("t_fixup", ["model.norm=none"])],
)
def test_a_vit_trains_on_digits_with_its_plan_and_diagnostics_from_step_0(tmp_path, init, extra):
    overrides = [
        *QUICK,
        "model=vit",
        "model.depth=2",
        "model.width=16",
        "model.heads=2",
        "activation=gelu",
        f"init={init}",
        *extra,
    ]
    run(make_cfg(*overrides), tmp_path, overrides)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "completed"
    assert record["metrics"]["test/acc"] > 0.2  # 10 classes: it learns in one epoch
    plan = json.loads((tmp_path / "init_plan.json").read_text())
    rows = plan["layers"]
    assert len(rows) == 2 + 6 * 2 + 1 and plan["kept_default"] == []
    attention = [r["tensor"] for r in rows if r["module"].endswith(".attn")]
    assert attention[:4] == [
        "in_proj_weight[0:16]",
        "in_proj_weight[16:32]",
        "in_proj_weight[32:48]",
        "out_proj.weight",
    ]
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    for k in range(1, len(rows) + 1):
        assert acc.Scalars(f"weights/layer{k}/std")[0].step == 0
        assert acc.Scalars(f"gradients/layer{k}/norm")[0].step == 0
    # activations where a block's layer has an output: the attentions' out_proj (layer 6, 12),
    # the MLPs' Linears, the patches, the positions and the logits
    out_proj = [k + 1 for k, r in enumerate(rows) if r["tensor"] == "out_proj.weight"]
    assert out_proj == [6, 12]
    for k in out_proj:
        assert acc.Scalars(f"activations/layer{k}/std")[0].step == 0
    assert f"activations/layer{len(rows)}" in tags["histograms"]
    assert {"diagnostics/depth", "diagnostics/activation_histograms"} <= set(tags["images"])
