"""Closed-form rules: each maps a block's fans to a :class:`~initlab.initializers.fans.Draw`.

The variance-scaling family (Glorot, He, LeCun, the "general rule") is one function with three
arguments, as in JAX: ``std = gain * sqrt(scale / fan)`` where ``fan`` is fan_in, fan_out or
their mean. Presets are argument sets of it. The fixed distributions ignore the fans.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from initlab.config.errors import ConfigError, choice, number
from initlab.initializers.catalog import register
from initlab.initializers.fans import Draw, Fans, Rule

# Standard deviation of N(0, 1) truncated to [-2, 2]; dividing by it makes a truncated normal
# have the variance asked for (JAX's variance_scaling uses the same constant).
TRUNCATED_STD = 0.87962566103423978

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")


@register
def variance_scaling(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    gain: float = 1.0,
) -> Rule:
    """Draw weights with variance ``gain² · scale / fan`` (JAX's ``variance_scaling``).

    ``fan`` is fan_in, fan_out or fan_avg = (fan_in + fan_out)/2, read from the layer.

    - ``normal``: N(0, std²), std = gain·√(scale/fan).
    - ``uniform``: U(−b, b), b = √3·std (a uniform on ±b has variance b²/3).
    - ``truncated_normal``: N(0, σ²) cut at ±2σ with σ = std / 0.8796…, so that the truncated
      distribution has exactly the variance std².

    Presets: LeCun (LeCun et al., 1998, "Efficient BackProp") is fan_in with gain 1; Glorot &
    Bengio (2010) is fan_avg with gain 1; He et al. (2015) is fan_in with gain √2 for ReLU; the
    "general rule" U(±1/√fan_in) is uniform fan_in with scale 1/3.
    """
    scale = number("scale", scale, positive=True)
    gain = number("gain", gain, positive=True)
    choice("mode", mode, MODES)
    choice("distribution", distribution, DISTRIBUTIONS)

    def rule(fans: Fans) -> Draw:
        std = gain * math.sqrt(scale / fans.get(mode))
        if distribution == "normal":
            return Draw("normal", mean=0.0, std=std, gain=gain)
        if distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return Draw("uniform", std=std, low=-bound, high=bound, gain=gain)
        sigma = std / TRUNCATED_STD
        return Draw(
            "truncated_normal", mean=0.0, std=std, low=-2 * sigma, high=2 * sigma, gain=gain
        )

    return rule


def preset(name: str, **params) -> Callable[..., Rule]:
    """Register ``variance_scaling`` with ``params`` as its defaults under ``name``."""
    return register(partial(variance_scaling, **params), name)


xavier = preset("xavier", scale=1.0, mode="fan_avg", distribution="uniform", gain=1.0)
xavier_normal = preset("xavier_normal", scale=1.0, mode="fan_avg", distribution="normal", gain=1.0)
he = preset("he", scale=1.0, mode="fan_in", distribution="normal", gain=math.sqrt(2))
he_uniform = preset(
    "he_uniform", scale=1.0, mode="fan_in", distribution="uniform", gain=math.sqrt(2)
)
lecun = preset("lecun", scale=1.0, mode="fan_in", distribution="normal", gain=1.0)
lecun_uniform = preset("lecun_uniform", scale=1.0, mode="fan_in", distribution="uniform", gain=1.0)
uniform_rule = preset("uniform_rule", scale=1 / 3, mode="fan_in", distribution="uniform", gain=1.0)


# ----------------------------------------------------------------------------------------------
# Fixed distributions.


@register
def normal(mean: float = 0.0, std: float = 1.0) -> Rule:
    """N(mean, std²), the same for every layer whatever its fan."""
    mean = number("mean", mean)
    std = number("std", std, positive=True)
    return lambda fans: Draw("normal", mean=mean, std=std)


small_normal = register(partial(normal, mean=0.0, std=0.01), "small_normal")
large_normal = register(partial(normal, mean=0.0, std=0.5), "large_normal")


@register
def uniform(a: float = 0.0, b: float = 1.0) -> Rule:
    """U[a, b), the same for every layer. The default U[0, 1) is the classic bad choice: all
    weights positive, so every unit of a layer moves together."""
    if number("a", a) >= number("b", b):
        raise ConfigError("a", a, f"must be < b (b={b})")
    a, b = float(a), float(b)
    return lambda fans: Draw("uniform", std=(b - a) / math.sqrt(12), low=a, high=b)


@register
def trunc_normal(mean: float = 0.0, std: float = 0.02) -> Rule:
    """N(mean, std²) redrawn outside mean ± 2·std (``torch.nn.init.trunc_normal_``, as in ViT)."""
    mean = number("mean", mean)
    std = number("std", std, positive=True)
    # ``std`` is the parent normal's (torch's meaning); the truncated draw's own std is smaller.
    return lambda fans: Draw(
        "truncated_normal",
        mean=mean,
        std=TRUNCATED_STD * std,
        low=mean - 2 * std,
        high=mean + 2 * std,
    )


# BERT (Devlin et al., 2019; google-research/bert ``initializer_range``): TensorFlow's truncated
# normal, stddev 0.02 redrawn outside ±2 stddev, for every weight and embedding; biases 0.
bert = register(partial(trunc_normal, mean=0.0, std=0.02), "bert")


@register
def constant(value: float = 0.1) -> Rule:
    """Every weight equal to ``value``. All units of a layer then compute the same function and
    receive the same gradient: symmetry is never broken."""
    value = number("value", value)
    return lambda fans: Draw("constant", mean=value, std=0.0, value=value)


@register
def zeros() -> Rule:
    """Every weight 0 (a constant with no parameter to set)."""
    return constant(0.0)


@register
def ones() -> Rule:
    """Every weight 1 (a constant with no parameter to set)."""
    return constant(1.0)


@register
def default() -> Rule:
    """The framework's own initialization of each layer type (``torch.nn``'s
    ``reset_parameters``: for Linear and direct convolutions, U(±1/√fan_in); for the others see
    :mod:`initlab.initializers.weight_blocks`), drawn from this initializer's generator."""
    return lambda fans: Draw("default")
