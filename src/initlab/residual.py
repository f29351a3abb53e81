"""Residual networks as a visible structure: a :class:`ResidualBlock` holds a ``branch`` and a
``shortcut``, so residual initializations can find "the last layer (or normalization) of each
branch"; :func:`resnet` is the CIFAR ResNet of He et al. (2016, "Deep residual learning for
image recognition", §4.2) built from them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from initlab.errors import ConfigError, positive_int

NORMS = ("batch", "none")


class ResidualBlock(nn.Module):
    """``activation(branch(x) + shortcut(x))``."""

    def __init__(self, branch: nn.Sequential, shortcut: nn.Module, activation: nn.Module):
        super().__init__()
        self.branch, self.shortcut, self.act = branch, shortcut, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.branch(x) + self.shortcut(x))


class PadShortcut(nn.Module):
    """He et al.'s option A: the identity, subsampled by ``stride`` and zero-padded with
    ``extra`` channels where a stage widens (no parameters)."""

    def __init__(self, stride: int, extra: int):
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[..., :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


def residual_blocks(net: nn.Module) -> Iterator[tuple[str, ResidualBlock]]:
    """``(path, block)`` for every residual block of ``net``, in registration order."""
    for path, m in net.named_modules():
        if isinstance(m, ResidualBlock):
            yield path, m


def _basic_block(
    c_in: int, c_out: int, stride: int, norm: str, activation: Callable[[], nn.Module]
) -> ResidualBlock:
    """conv 3×3 (stride) → norm → activation → conv 3×3 → norm, plus the shortcut."""
    bias = norm == "none"
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=bias)]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(c_out))
    layers += [activation(), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=bias)]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(c_out))
    shortcut = PadShortcut(stride, c_out - c_in) if stride > 1 or c_in != c_out else nn.Identity()
    return ResidualBlock(nn.Sequential(*layers), shortcut, activation())


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
    if len(in_shape) != 3:
        raise ConfigError(
            "name", "resnet", f"needs image input (C, H, W); the dataset gives {list(in_shape)}"
        )
    depth, width = positive_int("depth", depth), positive_int("width", width)
    if depth < 8 or (depth - 2) % 6:
        raise ConfigError("depth", depth, "must be 6n + 2 with n ≥ 1: 8, 14, 20, 32, 44, 56, …")
    if norm not in NORMS:
        raise ConfigError("norm", norm, f"must be one of {', '.join(NORMS)}")
    n = (depth - 2) // 6
    layers: list[nn.Module] = [nn.Conv2d(in_shape[0], width, 3, 1, 1, bias=norm == "none")]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(width))
    layers.append(activation())
    c = width
    for stage, c_out in enumerate((width, 2 * width, 4 * width)):
        for k in range(n):
            stride = 2 if stage > 0 and k == 0 else 1
            layers.append(_basic_block(c, c_out, stride, norm, activation))
            c = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)
