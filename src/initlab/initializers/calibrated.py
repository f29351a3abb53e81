"""Data-dependent initializers: a rule, then a calibration on training data
(:mod:`initlab.initializers.calibration` does the measuring)."""

from __future__ import annotations

from dataclasses import dataclass

from initlab.config.errors import number, positive_int
from initlab.initializers.catalog import register
from initlab.initializers.fans import Rule
from initlab.initializers.rules import normal, variance_scaling
from initlab.initializers.structural import orthogonal


@dataclass(frozen=True)
class Calibration:
    """A data-dependent step after the rule: a method of :mod:`initlab.initializers.calibration`,
    its parameters, and how many training examples it measures on."""

    method: str  # a key of initlab.initializers.calibration.CALIBRATIONS
    params: dict
    batch_size: int


@dataclass(frozen=True)
class Calibrated:
    """What a data-dependent initializer's factory returns: the rule, then the calibration."""

    rule: Rule
    calibration: Calibration


@register
def lsuv(tol: float = 0.1, max_iter: int = 10, batch_size: int = 1000) -> Calibrated:
    """LSUV, Layer-Sequential Unit-Variance (Mishkin & Matas, 2016): an orthonormal pre-init
    (Saxe et al., 2013), then, layer by layer in forward order, the weights are scaled by
    1/√Var(output) until the variance of the layer's output on ``batch_size`` training examples
    is within ``tol`` of 1, at most ``max_iter`` times
    (:func:`initlab.initializers.calibration.lsuv`)."""
    tol = number("tol", tol, positive=True)
    max_iter = positive_int("max_iter", max_iter)
    calibration = Calibration(
        "lsuv", {"tol": tol, "max_iter": max_iter}, positive_int("batch_size", batch_size)
    )
    return Calibrated(orthogonal(), calibration)


@register
def data_dependent(std: float = 1.0, batch_size: int = 1000) -> Calibrated:
    """Krähenbühl et al. (2016), within-layer data-dependent init: a random N(0, std²/fan_in)
    draw, then per output unit a scale and shift so that its pre-activation on ``batch_size``
    training examples has mean 0 and variance 1
    (:func:`initlab.initializers.calibration.within_layer`). A layer without a bias (a batch norm
    follows it, which centres it) is only scaled."""
    std = number("std", std, positive=True)
    calibration = Calibration("within_layer", {}, positive_int("batch_size", batch_size))
    return Calibrated(variance_scaling(1.0, "fan_in", "normal", std), calibration)


@register
def dbn(
    epochs_per_layer: int = 5,
    lr: float = 0.01,
    k: int = 1,
    batch_size: int = 100,
    examples: int = 10000,
) -> Calibrated:
    """Deep-belief-net pretraining (Hinton, Osindero & Teh, 2006): small random weights
    N(0, 0.01²) (Hinton, 2010), then each hidden Linear layer trained greedily as an RBM by
    CD-``k`` on ``examples`` training examples, ``epochs_per_layer`` passes each, mini-batches of
    ``batch_size`` at learning rate ``lr`` (:func:`initlab.initializers.calibration.dbn`). MLPs
    only."""
    params = {
        "epochs": positive_int("epochs_per_layer", epochs_per_layer),
        "lr": number("lr", lr, positive=True),
        "k": positive_int("k", k),
        "batch_size": positive_int("batch_size", batch_size),
    }
    return Calibrated(
        normal(0.0, 0.01), Calibration("dbn", params, positive_int("examples", examples))
    )
