"""The whole spectral density of JJᵀ, the input-output Jacobian's squared singular values, by free
probability (Pennington, Schoenholz & Ganguli 2017, §3; :mod:`.jacobian` gives its first two
moments).

Each layer contributes two free factors: D_l², the squared derivatives φ′(h^l)² over the layer's
pre-activations (h^l ~ N(0, q^l)), and W_lW_lᵀ, a Marchenko–Pastur law for Gaussian weights of
variance σ_w²/n (S-transform 1/(σ_w²(1 + g))) or σ_w² I for orthogonal ones (1/σ_w²). The
S-transform of the product is the product of the factors' S-transforms. D_l²'s own,
S(g) = t (1 + g)/g, needs t with ψ_l(t) = g, where ψ_l(t) = E[t d/(1 − t d)], d = φ′(h^l)², is
its moment generating function (by the quadrature of :mod:`.gaussian`).

At a point x of the spectrum, with z = x + iε and w = 1/z, JJᵀ's moment generating function
g = ψ_J(w) solves χ_J(g) = w, χ_J(g) = g S_J(g)/(1 + g), and the density is −Im G(z)/π with
G(z) = (1 + g)/z. The equation is solved by Newton's method in g (each layer's t_l by an inner
Newton step), continued from far right of the spectrum, where g ≈ m₁ w, down to the smallest x,
each point starting from the last one's solution: that keeps the branch whose density is
positive. ε smooths the density at the scale of the grid's step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from initlab.config.errors import ConfigError
from initlab.theory import gaussian
from initlab.theory.jacobian import WEIGHT_VARIANCE
from initlab.theory.mean_field import MeanField

POINTS = 400  # where the density is evaluated, evenly over (0, upper]
SMOOTHING = 0.5  # ε, in grid steps
NEWTON = 60  # iterations at most, a point
TOLERANCE = 1e-10  # relative, in t and g


@dataclass(frozen=True)
class Density:
    """JJᵀ's predicted eigenvalue density ``rho`` at ``x``."""

    x: np.ndarray
    rho: np.ndarray


ATOMS = 256  # each layer's φ′² law, as this many equally likely values (the quadrature's, merged)


@dataclass(frozen=True)
class _Layers:
    """The layers' factors: D_l²'s law (``d`` row l: :data:`ATOMS` values, equally likely) and
    W_lW_lᵀ's (σ_w², Gaussian or orthogonal)."""

    d: np.ndarray  # (layers, ATOMS)
    sigma_w2: np.ndarray  # (layers,)
    gaussians: int  # how many layers have Gaussian weights

    def psi(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each layer's ψ_l(t_l) and ψ_l′(t_l)."""
        r = 1.0 / (1.0 - t[:, None] * self.d)
        return t * (self.d * r).mean(1), (self.d * r * r).mean(1)


def _atoms(field: MeanField, q: float) -> np.ndarray:
    """φ′(h)², h ~ N(0, q), as :data:`ATOMS` equally likely values: the quadrature's nodes
    sorted by value, cut into runs of equal probability, each run's mean (the mean of φ′² is
    kept)."""
    q = min(max(q, 1e-12), 1e8)
    scale, (right, left) = math.sqrt(q), gaussian.SIDES
    d = ((field.dphi(scale * right) ** 2 + field.dphi(scale * left) ** 2) / 2).numpy()
    p = gaussian.W.numpy()
    order = np.argsort(d)
    d, p = d[order], p[order] / p.sum()
    mass = np.concatenate([[0.0], np.cumsum(d * p)])
    edges = np.interp(np.linspace(0, 1, ATOMS + 1), np.concatenate([[0.0], np.cumsum(p)]), mass)
    return np.diff(edges) * ATOMS


def _t(layers: _Layers, g: complex, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each layer's t with ψ_l(t) = g, by Newton's method from ``t`` (a step halved until the
    residual falls), and ψ_l′ there."""
    value, slope = layers.psi(t)
    for _ in range(NEWTON):
        residual = np.abs(value - g)
        if np.all(residual <= TOLERANCE * abs(g)):
            break
        step, shrink = (value - g) / slope, np.ones(len(t))
        for _ in range(40):
            trial = t - shrink * step
            v, s = layers.psi(trial)
            worse = ~np.isfinite(v) | (np.abs(v - g) >= residual)
            if not worse.any():
                break
            shrink[worse] /= 2
        moved = ~worse
        t, value, slope = (
            np.where(moved, trial, t),
            np.where(moved, v, value),
            np.where(moved, s, slope),
        )
        if np.all(np.abs(shrink * step) <= TOLERANCE * np.abs(t)) or not moved.any():
            break
    return t, slope


def _residual(layers: _Layers, log_z: complex, g: complex, t: np.ndarray):
    """log(χ_J(g) z), 0 at the solution, its derivative in g, and each layer's t at g."""
    depth, k = len(layers.sigma_w2), layers.gaussians
    t, slope = _t(layers, g, t)
    f = log_z - np.log(layers.sigma_w2).sum() + np.log(t).sum()
    f += (depth - 1) * (np.log(1 + g) - np.log(g)) - k * np.log(1 + g)
    df = (1 / (slope * t)).sum() + (depth - 1) * (1 / (1 + g) - 1 / g) - k / (1 + g)
    # the logs' branches do not matter: the imaginary part is taken to (−π, π]
    f = complex(f.real, (f.imag + math.pi) % (2 * math.pi) - math.pi)
    return f, df, t


def _solve(layers: _Layers, z: complex, g: complex, t: np.ndarray):
    """g with χ_J(g) = 1/z, and each layer's t, by Newton's method from (g, t), each step
    halved until the residual falls."""
    log_z = np.log(z)
    f, df, t = _residual(layers, log_z, g, t)
    for _ in range(NEWTON):
        if abs(f) <= TOLERANCE:
            break
        step, shrink = f / df, 1.0
        for _ in range(40):
            trial = g - shrink * step
            f2, df2, t2 = _residual(layers, log_z, trial, t)
            if np.isfinite(f2) and abs(f2) < abs(f):
                break
            shrink /= 2
        else:
            break
        g, f, df, t = trial, f2, df2, t2
    return g, t


def density(
    steps: list[tuple[MeanField, float]], weights: str, upper: float, points: int = POINTS
) -> Density:
    """JJᵀ's density on ``points`` evenly spaced x in (0, ``upper``] for a product of layers,
    each ``(field, q)`` as in :func:`.jacobian.spread`, with ``weights`` gaussian or
    orthogonal."""
    if weights not in WEIGHT_VARIANCE:
        raise ConfigError("weights", weights, f"must be one of {', '.join(WEIGHT_VARIANCE)}")
    if not steps:
        raise ConfigError("steps", steps, "must hold one layer or more")
    d = np.stack([_atoms(field, q) for field, q in steps])
    sigma_w2 = np.array([field.sigma_w2 for field, _ in steps])
    layers = _Layers(d, sigma_w2, len(steps) if weights == "gaussian" else 0)
    means = d.mean(1)
    m1 = float(np.prod(sigma_w2 * means))
    x = np.linspace(upper / points, upper, points)
    eps = SMOOTHING * (x[1] - x[0]) if points > 1 else SMOOTHING * upper
    # Start far right of the spectrum (its edge is below e·(L + 1)·m₁ for Gaussian weights),
    # where g ≈ m₁/z, and walk down to the grid's right end, then along it.
    start = max(upper, 4 * math.e * (len(steps) + 1) * m1)
    walk = np.geomspace(start * 4, upper, 60)[:-1] if start * 4 > upper else np.array([])
    z0 = complex(walk[0] if len(walk) else upper, eps)
    g = m1 / z0
    t = g / means.astype(complex)
    for xi in walk:
        g, t = _solve(layers, complex(xi, eps), g, t)
    rho = np.empty(points)
    for i in range(points - 1, -1, -1):
        z = complex(x[i], eps)
        g, t = _solve(layers, z, g, t)
        rho[i] = max(-((1 + g) / z).imag / math.pi, 0.0)
    return Density(x=x, rho=rho)
