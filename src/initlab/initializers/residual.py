"""Residual initializations: a rule for every weight block, and what the initialization does to
the residual branches (:class:`initlab.residual.ResidualBlock`) on top of it. A :class:`Scheme`
says it in four parts, each optional:

- :func:`prepare` — the structure it adds to the model (Fixup's scalar biases and multiplier,
  SkipInit's α: :class:`initlab.residual.Scalar`), applied where the model is built, so
  validation, the plan, the coverage and the diagnostics see it;
- :func:`adjust` — the draws it changes, per weight block, from the block's :class:`Placement`
  (Fixup's L^(−1/(2m−2)) scaling; the zero last layer of each branch and the classifier);
- after the fill, what it sets in each block (zero-γ), and every scalar at its start value
  (:func:`fill_scalars`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from initlab.blocks import Block, is_weight_layer
from initlab.draw import Draw, Rule, constant_draw, scaled
from initlab.errors import ConfigError, number
from initlab.initializers.calibrated import Calibrated
from initlab.initializers.registry import INITIALIZERS, register
from initlab.initializers.structural import Recurrent
from initlab.initializers.structural import zero as zero_rule
from initlab.residual import ResidualBlock, Scalar, Scale, Shift, residual_blocks

NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


@dataclass(frozen=True)
class Residual:
    """What a residual initializer's factory returns: the rule for every weight block, the name
    of its :class:`Scheme` (a key of :data:`SCHEMES`) and its scalar's start value, if any."""

    rule: Rule
    scheme: str
    start: float = 0.0


@dataclass(frozen=True)
class Placement:
    """Where a weight block sits among the residual branches."""

    branches: int  # L: the residual branches of the net
    depth: int  # m: the weight layers of this block's branch (0: outside every branch)
    last: bool  # of the last weight layer of its branch
    classifier: bool  # of the net's last weight layer, outside every branch


@dataclass(frozen=True)
class Scheme:
    required: bool  # a model without residual branches is refused
    norm: str | None = None  # "needed" in every branch, "refused" anywhere in the net, or None
    structure: Callable[[ResidualBlock, float], None] | None = None  # adds scalars to a block
    top_biases: bool = False  # Fixup's scalar biases before the stem activation and classifier
    zeroed: Callable[[Placement], bool] | None = None  # weight blocks (and biases) set to 0
    factor: Callable[[Placement], float] | None = None  # scales the other blocks' draws
    after_fill: Callable[[ResidualBlock], None] | None = None


def last_norm(block: ResidualBlock) -> nn.Module | None:
    """The last normalization layer of the block's branch (``None``: the branch has none)."""
    norms = [m for m in block.branch.modules() if isinstance(m, NORMS)]
    return norms[-1] if norms else None


def _zero_gamma(block: ResidualBlock) -> None:
    last_norm(block).weight.data.zero_()


def _fixup_structure(block: ResidualBlock, start: float) -> None:
    """A scalar bias before every module of the branch, and a multiplier then a scalar bias at
    its end (Zhang et al., 2019, §3, rule 3; ``x + bias`` before each convolution and
    activation)."""
    for i in reversed(range(len(block.branch))):
        block.branch.insert(i, Shift(0.0))
    block.branch.append(Scale(start))
    block.branch.append(Shift(0.0))


def _skipinit_structure(block: ResidualBlock, start: float) -> None:
    """α at the end of the branch (De & Smith, 2020, §4)."""
    if isinstance(block.branch, nn.Sequential):
        block.branch.append(Scale(start))
    else:
        block.branch = nn.Sequential(block.branch, Scale(start))


SCHEMES = {
    "zero_gamma": Scheme(required=True, norm="needed", after_fill=_zero_gamma),
    "fixup": Scheme(
        required=True,
        norm="refused",
        structure=_fixup_structure,
        top_biases=True,
        zeroed=lambda p: p.last or p.classifier,
        factor=lambda p: p.branches ** (-1 / (2 * p.depth - 2)) if p.depth else 1.0,
    ),
    "skipinit": Scheme(required=True, structure=_skipinit_structure),
    "zero": Scheme(required=False, zeroed=lambda p: p.last),
}


def _closed_form(base: str) -> Rule:
    try:
        made = INITIALIZERS.get(base)()
    except ConfigError as err:
        raise ConfigError("base", base, err.reason) from None
    if isinstance(made, (Calibrated, Recurrent, Residual)):
        raise ConfigError("base", base, "must be a closed-form initializer (he, xavier, …)")
    return made


@register
def zero_gamma(base: str = "he") -> Residual:
    """Zero-γ (Goyal et al., 2017, "Accurate, large minibatch SGD: training ImageNet in 1 hour",
    §5.1): every weight by the closed-form initializer ``base`` (its defaults), and the γ of
    the last batch norm in every residual branch 0, so every residual block starts as its
    shortcut. Needs a model with residual blocks and batch norm (``model=resnet``)."""
    return Residual(_closed_form(base), "zero_gamma")


@register
def fixup(base: str = "he", scale: float = 1.0) -> Residual:
    """Fixup (Zhang, Dauphin & Ma, 2019, "Fixup initialization: residual learning without
    normalization", §3), for a net without normalization (``model.norm=none``):

    1. the last weight layer of every residual branch and the classifier are 0;
    2. every other layer by ``base`` (He et al., 2015), the ones inside a residual branch then
       scaled by L^(−1/(2m−2)), L the number of branches and m the weight layers in each;
    3. a scalar bias (0) before every module of each branch and before the net's stem
       activation and classifier, and a scalar multiplier (``scale``, 1) at each branch's end.
    """
    return Residual(_closed_form(base), "fixup", number("scale", scale))


@register
def skipinit(base: str = "he", alpha: float = 0.0) -> Residual:
    """SkipInit (De & Smith, 2020, "Batch normalization biases residual blocks towards the
    identity function in deep networks", §4): a learnable scalar α (``alpha``, 0) at the end of
    every residual branch, so every block starts as its shortcut, with or without
    normalization; every weight by ``base``."""
    return Residual(_closed_form(base), "skipinit", number("alpha", alpha))


@register
def zero() -> Residual:
    """ZerO (Zhao, Schäfer & Anandkumar, 2022, :func:`~.structural.zero`) on every weight layer;
    in a residual net the last weight layer of every branch is 0 (the paper's ResNet), so every
    block starts as its shortcut. A model without residual branches is fine."""
    return Residual(zero_rule(), "zero")


def _branch_paths(net: nn.Module) -> list[str]:
    return [f"{p}.branch." if p else "branch." for p, _ in residual_blocks(net)]


def placements(net: nn.Module, blocks: list[Block]) -> list[Placement]:
    """Each block's :class:`Placement`; ``blocks`` in forward order."""
    prefixes = _branch_paths(net)

    def branch_of(module: str) -> str | None:  # the innermost branch holding the module
        inside = [p for p in prefixes if module.startswith(p)]
        return max(inside, key=len) if inside else None

    layers: dict[str, list[str]] = {}  # branch -> its weight layers, in forward order
    for b in blocks:
        branch = branch_of(b.module)
        if branch is not None and b.module not in layers.setdefault(branch, []):
            layers[branch].append(b.module)
    last_layer = blocks[-1].module if blocks else None
    result = []
    for b in blocks:
        branch = branch_of(b.module)
        in_branch = layers.get(branch, [])
        result.append(
            Placement(
                len(prefixes),
                len(in_branch),
                bool(in_branch) and b.module == in_branch[-1],
                branch is None and b.module == last_layer,
            )
        )
    return result


def check(name: str, scheme: str, net: nn.Module, blocks: list[Block] | None = None) -> None:
    """Refuse, naming the initializer, a model its residual scheme cannot work on."""
    s = SCHEMES[scheme]
    found = [block for _, block in residual_blocks(net)]
    if s.required and not found:
        raise ConfigError(
            "name", name, "works on residual branches, and this model has none: use model=resnet"
        )
    if s.norm == "needed" and any(last_norm(b) is None for b in found):
        raise ConfigError(
            "name",
            name,
            "zeroes the last normalization of every residual branch, and this model's branches "
            "have none: use model.norm=batch",
        )
    if s.norm == "refused":
        for path, m in net.named_modules():
            if isinstance(m, NORMS):
                raise ConfigError(
                    "name",
                    name,
                    f"trains without normalization (its scalar biases and multipliers take its "
                    f"place), and this model has {type(m).__name__} at {path}: use "
                    "model.norm=none",
                )
    if s.structure is _fixup_structure and any(
        not isinstance(b.branch, nn.Sequential) for b in found
    ):
        raise ConfigError(
            "name",
            name,
            "puts scalar biases between the layers of each "
            "branch, and needs every branch to be an nn.Sequential",
        )
    if s.factor is not None and blocks is not None:
        for p, b in zip(placements(net, blocks), blocks, strict=True):
            if p.depth == 1:
                raise ConfigError(
                    "name",
                    name,
                    f"scales by L^(−1/(2m−2)), which needs m ≥ 2 weight layers in every branch; "
                    f"the branch of {b.module} has one",
                )


def prepare(init_name: str, scheme: str, start: float, net: nn.Module) -> nn.Module:
    """Add the scheme's structure to ``net`` (in place; once) and return it. Raises
    :class:`ConfigError` for a model the scheme cannot work on."""
    check(init_name, scheme, net)
    s = SCHEMES[scheme]
    if s.structure is None or getattr(net, "initlab_prepared", None) == scheme:
        return net
    blocks = [block for _, block in residual_blocks(net)]
    for block in blocks:
        s.structure(block, start)
    if s.top_biases and isinstance(net, nn.Sequential):
        activation = type(blocks[0].act)
        weights = [i for i, m in enumerate(net) if is_weight_layer(m)]
        before = {i for i, m in enumerate(net) if type(m) is activation} | set(weights[-1:])
        for i in sorted(before, reverse=True):
            net.insert(i, Shift(0.0))
    net.initlab_prepared = scheme
    return net


def adjust(scheme: str, net: nn.Module, blocks: list[Block], draws: list[Draw]) -> list[bool]:
    """Change ``draws`` (one per block, in place) as the scheme says; return, per block, whether
    its biases are 0 too."""
    s = SCHEMES[scheme]
    zero_biases = [False] * len(blocks)
    if s.zeroed is None and s.factor is None:
        return zero_biases
    for k, p in enumerate(placements(net, blocks)):
        if s.zeroed is not None and s.zeroed(p):
            draws[k], zero_biases[k] = constant_draw(0.0), True
        elif s.factor is not None:
            draws[k] = scaled(draws[k], s.factor(p))
    return zero_biases


@torch.no_grad()
def after_fill(scheme: str, net: nn.Module) -> None:
    step = SCHEMES[scheme].after_fill
    if step is not None:
        for _, block in residual_blocks(net):
            step(block)


@torch.no_grad()
def fill_scalars(net: nn.Module) -> None:
    """Every :class:`~initlab.residual.Scalar` at its start value."""
    for m in net.modules():
        if isinstance(m, Scalar):
            m.value.fill_(m.start)


def scalar_records(net: nn.Module) -> list[dict]:
    """Each scalar as it is, for the plan: its path, type and value."""
    return [
        {"module": path, "type": type(m).__name__, "value": m.value.item()}
        for path, m in net.named_modules()
        if isinstance(m, Scalar)
    ]
