"""Mean-field signal propagation through a wide random net (Poole et al., 2016; Schoenholz et
al., 2017): the length and correlation maps, their fixed points, the phase, the depth scales and
the edge of chaos.

A fully connected layer with weights N(0, σ_w²/fan_in) and biases N(0, σ_b²) maps the
pre-activations h of the layer before to h' with, over the random weights of a wide net,

- the length map: q' = σ_w² E[φ(√q z)²] + σ_b² (q: a pre-activation's second moment);
- the covariance map of two inputs: q'₁₂ = σ_w² E[φ(u₁) φ(u₂)] + σ_b², (u₁, u₂) centred
  Gaussian with variances q₁, q₂ and correlation c = q₁₂/√(q₁q₂) (:mod:`.gaussian`).

q^l converges to q*, c^l to c*; χ₁ = σ_w² E[φ′(√q* z)²] is the slope of the correlation map at
c = 1: below 1 (ordered) two inputs become one, above 1 (chaotic) nearby inputs separate. The
depth scales ξ_q = −1/ln(slope of the length map at q*) and ξ_c = −1/ln(slope of the correlation
map at c*) say over how many layers an input's length and two inputs' similarity survive; ξ_c
diverges at χ₁ = 1, the edge of chaos, and Schoenholz et al. found nets train up to about 6 ξ_c
layers. The slope of the length map is taken by Gaussian integration by parts,
σ_w² E[z φ(√q z) φ′(√q z)]/√q, which needs no second derivative (ReLU has none at 0).

The first layer sees the input itself: q¹ = σ_w² ‖x‖²/n + σ_b² (:meth:`MeanField.layers`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from scipy.optimize import brentq
from torch import nn

from initlab.config.errors import ConfigError, number
from initlab.models.activations import Activation, get_activation
from initlab.theory.gaussian import Fn, derivative, expect, expect_pair

Q_CAP = 1e8  # a q past this is taken as unbounded (the signal explodes: ReLU with σ_w² > 2)
CRITICAL_TOLERANCE = 1e-3  # |χ₁ − 1| below this reads "critical"
SEARCH = (1e-3, 100.0)  # the σ_w² range searched for the edge of chaos
Q_FLOOR = 1e-30  # a q below this is taken as 0 (the signal dies out: tanh with σ_b² = 0, σ_w² ≤ 1)
ITERATIONS = 200  # of the length map, before its fixed point is solved for


def elementwise(activation: str | Activation | nn.Module | Callable) -> Fn:
    """φ as a float64 function: an ``activation`` group name (its defaults), an
    :class:`Activation`, a module (copied to float64) or any elementwise callable."""
    if isinstance(activation, str):
        activation = get_activation(activation)
    if isinstance(activation, Activation):
        activation = activation.make()
    if isinstance(activation, nn.Module):
        module = activation.double()
        return lambda u: module(u)
    if callable(activation):
        probe = torch.linspace(-1, 1, 5, dtype=torch.float64)
        if torch.as_tensor(activation(probe)).shape == probe.shape:
            return activation
    raise ConfigError(
        "activation", activation, "must be an activation name, module or elementwise function"
    )


@dataclass(frozen=True)
class Point:
    """What the theory predicts at one (σ_w², σ_b²): :meth:`MeanField.point`."""

    sigma_w2: float
    sigma_b2: float
    q_star: float  # inf: unbounded
    c_star: float  # nan where q* is unbounded
    chi1: float
    xi_q: float  # inf at a marginal fixed point
    xi_c: float
    phase: str  # ordered, critical, chaotic or unbounded

    @property
    def trainable_depth(self) -> float:
        """6 ξ_c: the depth Schoenholz et al. found trainable."""
        return 6 * self.xi_c

    def lines(self) -> list[str]:
        """``name = value``, one a line, as the command prints them."""
        values = {
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "phase": self.phase,
            "q_star": self.q_star,
            "c_star": self.c_star,
            "chi1": self.chi1,
            "xi_q": self.xi_q,
            "xi_c": self.xi_c,
            "trainable_depth": self.trainable_depth,
        }
        return [f"{k} = {v if isinstance(v, str) else format(v, '.6g')}" for k, v in values.items()]


def _depth_scale(slope: float) -> float:
    """−1/ln(slope): inf at slope 1 (and for a slope past 1, where the fixed point is unstable)."""
    if not math.isfinite(slope) or slope >= 1:
        return math.inf
    if slope <= 0:
        return 0.0
    return -1 / math.log(slope)


class MeanField:
    """The maps of a net with activation φ, weight variance σ_w²/fan_in and bias variance σ_b²."""

    def __init__(self, activation, sigma_w2: float, sigma_b2: float = 0.0):
        for key, value in (("sigma_w2", sigma_w2), ("sigma_b2", sigma_b2)):
            if number(key, value) < 0 or not math.isfinite(value):
                raise ConfigError(key, value, "must be a finite number ≥ 0")
        self.phi = elementwise(activation)
        self.dphi = derivative(self.phi)
        self.sigma_w2, self.sigma_b2 = float(sigma_w2), float(sigma_b2)

    # --- the maps ------------------------------------------------------------------------

    def length_map(self, q: float) -> float:
        """q^l from q^{l−1}."""
        return self.sigma_w2 * expect(lambda u: self.phi(u) ** 2, q) + self.sigma_b2

    def covariance_map(self, q1: float, q2: float, c: float) -> float:
        """q₁₂^l from the variances and correlation of layer l − 1."""
        return self.sigma_w2 * expect_pair(self.phi, self.phi, q1, q2, c) + self.sigma_b2

    def correlation_map(self, c: float) -> float:
        """c^l from c^{l−1}, both inputs at the fixed point q*."""
        q = self._q
        return self.covariance_map(q, q, c) / self.length_map(q)

    # --- fixed points and slopes -----------------------------------------------------------

    @cached_property
    def q_star(self) -> float:
        """The fixed point the length map reaches from q = 1 (inf: it grows without bound).
        The map is iterated; where it converges slowly (its slope near 1), the fixed point ahead
        of the iterates is bracketed and solved for."""
        q = 1.0
        for _ in range(ITERATIONS):
            nxt = self.length_map(q)
            if nxt > Q_CAP:
                return math.inf
            if nxt < Q_FLOOR:
                return 0.0
            if abs(nxt - q) <= 1e-13 * q:
                return nxt
            q, rising = nxt, nxt > q

        def gap(x: float) -> float:
            return self.length_map(x) - x

        far = q  # moved on in the iterates' direction until the gap changes sign
        while (gap(far) > 0) == rising:
            far = far * 2 if rising else far / 2
            if far > Q_CAP:
                return math.inf
            if far < Q_FLOOR:
                return 0.0
        return brentq(gap, *sorted((q, far)), xtol=1e-15, rtol=1e-13)

    @property
    def _q(self) -> float:
        """q* where the maps are evaluated: within (0, Q_CAP], so that a vanishing or an
        unbounded fixed point still gives its limit slopes."""
        return min(max(self.q_star, 1e-12), Q_CAP)

    @cached_property
    def chi1(self) -> float:
        """σ_w² E[φ′(√q* z)²]: the correlation map's slope at c = 1."""
        return self.sigma_w2 * expect(lambda u: self.dphi(u) ** 2, self._q)

    @cached_property
    def length_slope(self) -> float:
        """dq^l/dq^{l−1} at q*, by Gaussian integration by parts."""
        q = self._q
        root = math.sqrt(q)
        return self.sigma_w2 * expect(lambda u: (u / root) * self.phi(u) * self.dphi(u), q) / root

    @cached_property
    def c_star(self) -> float:
        """The stable fixed point of the correlation map: 1 unless chaotic."""
        if math.isinf(self.q_star):
            return math.nan
        if self.chi1 <= 1:
            return 1.0

        def gap(c: float) -> float:
            return self.correlation_map(c) - c

        top = 1 - 1e-9
        if gap(0.0) <= 0:  # an odd φ without bias: c = 0 is the fixed point
            return 0.0
        return brentq(gap, 0.0, top, xtol=1e-12)

    @cached_property
    def chi_c(self) -> float:
        """The correlation map's slope at c*: χ₁ when c* = 1."""
        c = self.c_star
        if math.isnan(c) or c >= 1:
            return self.chi1
        q = self._q
        return self.sigma_w2 * expect_pair(self.dphi, self.dphi, q, q, c)

    @property
    def phase(self) -> str:
        if math.isinf(self.q_star):
            return "unbounded"
        if abs(self.chi1 - 1) < CRITICAL_TOLERANCE:
            return "critical"
        return "ordered" if self.chi1 < 1 else "chaotic"

    def point(self) -> Point:
        unbounded = math.isinf(self.q_star)
        return Point(
            sigma_w2=self.sigma_w2,
            sigma_b2=self.sigma_b2,
            q_star=self.q_star,
            c_star=self.c_star,
            chi1=self.chi1,
            xi_q=math.nan if unbounded else _depth_scale(self.length_slope),
            xi_c=math.nan if unbounded else _depth_scale(self.chi_c),
            phase=self.phase,
        )

    # --- a given net -----------------------------------------------------------------------

    def layers(
        self, depth: int, q_a: float, q_b: float | None = None, q_ab: float | None = None
    ) -> list[tuple[float, float, float]]:
        """(q_a^l, q_b^l, c^l) for l = 1 … ``depth``, for two inputs whose mean squared
        coordinates are ``q_a`` and ``q_b`` and whose mean product is ``q_ab`` (‖x‖²/n, x·x′/n;
        one input: ``q_b = q_a``, ``q_ab = q_a``)."""
        q_b = q_a if q_b is None else q_b
        q_ab = q_a if q_ab is None else q_ab
        w, b = self.sigma_w2, self.sigma_b2
        qa, qb, qab = w * q_a + b, w * q_b + b, w * q_ab + b  # the first layer: the input itself
        out = [(qa, qb, qab / math.sqrt(qa * qb))]
        for _ in range(depth - 1):
            c = qab / math.sqrt(qa * qb)
            qa, qb, qab = self.length_map(qa), self.length_map(qb), self.covariance_map(qa, qb, c)
            out.append((qa, qb, qab / math.sqrt(qa * qb)))
        return out


def critical_sigma_w2(activation, sigma_b2: float = 0.0) -> float:
    """The σ_w² at which χ₁ = 1 for this σ_b² (nan: none in :data:`SEARCH`)."""
    phi = elementwise(activation)

    def gap(sigma_w2: float) -> float:
        return MeanField(phi, sigma_w2, sigma_b2).chi1 - 1

    lo, hi = SEARCH
    if gap(lo) * gap(hi) > 0:
        return math.nan
    # Around tanh's root without bias (σ_w² = 1) the gap is float rounding over ~1e-8 of σ_w²,
    # where brentq can only bisect: scipy 1.17's takes 104 steps (its default limit: 100).
    return brentq(gap, lo, hi, xtol=1e-10, maxiter=500)
