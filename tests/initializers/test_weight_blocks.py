"""Every parametrized layer type: its blocks' fans against a hand computation and an empirical
one, the drawn weights against the formula, gate and projection blocks in torch's own layout,
``init.recurrent``, and torch's defaults (initlab.initializers.weight_blocks)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import make_cfg
from scipy import stats
from torch import nn

from initlab.config.errors import ConfigError
from initlab.diagnostics.sites import sites
from initlab.initializers import apply, get_initializer, plan
from initlab.initializers.weight_blocks import blocks_of
from initlab.models.activations import get_activation
from initlab.training.spec import build


@pytest.fixture(autouse=True)
def _fixed_global_seed():
    torch.manual_seed(0)


def _gates(n, fan_in, fan_out, role):
    return [(fan_in, fan_out, role)] * n


# Fans by hand, per block in order: (fan_in, fan_out, role). Conv: fan_in = in/g·∏k, fan_out =
# out/g·∏k; transposed conv the same (not torch's size(1)·∏k guess); Embedding(num, dim): dim,
# num; Bilinear: in1·in2, out; LSTM/GRU/RNN: ih (in, H), hh (H or proj, H) per gate.
W, R = "weight", "recurrent"
HAND_FANS = {
    "Linear(7, 5)": (lambda: nn.Linear(7, 5), [(7, 5, W)]),
    "Bilinear(3, 4, 6)": (lambda: nn.Bilinear(3, 4, 6), [(12, 6, W)]),
    "Conv1d(6, 4, 5, g=2)": (lambda: nn.Conv1d(6, 4, 5, groups=2), [(15, 10, W)]),
    "Conv2d(6, 9, 3×2, g=3)": (lambda: nn.Conv2d(6, 9, (3, 2), groups=3), [(12, 18, W)]),
    "Conv3d(4, 8, 3, g=4)": (lambda: nn.Conv3d(4, 8, 3, groups=4), [(27, 54, W)]),
    "ConvTranspose1d(6, 4, 5, g=2)": (
        lambda: nn.ConvTranspose1d(6, 4, 5, groups=2),
        [(15, 10, W)],
    ),
    "ConvTranspose2d(4, 6, 3, g=2)": (
        lambda: nn.ConvTranspose2d(4, 6, 3, groups=2),
        [(18, 27, W)],
    ),
    "ConvTranspose3d(2, 3, 2)": (lambda: nn.ConvTranspose3d(2, 3, 2), [(16, 24, W)]),
    "Embedding(11, 5)": (lambda: nn.Embedding(11, 5), [(5, 11, W)]),
    "EmbeddingBag(11, 5)": (lambda: nn.EmbeddingBag(11, 5), [(5, 11, W)]),
    "LSTM(7, 4, layers=2)": (
        lambda: nn.LSTM(7, 4, num_layers=2),
        _gates(4, 7, 4, W) + _gates(4, 4, 4, R) + _gates(4, 4, 4, W) + _gates(4, 4, 4, R),
    ),
    "LSTM(7, 4, proj=2)": (
        lambda: nn.LSTM(7, 4, proj_size=2),
        _gates(4, 7, 4, W) + _gates(4, 2, 4, R) + [(4, 2, W)],
    ),
    "GRU(7, 4, bidirectional)": (
        lambda: nn.GRU(7, 4, bidirectional=True),
        (_gates(3, 7, 4, W) + _gates(3, 4, 4, R)) * 2,
    ),
    "RNN(7, 4, layers=2, bidirectional)": (
        lambda: nn.RNN(7, 4, num_layers=2, bidirectional=True),
        [(7, 4, W), (4, 4, R)] * 2 + [(8, 4, W), (4, 4, R)] * 2,
    ),
    "LSTMCell(7, 4)": (lambda: nn.LSTMCell(7, 4), _gates(4, 7, 4, W) + _gates(4, 4, 4, R)),
    "GRUCell(7, 4)": (lambda: nn.GRUCell(7, 4), _gates(3, 7, 4, W) + _gates(3, 4, 4, R)),
    "RNNCell(7, 4)": (lambda: nn.RNNCell(7, 4), [(7, 4, W), (4, 4, R)]),
    "MultiheadAttention(8, 2)": (
        lambda: nn.MultiheadAttention(8, 2),
        [(8, 8, W)] * 4,
    ),
    "MultiheadAttention(8, 2, kdim=3, vdim=5)": (
        lambda: nn.MultiheadAttention(8, 2, kdim=3, vdim=5),
        [(8, 8, W), (3, 8, W), (5, 8, W), (8, 8, W)],
    ),
}


@pytest.mark.parametrize("name", list(HAND_FANS))
def test_plan_fans_match_the_hand_computation(name):
    make, expected = HAND_FANS[name]
    rows = plan(get_initializer("he"), nn.Sequential(make()))
    assert [(r.fan_in, r.fan_out, r.role) for r in rows] == expected
    assert [r.layer for r in rows] == [f"layer{k}" for k in range(1, len(expected) + 1)]


def test_the_blocks_cover_the_fused_tensors_row_by_row():
    lstm = nn.LSTM(7, 4, proj_size=2)
    labels = [b.label for b in blocks_of("rnn", lstm)]
    assert labels == [
        *(f"weight_ih_l0[{k}:{k + 4}]" for k in range(0, 16, 4)),
        *(f"weight_hh_l0[{k}:{k + 4}]" for k in range(0, 16, 4)),
        "weight_hr_l0",
    ]
    attn = nn.MultiheadAttention(8, 2)
    assert [b.label for b in blocks_of("a", attn)] == [
        "in_proj_weight[0:8]",
        "in_proj_weight[8:16]",
        "in_proj_weight[16:24]",
        "out_proj.weight",
    ]


def test_transposed_conv_fans_are_not_torchs_shape_guess():
    """torch reads fans off the stored (in, out/g, *k) shape, which swaps them."""
    layer = nn.ConvTranspose2d(8, 2, 3)
    ours = plan(get_initializer("he"), layer)[0]
    guess_in, guess_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
    assert (ours.fan_in, ours.fan_out) == (72, 18)
    assert (guess_in, guess_out) == (18, 72)


# ----------------------------------------------------------------------------------------------
# The fans, measured: with all weights 1 and independent unit-variance inputs, a unit's
# pre-activation is the sum of its fan_in inputs (variance fan_in), and an input's gradient the
# sum of fan_out unit-variance upstream gradients (variance fan_out): a count of connections made
# by torch's own forward and backward, not by initlab's arithmetic.


def _measured_fans(layer: nn.Module, x: torch.Tensor, crop) -> tuple[float, float]:
    with torch.no_grad():
        layer.weight.fill_(1.0)
        if getattr(layer, "bias", None) is not None:
            layer.bias.zero_()
    x.requires_grad_(True)
    y = layer(x)
    y.backward(torch.randn_like(y))
    return crop(y).var().item(), crop(x.grad).var().item()


def _interior(k: int, dims: int):
    """Positions at least k−1 from every spatial edge: all k taps land on real values."""
    return lambda t: t[(slice(None), slice(None), *[slice(k - 1, -(k - 1))] * dims)]


MEASURED = {
    "Linear": (lambda: nn.Linear(64, 48), (4096, 64), lambda t: t),
    "Conv1d, groups": (lambda: nn.Conv1d(8, 12, 5, groups=2), (256, 8, 40), _interior(5, 1)),
    "Conv2d": (lambda: nn.Conv2d(4, 6, 3), (256, 4, 16, 16), _interior(3, 2)),
    "Conv3d, groups": (lambda: nn.Conv3d(4, 8, 3, groups=2), (64, 4, 10, 10, 10), _interior(3, 3)),
    "ConvTranspose1d, groups": (
        lambda: nn.ConvTranspose1d(12, 8, 5, groups=4),
        (256, 12, 40),
        _interior(5, 1),
    ),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(10, 3, 3), (256, 10, 16, 16), _interior(3, 2)),
    "ConvTranspose3d": (
        lambda: nn.ConvTranspose3d(2, 6, 3),
        (64, 2, 10, 10, 10),
        _interior(3, 3),
    ),
}


@pytest.mark.parametrize("name", list(MEASURED))
def test_fans_are_the_measured_variance_gains(name):
    make, shape, crop = MEASURED[name]
    layer = make()
    fans = blocks_of("", layer)[0].fans
    forward, backward = _measured_fans(layer, torch.randn(shape), crop)
    # tens of thousands of values: a few per cent
    assert forward == pytest.approx(fans.fan_in, rel=0.06)
    assert backward == pytest.approx(fans.fan_out, rel=0.06)


def test_bilinear_fan_in_is_the_outer_products_size():
    layer = nn.Bilinear(6, 7, 5)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.zero_()
    y = layer(torch.randn(20000, 6), torch.randn(20000, 7))
    assert y.var().item() == pytest.approx(blocks_of("", layer)[0].fans.fan_in, rel=0.05)


def test_embedding_fans_are_those_of_its_tied_readout():
    """logits = h·Eᵀ reads out with the table: a Linear(dim → num) whose fans are the table's."""
    table = nn.Embedding(300, 40)
    fans = blocks_of("", table)[0].fans
    with torch.no_grad():
        table.weight.fill_(1.0)
    h = torch.randn(4000, 40, requires_grad=True)
    logits = F.linear(h, table.weight)
    logits.backward(torch.randn_like(logits))
    assert logits.var().item() == pytest.approx(fans.fan_in, rel=0.05)
    assert h.grad.var().item() == pytest.approx(fans.fan_out, rel=0.05)


# ----------------------------------------------------------------------------------------------
# The drawn weights against the formula, per block (Kolmogorov-Smirnov at α = 1e-4).


def _ks_ok(values: torch.Tensor, dist) -> bool:
    return stats.kstest(values.detach().double().flatten().numpy(), dist.cdf).pvalue > 1e-4


BIG = {
    "Bilinear": lambda: nn.Bilinear(30, 40, 50),
    "Conv1d": lambda: nn.Conv1d(64, 96, 7, groups=2),
    "Conv3d": lambda: nn.Conv3d(16, 32, 3),
    "ConvTranspose2d": lambda: nn.ConvTranspose2d(64, 32, 3, groups=2),
    "ConvTranspose3d": lambda: nn.ConvTranspose3d(16, 8, 3),
    "Embedding": lambda: nn.Embedding(1000, 64),
    "LSTM": lambda: nn.LSTM(300, 200),
    "GRU": lambda: nn.GRU(120, 240),
    "MultiheadAttention": lambda: nn.MultiheadAttention(128, 4, kdim=64, vdim=96),
}


@pytest.mark.parametrize("name", list(BIG))
def test_he_normal_draws_each_block_with_its_own_fan_in(name):
    net = nn.Sequential(BIG[name]())
    rows = apply(get_initializer("he"), net, seed=0)
    for row in rows:
        std = math.sqrt(2 / row.fan_in)
        assert row.weight.std == pytest.approx(std)
        values = row.block.view(net[0])
        assert _ks_ok(values, stats.norm(0, std)), (row.layer, row.kind)
        # a guess one step off (√2 in std) is far outside sampling error
        assert not _ks_ok(values, stats.norm(0, std * math.sqrt(2))), row.kind


@pytest.mark.parametrize("name", list(BIG))
def test_xavier_uniform_draws_each_block_with_its_own_bound(name):
    net = nn.Sequential(BIG[name]())
    for row in apply(get_initializer("xavier"), net, seed=0):
        bound = math.sqrt(6 / (row.fan_in + row.fan_out))
        values = row.block.view(net[0])
        assert values.abs().max().item() <= bound * (1 + 1e-6)
        assert _ks_ok(values, stats.uniform(-bound, 2 * bound)), row.kind


# torch's own initialization of each layer type, which init=default draws from our generator.
TORCH_DEFAULTS = {
    "Bilinear": lambda: nn.Bilinear(30, 40, 50),
    "ConvTranspose2d": lambda: nn.ConvTranspose2d(64, 32, 3, groups=2),
    "Conv3d": lambda: nn.Conv3d(16, 32, 3),
    "Embedding": lambda: nn.Embedding(2000, 64),
    "LSTM": lambda: nn.LSTM(64, 128),
    "GRUCell": lambda: nn.GRUCell(64, 128),
    "MultiheadAttention": lambda: nn.MultiheadAttention(128, 4),
    "MultiheadAttention, kdim": lambda: nn.MultiheadAttention(128, 4, kdim=32, vdim=48),
}


@pytest.mark.parametrize("name", list(TORCH_DEFAULTS))
def test_default_is_torchs_own_distribution_for_every_layer_type(name):
    ours, theirs = TORCH_DEFAULTS[name](), TORCH_DEFAULTS[name]()
    apply(get_initializer("default"), nn.Sequential(ours), seed=0)
    for (pname, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        a, b = a.detach().flatten().numpy(), b.detach().flatten().numpy()
        if (b == 0).all():  # torch zeros these biases
            assert (a == 0).all(), pname
            continue
        assert stats.ks_2samp(a, b).pvalue > 1e-4, pname
        assert not (a == b).all(), pname  # our own draw, not the constructor's


# ----------------------------------------------------------------------------------------------
# Gate and projection blocks in torch's layout; init.recurrent.


def test_lstm_forget_gate_rows_are_the_forget_gate():
    """All weights 0; the plan's gate-f bias rows +50 and gate-i rows −50: the cell state is
    carried unchanged (c₁ = c₀), h₁ = σ(0)·tanh(c₀). Any other row order gives another h."""
    lstm = nn.LSTM(3, 5)
    rows = plan(get_initializer("zeros", bias=0.0), lstm)
    with torch.no_grad():
        for p in lstm.parameters():
            p.zero_()
        for row in rows:
            gate = row.kind.split("gate ")[1][0]
            for bias, view in row.block.bias_views(lstm):
                if bias.tensor == "bias_ih_l0":
                    view.fill_({"f": 50.0, "i": -50.0}.get(gate, 0.0))
    c0 = torch.full((1, 1, 5), 0.8)
    _, (h1, c1) = lstm(torch.randn(1, 1, 3), (torch.zeros(1, 1, 5), c0))
    torch.testing.assert_close(c1, c0)
    torch.testing.assert_close(h1, 0.5 * torch.tanh(c0))


def test_gru_update_gate_rows_are_the_update_gate():
    """All weights 0; the plan's gate-z bias rows +50: h' = z·h + (1−z)·n = h."""
    gru = nn.GRU(3, 5)
    rows = plan(get_initializer("zeros"), gru)
    with torch.no_grad():
        for p in gru.parameters():
            p.zero_()
        for row in rows:
            if row.kind.endswith("gate z (3→5)"):
                row.block.bias_views(gru)[0][1].fill_(50.0)
    h0 = torch.full((1, 1, 5), 0.7)
    out, _ = gru(torch.randn(1, 1, 3), h0)
    torch.testing.assert_close(out, h0)


def test_attention_v_and_out_blocks_are_the_value_and_output_projections():
    """q, k zero (uniform attention), v and out the identity: the output is the mean value."""
    attn = nn.MultiheadAttention(6, 2, batch_first=True)
    with torch.no_grad():
        for row in plan(get_initializer("zeros"), attn):
            view = row.block.view(attn)
            keep = row.tensor in ("in_proj_weight[12:18]", "out_proj.weight")
            view.copy_(torch.eye(6) if keep else torch.zeros(6, 6))
    x = torch.randn(2, 5, 6)
    out, _ = attn(x, x, x)
    torch.testing.assert_close(out, x.mean(1, keepdim=True).expand_as(x))


@pytest.mark.parametrize("make", [lambda: nn.LSTM(16, 16), lambda: nn.GRU(16, 16)])
def test_orthogonal_makes_each_gate_block_orthogonal(make):
    layer = make()
    apply(get_initializer("orthogonal"), layer, seed=0)
    gates = layer.weight_hh_l0.shape[0] // 16
    for name in ("weight_ih_l0", "weight_hh_l0"):
        w = getattr(layer, name).detach()
        for k in range(gates):
            block = w[16 * k : 16 * (k + 1)]
            torch.testing.assert_close(block @ block.T, torch.eye(16), atol=1e-5, rtol=0)
        # blocks drawn one by one: WᵀW = Σ BᵀB = (gates)·I, not the I of one orthogonal draw
        torch.testing.assert_close(w.T @ w, gates * torch.eye(16), atol=1e-4, rtol=0)


def test_recurrent_orthogonal_changes_the_hidden_to_hidden_blocks_only():
    lstm = nn.LSTM(10, 16)
    rows = apply(get_initializer("he", recurrent="orthogonal"), lstm, seed=0)
    assert [r.weight.method for r in rows] == ["normal"] * 4 + ["orthogonal"] * 4
    for k in range(4):
        block = lstm.weight_hh_l0[16 * k : 16 * (k + 1)].detach()
        torch.testing.assert_close(block @ block.T, torch.eye(16), atol=1e-5, rtol=0)


def test_irnn_recurrent_matrix_is_the_identity():
    """Le, Jaitly & Hinton (2015): ReLU RNN, identity recurrent matrix, zero biases."""
    rnn = nn.RNN(8, 32, nonlinearity="relu", num_layers=2)
    apply(get_initializer("he", recurrent="identity"), rnn, seed=0)
    for layer in range(2):
        assert torch.equal(getattr(rnn, f"weight_hh_l{layer}"), torch.eye(32))
        assert torch.all(getattr(rnn, f"bias_hh_l{layer}") == 0)
    assert rnn.weight_ih_l0.std().item() == pytest.approx(math.sqrt(2 / 8), rel=0.1)
    lstm = nn.LSTM(8, 6)
    apply(get_initializer("he", recurrent="identity"), lstm, seed=0)
    torch.testing.assert_close(lstm.weight_hh_l0.detach(), torch.eye(6).repeat(4, 1))


def test_recurrent_is_checked_by_name():
    with pytest.raises(ConfigError) as info:
        build(make_cfg("init=he", "init.recurrent=spiral"))
    assert info.value.key == "init.recurrent"
    assert "same, orthogonal, identity" in str(info.value)


# ----------------------------------------------------------------------------------------------
# Structural methods on every layout.


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Conv1d(4, 4, 5, padding=2, groups=2), (3, 4, 11)),
        (lambda: nn.Conv3d(3, 3, 3, padding=1), (2, 3, 5, 5, 5)),
        (lambda: nn.ConvTranspose1d(4, 4, 3, padding=1, groups=4), (3, 4, 9)),
        (lambda: nn.ConvTranspose2d(6, 6, 3, padding=1, groups=3), (2, 6, 7, 7)),
        (lambda: nn.ConvTranspose3d(2, 2, 3, padding=1), (2, 2, 4, 4, 4)),
    ],
)
def test_identity_is_the_identity_map_for_every_convolution(make, shape):
    layer = make()
    apply(get_initializer("identity"), layer, seed=0)
    x = torch.randn(shape)
    torch.testing.assert_close(layer(x), x)


@pytest.mark.parametrize("channels", [(2, 4), (4, 2), (3, 3)])
def test_zero_gives_a_transposed_conv_the_function_of_its_conv(channels):
    """ZerO's matrix at the centre tap: with same padding, Conv and ConvTranspose of the same
    canonical kernel compute the same per-pixel map (the layout is put back right)."""
    c_in, c_out = channels
    conv = nn.Conv2d(c_in, c_out, 3, padding=1)
    convt = nn.ConvTranspose2d(c_in, c_out, 3, padding=1)
    apply(get_initializer("zero_hadamard"), conv, seed=0)
    apply(get_initializer("zero_hadamard"), convt, seed=0)
    x = torch.randn(2, c_in, 6, 6)
    torch.testing.assert_close(convt(x), conv(x))


def test_delta_orthogonal_transposed_conv_preserves_each_pixels_norm():
    convt = nn.ConvTranspose2d(8, 8, 3, padding=1, groups=2)
    apply(get_initializer("delta_orthogonal"), convt, seed=0)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(convt(x).norm(dim=1), x.norm(dim=1))


@pytest.mark.parametrize("name", ["identity", "delta_orthogonal", "zero_hadamard"])
def test_a_shaped_method_on_a_bilinear_is_refused_by_name(name):
    net = nn.Sequential(nn.Linear(3, 3), nn.Bilinear(3, 3, 2))
    with pytest.raises(ConfigError) as info:
        plan(get_initializer(name), net)
    assert info.value.key == "name"
    assert "Bilinear(3×3→2) at 1 is a 3-way tensor" in str(info.value)


@pytest.mark.parametrize("name", ["he", "orthogonal", "sparse", "identity", "zero_hadamard"])
def test_an_embeddings_padding_row_stays_zero(name):
    table = nn.Embedding(40, 20, padding_idx=3)
    rows = apply(get_initializer(name, **({"k": 5} if name == "sparse" else {})), table, seed=0)
    assert rows[0].kind == "Embedding(40→20, padding_idx=3)"
    assert torch.all(table.weight[3] == 0)
    if name != "identity":  # eye(40, 20) leaves rows 20… at zero anyway
        assert (table.weight.abs().sum(1) > 0).sum() == 39


def test_biases_follow_init_bias_in_every_block():
    layers = nn.ModuleList(
        [
            nn.LSTM(4, 6),
            nn.MultiheadAttention(6, 2, add_bias_kv=True),
            nn.ConvTranspose1d(3, 2, 3),
            nn.Bilinear(2, 2, 3),
        ]
    )
    apply(get_initializer("he", bias=0.25), layers, seed=0)
    for name, p in layers.named_parameters():
        if "bias" in name:
            assert torch.all(p == 0.25), name


class TiedReadout(nn.Module):
    """An embedding and a read-out that shares its table (logits = h·Eᵀ)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4, padding_idx=0)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, x):
        return self.head(self.embed(x.long().clamp(0, 9)).mean(1))


def test_a_tied_tensor_is_one_block_and_keeps_its_padding_row():
    net = TiedReadout()
    rows = apply(get_initializer("he"), net, seed=0, in_shape=(3,))
    assert [(r.layer, r.module) for r in rows] == [("layer1", "embed")]
    assert torch.all(net.embed.weight[0] == 0)
    found = sites(net, get_activation("relu"), (3,))
    assert [s.name for s in found] == ["layer1"]


class ThreeChunkCell(nn.RNNCellBase):
    """A cell of torch's base class with three fused gates (like a GRU cell), not a known type."""

    def __init__(self):
        super().__init__(4, 5, bias=True, num_chunks=3)


def test_another_cell_is_split_into_as_many_gates_as_its_rows_hold():
    cell = ThreeChunkCell()
    rows = apply(get_initializer("orthogonal"), cell, seed=0)
    assert [(r.tensor, r.fan_in, r.role) for r in rows] == [
        *((f"weight_ih[{k}:{k + 5}]", 4, "weight") for k in (0, 5, 10)),
        *((f"weight_hh[{k}:{k + 5}]", 5, "recurrent") for k in (0, 5, 10)),
    ]
    for k in range(3):
        block = cell.weight_hh[5 * k : 5 * (k + 1)].detach()
        torch.testing.assert_close(block @ block.T, torch.eye(5), atol=1e-5, rtol=0)
