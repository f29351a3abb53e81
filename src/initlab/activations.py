"""Activations: name -> (module factory, gain).

The gain is the factor a variance-scaling initializer multiplies its std by so that the
pre-activations keep unit variance through the layers (He et al., 2015, §2.2): with weights of
variance g²/fan_in, Var(next pre-activation) = g² · E[f(x)²]. Where torch has a value,
``torch.nn.init.calculate_gain`` gives it (relu √2, leaky_relu √(2/(1+a²)), tanh 5/3, selu 3/4,
sigmoid/identity 1). For the others we use g = 1/√E[f(x)²] with x ~ N(0, 1), computed once:
ELU in closed form, E[elu(x)²] = 1 + e²Φ(−2) − 2√e·Φ(−1); GELU, SiLU and softplus by
Gauss-Hermite quadrature (``tests/test_activations.py`` recomputes them independently).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn
from torch.nn.init import calculate_gain

from initlab.errors import ConfigError, call_with, number

# 1/√E[f(x)²], x ~ N(0, 1): the variance-preserving gain where torch has none.
VARIANCE_PRESERVING_GAIN = {
    "elu": 1.2451983007007068,
    "gelu": 1.533530441195536,
    "silu": 1.676532470331092,
    "softplus": 1.0418668355353018,
}


@dataclass(frozen=True)
class Activation:
    name: str
    make: Callable[[], nn.Module]  # a fresh module per layer
    gain: float


def relu() -> Activation:
    return Activation("relu", nn.ReLU, calculate_gain("relu"))


def leaky_relu(negative_slope: float = 0.01) -> Activation:
    if number("negative_slope", negative_slope) < 0:
        raise ConfigError("negative_slope", negative_slope, "must be ≥ 0")
    return Activation(
        "leaky_relu",
        partial(nn.LeakyReLU, negative_slope),
        calculate_gain("leaky_relu", negative_slope),
    )


def elu() -> Activation:
    return Activation("elu", nn.ELU, VARIANCE_PRESERVING_GAIN["elu"])


def selu() -> Activation:
    return Activation("selu", nn.SELU, calculate_gain("selu"))


def gelu() -> Activation:
    return Activation("gelu", nn.GELU, VARIANCE_PRESERVING_GAIN["gelu"])


def silu() -> Activation:
    return Activation("silu", nn.SiLU, VARIANCE_PRESERVING_GAIN["silu"])


def tanh() -> Activation:
    return Activation("tanh", nn.Tanh, calculate_gain("tanh"))


def sigmoid() -> Activation:
    return Activation("sigmoid", nn.Sigmoid, calculate_gain("sigmoid"))


def softplus() -> Activation:
    return Activation("softplus", nn.Softplus, VARIANCE_PRESERVING_GAIN["softplus"])


def identity() -> Activation:
    return Activation("identity", nn.Identity, calculate_gain("linear"))


ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    f.__name__: f
    for f in (relu, leaky_relu, elu, selu, gelu, silu, tanh, sigmoid, softplus, identity)
}


def get_activation(name: str | Callable[..., Activation], **params) -> Activation:
    """Look an activation up by name (or take a factory) and build it with ``params``."""
    if callable(name):
        return name(**params)
    if name not in ACTIVATIONS:
        raise ConfigError("name", name, f"unknown activation; choose from {', '.join(ACTIVATIONS)}")
    return call_with(ACTIVATIONS[name], params)
