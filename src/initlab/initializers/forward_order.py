"""The network's weight layers in the order the forward pass reaches them: the one definition of
``layerK`` for the init plan, the diagnostics and the calibrations.

Registration order is what ``net.modules()`` gives, and a model may register a residual
block's shortcut before its branch, or a head before its body; only a forward pass knows the
order the input meets the layers. :func:`forward_order` runs that pass on a ``meta``-device
shadow of the net (shapes only: no memory, no compute, no effect on the net's own tensors,
batch-norm statistics or RNG) with forward hooks on every module, and names each module by its
path, so the answer holds for the net on any device. A layer the pass never reaches keeps its
place after the reached ones, in registration order.

A weight layer is any module that owns weight blocks (:mod:`initlab.initializers.weight_blocks`); a
layer with several blocks (a recurrent layer's gates, an attention's q, k, v and output projections)
gives them in its own fixed order at the point the pass reaches it. :func:`ordered_blocks` numbers
them: block K is ``layerK``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from initlab.initializers.weight_blocks import Block, blocks_of, claimed, is_weight_layer


@dataclass(frozen=True)
class Trace:
    """One forward pass: the weight layers in the order it reached them, and every module call
    in order (paths, from ``net.named_modules()``)."""

    layers: list[tuple[str, nn.Module]]  # (path, the net's own module), layer1 first
    calls: list[str]  # the path of each module call, in order


def _meta_shadow(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose parameters and buffers live on the meta device (no copy of the
    data is made) and which carries none of the net's hooks."""
    memo = {}
    for t in [*net.parameters(), *net.buffers()]:
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta
    shadow = copy.deepcopy(net, memo)
    for m in shadow.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
    return shadow.eval()


def trace(net: nn.Module, in_shape: Sequence[int]) -> Trace:
    """Run one forward pass of a batch of two ``in_shape`` inputs through a meta shadow of
    ``net`` and record the order of the calls."""
    shadow = _meta_shadow(net)
    calls: list[str] = []
    handles = [
        m.register_forward_hook(lambda mod, i, o, path=path: calls.append(path))
        for path, m in shadow.named_modules()
        if path
    ]
    try:
        with torch.no_grad():
            shadow(torch.empty((2, *in_shape), device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    own = dict(net.named_modules())
    weight = weight_layers(net)
    is_weight = set(weight)
    reached = list(dict.fromkeys(p for p in calls if p in is_weight))
    ordered = reached + [p for p in weight if p not in reached]
    return Trace([(p, own[p]) for p in ordered], calls)


def weight_layers(net: nn.Module) -> list[str]:
    """The paths of ``net``'s weight layers in registration order (an attention's ``out_proj``
    belongs to the attention, not a layer of its own)."""
    modules = list(net.named_modules())
    taken = {p for path, m in modules for p in claimed(path, m)}
    return [path for path, m in modules if is_weight_layer(m) and path not in taken]


def forward_order(net: nn.Module, in_shape: Sequence[int] | None) -> list[tuple[str, nn.Module]]:
    """``(path, layer)`` for every weight layer of ``net`` in the order a forward pass reaches
    them; in registration order when ``in_shape`` is None."""
    if in_shape is None:
        own = dict(net.named_modules())
        return [(p, own[p]) for p in weight_layers(net)]
    return trace(net, in_shape).layers


def layer_blocks(
    layers: list[tuple[str, nn.Module]],
) -> Iterator[tuple[str, nn.Module, list[Block]]]:
    """Each layer with its blocks, in order. A tensor shared by two layers (a read-out tied to
    an embedding) is one block, the first layer's: the later layer gets none for it."""
    seen: set[tuple[int, tuple[int, int] | None]] = set()
    for path, m in layers:
        own = []
        for block in blocks_of(path, m):
            key = (id(m.get_parameter(block.tensor)), block.rows)
            if key not in seen:
                seen.add(key)
                own.append(block)
        yield path, m, own


def ordered_blocks(net: nn.Module, in_shape: Sequence[int] | None) -> list[Block]:
    """Every weight block of ``net``, ``layer1`` first: the layers in :func:`forward_order`,
    each layer's blocks in its own order (:func:`layer_blocks`)."""
    return [b for _, _, blocks in layer_blocks(forward_order(net, in_shape)) for b in blocks]
