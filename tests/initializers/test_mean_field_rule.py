"""``init=mean_field``: biases N(0, σ_b²) (its weights: tests/initializers/test_initializers.py),
bad values refused by key, and the theory's prediction met by the nets it builds."""

import math
import re

import pytest
import torch
from torch import nn

from initlab.config.errors import ConfigError
from initlab.initializers import apply, get_initializer
from initlab.theory.mean_field import MeanField


def test_biases_are_normal_with_the_variance_asked_for():
    layer = nn.Linear(100, 20000)
    apply(get_initializer("mean_field", sigma_w2=1.5, sigma_b2=0.05), layer, seed=0)
    b = layer.bias.detach().double()
    assert b.mean().item() == pytest.approx(0, abs=4 * math.sqrt(0.05 / 20000))
    assert b.std().item() == pytest.approx(math.sqrt(0.05), rel=0.03)
    apply(get_initializer("mean_field", sigma_w2=1.5), layer, seed=0)
    assert torch.all(layer.bias == 0)


def test_orthogonal_weights_of_a_square_layer():
    layer = nn.Linear(64, 64)
    apply(get_initializer("mean_field", sigma_w2=2.0, weights="orthogonal"), layer, seed=0)
    w = layer.weight.detach().double()
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(64, dtype=torch.float64), atol=1e-5, rtol=0)


def test_a_net_it_builds_propagates_as_the_theory_says():
    """q^l of a deep wide tanh MLP initialised with init=mean_field against the length map."""
    sigma_w2, sigma_b2, width, depth = 1.76, 0.05, 1500, 8
    layers = [nn.Linear(width, width) for _ in range(depth)]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, width, generator=g)
    field = MeanField("tanh", sigma_w2, sigma_b2)
    predicted = field.layers(depth, (x * x).mean().item())
    init = get_initializer("mean_field", sigma_w2=sigma_w2, sigma_b2=sigma_b2)
    h = x
    for k, layer in enumerate(layers):
        apply(init, layer, seed=100 + k)  # not the input's stream
        h = layer(torch.tanh(h) if k else h)
        assert (h * h).mean().item() == pytest.approx(predicted[k][0], rel=0.06)


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"sigma_w2": 0}, "sigma_w2=0"),
        ({"sigma_w2": -1.0}, "sigma_w2=-1.0"),
        ({"sigma_b2": -0.1}, "sigma_b2=-0.1: must be ≥ 0"),
        ({"weights": "haar"}, "weights='haar'"),
        (
            {"sigma_b2": 0.05, "bias": 0.1},
            "bias=0.1: init=mean_field draws every bias from N(0, sigma_b2)",
        ),
    ],
)
def test_bad_values_are_refused_by_key(params, said):
    with pytest.raises(ConfigError, match=re.escape(said)):
        get_initializer("mean_field", **params)
