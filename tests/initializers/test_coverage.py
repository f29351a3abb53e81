"""Nothing silent: a parameter no rule sets is refused by name, or kept at torch's default
and listed; normalization layers start at weight 1, bias 0."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import QUICK, make_cfg
from torch import nn

from initlab.config.errors import ConfigError
from initlab.initializers import apply, coverage, get_initializer
from initlab.training.run import run


class WithExtras(nn.Module):
    """An Embedding, a Linear, a PReLU (its slope is a parameter no rule sets), a batch norm and
    a bare parameter."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.fc = nn.Linear(8, 4)
        self.act = nn.PReLU()
        self.norm = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(torch.ones(()))  # a learnable scalar, e.g. SkipInit's α

    def forward(self, idx):
        return self.norm(self.act(self.fc(self.embed(idx)))) * self.scale


class ScaledLinear(nn.Linear):
    """A Linear with one more parameter of its own: the Linear's rule does not cover it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.gamma = nn.Parameter(torch.ones(()))


def test_what_no_rule_sets_is_listed_by_path_and_type():
    assert coverage.uncovered(WithExtras()) == [
        {"parameter": "scale", "module": "(the model)", "type": "WithExtras", "shape": []},
        {"parameter": "act.weight", "module": "act", "type": "PReLU", "shape": [1]},
    ]


def test_a_known_layer_with_a_parameter_of_its_own_is_refused_for_that_parameter():
    net = nn.Sequential(ScaledLinear(3, 2))
    assert coverage.uncovered(net) == [
        {"parameter": "0.gamma", "module": "0", "type": "ScaledLinear", "shape": []}
    ]


@pytest.mark.parametrize(
    "layer",
    [
        nn.Embedding(5, 3, padding_idx=0),
        nn.LSTM(3, 4, 2, bidirectional=True, proj_size=2),
        nn.GRU(3, 4),
        nn.RNN(3, 4, bias=False),
        nn.LSTMCell(3, 4),
        nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True),
        nn.MultiheadAttention(4, 2),
        nn.ConvTranspose3d(4, 2, 3, groups=2),
        nn.Bilinear(2, 3, 4),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_parameter_of_every_known_layer_type_is_covered(layer):
    assert coverage.uncovered(nn.Sequential(layer)) == []


def test_an_uncovered_parameter_is_refused_by_name_even_on_meta():
    with torch.device("meta"):
        net = WithExtras()
    with pytest.raises(ConfigError) as info:
        coverage.check("error", net)
    assert info.value.key == "uncovered"
    assert "scale (WithExtras at (the model)) and 1 more" in str(info.value)
    assert "init.uncovered=default" in str(info.value)
    coverage.check("default", net)  # opted in: kept, and listed in the plan


def test_the_policy_is_checked():
    assert get_initializer("he", uncovered="default").uncovered == "default"
    assert get_initializer("he").uncovered == "error"
    with pytest.raises(ConfigError) as info:
        get_initializer("he", uncovered="keep")
    assert info.value.key == "uncovered"


@pytest.mark.parametrize(
    "norm",
    [
        nn.BatchNorm1d(6),
        nn.BatchNorm2d(6),
        nn.LayerNorm(6),
        nn.GroupNorm(2, 6),
        nn.InstanceNorm1d(6, affine=True),
    ],
)
def test_norm_layers_start_at_weight_one_bias_zero(norm):
    net = nn.Sequential(nn.Linear(6, 6), norm)
    with torch.no_grad():
        norm.weight.fill_(3.0)
        norm.bias.fill_(-2.0)
    assert coverage.uncovered(net) == []
    apply(get_initializer("he"), net, seed=0)
    assert torch.equal(norm.weight, torch.ones(6)) and torch.equal(norm.bias, torch.zeros(6))
    assert coverage.norm_layers(net) == [
        {"module": "1", "type": type(norm).__name__, "weight": 1.0, "bias": 0.0}
    ]


def test_every_model_here_is_covered_and_its_norms_are_in_the_plan(tmp_path):
    overrides = [*QUICK, "model.batch_norm=true", "init=he"]
    run(make_cfg(*overrides), tmp_path, overrides)
    saved = json.loads((tmp_path / "init_plan.json").read_text())
    assert [r["type"] for r in saved["norm_layers"]] == ["BatchNorm1d", "BatchNorm1d"]
    assert saved["kept_default"] == []


def test_the_python_api_refuses_what_the_command_line_refuses():
    """``apply`` from a notebook checks coverage as the run's validation does: a bare parameter
    no rule sets is refused by name, before any tensor is filled; the opt-in keeps it."""
    torch.manual_seed(0)
    net = WithExtras()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ConfigError) as info:
        apply(get_initializer("he"), net, seed=0)
    assert info.value.key == "uncovered"
    assert "scale (WithExtras at (the model))" in str(info.value)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched
    apply(get_initializer("he", uncovered="default"), net, seed=0)
    assert not torch.equal(before["fc.weight"], net.fc.weight.detach())
    assert torch.equal(before["scale"], net.scale.detach())  # kept at its default
