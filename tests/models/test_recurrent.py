"""model=rnn (an image read row by row) and the recurrent initializations: irnn, init.recurrent,
init.forget_bias."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import QUICK, make_cfg
from torch import nn

from initlab.config.errors import ConfigError
from initlab.diagnostics.sites import ActivationRecorder, sites
from initlab.initializers import apply, get_initializer
from initlab.models.activations import get_activation
from initlab.models.builders import rnn
from initlab.training.run import run
from initlab.training.spec import build


@pytest.fixture(autouse=True)
def _fixed_global_seed():
    torch.manual_seed(0)


def test_parameter_count_by_hand():
    # digits rows: 8 steps of 8 pixels. LSTM, 4 gates, H = 16, 2 layers, head 16 → 10:
    # l0: 4·16·8 + 4·16·16 + 2·4·16 = 1664; l1: 4·16·16 + 4·16·16 + 2·4·16 = 2176; head 170
    net = rnn((1, 8, 8), 10, nn.Tanh, cell="lstm", hidden=16, layers=2)
    assert sum(p.numel() for p in net.parameters()) == 1664 + 2176 + 170
    # GRU: 3 gates, one layer: 3·16·8 + 3·16·16 + 2·3·16 = 1248; RNN: 1 gate: 416
    assert sum(p.numel() for p in rnn((1, 8, 8), 10, nn.Tanh, "gru", 16).rnn.parameters()) == 1248
    assert sum(p.numel() for p in rnn((1, 8, 8), 10, nn.Tanh, "rnn", 16).rnn.parameters()) == 416


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_cell_reads_the_rows(cell, layers, in_shape):
    net = rnn(in_shape, 10, nn.ReLU, cell=cell, hidden=12, layers=layers)
    assert net.rnn.input_size == in_shape[0] * in_shape[2] and net.rnn.num_layers == layers
    assert net(torch.randn(5, *in_shape)).shape == (5, 10)


def test_the_rows_are_the_sequence():
    """A one-unit linear RNN that adds up its inputs: the output is the image's pixel sum,
    read in row order (the last step sees every row)."""
    net = rnn((1, 3, 4), 1, nn.ReLU, cell="rnn", hidden=1)
    with torch.no_grad():
        net.rnn.weight_ih_l0.fill_(1.0)
        net.rnn.weight_hh_l0.fill_(1.0)
        net.rnn.bias_ih_l0.zero_()
        net.rnn.bias_hh_l0.zero_()
        net.head.weight.fill_(1.0)
        net.head.bias.zero_()
    x = torch.rand(2, 1, 3, 4)
    torch.testing.assert_close(net(x).squeeze(1), x.sum((1, 2, 3)))


@pytest.mark.parametrize(
    "overrides, key, reason",
    [
        (["model.cell=gelu"], "model.cell", "must be one of rnn, lstm, gru"),
        (["activation=gelu"], "model.cell", "nn.RNN computes tanh or relu, not GELU"),
        (["model.hidden=0"], "model.hidden", "must be a positive integer"),
        (["dataset=gaussian"], "model.name", "needs image input (C, H, W)"),
        (["init.forget_bias=yes"], "init.forget_bias", "yes"),
        (["init=irnn", "init.scale=-1"], "init.scale", "-1"),
    ],
)
def test_bad_values_are_refused_by_name(overrides, key, reason):
    with pytest.raises(ConfigError) as info:
        build(make_cfg("dataset=digits", "model=rnn", *overrides))
    assert info.value.key == key and reason in str(info.value)


def test_irnn_is_identity_recurrence_small_inputs_zero_biases():
    """Le, Jaitly & Hinton (2015)."""
    net = rnn((1, 28, 28), 10, nn.ReLU, hidden=64, layers=2)
    plan = apply(get_initializer("irnn"), net, seed=0)
    for layer in range(2):
        assert torch.equal(getattr(net.rnn, f"weight_hh_l{layer}"), torch.eye(64))
        assert torch.all(getattr(net.rnn, f"bias_ih_l{layer}") == 0)
        assert torch.all(getattr(net.rnn, f"bias_hh_l{layer}") == 0)
    w = net.rnn.weight_ih_l0
    assert w.std().item() == pytest.approx(0.001, rel=0.05) and abs(w.mean().item()) < 1e-4
    assert [r.weight.method for r in plan] == ["normal", "identity"] * 2 + ["normal"]


def test_irnn_scaled_identity_and_an_override():
    net = rnn((1, 8, 8), 10, nn.ReLU, hidden=8)
    apply(get_initializer("irnn", scale=0.5), net, seed=0)
    assert torch.equal(net.rnn.weight_hh_l0, 0.5 * torch.eye(8))
    apply(get_initializer("irnn", recurrent="orthogonal"), net, seed=0)
    w = net.rnn.weight_hh_l0.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(8), atol=1e-5, rtol=0)
    assert not torch.equal(w, torch.eye(8))


def test_forget_bias_sets_the_lstm_forget_rows_of_bias_ih_only():
    net = rnn((1, 8, 8), 10, nn.Tanh, cell="lstm", hidden=5, layers=2)
    apply(get_initializer("he", forget_bias=1.0), net, seed=0)
    for layer in range(2):
        b_ih = getattr(net.rnn, f"bias_ih_l{layer}")
        assert torch.equal(b_ih[5:10], torch.ones(5))  # gate f: rows H..2H (i f g o)
        assert torch.all(b_ih[:5] == 0) and torch.all(b_ih[10:] == 0)
        assert torch.all(getattr(net.rnn, f"bias_hh_l{layer}") == 0)
    assert torch.all(net.head.bias == 0)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model=rnn", "model.cell=gru", "init.forget_bias=1"], "init.forget_bias"),
        (["model=mlp", "init.forget_bias=1"], "init.forget_bias"),
        (["model=cnn", "init.recurrent=orthogonal"], "init.recurrent"),
        (["model=mlp", "init=irnn"], "init.name"),
    ],
)
def test_a_recurrent_setting_for_a_model_without_it_is_refused(overrides, key):
    """Nothing silent: a setting the model has nothing to apply to is an error, not a no-op."""
    with pytest.raises(ConfigError) as info:
        build(make_cfg("dataset=digits", *overrides))
    assert info.value.key == key


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.cell=rnn", "activation=relu", "init=irnn"],
        ["model.cell=rnn", "activation=tanh", "init=orthogonal"],
        ["model.cell=lstm", "init=xavier", "init.recurrent=orthogonal", "init.forget_bias=1"],
        ["model.cell=gru", "init=default"],
    ],
    ids=["irnn", "tanh-orthogonal", "lstm", "gru-default"],
)
def test_a_short_run_completes_with_diagnostics_from_step_0(overrides, tmp_path):
    cfg = [*QUICK, "model=rnn", "model.hidden=32", "diagnostics.every_n_steps=10", *overrides]
    run(make_cfg(*cfg), tmp_path, cfg)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "completed"
    assert record["metrics"]["test/acc"] > 0.1
    plan = json.loads((tmp_path / "init_plan.json").read_text())
    assert plan["layers"][-1]["module"] == "head"


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_an_rnn_computing_the_activation_is_read_as_that_activation(activation):
    """nn.RNN applies relu or tanh itself: its output's saturation is the activation's (dead
    ReLU units: exact zeros), not the identity's (never)."""
    act = get_activation(activation)
    net = rnn((1, 8, 8), 10, act.make, hidden=16)
    found = sites(net, act, (1, 8, 8))
    assert [s.output for s in found] == [None, net.rnn, net.head]
    with torch.no_grad():
        net.rnn.bias_ih_l0.fill_(-5.0 if activation == "relu" else 5.0)  # all dead / saturated
    with ActivationRecorder(found) as recorder:
        net(torch.rand(4, 1, 8, 8))
    assert recorder.stats["layer2"]["saturation"].item() == 1.0
