"""JJᵀ's density by free probability: one Gaussian linear layer is Marchenko–Pastur's law,
orthogonal linear layers put all of it at σ_w²^L, and for deep tanh nets the density's first
two moments are the closed-form ones of :mod:`initlab.theory.jacobian`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from initlab.config.errors import ConfigError
from initlab.theory.jacobian import spread
from initlab.theory.jacobian_density import density
from initlab.theory.mean_field import MeanField


def linear(sigma_w2: float) -> MeanField:
    return MeanField(torch.nn.Identity(), sigma_w2, 0.0)


@pytest.mark.parametrize("sigma_w2", [1.0, 2.5])
def test_one_gaussian_linear_layer_is_marchenko_pastur(sigma_w2):
    d = density([(linear(sigma_w2), 1.0)], "gaussian", 5.0 * sigma_w2, 500)
    for x in (0.5, 1.0, 2.0, 3.0):
        i = int(np.argmin(np.abs(d.x - x * sigma_w2)))
        at = d.x[i]
        law = math.sqrt(at * (4 * sigma_w2 - at)) / (2 * math.pi * sigma_w2 * at)
        assert d.rho[i] == pytest.approx(law, rel=1e-3)
    assert d.rho[d.x > 4.2 * sigma_w2].max() < 1e-3 / sigma_w2  # nothing past the edge


def test_orthogonal_linear_layers_put_every_singular_value_at_sigma_w2_to_the_depth():
    d = density([(linear(1.2), 1.0)] * 5, "orthogonal", 5.0, 1000)
    step = d.x[1] - d.x[0]
    near = np.abs(d.x - 1.2**5) < 0.1
    assert abs(d.x[d.rho.argmax()] - 1.2**5) <= step
    # a spike of width ε (half a step) sampled every step: its sum is within 10% of 1
    assert d.rho[near].sum() * step > 0.9
    assert d.rho[~near].sum() * step < 0.02


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_a_deep_tanh_nets_density_has_the_closed_form_moments(weights):
    field = MeanField("tanh", 1.76, 0.05)
    steps = [(field, field.q_star)] * 8
    expected = spread(steps, weights)
    d = density(steps, weights, 40 * expected.mean, 3000)
    step = d.x[1] - d.x[0]
    assert (d.x * d.rho).sum() * step == pytest.approx(expected.mean, rel=0.02)
    assert (d.x**2 * d.rho).sum() * step == pytest.approx(expected.second_moment, rel=0.03)
    assert (d.rho >= 0).all()


def test_orthogonal_weights_concentrate_where_gaussian_ones_spread():
    field = MeanField("tanh", 1.18919, 0.001)  # near its edge of chaos, q* small
    steps = [(field, field.q_star)] * 10
    upper = 5 * spread(steps, "gaussian").mean
    orthogonal, gaussian = (density(steps, w, upper, 400) for w in ("orthogonal", "gaussian"))
    assert orthogonal.rho.argmax() > gaussian.rho.argmax()  # its peak is away from 0


def test_a_bad_weight_law_or_no_layer_is_refused_naming_it():
    with pytest.raises(ConfigError, match="weights"):
        density([(linear(1.0), 1.0)], "uniform", 1.0)
    with pytest.raises(ConfigError, match="steps"):
        density([], "gaussian", 1.0)
