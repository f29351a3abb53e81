"""The Jacobian's spread against nets whose Jacobian is computed exactly (torch.func)."""

import math

import pytest
import torch

from initlab.config.errors import ConfigError
from initlab.theory.jacobian import moments, spread
from initlab.theory.mean_field import MeanField, critical_sigma_w2


def measured(phi, sigma_w2, sigma_b2, weights, depth, q0, width=300, nets=4):
    """Mean and second moment of JJᵀ's eigenvalues over ``nets`` random nets of ``depth``
    layers (J = D_L W_L ⋯ D_1 W_1 at one input of mean square ``q0``)."""
    g = torch.Generator().manual_seed(0)
    first = second = 0.0
    for _ in range(nets):
        layers = []
        for _ in range(depth):
            a = torch.randn(width, width, generator=g, dtype=torch.float64)
            w = torch.linalg.qr(a)[0] if weights == "orthogonal" else a / math.sqrt(width)
            b = torch.randn(width, generator=g, dtype=torch.float64) * math.sqrt(sigma_b2)
            layers.append((w * math.sqrt(sigma_w2), b))

        def net(x, layers=layers):
            h = x
            for k, (w, b) in enumerate(layers):
                h = (phi(h) if k else h) @ w.T + b
            return phi(h)

        x = torch.randn(width, generator=g, dtype=torch.float64) * math.sqrt(q0)
        eig = torch.linalg.svdvals(torch.func.jacrev(net)(x)) ** 2
        first += eig.mean().item() / nets
        second += (eig**2).mean().item() / nets
    return first, second - first**2


def test_an_orthogonal_linear_net_is_an_isometry():
    spread = moments(MeanField("identity", 1.0, 0.0), 8, "orthogonal")
    assert (spread.mean, spread.variance) == (1.0, 0.0)
    mean, variance = measured(lambda u: u, 1.0, 0.0, "orthogonal", 8, 1.0, nets=1)
    assert mean == pytest.approx(1, abs=1e-10) and variance == pytest.approx(0, abs=1e-10)


def test_a_gaussian_linear_net_spreads_by_one_a_layer():
    spread = moments(MeanField("identity", 1.0, 0.0), 5, "gaussian")
    assert (spread.mean, spread.variance) == pytest.approx((1.0, 5.0))
    mean, variance = measured(lambda u: u, 1.0, 0.0, "gaussian", 5, 1.0)
    assert mean == pytest.approx(1, abs=0.1) and variance == pytest.approx(5, rel=0.2)


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_tanh_at_the_edge_of_chaos(weights):
    sigma_w2 = critical_sigma_w2("tanh", 0.05)
    field = MeanField("tanh", sigma_w2, 0.05)
    spread = moments(field, 6, weights)
    assert spread.mean == pytest.approx(1, abs=1e-6)  # χ₁ = 1: the mean is kept
    q0 = (field.q_star - 0.05) / sigma_w2  # the first layer starts at q*
    mean, variance = measured(torch.tanh, sigma_w2, 0.05, weights, 6, q0, width=400, nets=12)
    assert mean == pytest.approx(spread.mean, rel=0.1)
    assert variance == pytest.approx(spread.variance, rel=0.25)


def test_orthogonal_tanh_spreads_less_than_gaussian_tanh_and_relu():
    tanh = MeanField("tanh", critical_sigma_w2("tanh", 0.05), 0.05)
    relu = MeanField("relu", 2.0, 0.0)
    orthogonal = moments(tanh, 20, "orthogonal").variance
    assert orthogonal < moments(tanh, 20, "gaussian").variance
    assert orthogonal < moments(relu, 20, "orthogonal").variance
    assert moments(relu, 20, "orthogonal").variance == pytest.approx(20)  # relu′² is 0 or 1


def test_bad_values_are_refused_naming_the_key():
    field = MeanField("tanh", 1.0, 0.0)
    with pytest.raises(ConfigError, match="weights='haar'"):
        moments(field, 3, "haar")
    with pytest.raises(ConfigError, match="depth=0"):
        moments(field, 0)


def test_an_exploding_net_gives_infinite_moments_not_an_error():
    """60 layers at σ_w² = 6400 (init=normal std=10, fan_in 64): the second moment overflows
    a float, which Python's ** raises on (it once crashed the run at step 0)."""
    field = MeanField("relu", 6400.0, 0.0)
    spread_ = spread([(field, 1.0)] * 60, "gaussian")
    assert spread_.mean > 1e200 and spread_.second_moment == math.inf  # its square overflows
    tiny = spread([(MeanField("tanh", 1.0, 0.0), 1e-300)] * 3, "gaussian")
    assert math.isfinite(tiny.mean)
