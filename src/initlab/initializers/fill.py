"""Carry a plan out: fill every block from one ``torch.Generator`` seeded by ``seed``, through
``torch.nn.init`` wherever torch has the method. Same seed, same model: bit-identical weights.

Each draw method has one filling function in :data:`FILLS`. A block is filled in its
*canonical* layout, (units, fan_in/taps…, *kernel): the stored tensor itself for every layer but
a transposed convolution, whose (in, out/g, *k) weight is drawn as the (out, in/g, *k) kernel
of the convolution it transposes and laid back, so that rows are units for every method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from initlab.initializers import coverage, residual_schemes
from initlab.initializers.fans import Draw
from initlab.initializers.initializer import Initializer
from initlab.initializers.plan import LayerPlan, plan
from initlab.initializers.structural import zero_matrix
from initlab.initializers.weight_blocks import Block


def _normal(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    nn.init.normal_(t, d.mean, d.std, generator=g)


def _uniform(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    nn.init.uniform_(t, d.low, d.high, generator=g)


def _truncated_normal(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    sigma = (d.high - d.low) / 4  # the parent normal's std: cut at ±2σ
    nn.init.trunc_normal_(t, d.mean, sigma, d.low, d.high, generator=g)


def _constant(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    nn.init.constant_(t, d.value)


def _orthogonal(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    nn.init.orthogonal_(t, gain=d.gain, generator=g)


def _sparse(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    """(units, fan_in) view: choose k inputs per unit, fill them from N(0, std²)."""
    flat = t.view(t.shape[0], -1)
    flat.zero_()
    std = d.std * math.sqrt(flat.shape[1] / d.k)  # back from the per-entry std
    for row in flat:
        idx = torch.randperm(flat.shape[1], generator=g)[: d.k]
        row[idx] = torch.randn(d.k, generator=g, dtype=t.dtype) * std


def _identity(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    """eye for a matrix; dirac (a one at the centre tap of channel i → i, per group) for a
    convolution of any dimension; times ``gain`` where the draw has one (IRNN's scaled
    identity)."""
    if t.ndim == 2:
        nn.init.eye_(t)
    else:
        nn.init.dirac_(t, groups=block.groups)
    if d.gain is not None:
        t.mul_(d.gain)


def _centre(t: torch.Tensor, d: Draw, g: torch.Generator, block: Block) -> None:
    """A matrix (orthogonal × gain, or ZerO's) for a matrix block; for a convolution, the same
    at the centre tap of every group, every other tap zero."""
    if t.ndim == 2:
        _centre_matrix(t, d, g)
        return
    t.zero_()
    per_group = t.shape[0] // block.groups
    centre = tuple(s // 2 for s in t.shape[2:])
    for k in range(block.groups):
        _centre_matrix(t[(slice(k * per_group, (k + 1) * per_group), slice(None), *centre)], d, g)


def _centre_matrix(t: torch.Tensor, d: Draw, g: torch.Generator) -> None:
    if d.method == "zero":
        t.copy_(zero_matrix(*t.shape))
    else:
        t.copy_(nn.init.orthogonal_(torch.empty(t.shape), d.gain, generator=g))


Fill = Callable[[torch.Tensor, Draw, torch.Generator, Block], None]
FILLS: dict[str, Fill] = {
    "normal": _normal,
    "uniform": _uniform,
    "truncated_normal": _truncated_normal,
    "constant": _constant,
    "orthogonal": _orthogonal,
    "sparse": _sparse,
    "identity": _identity,
    "delta_orthogonal": _centre,
    "zero": _centre,
}


def _canonical(block: Block, stored: torch.Tensor) -> torch.Tensor:
    """The block as (units, …): a transposed conv's (in, out/g, *k) as (out, in/g, *k)."""
    if block.layout != "transposed_conv":
        return stored
    g = block.groups
    i, o, k = stored.shape[0], stored.shape[1] * g, stored.shape[2:]
    return stored.reshape(g, i // g, o // g, *k).transpose(1, 2).reshape(o, i // g, *k)


def _stored(block: Block, canonical: torch.Tensor) -> torch.Tensor:
    g = block.groups
    o, i, k = canonical.shape[0], canonical.shape[1] * g, canonical.shape[2:]
    return canonical.reshape(g, o // g, i // g, *k).transpose(1, 2).reshape(i, o // g, *k)


def fill_block(block: Block, stored: torch.Tensor, draw: Draw, generator: torch.Generator) -> None:
    """Fill ``stored`` (the block's view of its parameter) with ``draw``."""
    t = _canonical(block, stored)
    FILLS[draw.method](t, draw, generator, block)
    if t is not stored:
        stored.copy_(_stored(block, t))
    for row in block.zero_rows:
        stored[row] = 0


@torch.no_grad()
def apply(
    init: Initializer, net: nn.Module, seed: int, in_shape: Sequence[int] | None = None
) -> list[LayerPlan]:
    """Initialise every weight block of ``net`` in place from one generator seeded by ``seed``
    (``layerK`` as :func:`~initlab.initializers.plan.plan` numbers them for ``in_shape``), then
    every normalization layer to the identity transform, every residual scalar to its start
    value, then what a residual initializer does to every residual branch (zero-γ). A residual
    initializer's structure is added first if the net lacks it (:meth:`Initializer.prepare`).

    A parameter no rule sets is refused (:class:`ConfigError`, key ``uncovered``) before any
    tensor is filled, unless ``init.uncovered`` keeps torch's default for it.

    Blocks are filled in order, weight then biases, so the same seed and model give bit-identical
    weights. The generator lives on the CPU: call this before moving the net (Lightning's
    ``setup`` runs before the model is moved), so a seed means the same weights on every device.
    """
    init.prepare(net)  # a no-op for a net built by the run (its builder prepared it)
    layers = plan(init, net, in_shape)
    generator = torch.Generator().manual_seed(seed)
    modules = dict(net.named_modules())
    for lp in layers:
        module = modules[lp.module]
        fill_block(lp.block, lp.block.view(module), lp.weight, generator)
        for (_, draw), (_, t) in zip(lp.biases, lp.block.bias_views(module), strict=True):
            FILLS[draw.method](t, draw, generator, lp.block)
    coverage.fill_norms(net)
    residual_schemes.fill_scalars(net)
    if init.residual is not None:
        residual_schemes.after_fill(init.residual, net)
    return layers
