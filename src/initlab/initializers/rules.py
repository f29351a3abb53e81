"""Closed-form rules: each maps a block's fans to a :class:`~initlab.initializers.fans.Draw`.

The variance-scaling family (Glorot, He, LeCun, the "general rule") is one function with three
arguments, as in JAX: ``std = gain * sqrt(scale / fan)`` where ``fan`` is fan_in, fan_out or
their mean. Presets are argument sets of it, each a documented function. The fixed
distributions ignore the fans.
"""

from __future__ import annotations

import math

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


# The presets: argument sets of variance_scaling, each a function of its own (its signature holds
# its defaults, and conf/init/<name>.yaml starts from them).


@register
def xavier(
    scale: float = 1.0, mode: str = "fan_avg", distribution: str = "uniform", gain: float = 1.0
) -> Rule:
    """Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
    networks", uniform: U(−b, b) with b = gain·√(6 / (fan_in + fan_out)), so that
    Var(w) = 2 / (fan_in + fan_out) keeps the forward and the backward signal alike
    (``torch.nn.init.xavier_uniform_``).

    Example:
        >>> round(xavier()(Fans(fan_in=100, fan_out=200, units=200)).high, 4)  # √(6/300)
        0.1414
    """
    return variance_scaling(scale, mode, distribution, gain)


@register
def xavier_normal(
    scale: float = 1.0, mode: str = "fan_avg", distribution: str = "normal", gain: float = 1.0
) -> Rule:
    """Glorot & Bengio (2010), normal: N(0, std²) with std = gain·√(2 / (fan_in + fan_out))
    (``torch.nn.init.xavier_normal_``).

    Example:
        >>> round(xavier_normal()(Fans(fan_in=100, fan_out=100, units=100)).std, 4)  # √(1/100)
        0.1
    """
    return variance_scaling(scale, mode, distribution, gain)


@register
def he(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "normal",
    gain: float = math.sqrt(2),
) -> Rule:
    """He et al. (2015), "Delving deep into rectifiers": N(0, std²) with std = gain/√fan_in and
    gain √2, which keeps the variance of a ReLU net's pre-activations from layer to layer
    (``torch.nn.init.kaiming_normal_``). ``mode=fan_out`` keeps the backward signal instead.

    Example:
        >>> round(he()(Fans(fan_in=50, fan_out=10, units=10)).std, 4)  # √2/√50
        0.2
    """
    return variance_scaling(scale, mode, distribution, gain)


@register
def he_uniform(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "uniform",
    gain: float = math.sqrt(2),
) -> Rule:
    """He et al. (2015), uniform: U(−b, b) with b = gain·√(3 / fan_in), gain √2
    (``torch.nn.init.kaiming_uniform_``).

    Example:
        >>> round(he_uniform()(Fans(fan_in=6, fan_out=10, units=10)).high, 4)  # √2·√(3/6)
        1.0
    """
    return variance_scaling(scale, mode, distribution, gain)


@register
def lecun(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal", gain: float = 1.0
) -> Rule:
    """LeCun et al. (1998), "Efficient BackProp": N(0, std²) with std = 1/√fan_in, unit
    variance for a unit whose inputs have unit variance (SELU's init, Klambauer et al., 2017).

    Example:
        >>> round(lecun()(Fans(fan_in=400, fan_out=10, units=10)).std, 4)  # 1/√400
        0.05
    """
    return variance_scaling(scale, mode, distribution, gain)


@register
def lecun_uniform(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "uniform", gain: float = 1.0
) -> Rule:
    """LeCun et al. (1998), uniform: U(−b, b) with b = √(3 / fan_in).

    Example:
        >>> round(lecun_uniform()(Fans(fan_in=3, fan_out=10, units=10)).high, 4)  # √(3/3)
        1.0
    """
    return variance_scaling(scale, mode, distribution, gain)


@register
def uniform_rule(
    scale: float = 1 / 3, mode: str = "fan_in", distribution: str = "uniform", gain: float = 1.0
) -> Rule:
    """The "general rule" of thumb (the Udacity weight-initialization notebook): U(−b, b) with
    b = 1/√fan_in, which is variance scaling with scale 1/3 (a uniform on ±b has variance b²/3);
    torch's own default for Linear weights has the same bound.

    Example:
        >>> round(uniform_rule()(Fans(fan_in=25, fan_out=10, units=10)).high, 4)  # 1/√25
        0.2
    """
    return variance_scaling(scale, mode, distribution, gain)


# ----------------------------------------------------------------------------------------------
# Fixed distributions.


@register
def normal(mean: float = 0.0, std: float = 1.0) -> Rule:
    """N(mean, std²), the same for every layer whatever its fan."""
    mean = number("mean", mean)
    std = number("std", std, positive=True)
    return lambda fans: Draw("normal", mean=mean, std=std)


@register
def small_normal(mean: float = 0.0, std: float = 0.01) -> Rule:
    """N(0, 0.01²) for every layer: the small random numbers of early practice (cs231n's
    ``0.01 * np.random.randn``). In a deep tanh net the activations shrink layer by layer to 0.

    Example:
        >>> small_normal()(Fans(fan_in=1000, fan_out=10, units=10)).std
        0.01
    """
    return normal(mean, std)


@register
def large_normal(mean: float = 0.0, std: float = 0.5) -> Rule:
    """N(0, 0.5²) for every layer: too large for wide layers; a deep tanh net saturates at ±1
    (cs231n's counter-example).

    Example:
        >>> large_normal()(Fans(fan_in=1000, fan_out=10, units=10)).std
        0.5
    """
    return normal(mean, std)


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


@register
def bert(mean: float = 0.0, std: float = 0.02) -> Rule:
    """BERT (Devlin et al., 2019; google-research/bert's ``initializer_range``): TensorFlow's
    truncated normal, stddev 0.02 redrawn outside ±2 stddev, for every weight and embedding;
    biases 0.

    Example:
        >>> bert()(Fans(fan_in=768, fan_out=768, units=768)).high
        0.04
    """
    return trunc_normal(mean, std)


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
