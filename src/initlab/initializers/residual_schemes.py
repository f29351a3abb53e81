"""Residual initializations: a rule for every weight block, and what the initialization does to
the residual branches (:class:`initlab.models.residual_blocks.ResidualBlock`) on top of it. A
:class:`Scheme` says it in four parts, each optional:

- :func:`prepare` — the structure it adds to the model (Fixup's scalar biases and multiplier,
  SkipInit's α: :class:`initlab.models.residual_blocks.Scalar`), applied where the model is built,
  so validation, the plan, the coverage and the diagnostics see it;
- :func:`adjust` — the draws it changes, per weight block, from the block's :class:`Placement`
  (Fixup's L^(−1/(2m−2)) scaling and zero layers, GPT-2's 1/√L residual projections, T-Fixup's
  scaling, ZerO's zero branch ends);
- after the fill, what it sets in each block (zero-γ), and every scalar at its start value
  (:func:`fill_scalars`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from initlab.config.errors import ConfigError, NotApplicable, number
from initlab.initializers.calibrated import Calibrated
from initlab.initializers.catalog import INITIALIZERS, register
from initlab.initializers.coverage import NORM_LAYERS
from initlab.initializers.fans import Draw, Fans, Rule, constant_draw, scaled
from initlab.initializers.rules import normal
from initlab.initializers.structural import Recurrent
from initlab.initializers.structural import zero as zero_rule
from initlab.initializers.weight_blocks import Block, is_weight_layer
from initlab.models.residual_blocks import ResidualBlock, Scalar, Scale, Shift, residual_blocks


@dataclass(frozen=True)
class Residual:
    """What a residual initializer's factory returns: the rule for every weight block, the name
    of its :class:`Scheme` (a key of :data:`SCHEMES`) and its scalar's start value, if any."""

    rule: Rule
    scheme: str
    start: float = 0.0


@dataclass(frozen=True)
class Placement:
    """Where a weight block sits among the residual branches, and what it is."""

    branches: int  # L: the residual branches of the net
    depth: int  # m: the weight layers of this block's branch (0: outside every branch)
    last: bool  # of the last weight layer of its branch (an attention's: its output projection)
    classifier: bool  # of the net's last weight layer, outside every branch
    input: bool  # outside every branch, before the first one in forward order (an embedding)
    part: str  # an attention's projection (q, k, v, out), an LSTM's gate, or ""
    embedding: bool  # of an nn.Embedding (an embedding table: its fan_in is its dimension)
    fans: Fans


# What a scheme does to one block's draw: the new draw, and whether the block's biases are 0.
Adjust = Callable[[Placement, Draw], tuple[Draw, bool]]
ZERO = constant_draw(0.0)
QKV = ("q", "k", "v")  # an attention's input projections: its output projection ends it


@dataclass(frozen=True)
class Scheme:
    required: bool  # a model without residual branches is refused
    norm: str | None = None  # "needed" in every branch, "refused" anywhere in the net, or None
    structure: Callable[[ResidualBlock, float], None] | None = None  # adds scalars to a block
    top_biases: bool = False  # Fixup's scalar biases before the stem activation and classifier
    adjust: Adjust | None = None
    min_depth: int = 1  # weight layers every branch needs
    after_fill: Callable[[ResidualBlock], None] | None = None
    made_for: str = "model=resnet"  # the built-in model it works on, as a refusal's hint
    # the reference recipe's learning-rate multiplier for every bias and added scalar (Fixup's
    # code: a tenth of the base rate), and whether its convolutions keep their biases
    slow_lr: float = 1.0
    conv_biases: bool = True


def last_norm(block: ResidualBlock) -> nn.Module | None:
    """The last normalization layer of the block's branch (``None``: the branch has none)."""
    norms = [m for m in block.branch.modules() if isinstance(m, NORM_LAYERS)]
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


def _fixup(p: Placement, d: Draw) -> tuple[Draw, bool]:
    """Zhang et al. (2019), §3 rules 1-2."""
    if p.last or p.classifier:
        return ZERO, True
    return (scaled(d, p.branches ** (-1 / (2 * p.depth - 2))) if p.depth else d), False


def _zero(p: Placement, d: Draw) -> tuple[Draw, bool]:
    return (ZERO, True) if p.last else (d, False)


def _gpt2(p: Placement, d: Draw) -> tuple[Draw, bool]:
    """Radford et al. (2019), §2.3: the residual projections (each branch's last layer) by
    1/√L, L = 2·layers (attention and MLP)."""
    return (scaled(d, p.branches**-0.5) if p.last else d), False


def _t_fixup(p: Placement, d: Draw) -> tuple[Draw, bool]:
    """Huang et al. (2020), §3.3, for an encoder of N = L/2 layers (the reference code's
    encoder, ``TransformerEncoderLayer.fixup_initialization``)."""
    n = p.branches / 2
    if p.embedding:  # N(0, d^(−1/2)), then (9N)^(−1/4)
        return Draw("normal", mean=0.0, std=p.fans.fan_in**-0.5 * (9 * n) ** -0.25), False
    if p.input:  # the patch embedding: the base draw, (9N)^(−1/4)
        return scaled(d, (9 * n) ** -0.25), False
    if not p.depth:
        return d, False
    if p.part in ("q", "k"):  # the code's Xavier gain 1/√2 for q and k, left unscaled
        return scaled(d, 2**-0.5), False
    return scaled(d, 0.67 * n**-0.25), False  # v, the output projection, the MLP


SCHEMES = {
    "zero_gamma": Scheme(required=True, norm="needed", after_fill=_zero_gamma),
    "fixup": Scheme(
        required=True,
        norm="refused",
        structure=_fixup_structure,
        top_biases=True,
        adjust=_fixup,
        min_depth=2,
        made_for="model=resnet model.norm=none",
        slow_lr=0.1,
        conv_biases=False,
    ),
    "skipinit": Scheme(required=True, structure=_skipinit_structure),
    "zero_hadamard": Scheme(required=False, adjust=_zero),
    "gpt2": Scheme(required=True, adjust=_gpt2, made_for="model=vit"),
    "t_fixup": Scheme(
        required=True, norm="refused", adjust=_t_fixup, made_for="model=vit model.norm=none"
    ),
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

    As in the authors' code, the convolutions have no biases (the scalar biases stand in for
    them) and every scalar and every bias trains at a tenth of the learning rate.
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
def zero_hadamard() -> Residual:
    """ZerO (Zhao, Schäfer & Anandkumar, 2022, :func:`~.structural.zero`; not ``zeros``, which
    never breaks symmetry) on every weight layer; in a residual net the last weight layer of
    every branch is 0 (the paper's ResNet), so every block starts as its shortcut. A model
    without residual branches is fine."""
    return Residual(zero_rule(), "zero_hadamard")


@register
def gpt2(std: float = 0.02) -> Residual:
    """GPT-2 (Radford et al., 2019, "Language models are unsupervised multitask learners", §2.3;
    GPT-1's N(0, 0.02²)): every weight N(0, ``std``²), and the residual projections (the last
    layer of every residual branch: the attention's output projection, the MLP's second Linear)
    N(0, (``std``/√L)²), L = 2·layers the residual branches (OpenAI's and Hugging Face's
    ``c_proj`` rule). Needs residual branches (``model=vit``, ``model=resnet``)."""
    return Residual(normal(0.0, std), "gpt2")


@register
def t_fixup(base: str = "xavier") -> Residual:
    """T-Fixup (Huang, Perez, Ba & Volkovs, 2020, "Improving transformer optimization through
    better initialization", §3.3 and its reference code), for an encoder of N layers (two
    residual branches each) without normalization (``model.norm=none``), trained without
    warm-up:

    - every weight by ``base`` (Xavier uniform); q and k projections times 1/√2 (the code's
      Xavier gain);
    - v, the attention's output projection and the MLP weights times 0.67·N^(−1/4);
    - an embedding table N(0, d^(−1/2)), and every input layer (outside the branches, before
      them: the patch embedding) times (9N)^(−1/4). The paper's encoder embeds tokens; for a
      ViT the same factor goes to the patch and position embeddings (an extrapolation: the
      paper has no vision model).
    """
    return Residual(_closed_form(base), "t_fixup")


def _branch_paths(net: nn.Module) -> list[str]:
    return [f"{p}.branch." if p else "branch." for p, _ in residual_blocks(net)]


def placements(net: nn.Module, blocks: list[Block]) -> list[Placement]:
    """Each block's :class:`Placement`; ``blocks`` in forward order."""
    prefixes = _branch_paths(net)
    modules = dict(net.named_modules())

    def branch_of(module: str) -> str | None:  # the innermost branch holding the module
        inside = [p for p in prefixes if module.startswith(p)]
        return max(inside, key=len) if inside else None

    branch = [branch_of(b.module) for b in blocks]
    layers: dict[str, list[str]] = {}  # branch -> its weight layers, in forward order
    for b, where in zip(blocks, branch, strict=True):
        if where is not None and b.module not in layers.setdefault(where, []):
            layers[where].append(b.module)
    first = next((k for k, where in enumerate(branch) if where is not None), len(blocks))
    last_layer = blocks[-1].module if blocks else None
    return [
        Placement(
            branches=len(prefixes),
            depth=len(layers.get(where, [])),
            last=where is not None and b.module == layers[where][-1] and b.gate not in QKV,
            classifier=where is None and b.module == last_layer,
            input=where is None and k < first,
            part=b.gate,
            embedding=isinstance(modules[b.module], (nn.Embedding, nn.EmbeddingBag)),
            fans=b.fans,
        )
        for k, (b, where) in enumerate(zip(blocks, branch, strict=True))
    ]


def check(
    name: str,
    scheme: str,
    net: nn.Module,
    blocks: list[Block] | None = None,
    places: list[Placement] | None = None,
) -> None:
    """Refuse, naming the initializer, a model its residual scheme cannot work on (with the
    blocks and their placements: also a branch too shallow for the scheme)."""
    s = SCHEMES[scheme]
    found = [block for _, block in residual_blocks(net)]
    if s.required and not found:
        raise NotApplicable(
            "name", name, f"works on residual branches, and this model has none: use {s.made_for}"
        )
    if s.norm == "needed" and any(last_norm(b) is None for b in found):
        raise NotApplicable(
            "name",
            name,
            "zeroes the last normalization of every residual branch, and this model's branches "
            "have none: use model.norm=batch",
        )
    if s.norm == "refused":
        for path, m in net.named_modules():
            if isinstance(m, NORM_LAYERS):
                raise NotApplicable(
                    "name",
                    name,
                    f"trains without normalization, and this model has a {type(m).__name__} "
                    f"(module {path!r}): use {s.made_for}",
                )
    if s.top_biases and any(not isinstance(b.branch, nn.Sequential) for b in found):
        raise NotApplicable(
            "name",
            name,
            "puts scalar biases between the layers of each "
            "branch, and needs every branch to be an nn.Sequential",
        )
    if s.min_depth > 1 and blocks is not None:
        for p, b in zip(places, blocks, strict=True):
            if 0 < p.depth < s.min_depth:
                raise NotApplicable(
                    "name",
                    name,
                    f"scales by L^(−1/(2m−2)), which needs m ≥ 2 weight layers in every branch; "
                    f"the branch of {b.module} has {p.depth}",
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
    if not s.conv_biases:  # the scalar biases stand in for them
        for m in net.modules():
            if isinstance(m, nn.modules.conv._ConvNd) and m.bias is not None:
                m.register_parameter("bias", None)
    net.initlab_prepared = scheme
    return net


def lr_multipliers(net: nn.Module) -> dict[str, float]:
    """The learning-rate multiplier of each parameter the net's residual scheme trains at its
    own rate (its reference recipe): Fixup's code trains every scalar and every bias at a tenth
    of the base rate (its optimizer's groups: ``'bias' in name`` or ``'scale' in name``).
    Empty for any other net."""
    scheme = getattr(net, "initlab_prepared", None)
    slow = SCHEMES[scheme].slow_lr if scheme in SCHEMES else 1.0
    if slow == 1.0:
        return {}
    found = {}
    for path, m in net.named_modules():
        prefix = f"{path}." if path else ""
        if isinstance(m, Scalar):
            found[f"{prefix}value"] = slow
        elif is_weight_layer(m) and isinstance(getattr(m, "bias", None), nn.Parameter):
            found[f"{prefix}bias"] = slow
    return found


def adjust(scheme: str, places: list[Placement], draws: list[Draw]) -> list[bool]:
    """Change ``draws`` (one per block, in place) as the scheme says; return, per block, whether
    its biases are 0 too."""
    step = SCHEMES[scheme].adjust
    if step is None:
        return [False] * len(places)
    zero_biases = []
    for k, p in enumerate(places):
        draws[k], zero_bias = step(p, draws[k])
        zero_biases.append(zero_bias)
    return zero_biases


@torch.no_grad()
def after_fill(scheme: str, net: nn.Module) -> None:
    step = SCHEMES[scheme].after_fill
    if step is not None:
        for _, block in residual_blocks(net):
            step(block)


@torch.no_grad()
def fill_scalars(net: nn.Module) -> None:
    """Every :class:`~initlab.models.residual_blocks.Scalar` at its start value."""
    for m in net.modules():
        if isinstance(m, Scalar):
            m.value.fill_(m.start)


def scalar_records(net: nn.Module) -> list[dict]:
    """Each scalar as it is, for the plan: its path, type, value and learning-rate
    multiplier."""
    slow = lr_multipliers(net)
    return [
        {
            "module": path,
            "type": type(m).__name__,
            "value": m.value.item(),
            "lr_mult": slow.get(f"{path}.value", 1.0),
        }
        for path, m in net.named_modules()
        if isinstance(m, Scalar)
    ]
