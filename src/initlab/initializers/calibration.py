"""Data-dependent initialization: rescale a freshly initialised net on one training batch.

The closed-form rules in :mod:`initlab.initializers` assume unit-variance inputs and a known
activation; these methods measure instead. They walk the weight layers in the order the forward
pass reaches them (found with forward hooks, not from module registration order), because each
layer's input depends on every layer before it.

- :func:`lsuv`: Layer-Sequential Unit-Variance (Mishkin & Matas, 2016, "All you need is a good
  init"). After an orthonormal pre-init, scale each layer's weights by 1/√Var(output) until the
  variance of its output on the batch is within ``tol`` of 1 (at most ``max_iter`` tries).
- :func:`within_layer`: the data-dependent step of Krähenbühl et al. (2016), "Data-dependent
  initializations of CNNs": per output unit, scale and shift so that its pre-activation on the
  batch has mean 0 and variance 1 (a layer without a bias, followed by batch norm: variance 1).
- :func:`dbn`: greedy layer-wise RBM pretraining of an MLP's hidden layers (Hinton, Osindero &
  Teh, 2006).

While measuring, dropout is off and batch norm normalises with the batch's statistics (as on the
first training step); batch norm's running statistics are restored afterwards, untouched.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from rich.progress import Progress
from torch import nn

from initlab.config.errors import NotApplicable
from initlab.initializers import Initializer, layer_kind
from initlab.initializers import forward_order as layer_order

Record = dict  # one layer's report: layer, iterations, variance before/after, scale


def forward_order(net: nn.Module, x: torch.Tensor) -> list[nn.Module]:
    """The weight layers of ``net`` in the order a forward pass of inputs shaped like ``x``
    reaches them: ``layerK`` as the plan and the diagnostics number them
    (:mod:`initlab.initializers.forward_order`; a reused layer counts once, at its first call)."""
    return [layer for _, layer in layer_order.forward_order(net, tuple(x.shape[1:]))]


@contextmanager
def measuring(net: nn.Module) -> Iterator[None]:
    """Dropout off, batch norm on batch statistics, no gradients; the net's modes and batch
    norm's running statistics as they were afterwards."""
    modes = {m: m.training for m in net.modules()}
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in norms]
    net.eval()
    for m in norms:
        m.train()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, state in zip(norms, saved, strict=True):
            m.load_state_dict(state)
        for m, mode in modes.items():
            m.training = mode


def _output_of(net: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer``'s output during a forward pass of ``net`` on ``x``."""
    out: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, i, o: out.append(o))
    try:
        net(x)
    finally:
        handle.remove()
    return out[0]


def lsuv(net: nn.Module, x: torch.Tensor, tol: float = 0.1, max_iter: int = 10) -> list[Record]:
    """Scale each weight layer, in forward order, until Var(its output on ``x``) is within
    ``tol`` of 1 or ``max_iter`` scalings are done (Mishkin & Matas, 2016, Algorithm 1)."""
    records = []
    with measuring(net):
        for k, layer in enumerate(forward_order(net, x), start=1):
            variance = first = _output_of(net, layer, x).var().item()
            scale, iterations = 1.0, 0
            while abs(variance - 1) >= tol and iterations < max_iter and variance > 0:
                factor = variance**-0.5
                layer.weight.mul_(factor)
                scale *= factor
                iterations += 1
                variance = _output_of(net, layer, x).var().item()
            records.append(
                {
                    "order": k,
                    "layer": layer_kind(layer),
                    "iterations": iterations,
                    "variance_before": first,
                    "variance_after": variance,
                    "scale": scale,
                }
            )
    return records


def within_layer(net: nn.Module, x: torch.Tensor) -> list[Record]:
    """Per output unit of each weight layer, in forward order: w ← w/σ, b ← (b − μ)/σ, with μ, σ
    the unit's pre-activation mean and std on ``x`` (over the batch, and the pixels of a conv
    channel), so every unit starts at mean 0, variance 1 (Krähenbühl et al., 2016, §3.1)."""
    records = []
    with measuring(net):
        for k, layer in enumerate(forward_order(net, x), start=1):
            z = _output_of(net, layer, x)  # (B, …, units) for Linear, (B, units, *space) for Conv
            unit = -1 if isinstance(layer, nn.Linear) else 1
            dims = [d for d in range(z.ndim) if d != unit % z.ndim]
            mean, std = z.mean(dims), z.std(dims).clamp_min(1e-8)
            layer.weight.div_(std.view(-1, *[1] * (layer.weight.ndim - 1)))
            if layer.bias is not None:  # without one, the batch norm after it centres the unit
                layer.bias.sub_(mean).div_(std)
            records.append(
                {
                    "order": k,
                    "layer": layer_kind(layer),
                    "std_before_min": std.min().item(),
                    "std_before_max": std.max().item(),
                    "mean_before_abs_max": mean.abs().max().item(),
                }
            )
    return records


def dbn(
    net: nn.Module,
    x: torch.Tensor,
    generator: torch.Generator,
    epochs: int = 5,
    lr: float = 0.01,
    k: int = 1,
    batch_size: int = 100,
) -> list[Record]:
    """Greedy layer-wise pretraining of the hidden Linear layers as a stack of RBMs (Hinton,
    Osindero & Teh, 2006; the recipe of Hinton, 2010, "A practical guide to training RBMs").

    Layer by layer in forward order, all but the logits layer: an RBM whose weights and hidden
    biases are the layer's own is trained by CD-``k`` for ``epochs`` passes over ``x`` in
    mini-batches of ``batch_size`` (SGD, learning rate ``lr``; reconstructions use the visible
    means, the hidden units are sampled). The first RBM has Bernoulli visible units when the
    inputs lie in [0, 1] and unit-variance Gaussian ones when they are standardized; the next
    RBMs train on the previous one's hidden probabilities. The logits layer keeps its draw for
    supervised fine-tuning. Records the mean squared reconstruction error of every epoch.
    """
    layers = forward_order(net, x)
    if any(not isinstance(m, nn.Linear) for m in layers):
        raise ValueError("dbn pretrains Linear layers only")
    v = x.flatten(1)
    bernoulli = bool(v.min() >= 0 and v.max() <= 1)
    records = []
    with torch.no_grad(), Progress(transient=True, disable=not sys.stdout.isatty()) as bar:
        task = bar.add_task("dbn pretraining", total=epochs * (len(layers) - 1))
        for order, layer in enumerate(layers[:-1], start=1):
            w = layer.weight  # (hidden, visible)
            b_h = layer.bias if layer.bias is not None else torch.zeros(w.shape[0], device=v.device)
            b_v = torch.zeros(w.shape[1], device=v.device)
            errors = []
            for _ in range(epochs):
                total = 0.0
                for idx in torch.randperm(len(v), generator=generator).split(batch_size):
                    v0 = v[idx.to(v.device)]
                    ph0 = torch.sigmoid(v0 @ w.T + b_h)
                    h, vk, phk = ph0, v0, ph0
                    for _ in range(k):
                        h = torch.bernoulli(phk.cpu(), generator=generator).to(v.device)
                        mean = h @ w + b_v
                        vk = torch.sigmoid(mean) if bernoulli else mean
                        phk = torch.sigmoid(vk @ w.T + b_h)
                    w += lr * (ph0.T @ v0 - phk.T @ vk) / len(v0)
                    b_h += lr * (ph0 - phk).mean(0)
                    b_v += lr * (v0 - vk).mean(0)
                    total += ((v0 - vk) ** 2).sum().item()
                errors.append(total / v.numel())
                bar.advance(task)
            records.append(
                {
                    "order": order,
                    "layer": layer_kind(layer),
                    "visible": "bernoulli" if bernoulli else "gaussian",
                    "reconstruction_error": errors,
                }
            )
            v, bernoulli = torch.sigmoid(v @ w.T + b_h), True  # the next RBM's data
    return records


CALIBRATIONS: dict[str, Callable[..., list[Record]]] = {
    "lsuv": lsuv,
    "within_layer": within_layer,
    "dbn": dbn,
}
SEEDED = {"dbn"}  # the calibrations that draw random numbers


# What each calibration can rescale: lsuv scales a layer's whole weight by its output's
# variance (any layer whose one block is its output); within_layer scales and shifts each
# output unit (a unit is a weight row: Linear and the direct convolutions); dbn trains RBMs.
CALIBRATED_LAYERS = {
    "lsuv": (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd, nn.Embedding, nn.EmbeddingBag),
    "within_layer": (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d),
    "dbn": (nn.Linear,),
}


def check(init: Initializer, net: nn.Module) -> None:
    """Raise :class:`ConfigError` naming the first layer ``init``'s calibration cannot rescale
    (``net`` may be on the meta device): DBN pretraining needs an MLP; LSUV and the
    within-layer method measure a layer's own output, which a recurrent layer's gates and an
    attention's projections do not have one by one."""
    if init.calibration is None:
        return
    method = init.calibration.method
    allowed = CALIBRATED_LAYERS[method]
    for path, layer in layer_order.forward_order(net, None):
        if not isinstance(layer, allowed):
            kinds = ", ".join(k.__name__.lstrip("_") for k in allowed)
            verb, hint = (
                ("pretrains", ": use model=mlp or deep_mlp")
                if method == "dbn"
                else ("rescales", "")
            )
            raise NotApplicable(
                "name",
                init.name,
                f"{verb} {kinds} layers only; {type(layer).__name__} at "
                f"{path or '(the model)'} is not one{hint}",
            )


def calibrate(init: Initializer, net: nn.Module, x: torch.Tensor, seed: int) -> list[Record]:
    """Run ``init``'s calibration (none: ``[]``) on the first ``batch_size`` rows of ``x``, on
    ``x``'s device (the net is moved there); random draws come from a generator seeded by
    ``seed``."""
    if init.calibration is None:
        return []
    c = init.calibration
    net.to(x.device)
    params = dict(c.params)
    if c.method in SEEDED:
        params["generator"] = torch.Generator().manual_seed(seed)
    return CALIBRATIONS[c.method](net, x[: c.batch_size], **params)
