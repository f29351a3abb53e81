"""Mean-field theory: the check values of issue 25 (computed independently), the closed forms
of ReLU and linear nets, and a wide random net simulated."""

import math

import pytest
import torch

from initlab.config.errors import ConfigError
from initlab.models.activations import get_activation
from initlab.theory.mean_field import MeanField, critical_sigma_w2
from initlab.theory.presets import points


def test_the_edge_of_chaos_of_tanh():
    assert critical_sigma_w2("tanh", 0.05) == pytest.approx(1.761, abs=5e-4)
    assert critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, abs=1e-6)  # tanh′(0)² = 1


def test_tanh_in_the_ordered_phase():
    point = MeanField("tanh", 1.5, 0.05).point()
    assert point.phase == "ordered"
    assert point.chi1 == pytest.approx(0.939, abs=5e-4)
    assert point.xi_c == pytest.approx(15.8, abs=0.05)
    assert point.xi_c == pytest.approx(-1 / math.log(point.chi1), rel=1e-12)
    assert point.c_star == 1.0
    assert point.trainable_depth == pytest.approx(6 * point.xi_c)


def test_tanh_in_the_chaotic_phase_has_a_correlation_fixed_point_below_one():
    field = MeanField("tanh", 2.5, 0.05)
    point = field.point()
    assert point.phase == "chaotic" and point.chi1 > 1
    assert 0 < point.c_star < 1
    assert field.correlation_map(point.c_star) == pytest.approx(point.c_star, abs=1e-10)
    assert math.isfinite(point.xi_c) and point.xi_c > 0


@pytest.mark.parametrize("sigma_b2", [0.0, 0.05, 0.3])
def test_relu_closed_forms(sigma_b2):
    assert critical_sigma_w2("relu", sigma_b2) == pytest.approx(2.0, abs=1e-9)  # He's init
    for sigma_w2 in (0.5, 1.0, 1.5):
        field = MeanField("relu", sigma_w2, sigma_b2)
        assert field.chi1 == pytest.approx(sigma_w2 / 2, rel=1e-12)
        assert field.q_star == pytest.approx(sigma_b2 / (1 - sigma_w2 / 2), abs=1e-12)
        assert field.point().xi_q == pytest.approx(-1 / math.log(sigma_w2 / 2), rel=1e-9)
    assert MeanField("relu", 2.5, sigma_b2).point().phase == "unbounded"


def test_the_relu_correlation_map_is_the_arccos_kernel():
    field = MeanField("relu", 1.5, 0.1)
    q = field.q_star
    for c in (0.0, 0.4, 0.9):
        kernel = q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
        assert field.correlation_map(c) == pytest.approx((1.5 * kernel + 0.1) / q, abs=2e-6)


def test_linear_closed_forms():
    field = MeanField("identity", 0.6, 0.2)
    assert field.q_star == pytest.approx(0.2 / (1 - 0.6), rel=1e-12)
    assert field.chi1 == pytest.approx(0.6, rel=1e-12)
    assert critical_sigma_w2("identity", 0.2) == pytest.approx(1.0, abs=1e-9)


def test_any_elementwise_module_or_function():
    by_name = MeanField("tanh", 1.5, 0.05).point()
    assert MeanField(torch.nn.Tanh(), 1.5, 0.05).point() == by_name
    assert MeanField(torch.tanh, 1.5, 0.05).point() == by_name


def test_bad_values_are_refused_naming_the_key():
    with pytest.raises(ConfigError, match="sigma_w2=-1"):
        MeanField("tanh", -1, 0.05)
    with pytest.raises(ConfigError, match="sigma_b2=nan"):
        MeanField("tanh", 1.0, float("nan"))
    with pytest.raises(ConfigError, match="activation"):
        MeanField(lambda u: u.sum(), 1.0)


# --- a wide random net, simulated ------------------------------------------------------------


def simulate(phi, sigma_w2, sigma_b2, depth, x, width=2000, seed=0):
    """Each layer's mean squared pre-activation for each input (rows of x), and the
    correlation of the two, in one random fully connected net."""
    g = torch.Generator().manual_seed(seed)
    h, out = x, []
    for layer in range(depth):
        fan_in = h.shape[1]
        w = torch.randn(fan_in, width, generator=g, dtype=torch.float64) * math.sqrt(
            sigma_w2 / fan_in
        )
        b = torch.randn(width, generator=g, dtype=torch.float64) * math.sqrt(sigma_b2)
        h = (phi(h) if layer else h) @ w + b
        q = (h * h).mean(1)
        out.append((q[0].item(), q[1].item(), ((h[0] * h[1]).mean() / q.prod().sqrt()).item()))
    return out


@pytest.mark.parametrize("sigma_w2", [1.5, 2.5])
def test_the_predicted_layers_match_a_wide_random_tanh_net(sigma_w2):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 500, generator=g, dtype=torch.float64)
    x[1] = 0.6 * x[0] + 0.8 * x[1]  # correlation about 0.6
    q_a, q_b, q_ab = ((x * x).mean(1)).tolist() + [(x[0] * x[1]).mean().item()]
    predicted = MeanField("tanh", sigma_w2, 0.05).layers(10, q_a, q_b, q_ab)
    runs = [simulate(torch.tanh, sigma_w2, 0.05, 10, x, seed=s) for s in range(6)]
    measured = [[sum(r[k][i] for r in runs) / 6 for i in range(3)] for k in range(10)]
    # A layer's mean of 2000 squared units fluctuates by √(2/2000) ≈ 3% a net: 1.3% over six,
    # and the error carries from layer to layer; the band is 6%.
    for (pa, pb, pc), (ma, mb, mc) in zip(predicted, measured, strict=True):
        assert ma == pytest.approx(pa, rel=0.06) and mb == pytest.approx(pb, rel=0.06)
        assert mc == pytest.approx(pc, abs=0.03)


def measured_chi1(sigma_w2, sigma_b2, width=2500, depth=12, seed=0):
    """How much a small perturbation's squared length grows a layer, deep in a wide tanh net
    (at its fixed point): χ₁ measured with forward-mode autograd."""
    g = torch.Generator().manual_seed(seed)
    weights = [
        torch.randn(width, width, generator=g, dtype=torch.float64) * math.sqrt(sigma_w2 / width)
        for _ in range(depth)
    ]
    biases = [torch.randn(width, generator=g, dtype=torch.float64) * sigma_b2**0.5] * depth

    def net(h, upto):
        for w, b in zip(weights[:upto], biases[:upto], strict=True):
            h = torch.tanh(h) @ w + b
        return h

    h0 = torch.randn(width, generator=g, dtype=torch.float64)
    tangent = torch.randn(width, generator=g, dtype=torch.float64)
    _, early = torch.func.jvp(lambda h: net(h, 4), (h0,), (tangent,))
    _, late = torch.func.jvp(lambda h: net(h, depth), (h0,), (tangent,))
    return ((late * late).sum() / (early * early).sum()).item() ** (1 / (depth - 4))


def test_the_edge_of_chaos_agrees_with_a_simulated_net():
    critical = critical_sigma_w2("tanh", 0.05)
    below, at, above = (measured_chi1(w, 0.05) for w in (critical - 0.3, critical, critical + 0.4))
    assert below < 1 < above
    assert at == pytest.approx(1, abs=0.03)
    for sigma_w2, measured in ((critical - 0.3, below), (critical + 0.4, above)):
        assert measured == pytest.approx(MeanField("tanh", sigma_w2, 0.05).chi1, abs=0.03)


def test_presets_in_the_plane():
    by_label = {p.label: p for p in points("relu")}
    he = next(p for label, p in by_label.items() if label.startswith("init=he"))
    assert (he.sigma_w2, he.sigma_b2, he.weights) == (2.0, 0.0, "gaussian")
    assert by_label["init=lecun, init=xavier"].sigma_w2 == 1.0
    assert by_label["init=orthogonal"].weights == "orthogonal"
    auto = next(p for p in points("tanh") if "init=he gain=auto" in p.label)
    assert auto.sigma_w2 == pytest.approx(get_activation("tanh").gain ** 2, rel=1e-9)
