"""Residual initializations: a rule for every weight block, and what is done to each residual
branch (:class:`initlab.residual.ResidualBlock`) on top of it."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from initlab.draw import Rule
from initlab.errors import ConfigError
from initlab.initializers.calibrated import Calibrated
from initlab.initializers.registry import INITIALIZERS, register
from initlab.initializers.structural import Recurrent
from initlab.residual import ResidualBlock, residual_blocks


@dataclass(frozen=True)
class Residual:
    """What a residual initializer's factory returns: the rule for every weight block, and the
    name of what it does to every residual branch (a key of :data:`BRANCH_STEPS`)."""

    rule: Rule
    branch: str


def last_norm(block: ResidualBlock) -> nn.Module | None:
    """The last normalization layer of the block's branch (``None``: the branch has none)."""
    norms = [m for m in block.branch.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    return norms[-1] if norms else None


def _zero_gamma(block: ResidualBlock) -> None:
    norm = last_norm(block)
    norm.weight.data.zero_()


BRANCH_STEPS = {"zero_gamma": _zero_gamma}


@register
def zero_gamma(base: str = "he") -> Residual:
    """Zero-γ (Goyal et al., 2017, "Accurate, large minibatch SGD: training ImageNet in 1 hour",
    §5.1): every weight by the closed-form initializer ``base`` (its defaults), and the γ of
    the last batch norm in every residual branch 0, so every residual block starts as its
    shortcut. Needs a model with residual blocks and batch norm (``model=resnet``)."""
    try:
        made = INITIALIZERS.get(base)()
    except ConfigError as err:
        raise ConfigError("base", base, err.reason) from None
    if isinstance(made, (Calibrated, Recurrent, Residual)):
        raise ConfigError("base", base, "must be a closed-form initializer (he, xavier, …)")
    return Residual(made, "zero_gamma")


def check(name: str, branch: str, net: nn.Module) -> None:
    """Refuse, naming the initializer, a model whose residual branches it cannot work on."""
    blocks = [block for _, block in residual_blocks(net)]
    if not blocks:
        raise ConfigError(
            "name", name, "works on residual branches, and this model has none: use model=resnet"
        )
    if branch == "zero_gamma" and any(last_norm(b) is None for b in blocks):
        raise ConfigError(
            "name",
            name,
            "zeroes the last normalization of every residual branch, and this model's branches "
            "have none: use model.norm=batch",
        )


def apply_branch_steps(branch: str, net: nn.Module) -> None:
    for _, block in residual_blocks(net):
        BRANCH_STEPS[branch](block)
