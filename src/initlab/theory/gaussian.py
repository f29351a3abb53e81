"""Gaussian expectations E[f(z)] and E[f(u₁) g(u₂)] by Simpson's rule on a fixed grid.

One dimension: z ~ N(0, 1) on [−10, 10] (the mass outside is below 10⁻²²) with a node at 0, so an
activation with a kink at 0 (ReLU and its kin) is integrated piecewise smooth: the error is below
10⁻⁸. Two dimensions, for a pair of pre-activations with variances q₁, q₂ and correlation c:
u₁ = √q₁ z₁ and u₂ = √q₂ (c z₁ + √(1 − c²) z₂), the same rule on a coarser grid in z₁ and in z₂
— within 2·10⁻⁶ of the arc-cosine kernel for ReLU (``tests/theory/test_gaussian.py``), where
Gauss–Hermite quadrature of 200 nodes is off by 10⁻³ at the kink; smooth activations (tanh) are
integrated to rounding.

Functions take and return float64 tensors; an activation module is called on them as is (its
float64 copy), its derivative comes from autograd.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Fn = Callable[[torch.Tensor], torch.Tensor]

HALF_WIDTH = 10.0
NODES = 2001  # odd: Simpson's rule, with a node at 0
PAIR_NODES = 401  # in each of z₁, z₂: 160 000 points, a few milliseconds


def _grid(nodes: int = NODES) -> tuple[torch.Tensor, torch.Tensor]:
    """Simpson's nodes on [−HALF_WIDTH, HALF_WIDTH] and their weights times the N(0, 1)
    density (summing to 1 within 10⁻¹⁵)."""
    h = 2 * HALF_WIDTH / (nodes - 1)
    z = torch.arange(-(nodes // 2), nodes // 2 + 1, dtype=torch.float64) * h  # 0 exactly
    w = torch.ones(nodes, dtype=torch.float64)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return z, w * (h / 3) * torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)


Z, W = _grid()
Z2, W2 = _grid(PAIR_NODES)
# The grids with its middle node just right and just left of 0: an integrand that jumps at 0 (ReLU's
# derivative) is given the mean of its two sides there, which makes Simpson's rule exact on
# each side of the jump (0 is a node between two panels); torch's one-sided value at 0 would be
# off by half the jump times that node's weight.
TINY = 1e-200


def _sides(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    right, left = z.clone(), z.clone()
    right[len(z) // 2], left[len(z) // 2] = TINY, -TINY
    return right, left


SIDES, SIDES2 = _sides(Z), _sides(Z2)


def _both_sides(f: Fn, scale: float, sides: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return (f(scale * sides[0]) + f(scale * sides[1])) / 2


def expect(f: Fn, q: float = 1.0) -> float:
    """E[f(√q z)], z ~ N(0, 1)."""
    return float(W @ _both_sides(f, math.sqrt(q), SIDES))


def expect_pair(f: Fn, g: Fn, q1: float, q2: float, c: float) -> float:
    """E[f(u₁) g(u₂)] for centred Gaussians u₁, u₂ of variances q₁, q₂ and correlation c. A
    jump of g at 0 falls between nodes in z₂ (there the rule is first order in the step)."""
    c = min(1.0, max(-1.0, c))
    inner = math.sqrt(q2) * (c * Z2[:, None] + math.sqrt(1 - c * c) * Z2[None, :])
    return float(W2 @ (_both_sides(f, math.sqrt(q1), SIDES2) * (g(inner) @ W2)))


def derivative(f: Fn) -> Fn:
    """f′ of an elementwise f, by autograd."""

    def df(u: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x = u.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(f(x).sum(), x)
        return g.detach()

    return df
