"""model=resnet (He et al. 2016, CIFAR ResNet) and the residual initializations: zero-γ, Fixup,
SkipInit and ZerO."""

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
from initlab.initializers import plan as plan_of
from initlab.initializers.forward_order import ordered_blocks
from initlab.initializers.structural import zero_matrix
from initlab.models.builders import resnet
from initlab.models.residual_blocks import PadShortcut, ResidualBlock, Scale, Shift
from initlab.training.run import run
from initlab.training.spec import build


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
        (["init=fixup"], "init.name", "BatchNorm2d (module '1'): use model=resnet model.norm=none"),
        (["init=fixup", "model.norm=none", "init.base=irnn"], "init.base", "closed-form"),
        (
            ["init=fixup", "model.norm=none", "init.scale=big"],
            "init.scale",
            "must be a finite number",
        ),
        (["init=skipinit", "init.alpha=[1]"], "init.alpha", "must be a finite number"),
        (["init=skipinit", "init.base=fixup"], "init.base", "closed-form"),
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


def _blocks(net: nn.Module) -> list[ResidualBlock]:
    return [m for m in net.modules() if isinstance(m, ResidualBlock)]


def test_fixup_adds_its_scalar_biases_and_multipliers_to_the_model():
    """Zhang et al. (2019), §3 rule 3: a scalar bias before each convolution and activation
    (and before the stem's activation and the classifier), a multiplier at each branch's end."""
    net = get_initializer("fixup").prepare(resnet((1, 28, 28), 10, nn.ReLU, depth=8, norm="none"))
    types = [type(m).__name__ for m in net]
    assert types == [
        "Conv2d", "Shift", "ReLU", *["ResidualBlock"] * 3,
        "AdaptiveAvgPool2d", "Flatten", "Shift", "Linear",
    ]  # fmt: skip
    for block in _blocks(net):
        assert [type(m).__name__ for m in block.branch] == [
            "Shift", "Conv2d", "Shift", "ReLU", "Shift", "Conv2d", "Scale", "Shift"
        ]  # fmt: skip
    # ResNet-8, width 16, no norm (conv biases): the count of the plain net (75002 with batch
    # norm: less its 2·(16+16+16+32+32+64+64) = 480 norm parameters, plus the conv biases
    # 16 + 2·16 + 2·32 + 2·64 = 240); Fixup's, as in its reference code, without those conv
    # biases and with its 3 blocks × 5 scalars + 2 at the top
    plain = 75002 - 480 + 240
    assert sum(p.numel() for p in net.parameters()) == plain - 240 + 3 * 5 + 2
    n = sum(p.numel() for p in resnet((1, 28, 28), 10, nn.ReLU, depth=8, norm="none").parameters())
    assert n == plain
    get_initializer("fixup").prepare(net)  # once: a second call adds nothing
    assert sum(isinstance(m, (Shift, Scale)) for m in net.modules()) == 17


@pytest.mark.parametrize("depth", [8, 20, 56])
def test_fixup_scales_each_branch_by_the_formula_and_zeroes_the_last_layers(depth):
    """Rule 1: the last layer of every branch and the classifier are 0. Rule 2: the other branch
    layers are He's draw times L^(−1/(2m−2)) = L^(−1/2) (m = 2), L = 3(depth − 2)/6 branches."""
    net = resnet((1, 28, 28), 10, nn.ReLU, depth=depth, norm="none")
    layers = apply(get_initializer("fixup"), net, seed=0, in_shape=(1, 28, 28))
    n_branches = 3 * (depth - 2) // 6
    factor = n_branches ** (-1 / (2 * 2 - 2))
    for block in _blocks(net):
        first, last = [m for m in block.branch if isinstance(m, nn.Conv2d)]
        fan_in = first.in_channels * 9
        expected = math.sqrt(2 / fan_in) * factor
        row = next(lp for lp in layers if lp.block.module.endswith(".branch.1") and
                   dict(net.named_modules())[lp.module] is first)  # fmt: skip
        assert row.weight.std == pytest.approx(expected, rel=1e-12)  # the plan: the formula
        assert first.weight.std().item() == pytest.approx(expected, rel=0.1)  # the draw
        assert torch.all(last.weight == 0) and last.bias is None  # the reference's: no bias
        assert [m.value.item() for m in block.branch if isinstance(m, (Shift, Scale))] == [
            0.0, 0.0, 0.0, 1.0, 0.0
        ]  # fmt: skip
    head = net[-1]
    assert torch.all(head.weight == 0) and torch.all(head.bias == 0)
    assert net[0].weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.2)  # the stem: He
    # at step 0 every block is its shortcut and the net outputs 0: the loss is ln 10
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        h = torch.randn(4, 16, 28, 28)
        torch.testing.assert_close(_blocks(net)[0](h), torch.relu(h))
        assert torch.all(net(x) == 0)


def test_fixup_needs_two_layers_per_branch_for_its_exponent():
    branch = nn.Sequential(nn.Linear(4, 4))
    net = nn.Sequential(ResidualBlock(branch, nn.Identity(), nn.ReLU()), nn.Linear(4, 2))
    init = get_initializer("fixup")
    with pytest.raises(
        ConfigError, match=r"name='fixup': .* needs m ≥ 2 .*; the branch of 0.branch.1 has 1"
    ):
        plan_of(init, init.prepare(net))


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_skipinit_alpha_is_zero_so_every_block_is_its_shortcut(norm):
    """De & Smith (2020): α = 0 at each branch's end: the net is the identity on its residual
    path at step 0; α learns (it gets a gradient)."""
    net = resnet((1, 28, 28), 10, nn.ReLU, depth=14, norm=norm)
    apply(get_initializer("skipinit"), net, seed=0, in_shape=(1, 28, 28))
    blocks = _blocks(net)
    assert len(blocks) == 6
    for block in blocks:
        assert isinstance(block.branch[-1], Scale) and block.branch[-1].value.item() == 0.0
        assert sum(isinstance(m, (Scale, Shift)) for m in block.branch) == 1
    net.train()
    h = torch.randn(4, 16, 28, 28)
    torch.testing.assert_close(blocks[0](h), torch.relu(h))
    x = torch.randn(8, 1, 28, 28)
    nn.functional.cross_entropy(net(x), torch.arange(8)).backward()
    assert all(b.branch[-1].value.grad.abs().item() > 0 for b in blocks)
    # the other weights by the base rule: He normal on the first conv of the last block
    w = blocks[-1].branch[0].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)
    alpha = get_initializer("skipinit", alpha=0.25)
    net = resnet((1, 28, 28), 10, nn.ReLU, depth=8, norm=norm)
    apply(alpha, net, seed=0)
    assert [b.branch[-1].value.item() for b in _blocks(net)] == [0.25] * 3


def test_zero_on_a_resnet_zeroes_each_branchs_last_layer_and_draws_zero_elsewhere():
    """ZerO (Zhao et al., 2022) on a ResNet: the last layer of every branch 0, so every block
    starts as its shortcut; every other layer its identity / Hadamard matrix at the centre tap."""
    net = resnet((1, 28, 28), 10, nn.ReLU, depth=8, width=4)
    apply(get_initializer("zero_hadamard"), net, seed=0, in_shape=(1, 28, 28))
    for block in _blocks(net):
        first, last = [m for m in block.branch if isinstance(m, nn.Conv2d)]
        assert torch.all(last.weight == 0)
        w = first.weight
        torch.testing.assert_close(w[:, :, 1, 1], zero_matrix(w.shape[0], w.shape[1]))
        assert torch.count_nonzero(w) == torch.count_nonzero(w[:, :, 1, 1])
    torch.testing.assert_close(net[-1].weight, zero_matrix(10, 16))  # the classifier: ZerO's
    net.eval()
    h = torch.randn(4, 4, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(_blocks(net)[0](h), torch.relu(h))
    # without residual branches ZerO is its matrix everywhere, nothing zeroed, nothing refused
    mlp = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    apply(get_initializer("zero_hadamard"), mlp, seed=0)
    torch.testing.assert_close(mlp[2].weight, zero_matrix(4, 8))


@pytest.mark.parametrize(
    "init, extra, scalars",
    [
        ("fixup", ["model.norm=none"], {"3.branch.6": 1.0, "1": 0.0, "8": 0.0}),
        ("skipinit", [], {"3.branch.5": 0.0, "4.branch.5": 0.0, "5.branch.5": 0.0}),
    ],
)
def test_a_residual_init_trains_with_its_scalars_in_the_plan_and_tensorboard(
    tmp_path, init, extra, scalars
):
    cfg = [*QUICK, "model=resnet", "model.depth=8", "model.width=8", f"init={init}", *extra]
    run(make_cfg(*cfg), tmp_path, cfg)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "completed" and math.isfinite(record["metrics"]["test/loss"])
    plan = json.loads((tmp_path / "init_plan.json").read_text())
    listed = {r["module"]: r["value"] for r in plan["scalars"]}
    assert scalars.items() <= listed.items()
    assert plan["kept_default"] == []
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for path, start in scalars.items():
        values = acc.Scalars(f"weights/{path}/value")
        assert values[0].step == 0 and values[0].value == start
        assert values[-1].value != start  # it learns
        assert acc.Scalars(f"gradients/{path}/grad")[0].step == 0
    assert "activations/layer8/std" in tags  # the per-layer diagnostics, from step 0
