"""Where ``layerK``'s statistics are read: its weight block, and the activation after its layer.

``layerK`` is the K-th weight block counted from the input, from 1, in forward order
(:mod:`initlab.initializers.forward_order`, as the init plan numbers them). Its activation is read
after the nonlinearity that follows its layer (the logits for the last layer), by a forward hook on
that module: the statistics come from a forward pass the caller makes anyway (a training step, or
the probe's one batch), and the hooks are removed right after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from initlab.initializers.forward_order import forward_order, layer_blocks, trace
from initlab.initializers.weight_blocks import Block
from initlab.models.activations import Activation, Saturated, identity


@dataclass(frozen=True)
class Site:
    """Where layerK's statistics are read."""

    name: str  # "layer1", "layer2", ...
    block: Block  # the weight block: weights and gradients
    layer: nn.Module  # the module that owns it
    output: nn.Module | None  # the activation after it, the layer itself, or None: no output
    saturated: Saturated

    def weight(self) -> torch.Tensor:
        return self.block.view(self.layer)

    def grad(self) -> torch.Tensor | None:
        return self.block.grad(self.layer)


# The nonlinearity an nn.RNN computes inside (its mode): its output is already the activation.
INSIDE = {"RNN_RELU": nn.ReLU, "RNN_TANH": nn.Tanh}


def sites(
    net: nn.Module, activation: Activation, in_shape: tuple[int, ...] | None = None
) -> list[Site]:
    """One :class:`Site` per weight block of ``net``: ``layerK`` in the order a forward pass of
    an ``in_shape`` input reaches them (:mod:`initlab.initializers.forward_order`, as the init plan
    numbers them).

    The activation of a layer is the first module of the activation's type that the pass calls
    after the layer and before the next weight layer; it is read at the layer's last block (a
    recurrent layer's last gate, an attention's output projection), and the other blocks of a
    layer with several have weights and gradients only. The last layer's own output is read (the
    logits); so is any layer's that no activation module follows, with the activation's
    saturation test where the layer computes that activation itself (an ``nn.RNN``). Without
    ``in_shape``, the order is the registration order and the activation the first such module
    registered after the layer.
    """
    kind = type(activation.make())
    modules = dict(net.named_modules())
    if in_shape is None:
        layers = forward_order(net, None)
        calls = list(modules)  # registration order stands in for the order of the calls
    else:
        run = trace(net, in_shape)
        layers, calls = run.layers, run.calls
    weight = {path for path, _ in layers}
    result: list[Site] = []
    for k, (path, layer, blocks) in enumerate(layer_blocks(layers)):
        if not blocks:  # its weight is another layer's (tied): read there
            continue
        after = None
        if k + 1 < len(layers) and path in calls:
            for call in calls[calls.index(path) + 1 :]:
                if call in weight:
                    break
                if type(modules[call]) is kind:
                    after = modules[call]
                    break
        for block in blocks[:-1]:
            result.append(Site(f"layer{len(result) + 1}", block, layer, None, identity().saturated))
        name = f"layer{len(result) + 1}"
        if after is not None:
            result.append(Site(name, blocks[-1], layer, after, activation.saturated))
        elif INSIDE.get(getattr(layer, "mode", None)) is kind:  # nn.RNN applies it itself
            result.append(Site(name, blocks[-1], layer, layer, activation.saturated))
        else:  # its own output: the logits, which saturate like the identity
            result.append(Site(name, blocks[-1], layer, layer, identity().saturated))
    return result


class ActivationRecorder:
    """Forward hooks on every site for the duration of a ``with`` block.

    After the block, ``stats[name]`` holds the activation's mean, std and saturated fraction (0-d
    tensors, not yet read, so nothing waits on the device) and, with ``keep``, ``outputs[name]``
    the detached activation itself (for histograms); with ``keep_pre``, ``pre[name]`` the
    layer's pre-activation (for the theory's comparison at step 0).
    """

    def __init__(self, sites: Sequence[Site], keep: bool = False, keep_pre: bool = False):
        self.sites, self.keep, self.keep_pre = list(sites), keep, keep_pre
        self.stats: dict[str, dict[str, torch.Tensor]] = {}
        self.outputs: dict[str, torch.Tensor] = {}
        self.pre: dict[str, torch.Tensor] = {}  # with keep_pre: each layer's pre-activation
        self._handles: list = []

    def __enter__(self) -> ActivationRecorder:
        for site in self.sites:
            if site.output is not None:
                self._handles.append(site.output.register_forward_hook(self._hook(site)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, site: Site):
        # A module called several times in one pass (a cell stepped in a loop) keeps its last
        # call's statistics.
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            if isinstance(output, tuple):  # (sequence, state) of a recurrent layer, (out, weights)
                output = output[0]
            self.record(site, inputs[0], output)

        return hook

    def record(self, site: Site, x: torch.Tensor, a: torch.Tensor) -> None:
        """The statistics of ``site``'s activation ``a`` (of input ``x``)."""
        a, x = a.detach(), x.detach()
        self.stats[site.name] = {
            "mean": a.mean(),
            "std": a.std(),
            "saturation": site.saturated(x, a).float().mean(),
        }
        if self.keep:
            self.outputs[site.name] = a
        if self.keep_pre:  # what enters the activation; the logits layer's own output
            self.pre[site.name] = a if site.output is site.layer else x
