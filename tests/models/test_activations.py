"""Activations: registry vs configs, the functions themselves, and their gains.

Gains are checked against ``torch.nn.init.calculate_gain`` where torch has one, and otherwise
recomputed here as 1/√E[f(x)²], x ~ N(0, 1), by adaptive quadrature (scipy, split at the kink
at 0) and, for ELU, in closed form — independently of the module's own computation.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from scipy import integrate, special, stats
from torch import nn
from torch.nn.init import calculate_gain

from initlab.config.errors import ConfigError
from initlab.models.activations import ACTIVATIONS, get_activation

CONF_ACT = Path(__file__).resolve().parents[2] / "conf" / "activation"
NAMES = sorted(ACTIVATIONS)


def _yaml(stem: str) -> dict:
    return yaml.safe_load((CONF_ACT / f"{stem}.yaml").read_text())


def _params(stem: str) -> dict:
    return {k: v for k, v in _yaml(stem).items() if k != "name"}


def _defaults(fn) -> dict:
    return {
        p.name: p.default
        for p in inspect.signature(fn).parameters.values()
        if p.default is not inspect.Parameter.empty
    }


@pytest.fixture(autouse=True)
def _fixed_global_seed():
    torch.manual_seed(0)


# ----------------------------------------------------------------------------------------------
# 1. Configs and modules.


@pytest.mark.parametrize("stem", NAMES)
def test_config_file_agrees_with_the_function(stem):
    node = _yaml(stem)
    assert node["name"] == stem
    accepted = inspect.signature(ACTIVATIONS[stem]).parameters
    defaults = _defaults(ACTIVATIONS[stem])
    for key, value in _params(stem).items():
        assert key in accepted, f"{stem}.yaml: {key} is not a parameter of {stem}"
        assert value == pytest.approx(defaults[key]), f"{stem}.yaml: {key}"


# What each activation computes, from torch.nn.functional (p: the config params).
FUNCTIONAL = {
    "relu": lambda x, p: F.relu(x),
    "leaky_relu": lambda x, p: F.leaky_relu(x, p["negative_slope"]),
    "elu": lambda x, p: F.elu(x),
    "selu": lambda x, p: F.selu(x),
    "gelu": lambda x, p: F.gelu(x),
    "silu": lambda x, p: F.silu(x),
    "tanh": lambda x, p: torch.tanh(x),
    "sigmoid": lambda x, p: torch.sigmoid(x),
    "softplus": lambda x, p: F.softplus(x),
    "softsign": lambda x, p: F.softsign(x),
    "identity": lambda x, p: x,
}


def test_every_activation_has_a_reference_function():
    assert set(FUNCTIONAL) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_runs(name):
    params = _params(name)
    act = get_activation(name, **params)
    assert act.name == name
    first, second = act.make(), act.make()
    assert isinstance(first, nn.Module) and isinstance(second, nn.Module)
    assert first is not second  # a fresh module per layer
    x = torch.linspace(-6, 6, 240).reshape(3, 80)
    y = first(x)
    assert y.shape == x.shape and bool(torch.isfinite(y).all())
    torch.testing.assert_close(y, FUNCTIONAL[name](x, params))
    assert not isinstance(act.gain, bool) and isinstance(act.gain, (int, float))
    assert math.isfinite(act.gain) and act.gain > 0


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0])
def test_leaky_relu_uses_its_slope(slope):
    module = get_activation("leaky_relu", negative_slope=slope).make()
    x = torch.tensor([-2.0, -0.5, 0.0, 3.0])
    torch.testing.assert_close(module(x), torch.where(x > 0, x, slope * x))


# ----------------------------------------------------------------------------------------------
# 2. Gains.

# Scalar versions (float64) of every activation, written independently of torch, for the
# quadrature.
SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543772
SCALAR = {
    "relu": lambda x: max(x, 0.0),
    "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
    "elu": lambda x: x if x > 0 else math.expm1(x),
    "selu": lambda x: SELU_L * (x if x > 0 else SELU_A * math.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))),
    "silu": lambda x: x * special.expit(x),
    "tanh": math.tanh,
    "sigmoid": special.expit,
    "softplus": lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))),
    "softsign": lambda x: x / (1 + abs(x)),
    "identity": lambda x: x,
}


def second_moment(f) -> float:
    """E[f(x)²] for x ~ N(0, 1): adaptive quadrature on each side of the kink at 0."""

    def integrand(t):
        return f(t) ** 2 * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)

    left, _ = integrate.quad(integrand, -math.inf, 0, epsabs=0, epsrel=1e-13, limit=200)
    right, _ = integrate.quad(integrand, 0, math.inf, epsabs=0, epsrel=1e-13, limit=200)
    return left + right


def test_every_activation_has_a_gain_reference():
    assert set(SCALAR) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_gain_is_one_over_root_second_moment(name):
    """One rule for every activation: g = 1/√E[f(x)²], against an independent quadrature."""
    expected = 1 / math.sqrt(second_moment(SCALAR[name]))
    assert get_activation(name).gain == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gain_against_a_monte_carlo_second_moment(name):
    """The measured E[f(x)²] over 4M draws of x ~ N(0, 1): g²·E[f²] = 1 within the sample's
    error (its relative standard error is below 1e-3 for every activation here)."""
    act = get_activation(name, **_params(name))
    x = torch.randn(4_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        measured = act.make().double()(x).pow(2).mean().item()
    assert act.gain**2 * measured == pytest.approx(1, abs=5e-3)


@pytest.mark.parametrize("name", ["relu", "identity"])
def test_gain_is_torchs_where_torch_derives_it(name):
    torch_name = "linear" if name == "identity" else name
    assert get_activation(name).gain == pytest.approx(calculate_gain(torch_name), rel=1e-12)


# Where initlab's rule and torch's calculate_gain part (activations.py says why).
DIFFERS_FROM_TORCH = {"selu": (1.0, 0.75), "tanh": (1.5925, 5 / 3), "sigmoid": (1.8462, 1.0)}


@pytest.mark.parametrize("name", sorted(DIFFERS_FROM_TORCH))
def test_where_the_gain_differs_from_torch(name):
    ours, torchs = DIFFERS_FROM_TORCH[name]
    assert get_activation(name).gain == pytest.approx(ours, abs=1e-4)
    assert calculate_gain(name) == pytest.approx(torchs, rel=1e-12)


def test_selu_auto_gain_keeps_a_deep_net_self_normalizing():
    """The issue's measurement: LeCun normal with gain auto on a 10-layer SELU MLP. With
    Var(W) = 1/fan_in (gain 1) the output std stays at 1; torch's 3/4 took it to 0.32."""
    from conftest import make_cfg

    from initlab.initializers import apply
    from initlab.training.spec import build

    spec = build(
        make_cfg(
            "init=lecun",
            "init.gain=auto",
            "activation=selu",
            "model=deep_mlp",
            "model.depth=10",
            "model.width=512",
            "dataset=gaussian",
        )
    )
    net = spec.make_net()
    apply(spec.initializer, net, seed=0)
    hidden = [m for m in net.modules() if isinstance(m, torch.nn.SELU)]
    stds = []
    handles = [m.register_forward_hook(lambda m, i, o: stds.append(o.std().item())) for m in hidden]
    x = torch.randn(2000, 100, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    assert len(stds) >= 9
    assert all(0.85 < s < 1.15 for s in stds), stds


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0])
def test_leaky_relu_gain(slope):
    gain = get_activation("leaky_relu", negative_slope=slope).gain
    assert gain == pytest.approx(calculate_gain("leaky_relu", slope), rel=1e-12)
    # and it is the variance-preserving one: E[f(x)²] = (1 + a²)/2
    assert gain == pytest.approx(math.sqrt(2 / (1 + slope**2)), rel=1e-12)


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_scalar_reference_is_torchs_function(name):
    x = torch.linspace(-12, 12, 2401, dtype=torch.float64)
    expected = ACTIVATIONS[name]().make()(x)
    ours = torch.tensor([SCALAR[name](float(t)) for t in x], dtype=torch.float64)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


def test_elu_second_moment_closed_form():
    """E[elu(x)²] = 1/2 + ∫_{x<0} (eˣ − 1)² φ = 1/2 + e²Φ(−2) − 2√e·Φ(−1) + 1/2."""
    closed = 1 + math.e**2 * stats.norm.cdf(-2) - 2 * math.exp(0.5) * stats.norm.cdf(-1)
    assert second_moment(SCALAR["elu"]) == pytest.approx(closed, rel=1e-12)
    assert get_activation("elu").gain == pytest.approx(1 / math.sqrt(closed), rel=1e-8)


def _last_preactivation_second_moment(name: str, gain: float, depth=20, width=512) -> float:
    """h₀ ~ N(0, 1); h_{l+1} = W_l f(h_l), W_l ~ N(0, gain²/width). Returns mean(h_depth²),
    geometric mean over 4 independent networks (a single one drifts by a factor ~1.5 at
    width 512 from finite-width noise alone)."""
    g = torch.Generator().manual_seed(0)
    f = get_activation(name, **_params(name)).make()
    logs = []
    for _ in range(4):
        h = torch.randn(256, width, generator=g)
        with torch.no_grad():
            for _ in range(depth):
                w = torch.randn(width, width, generator=g) * (gain / math.sqrt(width))
                h = f(h) @ w.T
        logs.append(math.log(h.pow(2).mean().item()))
    return math.exp(sum(logs) / len(logs))


# relu (gain from torch) and elu / softplus (computed gains). GELU and SiLU are left out: for
# them q = 1 is an unstable fixed point of q ↦ g²·E[f(√q·x)²] (slope ≈ 1.14 and 1.17), so
# finite-width noise grows with depth even with the exact gain.
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "softplus"])
def test_gain_preserves_variance_through_depth(name):
    gain = get_activation(name, **_params(name)).gain
    assert 0.5 < _last_preactivation_second_moment(name, gain) < 2.0


@pytest.mark.parametrize("name", ["relu", "elu"])
def test_without_the_gain_the_signal_vanishes(name):
    # the check above can fail: with gain 1 (LeCun) the second moment shrinks layer by layer
    # (by E[f(x)²] ≈ 1/2 for relu, ≈ 0.64 for elu near q = 1)
    assert _last_preactivation_second_moment(name, 1.0) < 0.5


# ----------------------------------------------------------------------------------------------
# 3. Bad configs.


@pytest.mark.parametrize("slope", [-0.01, -1, float("nan"), True, "0.1", None])
def test_bad_negative_slope(slope):
    with pytest.raises(ConfigError) as info:
        get_activation("leaky_relu", negative_slope=slope)
    assert info.value.key == "negative_slope"
    assert str(info.value).startswith(f"negative_slope={slope!r}: ")


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter_is_named(name):
    with pytest.raises(ConfigError) as info:
        get_activation(name, foo=1)
    assert info.value.key == "foo"
    assert str(info.value).startswith("foo=1: ")


def test_misspelt_parameter_is_named():
    with pytest.raises(ConfigError) as info:
        get_activation("leaky_relu", slope=0.1)
    assert info.value.key == "slope"
    assert "negative_slope" in info.value.reason  # lists what is accepted


@pytest.mark.parametrize("name", ["swish", "ReLU", "", "leakyrelu"])
def test_unknown_activation(name):
    with pytest.raises(ConfigError) as info:
        get_activation(name)
    assert info.value.key == "name"
    assert str(info.value).startswith(f"name={name!r}: ")


# (inputs whose outputs are saturated, inputs whose outputs are not), per the table in
# activations.py: flat regions where the slope is (almost) zero.
SATURATION = {
    "relu": ([-3.0, -0.1, 0.0], [0.1, 3.0]),
    "leaky_relu": ([0.0], [-3.0, -0.1, 0.1, 3.0]),  # its units never die
    "elu": ([-6.0, -10.0], [-4.0, -1.0, 0.0, 2.0]),  # elu(-4.6) = -0.99
    "selu": ([-6.0, -10.0], [-4.0, -1.0, 0.0, 2.0]),
    "gelu": ([-3.0, -5.0], [-2.5, -0.75, -0.01, 0.0, 2.0]),  # |gelu| < 0.01 from x < -2.67
    "silu": ([-7.0, -10.0], [-6.0, -1.28, -0.01, 0.0, 2.0]),  # |silu| < 0.01 from x < -6.47
    "tanh": ([2.7, -3.0, 10.0], [2.6, -2.0, 0.0]),  # |tanh| > 0.99 from |x| > 2.647
    "sigmoid": ([-4.7, 4.7, 10.0], [-4.5, 0.0, 4.5]),  # σ(4.595) = 0.99
    "softplus": ([-4.7, -10.0], [-4.5, 0.0, 3.0]),  # softplus(-4.6) = 0.01
    "softsign": ([6.2, -6.2, 100.0], [6.0, -6.0, 0.0]),  # |softsign| > 0.859 from |x| > 6.07
    "identity": ([], [-100.0, 0.0, 100.0]),
}


def test_saturation_rules_cover_every_activation():
    assert set(SATURATION) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(SATURATION))
def test_saturation_rule(name):
    act = get_activation(name)
    yes, no = SATURATION[name]
    x = torch.tensor(yes + no, dtype=torch.float64)
    a = act.make().double()(x)
    assert act.saturated(x, a).tolist() == [True] * len(yes) + [False] * len(no)
