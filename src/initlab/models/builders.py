"""Model builders: plain functions of plain arguments returning a module (an ``nn.Sequential``
for the feed-forward ones).

Layers are registered in the order the forward pass reaches them (``layerK``, the K-th weight
block, follows the forward pass in any case: :mod:`initlab.initializers.forward_order`). With
``batch_norm`` the layer before it has no bias (the norm's shift replaces it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from hydra.utils import get_object
from torch import nn

from initlab.config.errors import ConfigError, choice, positive_int
from initlab.config.registry import Registry
from initlab.models.residual_blocks import basic_block
from initlab.models.transformer_blocks import MeanTokens, Patches, Positions, encoder_layer

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def _check_common(batch_norm, dropout) -> None:
    if not isinstance(batch_norm, bool):
        raise ConfigError("batch_norm", batch_norm, "must be true or false")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError("dropout", dropout, "must be a number in [0, 1)")


def _image(name: str, in_shape: Sequence[int]) -> None:
    if len(in_shape) != 3:
        raise ConfigError(
            "name", name, f"needs image input (C, H, W); the dataset gives {list(in_shape)}"
        )


def _check_widths(key: str, widths) -> list[int]:
    if (
        isinstance(widths, (int, str))  # a string is a Sequence too: 'abc' is no list
        or not isinstance(widths, Sequence)
        or len(widths) == 0
    ):
        raise ConfigError(key, widths, "must be a non-empty list of positive integers")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ConfigError(key, list(widths), "must be a non-empty list of positive integers")
    return list(widths)


@MODELS.register
def mlp(
    in_shape: Sequence[int],
    num_classes: int,
    activation: Callable[[], nn.Module],
    hidden: Sequence[int] = (256, 256),
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """Flatten → [Linear → (BatchNorm1d) → activation → (Dropout)] per hidden width → Linear.

    The default is the 784-256-256-10 net of the Udacity and Deep Learning from Scratch studies.
    """
    hidden = _check_widths("hidden", hidden)
    _check_common(batch_norm, dropout)
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(in_shape)  # (B, *in_shape) -> (B, width)
    for h in hidden:
        layers.append(nn.Linear(width, h, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(activation())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@MODELS.register
def deep_mlp(
    in_shape: Sequence[int],
    num_classes: int,
    activation: Callable[[], nn.Module],
    depth: int = 10,
    width: int = 256,
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """An MLP of ``depth`` hidden layers of ``width`` units: where bad scales compound."""
    depth, width = positive_int("depth", depth), positive_int("width", width)
    return mlp(in_shape, num_classes, activation, [width] * depth, batch_norm, dropout)


@MODELS.register
def cnn(
    in_shape: Sequence[int],
    num_classes: int,
    activation: Callable[[], nn.Module],
    channels: Sequence[int] = (32, 64),
    hidden: int = 128,
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """[Conv 3×3 (same padding) → (BatchNorm2d) → activation → MaxPool 2] per entry of
    ``channels`` → Flatten → Linear(hidden) → activation → (Dropout) → Linear(num_classes).

    Shapes for FashionMNIST: (B,1,28,28) → (B,32,14,14) → (B,64,7,7) → (B,3136) → (B,128) → (B,10).
    """
    _image("cnn", in_shape)
    channels = _check_widths("channels", channels)
    hidden = positive_int("hidden", hidden)
    _check_common(batch_norm, dropout)
    c, h, w = in_shape
    layers: list[nn.Module] = []
    for out in channels:
        if h < 2 or w < 2:
            raise ConfigError(
                "channels", list(channels), f"too many pooling stages for a {list(in_shape)} input"
            )
        layers.append(nn.Conv2d(c, out, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers += [activation(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(hidden))
    layers.append(activation())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, num_classes))
    return nn.Sequential(*layers)


NORMS = ("batch", "none")


@MODELS.register
def resnet(
    in_shape: Sequence[int],
    num_classes: int,
    activation: Callable[[], nn.Module],
    depth: int = 20,
    width: int = 16,
    norm: str = "batch",
) -> nn.Sequential:
    """The CIFAR ResNet (He et al., 2016, §4.2): conv 3×3 → (norm) → activation, three stages of
    n = (depth − 2)/6 basic blocks of ``width``, 2·``width`` and 4·``width`` channels (the
    second and third start with stride 2: 28×28 → 14 → 7), global average pooling, Linear.
    ``depth`` = 6n + 2 counts the weight layers: 8, 14, 20, 32, 44, 56, 110, …; ``norm``:
    ``batch`` or ``none`` (convolutions then get biases)."""
    _image("resnet", in_shape)
    depth, width = positive_int("depth", depth), positive_int("width", width)
    if depth < 8 or (depth - 2) % 6:
        raise ConfigError("depth", depth, "must be 6n + 2 with n ≥ 1: 8, 14, 20, 32, 44, 56, …")
    choice("norm", norm, NORMS)
    n = (depth - 2) // 6
    layers: list[nn.Module] = [nn.Conv2d(in_shape[0], width, 3, 1, 1, bias=norm == "none")]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(width))
    layers.append(activation())
    c = width
    for stage, c_out in enumerate((width, 2 * width, 4 * width)):
        for k in range(n):
            stride = 2 if stage > 0 and k == 0 else 1
            layers.append(basic_block(c, c_out, stride, norm, activation))
            c = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


NORM_POSITIONS = ("pre", "post")
TRANSFORMER_NORMS = ("layer", "none")


@MODELS.register
def vit(
    in_shape: Sequence[int],
    num_classes: int,
    activation: Callable[[], nn.Module],
    patch: int = 4,
    depth: int = 6,
    width: int = 64,
    heads: int = 4,
    mlp_ratio: int = 2,
    norm: str = "layer",
    norm_position: str = "pre",
) -> nn.Sequential:
    """A small patch transformer (Dosovitskiy et al., 2020): ``patch``×``patch`` patches
    projected to ``width`` (28×28 → 49 tokens, 32×32 → 64, 8×8 → 4 with the default 4), a
    learned position embedding, ``depth`` encoder layers (self-attention with ``heads`` heads,
    an MLP of ``mlp_ratio``·``width`` units with the chosen activation: ``activation=gelu`` as
    in the paper), ``norm`` ``layer`` or ``none``, at ``norm_position`` ``pre`` (with a final
    LayerNorm) or ``post``, the mean over the tokens, Linear."""
    _image("vit", in_shape)
    patch, depth, width = (
        positive_int(k, v) for k, v in (("patch", patch), ("depth", depth), ("width", width))
    )
    heads, mlp_ratio = positive_int("heads", heads), positive_int("mlp_ratio", mlp_ratio)
    c, h, w = in_shape
    if h % patch or w % patch:
        raise ConfigError("patch", patch, f"must divide the {h}×{w} image")
    if width % heads:
        raise ConfigError("heads", heads, f"must divide width={width}")
    choice("norm", norm, TRANSFORMER_NORMS)
    choice("norm_position", norm_position, NORM_POSITIONS)
    layers: list[nn.Module] = [
        Patches(c, width, patch),
        Positions((h // patch) * (w // patch), width),
    ]
    for _ in range(depth):
        layers += encoder_layer(width, heads, mlp_ratio * width, norm, norm_position, activation)
    if norm == "layer" and norm_position == "pre":
        layers.append(nn.LayerNorm(width))
    layers += [MeanTokens(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


@MODELS.register
def custom(target: str) -> Callable[..., nn.Module]:
    """``model=custom model._target_=my_pkg.nets.MyNet``: a model class (or builder function)
    from your own package, without editing initlab. It is called like the builders here,
    ``target(in_shape, num_classes, activation, **params)`` with the rest of the ``model`` keys
    as ``params`` (add them with ``+model.key=value``), and validated the same way: on the meta
    device, its keys against its signature, every parameter covered by a rule."""
    if not isinstance(target, str) or not target.strip():
        raise ConfigError("_target_", target, "must name a class or function: my_pkg.nets.MyNet")
    try:
        found = get_object(target)
    except Exception as err:  # ImportError, AttributeError, …: what Hydra says, on one line
        reason = " ".join(str(err).split())
        raise ConfigError("_target_", target, f"cannot import it ({reason})") from None
    if not callable(found):
        raise ConfigError("_target_", target, "is not a class or function")
    return found


class RowRNN(nn.Module):
    """Reads an image row by row: (B, C, H, W) → H steps of C·W features → a recurrent layer →
    its last step's output → Linear(num_classes)."""

    def __init__(self, recurrent: nn.RNNBase, num_classes: int):
        super().__init__()
        self.rnn = recurrent
        self.head = nn.Linear(recurrent.hidden_size, num_classes)

    def forward(self, x):
        out, _ = self.rnn(x.transpose(1, 2).flatten(2))  # (B, H, C·W)
        return self.head(out[:, -1])


CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
RNN_NONLINEARITIES = {nn.Tanh: "tanh", nn.ReLU: "relu"}  # what nn.RNN can compute


@MODELS.register
def rnn(
    in_shape: Sequence[int],
    num_classes: int,
    activation: Callable[[], nn.Module],
    cell: str = "rnn",
    hidden: int = 128,
    layers: int = 1,
) -> RowRNN:
    """A recurrent classifier over the rows of an image: 28 steps of 28 pixels for FashionMNIST,
    8 of 8 for digits, 32 of 96 (3 channels × 32) for CIFAR-10. ``cell``: ``rnn`` (Elman, with
    the chosen activation, which must be ``relu`` or ``tanh``), ``lstm`` or ``gru`` (their own
    sigmoid/tanh gates; the activation is not used); ``layers`` stacked, ``hidden`` units each."""
    _image("rnn", in_shape)
    choice("cell", cell, CELLS)
    hidden, layers = positive_int("hidden", hidden), positive_int("layers", layers)
    c, _, w = in_shape
    kwargs = {"num_layers": layers, "batch_first": True}
    if cell == "rnn":
        kind = type(activation())
        if kind not in RNN_NONLINEARITIES:
            raise ConfigError(
                "cell",
                cell,
                f"nn.RNN computes tanh or relu, not {kind.__name__}: use activation=relu or "
                "tanh, or cell=lstm or gru",
            )
        kwargs["nonlinearity"] = RNN_NONLINEARITIES[kind]
    return RowRNN(CELLS[cell](c * w, hidden, **kwargs), num_classes)
