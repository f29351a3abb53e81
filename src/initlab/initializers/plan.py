"""The plan: per weight block, in forward order (``layerK``), the fans read from its layer and
the draws the initializer gives its weight and biases. It works on a model on the ``meta``
device, so validation costs nothing; :func:`initlab.initializers.fill.apply` carries it out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from torch import nn

from initlab.config.errors import ConfigError, NotApplicable
from initlab.initializers import coverage, residual_schemes
from initlab.initializers.fans import Draw, constant_draw
from initlab.initializers.forward_order import ordered_blocks
from initlab.initializers.initializer import Initializer
from initlab.initializers.weight_blocks import Bias, Block, blocks_of
from initlab.runtime.markdown import markdown_table

# Methods that build a matrix (or a conv's centre tap) rather than draw entries: a 3-way tensor
# (Bilinear) has no identity or centre tap.
SHAPED = ("identity", "delta_orthogonal", "zero")


@dataclass(frozen=True, kw_only=True)
class LayerPlan:
    """What the initializer does to one weight block; rows of the run's ``init_plan``."""

    layer: str  # layerK, K-th weight block from the input, from 1
    module: str  # the owning module's path in the net
    tensor: str  # the parameter (and rows) in that module, e.g. weight_hh_l0[64:128]
    kind: str  # e.g. Linear(784→256) or Conv2d(1→32, 3×3, groups=1)
    role: str  # weight | recurrent
    fan_in: int
    fan_out: int
    weight: Draw
    bias: Draw | None  # the first bias's draw (all of them: ``biases``)
    biases: tuple[tuple[Bias, Draw], ...] = ()
    block: Block | None = field(default=None, compare=False, repr=False)
    # Under a parametrization by width (μP; None under SP): the weight's role (input, hidden,
    # output, …), its width multiplier and its learning rate's multiplier.
    width_role: str | None = None
    width_mult: float | None = None
    lr_mult: float | None = None

    def row(self) -> dict:
        """Flat dict for tables: layer, module, tensor, fans, method, std, bound, gain, bias
        (and, under μP, the role, width multiplier and learning rate multiplier)."""
        w = self.weight
        bound = None if w.low is None else max(abs(w.low), abs(w.high))
        by_width = {}
        if self.width_role is not None:
            by_width = {"width_role": self.width_role, "width_mult": self.width_mult}
            by_width["lr_mult"] = self.lr_mult
        return {
            "layer": self.layer,
            "module": self.module,
            "tensor": self.tensor,
            "kind": self.kind,
            "role": self.role,
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "method": w.method,
            "mean": w.mean,
            "std": w.std,
            "bound": bound,
            "gain": w.gain,
            "k": w.k,
            "bias": describe_bias(self.bias),
            **by_width,
        }


def _check_applies(init: Initializer, blocks: list[Block]) -> None:
    """Refuse, by key, what the initializer sets and the model does not have."""
    recurrent = any(b.role == "recurrent" for b in blocks)
    hint = "use model=rnn (or a model with RNN/LSTM/GRU layers)"
    if init.needs_recurrent and not recurrent:
        what = "sets the hidden-to-hidden matrices of recurrent layers, and this model has none"
        raise NotApplicable("name", init.name, f"{what}: {hint}")
    if init.recurrent_option != "same" and not recurrent:
        raise ConfigError(
            "recurrent", init.recurrent_option, f"this model has no recurrent layer: {hint}"
        )
    forget = any(
        b.gate == "f" and any(x.tensor.startswith("bias_ih") for x in b.biases) for b in blocks
    )
    if init.forget_bias is not None and not forget:
        raise ConfigError(
            "forget_bias",
            init.forget_bias,
            "this model has no LSTM forget gate with a bias: use model=rnn model.cell=lstm",
        )


def bias_draw(setting: str | float | Draw, bias: Bias) -> Draw:
    """``init.bias`` for one bias: zeros, the layer type's torch default, a constant, or the
    draw a rule gave every bias (``init=mean_field``)."""
    if isinstance(setting, Draw):
        return setting
    if setting == "zeros":
        return constant_draw(0.0)
    if setting == "default":
        return bias.default
    return constant_draw(float(setting))


def describe_bias(draw: Draw | None) -> str:
    if draw is None:
        return "none"
    if draw.method == "constant":
        return f"constant {draw.value:g}"
    if draw.method == "normal":
        return f"N({draw.mean:g}, {draw.std:.4g}²)"
    return f"U(±{draw.high:.4g})"


def plan(
    init: Initializer, net: nn.Module, in_shape: Sequence[int] | None = None
) -> list[LayerPlan]:
    """Per weight block, ``layerK`` in forward order for an input of ``in_shape`` (registration
    order without it; :mod:`initlab.initializers.forward_order`): fans from the layer, and the draws
    for the weight and the biases.

    Raises :class:`ConfigError` where the rule cannot apply to a block, and for a parameter no
    rule sets unless ``init.uncovered`` keeps torch's default for it (as a run's validation
    does: a notebook's call is held to the same promise as the command line).
    """
    coverage.check(init.uncovered, net)
    blocks = ordered_blocks(net, in_shape)
    _check_applies(init, blocks)
    draws = []
    for block in blocks:
        draw = init.rule_for(block.role)(block.fans)
        draws.append(block.default if draw.method == "default" else draw)
    zero_biases = [False] * len(blocks)
    if init.residual is not None:
        places = residual_schemes.placements(net, blocks)
        residual_schemes.check(init.name, init.residual, net, blocks, places)
        zero_biases = residual_schemes.adjust(init.residual, places, draws)
    rows = []
    for k, (block, draw, zero_bias) in enumerate(zip(blocks, draws, zero_biases, strict=True), 1):
        if draw.method in SHAPED and block.layout == "bilinear":
            raise NotApplicable(
                "name",
                init.name,
                f"{draw.method} needs a matrix or a convolution; {block.kind} at "
                f"{block.module or '(the model)'} is a 3-way tensor",
            )
        biases = tuple((b, bias_draw(0.0 if zero_bias else init.bias, b)) for b in block.biases)
        if init.forget_bias is not None and block.gate == "f":  # an LSTM's forget gate
            biases = tuple(
                (b, constant_draw(init.forget_bias) if b.tensor.startswith("bias_ih") else d)
                for b, d in biases
            )
        rows.append(
            LayerPlan(
                layer=f"layer{k}",
                module=block.module,
                tensor=block.label,
                kind=block.kind,
                role=block.role,
                fan_in=block.fans.fan_in,
                fan_out=block.fans.fan_out,
                weight=draw,
                bias=biases[0][1] if biases else None,
                biases=biases,
                block=block,
            )
        )
    return rows if init.parametrization is None else init.parametrization(rows)


def layer_kind(layer: nn.Module) -> str:
    """How the calibration records name a single-block layer: ``Linear(784→256)``,
    ``Conv2d(1→32, 3×3, groups=1)``."""
    return blocks_of("", layer)[0].kind


TABLE_COLUMNS = (
    "layer",
    "module",  # the module path: what layerK is in this model
    "tensor",
    "kind",
    "fan_in",
    "fan_out",
    "method",
    "mean",
    "std",
    "bound",
    "gain",
    "k",
    "bias",
)


WIDTH_COLUMNS = ("width_role", "width_mult", "lr_mult")  # under μP


def plan_table(layers: list[LayerPlan]) -> str:
    """The plan as a markdown table (TensorBoard's text plugin renders it)."""
    rows = [lp.row() for lp in layers]
    columns = TABLE_COLUMNS
    if any(lp.width_role is not None for lp in layers):
        columns = (*columns, *WIDTH_COLUMNS)
    return markdown_table(columns, ([r[c] for c in columns] for r in rows))


def plan_records(layers: list[LayerPlan]) -> list[dict]:
    """The plan as JSON-ready records (weight and bias draws in full)."""
    return [
        {
            **lp.row(),
            "weight": asdict(lp.weight),
            "bias": asdict(lp.bias) if lp.bias else None,
            "biases": [{"tensor": b.tensor, "rows": b.rows, **asdict(d)} for b, d in lp.biases],
        }
        for lp in layers
    ]
