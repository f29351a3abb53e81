"""``init=mean_field``: weights and biases parametrized as mean-field theory writes them
(:mod:`initlab.theory`), so that a point of the phase diagram is a config.

Weights of variance σ_w²/fan_in — i.i.d. normal, or a (semi-)orthogonal matrix times √σ_w²
(Saxe et al., 2013; the weights of Pennington et al.'s dynamical isometry) — and every bias
N(0, σ_b²) (Poole et al., 2016; Schoenholz et al., 2017).

How the closed-form presets map to (σ_w², σ_b²) on a square layer (fan_in = fan_out; biases
zeros, so σ_b² = 0): ``he`` σ_w² = gain² = 2; ``lecun`` 1; ``xavier`` 2·fan_in/(fan_in + fan_out)
· gain² = 1; ``variance_scaling`` gain²·scale with ``mode=fan_in`` (its ``truncated_normal`` or
``uniform`` draws have the same variance, not the same distribution); ``orthogonal`` gain². Any
of them at ``gain=auto`` is σ_w² = g², the activation's variance-preserving gain squared
(:mod:`initlab.theory.presets`). What none of them has is a random bias: that is σ_b² here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from initlab.config.errors import ConfigError, choice, number
from initlab.initializers.catalog import register
from initlab.initializers.fans import Draw, Fans, Rule
from initlab.initializers.structural import orthogonal

WEIGHTS = ("normal", "orthogonal")


@dataclass(frozen=True)
class WithBias:
    """What a rule that also draws every bias returns: the weight rule, then the biases' draw
    (it takes the place of ``init.bias``; None: zeros)."""

    rule: Rule
    bias: Draw | None


@register
def mean_field(sigma_w2: float = 1.0, sigma_b2: float = 0.0, weights: str = "normal") -> WithBias:
    """Weights N(0, σ_w²/fan_in) (``weights=orthogonal``: orthogonal times √σ_w²) and biases
    N(0, σ_b²), as in mean-field theory (Poole et al., 2016; Schoenholz et al., 2017). The
    edge of chaos for a bias variance: ``python -m initlab.theory --activation A --sigma-b2 B``."""
    sigma_w2 = number("sigma_w2", sigma_w2, positive=True)
    sigma_b2 = number("sigma_b2", sigma_b2)
    if sigma_b2 < 0:
        raise ConfigError("sigma_b2", sigma_b2, "must be ≥ 0 (a variance)")
    choice("weights", weights, WEIGHTS)
    std = math.sqrt(sigma_w2)
    if weights == "orthogonal":
        rule = orthogonal(gain=std)
    else:

        def rule(fans: Fans) -> Draw:
            return Draw("normal", mean=0.0, std=std / math.sqrt(fans.fan_in), gain=std)

    bias = Draw("normal", mean=0.0, std=math.sqrt(sigma_b2)) if sigma_b2 else None
    return WithBias(rule, bias)
