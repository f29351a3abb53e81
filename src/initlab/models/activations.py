"""Activations: name -> (module factory, gain).

The gain is the factor a variance-scaling initializer multiplies its std by so that the
pre-activations keep unit variance through the layers (He et al., 2015, §2.2): with zero-mean
weights of variance g²/fan_in, Var(next pre-activation) = g² · E[f(x)²]. One rule for every
activation: g = 1/√E[f(x)²] with x ~ N(0, 1), the gain that makes unit variance a fixed point
of the first layers. :func:`variance_preserving_gain` computes it from the activation module
itself, by adaptive quadrature on each side of 0 (``tests/models/test_activations.py`` checks each
against a Monte-Carlo E[f²]).

It is torch's ``calculate_gain`` for relu (√2), leaky_relu (√(2/(1+a²))) and identity (1),
and differs from it for three: selu (1 here, 3/4 in torch: Klambauer et al., 2017, need
Var(W) = 1/fan_in, as E[selu(x)²] = 1 by design; torch's 3/4 shrinks the signal by 3/4 a layer),
tanh (5/3 in torch: an empirical value a little above the fixed point) and sigmoid (1 in torch,
with no derivation; sigmoid's outputs are centred at 1/2). Pass ``init.gain=<number>`` for
torch's value.

Each activation also says when a unit is *saturated*: its output sits where the activation is
flat, so almost no gradient flows back through it; the fraction of such units is
``activations/layerK/saturation``. Each test is a function of the activation's input x and
output a, with its words beside it (:attr:`Activation.saturation`).

``python -m initlab.list activations`` and ``docs/reference/activations.md`` (generated) show
every activation's gain, torch's, and its saturation test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial

import torch
from scipy import integrate
from torch import nn

from initlab.config.errors import ConfigError, call_with, number
from initlab.config.registry import Registry


@lru_cache(maxsize=64)
def variance_preserving_gain(module: type[nn.Module], *args) -> float:
    """1/√E[f(x)²] for x ~ N(0, 1), f the activation ``module(*args)`` (float64).

    Adaptive quadrature on each side of 0, where relu-like activations have their kink;
    about a millisecond per activation, cached by class and arguments.
    """
    f = module(*args).double()

    def integrand(t: float) -> float:
        with torch.no_grad():
            value = f(torch.tensor(t, dtype=torch.float64)).item()
        return value * value * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)

    left, _ = integrate.quad(integrand, -math.inf, 0, epsabs=0, epsrel=1e-10, limit=200)
    right, _ = integrate.quad(integrand, 0, math.inf, epsabs=0, epsrel=1e-10, limit=200)
    return 1 / math.sqrt(left + right)


# λα of SELU (Klambauer et al., 2017): the floor its outputs approach for x → −∞.
SELU_FLOOR = -1.0507009873554805 * 1.6732632423543772

Saturated = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, a) -> bool, same shape


@dataclass(frozen=True)
class Activation:
    name: str
    make: Callable[[], nn.Module]  # a fresh module per layer
    gain: float
    saturated: Saturated
    saturation: str  # what ``saturated`` tests, in words


def _zero(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return a == 0


def _far_negative_tail(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return (x < -2) & (a > -0.01)


def _never(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(a, dtype=torch.bool)


ZERO = "a == 0 exactly: a dead unit for this input"
LEAKY = "a == 0 exactly: only at x = 0, its units never die"
TAIL = "x < −2 and a > −0.01: within 0.01 of 0 in the far negative tail"

ACTIVATIONS: Registry[Callable[..., Activation]] = Registry("activation")


@ACTIVATIONS.register
def relu() -> Activation:
    return Activation("relu", nn.ReLU, variance_preserving_gain(nn.ReLU), _zero, ZERO)


@ACTIVATIONS.register
def leaky_relu(negative_slope: float = 0.01) -> Activation:
    if number("negative_slope", negative_slope) < 0:
        raise ConfigError("negative_slope", negative_slope, "must be ≥ 0")
    slope = float(negative_slope)
    gain = variance_preserving_gain(nn.LeakyReLU, slope)
    return Activation("leaky_relu", partial(nn.LeakyReLU, slope), gain, _zero, LEAKY)


@ACTIVATIONS.register
def elu() -> Activation:
    return Activation(
        "elu",
        nn.ELU,
        variance_preserving_gain(nn.ELU),
        lambda x, a: a < -0.99,
        "a < −0.99: within 0.01 of its floor −1",
    )


@ACTIVATIONS.register
def selu() -> Activation:
    return Activation(
        "selu",
        nn.SELU,
        variance_preserving_gain(nn.SELU),
        lambda x, a: a < 0.99 * SELU_FLOOR,
        "a < −0.99·λα: within 1% of its floor −λα ≈ −1.758",
    )


@ACTIVATIONS.register
def gelu() -> Activation:
    return Activation(
        "gelu",
        nn.GELU,
        variance_preserving_gain(nn.GELU),
        _far_negative_tail,
        TAIL + " (x < −2.67)",
    )


@ACTIVATIONS.register
def silu() -> Activation:
    return Activation(
        "silu",
        nn.SiLU,
        variance_preserving_gain(nn.SiLU),
        _far_negative_tail,
        TAIL + " (x < −6.47)",
    )


@ACTIVATIONS.register
def tanh() -> Activation:
    return Activation(
        "tanh",
        nn.Tanh,
        variance_preserving_gain(nn.Tanh),
        lambda x, a: a.abs() > 0.99,
        "|a| > 0.99",
    )


@ACTIVATIONS.register
def sigmoid() -> Activation:
    return Activation(
        "sigmoid",
        nn.Sigmoid,
        variance_preserving_gain(nn.Sigmoid),
        lambda x, a: (a < 0.01) | (a > 0.99),
        "a < 0.01 or a > 0.99",
    )


# softsign's slope (1 − |a|)² is below 0.02 (tanh's at |a| = 0.99) from |a| > 1 − √0.02.
SOFTSIGN_SATURATED = 1 - math.sqrt(0.02)


@ACTIVATIONS.register
def softsign() -> Activation:
    return Activation(
        "softsign",
        nn.Softsign,
        variance_preserving_gain(nn.Softsign),
        lambda x, a: a.abs() > SOFTSIGN_SATURATED,
        "|a| > 1 − √0.02 ≈ 0.859 (|x| > 6.07): its slope (1 − |a|)² is below 0.02, where "
        "tanh's is at |a| = 0.99 (softsign reaches its asymptotes polynomially: Glorot & "
        "Bengio, 2010)",
    )


@ACTIVATIONS.register
def softplus() -> Activation:
    return Activation(
        "softplus",
        nn.Softplus,
        variance_preserving_gain(nn.Softplus),
        lambda x, a: a < 0.01,
        "a < 0.01: within 0.01 of its floor 0",
    )


@ACTIVATIONS.register
def identity() -> Activation:
    return Activation("identity", nn.Identity, 1.0, _never, "never: it is linear")


def get_activation(name: str | Callable[..., Activation], **params) -> Activation:
    """Look an activation up by name (or take a factory) and build it with ``params``."""
    if callable(name):
        return name(**params)
    return call_with(ACTIVATIONS.get(name), params)
