"""The Gaussian expectations against moments and kernels known in closed form."""

import math

import pytest
import torch

from initlab.theory.gaussian import derivative, expect, expect_pair

relu = torch.nn.ReLU().double()


def arccos_kernel(q: float, c: float) -> float:
    """E[relu(u₁) relu(u₂)], both of variance q, correlation c (Cho & Saul, 2009)."""
    return q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)


@pytest.mark.parametrize("q", [0.01, 1.0, 7.5])
def test_moments_of_a_gaussian(q):
    assert expect(lambda u: torch.ones_like(u), q) == pytest.approx(1, abs=1e-14)
    assert expect(lambda u: u**2, q) == pytest.approx(q, rel=1e-12)
    assert expect(lambda u: u**4, q) == pytest.approx(3 * q * q, rel=1e-12)


@pytest.mark.parametrize("c", [-0.5, 0.0, 0.3, 0.7, 0.95, 0.999, 1.0])
def test_the_pair_expectation_of_relu_is_the_arccos_kernel(c):
    assert expect_pair(relu, relu, 1.3, 1.3, c) == pytest.approx(arccos_kernel(1.3, c), abs=2e-6)


def test_the_pair_expectation_of_tanh_at_its_limits():
    square = expect(lambda u: torch.tanh(u) ** 2, 0.8)
    assert expect_pair(torch.tanh, torch.tanh, 0.8, 0.8, 1.0) == pytest.approx(square, rel=1e-12)
    assert expect_pair(torch.tanh, torch.tanh, 0.8, 0.8, 0.0) == pytest.approx(0, abs=1e-15)
    assert expect_pair(torch.tanh, torch.tanh, 0.8, 0.8, -1.0) == pytest.approx(-square, rel=1e-12)


def test_a_derivative_that_jumps_at_zero_is_integrated_exactly():
    # relu′² is 0 then 1: half the mass, exactly; torch's one-sided value at the node at 0 alone
    # would give 0.4987.
    assert expect(lambda u: derivative(relu)(u) ** 2) == pytest.approx(0.5, abs=1e-13)
    selu = torch.nn.SELU().double()
    lam, alpha = 1.0507009873554805, 1.6732632423543772
    # E[selu′(z)²] = λ²/2 + λ²α² E[e^{2z}; z < 0] = λ²/2 + λ²α² e² Φ(−2)
    expected = lam**2 / 2 + (lam * alpha) ** 2 * math.exp(2) * 0.5 * math.erfc(2 / math.sqrt(2))
    assert expect(lambda u: derivative(selu)(u) ** 2) == pytest.approx(expected, rel=1e-9)
