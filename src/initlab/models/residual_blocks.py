"""Residual networks as a visible structure: a :class:`ResidualBlock` holds a ``branch`` and a
``shortcut``, so residual initializations can find "the last layer (or normalization) of each
branch"; :func:`basic_block` is the block of He et al.'s CIFAR ResNet (2016, "Deep residual
learning for image recognition", §4.2; ``model=resnet``). :class:`Shift` and :class:`Scale` are the
learnable scalars some residual initializations add to a branch (Fixup's biases and multiplier,
SkipInit's α): part of the model once the initializer is chosen."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn


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


class Scalar(nn.Module):
    """One learnable scalar, ``value``, that a residual initialization adds to the model; the
    initializer sets it to ``start``."""

    def __init__(self, start: float):
        super().__init__()
        self.start = float(start)
        self.value = nn.Parameter(torch.empty(()))

    def extra_repr(self) -> str:
        return f"start={self.start:g}"


class Shift(Scalar):
    """``x + value``: Fixup's scalar bias."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.value


class Scale(Scalar):
    """``x · value``: Fixup's multiplier, SkipInit's α."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.value


def residual_blocks(net: nn.Module) -> Iterator[tuple[str, ResidualBlock]]:
    """``(path, block)`` for every residual block of ``net``, in registration order."""
    for path, m in net.named_modules():
        if isinstance(m, ResidualBlock):
            yield path, m


def basic_block(
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
