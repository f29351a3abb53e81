"""Optimizers: name -> function of plain arguments returning ``params -> torch.optim.Optimizer``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import torch

from initlab.config.errors import ConfigError, number
from initlab.config.registry import Registry

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
OPTIMIZERS: Registry[Callable[..., OptimizerFactory]] = Registry("optimizer")


def _check(lr, weight_decay) -> None:
    number("lr", lr, positive=True)
    if number("weight_decay", weight_decay) < 0:
        raise ConfigError("weight_decay", weight_decay, "must be ≥ 0")


@OPTIMIZERS.register
def adam(lr: float = 1e-3, weight_decay: float = 0.0) -> OptimizerFactory:
    """Adam (Kingma & Ba, 2015); ``weight_decay`` adds an L2 penalty to the gradient."""
    _check(lr, weight_decay)
    return partial(torch.optim.Adam, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register
def sgd(lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> OptimizerFactory:
    """SGD with (heavy-ball) momentum; ``weight_decay`` is L2."""
    _check(lr, weight_decay)
    if (
        isinstance(momentum, bool)
        or not isinstance(momentum, (int, float))
        or not 0 <= momentum < 1
    ):
        raise ConfigError("momentum", momentum, "must be a number in [0, 1)")
    return partial(torch.optim.SGD, lr=lr, momentum=momentum, weight_decay=weight_decay)
