"""Every parametrized layer type as weight *blocks*: the matrices an initializer draws on their
own, with their fans read from the layer's own metadata (never guessed from a tensor's shape).

One block per weight for most layers; fused tensors are split the way the layer uses them:

========================  ==================================  =============================
layer                     blocks (rows of the stored tensor)  fan_in, fan_out per block
========================  ==================================  =============================
Linear(in, out)           weight (out, in)                    in, out
Bilinear(in1, in2, out)   weight (out, in1, in2)              in1·in2, out — a Linear on
                                                              the outer product x1⊗x2
Conv{1,2,3}d(in, out, k,  weight (out, in/g, *k)              in/g·∏k, out/g·∏k
groups=g)
ConvTranspose{1,2,3}d     weight (in, out/g, *k): drawn as    in/g·∏k, out/g·∏k — the same
(in, out, k, groups=g)    (out, in/g, *k), then laid back     connections as the Conv it
                                                              transposes, read the right way
                                                              round (torch's shape guess
                                                              swaps them)
Embedding(num, dim)       weight (num, dim)                   dim, num — Flax's ``Embed``
                                                              convention; a tied read-out
                                                              logits = h·Eᵀ is exactly a
                                                              Linear(dim → num) with these
                                                              fans
RNN/LSTM/GRU(in, H,       per layer and direction, per gate   in, H (input-to-hidden);
layers, proj)             (LSTM i f g o, GRU r z n, RNN       P, H (hidden-to-hidden, P = H
                          one): weight_ih rows, weight_hh     or proj); H, P (LSTM proj
                          rows; LSTM weight_hr                weight_hr)
RNNCell/LSTMCell/GRUCell  per gate: weight_ih, weight_hh      as above, one layer
MultiheadAttention(E,     q, k, v (rows of in_proj_weight,    E, E; kdim, E; vdim, E;
kdim, vdim)               or q/k/v_proj_weight), out_proj     E, E
========================  ==================================  =============================

The hidden-to-hidden blocks have role ``recurrent`` (``init.recurrent`` may give them their own
rule); all others ``weight``. Each block's biases (the matching rows of a fused bias, an
attention block's ``bias_k``/``bias_v``) follow ``init.bias``; ``bias: default`` is the layer
type's own torch default for that bias, as is ``init=default`` for the weights
(:attr:`Block.default`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from initlab.initializers.fans import Draw, Fans, constant_draw, uniform_draw


@dataclass(frozen=True)
class Bias:
    """A bias (or the rows of a fused one) that belongs to a block, and torch's default for it."""

    tensor: str  # the parameter's name in the owning module
    rows: tuple[int, int] | None
    default: Draw


@dataclass(frozen=True)
class Block:
    """One weight matrix drawn on its own: a whole layer weight, or a gate or projection block
    of a fused tensor."""

    module: str  # the owning module's path in the net
    tensor: str  # the parameter's name in that module: weight, weight_hh_l0, out_proj.weight
    rows: tuple[int, int] | None  # rows of the tensor's first dimension; None: all of it
    kind: str  # e.g. Linear(784→256), LSTM l0 hh gate f (64→64)
    fans: Fans
    layout: str  # matrix | conv | transposed_conv | bilinear: how the tensor maps to (units, …)
    groups: int
    role: str  # weight | recurrent
    default: Draw  # what torch's own initialization gives it
    biases: tuple[Bias, ...] = ()
    zero_rows: tuple[int, ...] = ()  # rows kept at 0 whatever the draw (an Embedding's padding)
    gate: str = ""  # its part of a fused layer: LSTM gates i f g o, GRU r z n, attention q k v out

    @property
    def label(self) -> str:
        """The tensor and rows, e.g. ``weight_hh_l0[64:128]``."""
        return self.tensor if self.rows is None else f"{self.tensor}[{self.rows[0]}:{self.rows[1]}]"

    def view(self, module: nn.Module) -> torch.Tensor:
        """The block as stored in ``module``'s parameter (a view: writes go to the model)."""
        return _rows(module.get_parameter(self.tensor), self.rows)

    def grad(self, module: nn.Module) -> torch.Tensor | None:
        g = module.get_parameter(self.tensor).grad
        return None if g is None else _rows(g, self.rows)

    def bias_views(self, module: nn.Module) -> list[tuple[Bias, torch.Tensor]]:
        return [(b, _rows(module.get_parameter(b.tensor), b.rows)) for b in self.biases]


def _rows(t: torch.Tensor, rows: tuple[int, int] | None) -> torch.Tensor:
    return t if rows is None else t[rows[0] : rows[1]]


# ----------------------------------------------------------------------------------------------
# Per layer type.


def _linear(path: str, m: nn.Linear) -> list[Block]:
    fans = Fans(m.in_features, m.out_features, m.out_features)
    default = uniform_draw(1 / math.sqrt(m.in_features))  # kaiming_uniform(a=√5)
    biases = () if m.bias is None else (Bias("bias", None, default),)
    kind = f"Linear({m.in_features}→{m.out_features})"
    return [Block(path, "weight", None, kind, fans, "matrix", 1, "weight", default, biases)]


def _bilinear(path: str, m: nn.Bilinear) -> list[Block]:
    fans = Fans(m.in1_features * m.in2_features, m.out_features, m.out_features)
    default = uniform_draw(1 / math.sqrt(m.in1_features))  # torch: bound 1/√in1
    biases = () if m.bias is None else (Bias("bias", None, default),)
    kind = f"Bilinear({m.in1_features}×{m.in2_features}→{m.out_features})"
    return [Block(path, "weight", None, kind, fans, "bilinear", 1, "weight", default, biases)]


def _taps(kernel_size) -> str:
    return "×".join(str(k) for k in kernel_size)


def _conv(path: str, m: nn.modules.conv._ConvNd) -> list[Block]:
    taps, g = math.prod(m.kernel_size), m.groups
    fans = Fans(m.in_channels // g * taps, m.out_channels // g * taps, m.out_channels)
    transposed = isinstance(m, nn.modules.conv._ConvTransposeNd)
    # torch guesses fan_in from the stored shape: size(1)·taps, which for a transposed conv is
    # out/g·taps; its default bound (weight and bias) is 1/√ of that.
    torch_fan_in = (m.out_channels if transposed else m.in_channels) // g * taps
    default = uniform_draw(1 / math.sqrt(torch_fan_in))
    biases = () if m.bias is None else (Bias("bias", None, default),)
    kind = (
        f"{type(m).__name__}({m.in_channels}→{m.out_channels}, {_taps(m.kernel_size)}, groups={g})"
    )
    layout = "transposed_conv" if transposed else "conv"
    return [Block(path, "weight", None, kind, fans, layout, g, "weight", default, biases)]


def _embedding(path: str, m: nn.Embedding | nn.EmbeddingBag) -> list[Block]:
    num, dim = m.num_embeddings, m.embedding_dim
    default = Draw("normal", mean=0.0, std=1.0)
    padding = getattr(m, "padding_idx", None)
    kind = f"{type(m).__name__}({num}→{dim}{'' if padding is None else f', padding_idx={padding}'})"
    zero_rows = () if padding is None else (padding,)  # torch: the padding row starts at 0
    fans = Fans(dim, num, num)
    return [Block(path, "weight", None, kind, fans, "matrix", 1, "weight", default, (), zero_rows)]


GATES = {"RNN_TANH": ("",), "RNN_RELU": ("",), "LSTM": tuple("ifgo"), "GRU": tuple("rzn")}


def _gate_blocks(
    path: str,
    owner: str,
    layer: str,
    suffix: str,
    gates: tuple[str, ...],
    hidden: int,
    inputs: int,
    recurrent_inputs: int,
    has_bias: bool,
) -> list[Block]:
    """The input-to-hidden then hidden-to-hidden blocks of one recurrent layer (one direction):
    one per gate, rows [k·H, (k+1)·H) of the fused tensors."""
    default = uniform_draw(1 / math.sqrt(hidden))  # torch: U(±1/√H) for every recurrent tensor
    blocks = []
    for which, fan_in, role in (("ih", inputs, "weight"), ("hh", recurrent_inputs, "recurrent")):
        for k, gate in enumerate(gates):
            rows = None if len(gates) == 1 else (k * hidden, (k + 1) * hidden)
            biases = (Bias(f"bias_{which}{suffix}", rows, default),) if has_bias else ()
            name = f"{owner} {layer}{' ' if layer else ''}{which}{f' gate {gate}' if gate else ''}"
            blocks.append(
                Block(
                    path,
                    f"weight_{which}{suffix}",
                    rows,
                    f"{name} ({fan_in}→{hidden})",
                    Fans(fan_in, hidden, hidden),
                    "matrix",
                    1,
                    role,
                    default,
                    biases,
                    gate=gate,
                )
            )
    return blocks


def _rnn(path: str, m: nn.RNNBase) -> list[Block]:
    gates, hidden = GATES[m.mode], m.hidden_size
    out = m.proj_size or hidden  # what one direction of a layer outputs (and feeds back)
    directions = ("", "_reverse") if m.bidirectional else ("",)
    blocks = []
    for layer in range(m.num_layers):
        inputs = m.input_size if layer == 0 else out * len(directions)
        for suffix in directions:
            name = f"l{layer}{suffix}"
            s = f"_{name}"
            blocks += _gate_blocks(
                path, type(m).__name__, name, s, gates, hidden, inputs, out, m.bias
            )
            if m.proj_size:  # LSTM projection h = W_hr·h': a Linear(H → proj) without bias
                blocks.append(
                    Block(
                        path,
                        f"weight_hr{s}",
                        None,
                        f"LSTM {name} hr ({hidden}→{m.proj_size})",
                        Fans(hidden, m.proj_size, m.proj_size),
                        "matrix",
                        1,
                        "weight",
                        uniform_draw(1 / math.sqrt(hidden)),
                    )
                )
    return blocks


CELL_GATES = {nn.LSTMCell: tuple("ifgo"), nn.GRUCell: tuple("rzn"), nn.RNNCell: ("",)}


def _cell(path: str, m: nn.RNNCellBase) -> list[Block]:
    h = m.hidden_size
    known = [g for kind, g in CELL_GATES.items() if isinstance(m, kind)]
    chunks = m.weight_ih.shape[0] // h  # another cell: as many gates as its fused rows hold
    gates = known[0] if known else ("",) if chunks == 1 else tuple(str(k) for k in range(chunks))
    return _gate_blocks(path, type(m).__name__, "", "", gates, h, m.input_size, h, m.bias)


def _attention(path: str, m: nn.MultiheadAttention) -> list[Block]:
    e = m.embed_dim
    fused = m._qkv_same_embed_dim
    in_bias = m.in_proj_bias is not None
    blocks = []
    for k, (name, fan_in, extra) in enumerate(
        (("q", e, None), ("k", m.kdim, m.bias_k), ("v", m.vdim, m.bias_v))
    ):
        # torch: xavier_uniform over the fused (3E, E) tensor, or over each separate one
        default = uniform_draw(math.sqrt(6 / (4 * e if fused else e + fan_in)))
        rows = (k * e, (k + 1) * e)
        biases = (Bias("in_proj_bias", rows, constant_draw(0.0)),) if in_bias else ()
        if extra is not None:  # add_bias_kv: torch draws xavier_normal on (1, 1, E)
            biases += (Bias(f"bias_{name}", None, Draw("normal", mean=0.0, std=1 / math.sqrt(e))),)
        blocks.append(
            Block(
                path,
                "in_proj_weight" if fused else f"{name}_proj_weight",
                rows if fused else None,
                f"MultiheadAttention {name} ({fan_in}→{e})",
                Fans(fan_in, e, e),
                "matrix",
                1,
                "weight",
                default,
                biases,
                gate=name,
            )
        )
    out = m.out_proj
    default = uniform_draw(1 / math.sqrt(e))  # a Linear's, from its constructor
    biases = () if out.bias is None else (Bias("out_proj.bias", None, constant_draw(0.0)),)
    blocks.append(
        Block(
            path,
            "out_proj.weight",
            None,
            f"MultiheadAttention out ({e}→{out.out_features})",
            Fans(e, out.out_features, out.out_features),
            "matrix",
            1,
            "weight",
            default,
            biases,
            gate="out",
        )
    )
    return blocks


# Most specific type first: a ConvTranspose is a _ConvNd, and an attention's out_proj a Linear.
LAYER_TYPES: tuple[tuple[type, Callable[[str, nn.Module], list[Block]]], ...] = (
    (nn.MultiheadAttention, _attention),
    (nn.RNNBase, _rnn),
    (nn.RNNCellBase, _cell),
    (nn.modules.conv._ConvNd, _conv),
    (nn.Bilinear, _bilinear),
    (nn.Linear, _linear),
    (nn.Embedding, _embedding),
    (nn.EmbeddingBag, _embedding),
)


def blocks_of(path: str, module: nn.Module) -> list[Block]:
    """The blocks ``module`` owns (``[]`` for a module without weights of its own)."""
    for kind, blocks in LAYER_TYPES:
        if isinstance(module, kind):
            return blocks(path, module)
    return []


def claimed(path: str, module: nn.Module) -> list[str]:
    """Submodules whose weights a block owner draws itself: an attention's ``out_proj`` (never
    called as a module; the attention uses its weight directly)."""
    return (
        [f"{path}.out_proj" if path else "out_proj"]
        if isinstance(module, nn.MultiheadAttention)
        else []
    )


def owned_parameters(blocks: list[Block]) -> set[str]:
    """Names (in their module) of the parameters the blocks and their biases set."""
    return {b.tensor for b in blocks} | {bias.tensor for b in blocks for bias in b.biases}


def is_weight_layer(module: nn.Module) -> bool:
    return any(isinstance(module, kind) for kind, _ in LAYER_TYPES)


def fans_of(layer: nn.Module) -> Fans:
    """The fans of a layer with one weight block (Linear, Conv, Embedding, …)."""
    blocks = blocks_of("", layer)
    if len(blocks) != 1:
        raise TypeError(
            f"{type(layer).__name__} has {len(blocks)} weight blocks: read each block's fans"
        )
    return blocks[0].fans
