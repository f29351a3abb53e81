"""The spread of the input-output Jacobian's singular values at initialization (Pennington,
Schoenholz & Ganguli, 2017, "Resurrecting the sigmoid in deep learning through dynamical
isometry"): its first two moments, for Gaussian or orthogonal weights.

The Jacobian of a depth-L net is J = D_L W_L ⋯ D_1 W_1, D_l the diagonal of φ′(h^l). In a wide net
the factors are asymptotically free, and free probability multiplies their S-transforms; the
first two moments of JJᵀ's eigenvalues (the squared singular values) follow from each factor's
first two:

- mean: m₁ = Π_l σ_w² μ₁^l, with μ_k^l = E[φ′(h^l)^{2k}] over the layer's pre-activations;
- normalized variance: (m₂ − m₁²)/m₁² = Σ_l (μ₂^l/(μ₁^l)² − 1 + s), where s is WWᵀ's own:
  1 for Gaussian weights (Marchenko–Pastur), 0 for orthogonal ones (every singular value 1).

At the edge of chaos (χ₁ = 1, every layer at q*) this is Pennington et al.'s
σ²_JJᵀ = L(μ₂/μ₁² − 1 − s₁), s₁ = −1 Gaussian, 0 orthogonal: orthogonal weights with an
activation whose φ′ barely varies near q* (tanh, q* → 0) keep the variance near 0 — dynamical
isometry — while Gaussian weights add 1 a layer, and ReLU (φ′² is 0 or 1: μ₂/μ₁² = 2) adds 1 a
layer whatever the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from initlab.config.errors import ConfigError, positive_int
from initlab.theory.gaussian import expect
from initlab.theory.mean_field import MeanField

WEIGHT_VARIANCE = {"gaussian": 1.0, "orthogonal": 0.0}  # WWᵀ's normalized variance, s above


@dataclass(frozen=True)
class Spread:
    """The first two moments of JJᵀ's eigenvalues."""

    mean: float  # m₁: the mean squared singular value
    second_moment: float  # m₂

    @property
    def variance(self) -> float:
        return self.second_moment - self.mean**2


def moments(
    field: MeanField, depth: int, weights: str = "gaussian", q: list[float] | None = None
) -> Spread:
    """JJᵀ's moments for a ``depth``-layer net of ``field``'s activation and variances, with
    ``weights`` ``"gaussian"`` or ``"orthogonal"``; each layer's pre-activations at ``q``
    (one variance a layer; None: every layer at the fixed point q*)."""
    positive_int("depth", depth)
    if q is None:
        q = [field.q_star] * depth
    if len(q) != depth:
        raise ConfigError("q", q, f"must hold one variance a layer ({depth})")
    return spread([(field, q_l) for q_l in q], weights)


def spread(steps: list[tuple[MeanField, float]], weights: str = "gaussian") -> Spread:
    """JJᵀ's moments for a product of layers, each ``(field, q)``: the layer's weight
    variance and activation (``field``) and the variance ``q`` of the pre-activations its
    φ′ is taken at; layers may differ (a net's own σ_w² per layer)."""
    if weights not in WEIGHT_VARIANCE:
        raise ConfigError("weights", weights, f"must be one of {', '.join(WEIGHT_VARIANCE)}")
    mean, total = 1.0, 0.0
    for field, q_l in steps:
        q_l = min(max(q_l, 1e-12), 1e8)
        mu1 = expect(lambda u, f=field: f.dphi(u) ** 2, q_l)
        mu2 = expect(lambda u, f=field: f.dphi(u) ** 4, q_l)
        mean *= field.sigma_w2 * mu1
        # products, not **: a float's ** raises on overflow where * gives inf
        total += (mu2 / (mu1 * mu1) if mu1 > 0 else math.inf) - 1 + WEIGHT_VARIANCE[weights]
    return Spread(mean=mean, second_moment=mean * mean * (1 + total))
