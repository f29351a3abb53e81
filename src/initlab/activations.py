"""Activations: name -> (module factory, gain).

The gain is the factor a variance-scaling initializer multiplies its std by so that the
pre-activations keep unit variance through the layers (He et al., 2015, §2.2): with weights of
variance g²/fan_in, Var(next pre-activation) = g² · E[f(x)²]. Where torch has a value,
``torch.nn.init.calculate_gain`` gives it (relu √2, leaky_relu √(2/(1+a²)), tanh 5/3, selu 3/4,
sigmoid/identity 1). For the others we use g = 1/√E[f(x)²] with x ~ N(0, 1), computed once:
ELU in closed form, E[elu(x)²] = 1 + e²Φ(−2) − 2√e·Φ(−1); GELU, SiLU and softplus by
Gauss-Hermite quadrature (``tests/test_activations.py`` recomputes them independently).

Each activation also says when a unit is *saturated*: its output sits where the activation is
flat, so almost no gradient flows back through it. From the input x and output a of the
activation module (the fraction of such units is ``activations/layerK/saturation``):

==============  ==========================================================================
relu            a == 0 exactly (a dead unit for this input)
leaky_relu      a == 0 exactly: only at x = 0, its units never die
tanh            |a| > 0.99
sigmoid         a < 0.01 or a > 0.99
elu             a < −0.99, within 0.01 of its floor −1
selu            a < −0.99·λα, within 1% of its floor −λα ≈ −1.758
softplus        a < 0.01, within 0.01 of its floor 0
gelu, silu      x < −2 and a > −0.01: within 0.01 of 0 in the far negative tail
                (GELU for x < −2.67, SiLU for x < −6.47)
identity        never
==============  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
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


# λα of SELU (Klambauer et al., 2017): the floor its outputs approach for x → −∞.
SELU_FLOOR = -1.0507009873554805 * 1.6732632423543772

Saturated = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, a) -> bool, same shape


@dataclass(frozen=True)
class Activation:
    name: str
    make: Callable[[], nn.Module]  # a fresh module per layer
    gain: float
    saturated: Saturated  # see the table above


def _zero(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return a == 0


def _far_negative_tail(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return (x < -2) & (a > -0.01)


def _never(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(a, dtype=torch.bool)


def relu() -> Activation:
    return Activation("relu", nn.ReLU, calculate_gain("relu"), _zero)


def leaky_relu(negative_slope: float = 0.01) -> Activation:
    if number("negative_slope", negative_slope) < 0:
        raise ConfigError("negative_slope", negative_slope, "must be ≥ 0")
    return Activation(
        "leaky_relu",
        partial(nn.LeakyReLU, negative_slope),
        calculate_gain("leaky_relu", negative_slope),
        _zero,
    )


def elu() -> Activation:
    return Activation("elu", nn.ELU, VARIANCE_PRESERVING_GAIN["elu"], lambda x, a: a < -0.99)


def selu() -> Activation:
    return Activation("selu", nn.SELU, calculate_gain("selu"), lambda x, a: a < 0.99 * SELU_FLOOR)


def gelu() -> Activation:
    return Activation("gelu", nn.GELU, VARIANCE_PRESERVING_GAIN["gelu"], _far_negative_tail)


def silu() -> Activation:
    return Activation("silu", nn.SiLU, VARIANCE_PRESERVING_GAIN["silu"], _far_negative_tail)


def tanh() -> Activation:
    return Activation("tanh", nn.Tanh, calculate_gain("tanh"), lambda x, a: a.abs() > 0.99)


def sigmoid() -> Activation:
    return Activation(
        "sigmoid", nn.Sigmoid, calculate_gain("sigmoid"), lambda x, a: (a < 0.01) | (a > 0.99)
    )


def softplus() -> Activation:
    return Activation(
        "softplus", nn.Softplus, VARIANCE_PRESERVING_GAIN["softplus"], lambda x, a: a < 0.01
    )


def identity() -> Activation:
    return Activation("identity", nn.Identity, calculate_gain("linear"), _never)


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
