"""model=resnet (He et al. 2016, CIFAR ResNet) and the residual initializations (zero-γ)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import QUICK, make_cfg
from torch import nn

from initlab.config import build
from initlab.errors import ConfigError
from initlab.initializers import apply, get_initializer
from initlab.layer_order import ordered_blocks
from initlab.models import resnet
from initlab.residual import PadShortcut, ResidualBlock
from initlab.train import run


@pytest.fixture(autouse=True)
def _fixed_global_seed():
    torch.manual_seed(0)


def test_parameter_count_by_hand():
    # ResNet-8, width 16, one input channel, batch norm (γ and β per channel), no conv biases:
    # stem 1·16·9 + 32; stage 1: 2·16·16·9 + 2·32; stage 2: 16·32·9 + 32·32·9 + 2·64;
    # stage 3: 32·64·9 + 64·64·9 + 2·128; head 64·10 + 10
    hand = 144 + 32 + 4608 + 64 + 4608 + 9216 + 128 + 18432 + 36864 + 256 + 650
    net = resnet((1, 28, 28), 10, nn.ReLU, depth=8)
    assert sum(p.numel() for p in net.parameters()) == hand == 75002


@pytest.mark.parametrize("depth", [8, 14, 20, 56])
@pytest.mark.parametrize("norm", ["batch", "none"])
@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_depth_and_norm_on_every_image_shape(depth, norm, in_shape):
    with torch.device("meta"):
        net = resnet(in_shape, 10, nn.ReLU, depth=depth, norm=norm)
    assert net(torch.empty(2, *in_shape, device="meta")).shape == (2, 10)
    assert len(ordered_blocks(net, in_shape)) == depth  # depth counts the weight layers
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 3 * (depth - 2) // 6
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == (depth - 1 if norm == "batch" else 0)


def test_the_shortcut_subsamples_and_pads_with_zero_channels():
    x = torch.randn(2, 3, 6, 6)
    y = PadShortcut(2, 5)(x)
    assert y.shape == (2, 8, 3, 3)
    torch.testing.assert_close(y[:, :3], x[:, :, ::2, ::2])
    assert torch.all(y[:, 3:] == 0)


@pytest.mark.parametrize(
    "overrides, key, reason",
    [
        (["model.depth=10"], "model.depth", "must be 6n + 2"),
        (["model.norm=group"], "model.norm", "must be one of batch, none"),
        (["dataset=gaussian"], "model.name", "needs image input (C, H, W)"),
        (["init=zero_gamma", "model.norm=none"], "init.name", "have none: use model.norm=batch"),
        (["init=zero_gamma", "init.base=lsuv"], "init.base", "must be a closed-form initializer"),
        (["init=zero_gamma", "init.base=nope"], "init.base", "unknown init"),
    ],
)
def test_bad_values_are_refused_by_name(overrides, key, reason):
    with pytest.raises(ConfigError) as info:
        build(make_cfg("dataset=digits", "model=resnet", *overrides))
    assert info.value.key == key and reason in str(info.value)


def test_zero_gamma_zeroes_each_branchs_last_gamma_so_each_block_is_its_shortcut():
    """Goyal et al. (2017): at step 0 every residual block computes act(shortcut(x))."""
    net = resnet((1, 28, 28), 10, nn.ReLU, depth=14)
    apply(get_initializer("zero_gamma"), net, seed=0, in_shape=(1, 28, 28))
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    for block in blocks:
        norms = [m for m in block.branch if isinstance(m, nn.BatchNorm2d)]
        assert torch.all(norms[-1].weight == 0) and torch.all(norms[0].weight == 1)
        assert all(torch.all(n.bias == 0) for n in norms)
    net.eval()
    x = torch.randn(4, 16, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(blocks[0](x), torch.relu(x))
        conv = net[0]  # the base rule: He normal, std √(2/fan_in)
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.2)
        w = blocks[-1].branch[0].weight
        assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)  # 64 → 64


def test_a_resnet_runs_on_digits_and_the_plan_shows_the_zero_gammas(tmp_path):
    cfg = [*QUICK, "model=resnet", "model.depth=8", "model.width=8", "init=zero_gamma"]
    run(make_cfg(*cfg), tmp_path, cfg)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "completed" and math.isfinite(record["metrics"]["test/loss"])
    plan = json.loads((tmp_path / "init_plan.json").read_text())
    assert [r["module"] for r in plan["layers"]] == [
        "0",
        *(f"{k}.branch.{i}" for k in (3, 4, 5) for i in (0, 3)),
        "8",
    ]
    gammas = {n["module"]: n["weight"] for n in plan["norm_layers"]}
    assert gammas == {
        "1": 1.0,
        **{f"{k}.branch.{i}": 1.0 if i == 1 else 0.0 for k in (3, 4, 5) for i in (1, 4)},
    }
