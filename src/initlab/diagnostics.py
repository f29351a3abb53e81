"""Diagnostics: what the initializer does inside the net, layer by layer.

``layerK`` is the K-th weight layer (Linear or Conv2d) counted from the input, from 1. Its
activation is read after the nonlinearity that follows it (the logits for the last layer), by
a forward hook on that module: the statistics come from a forward pass the caller makes anyway
(a training step, or the probe's one batch), and the hooks are removed right after it.

:class:`Diagnostics` logs them to TensorBoard during training; :mod:`initlab.probe` prints them
for a freshly initialised net.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from matplotlib.ticker import LogFormatter, LogLocator, MaxNLocator, NullLocator
from torch import nn

from initlab.activations import Activation, Saturated, identity
from initlab.errors import ConfigError, positive_int
from initlab.layer_order import forward_order, trace

matplotlib.use("Agg")  # figures are rendered to arrays and files, never to a window

STATS = ("weights", "activations", "gradients")


@dataclass(frozen=True)
class Site:
    """Where layerK's statistics are read."""

    name: str  # "layer1", "layer2", ...
    layer: nn.Module  # the Linear / Conv2d: weights and gradients
    output: nn.Module  # the activation after it, or the layer itself for the logits
    saturated: Saturated


def sites(
    net: nn.Module, activation: Activation, in_shape: tuple[int, ...] | None = None
) -> list[Site]:
    """One :class:`Site` per weight layer of ``net``: ``layerK`` in the order a forward pass of
    an ``in_shape`` input reaches them (:mod:`initlab.layer_order`, as the init plan numbers
    them).

    The activation of layer K is the first module of the activation's type that the pass calls
    after layer K and before the next weight layer. Without ``in_shape``, the order is the
    registration order and the activation the first such module registered after the layer.
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
    result = []
    for k, (path, layer) in enumerate(layers):
        after = None
        if k + 1 < len(layers) and path in calls:
            for call in calls[calls.index(path) + 1 :]:
                if call in weight:
                    break
                if type(modules[call]) is kind:
                    after = modules[call]
                    break
        if after is not None:
            result.append(Site(f"layer{k + 1}", layer, after, activation.saturated))
        else:  # the last layer: its output is the logits, which saturate like the identity
            result.append(Site(f"layer{k + 1}", layer, layer, identity().saturated))
    return result


class ActivationRecorder:
    """Forward hooks on every site for the duration of a ``with`` block.

    After the block, ``stats[name]`` holds the activation's mean, std and saturated fraction (0-d
    tensors, not yet read, so nothing waits on the device) and, with ``keep``, ``outputs[name]``
    the detached activation itself (for histograms).
    """

    def __init__(self, sites: Sequence[Site], keep: bool = False):
        self.sites, self.keep = list(sites), keep
        self.stats: dict[str, dict[str, torch.Tensor]] = {}
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> ActivationRecorder:
        for site in self.sites:
            self._handles.append(site.output.register_forward_hook(self._hook(site)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, site: Site):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            a = output.detach()
            x = inputs[0].detach()
            self.stats[site.name] = {
                "mean": a.mean(),
                "std": a.std(),
                "saturation": site.saturated(x, a).float().mean(),
            }
            if self.keep:
                self.outputs[site.name] = a

        return record


# ----------------------------------------------------------------------------------------------
# Figures, shared by the TensorBoard images and the probe's PNG.


def _finite(t: torch.Tensor) -> np.ndarray:
    """The finite values of ``t``, flattened, as a float32 array on the CPU."""
    v = t.detach().float().flatten().cpu().numpy()
    ok = np.isfinite(v)
    return v if ok.all() else v[ok]


def histogram_figure(outputs: dict[str, torch.Tensor], title: str = "", bins: int = 30) -> Figure:
    """Per-layer activation histograms side by side (Deep Learning from Scratch, fig. 6-10).

    ``outputs`` are the sites' activations in order, the logits last. The hidden layers share
    one x range (in the heading), so a collapse to 0 or a pile-up at the ends shows as the
    picture changing from panel to panel; the logits get their own (under their name). Bar
    heights are the fraction of values per bin, on one scale for all. The bars are drawn in
    figure coordinates, without Axes: an Axes builds tick objects even when hidden, which took
    half of the figure's ~25 ms.
    """
    values = {name: _finite(t) for name, t in outputs.items()}
    names = list(values)
    hidden = [values[n] for n in names[:-1] if values[n].size]
    shared = (min(v.min() for v in hidden), max(v.max() for v in hidden)) if hidden else None
    counts: dict[str, np.ndarray] = {}
    labels = dict.fromkeys(names, "")
    for k, name in enumerate(names):
        if not values[name].size:
            labels[name] = "\nno finite values"
            continue
        span = shared if k < len(names) - 1 and shared[0] < shared[1] else None
        c, edges = np.histogram(values[name], bins=bins, range=span)
        counts[name] = c / values[name].size  # fraction of the values per bin
        if span is None:
            labels[name] = f"\n[{edges[0]:.3g}, {edges[-1]:.3g}]"
    top = max((float(c.max()) for c in counts.values()), default=1.0) or 1.0

    fig = Figure(figsize=(1.5 * len(names) + 0.2, 1.9), dpi=72)
    width = 1 / len(names)  # of the figure, per panel
    base, height = 0.04, 0.68  # figure fractions: the bars' baseline and tallest bar
    for k, name in enumerate(names):
        left = k * width + 0.01
        if name in counts:
            x = np.linspace(left, left + 0.85 * width, bins + 1)
            y = base + height * counts[name] / top
            fig.add_artist(StepPatch(y, x, baseline=base, fill=True, transform=fig.transFigure))
        fig.text(
            left + 0.425 * width,
            base + height + 0.02,
            name + labels[name],
            ha="center",
            va="bottom",
            fontsize=7,
        )
    heading = [title] if title else []
    if shared is not None:
        heading.append(f"hidden layers on [{shared[0]:.3g}, {shared[1]:.3g}]")
    heading.append(f"tallest bar: {top:.2f} of the values")
    fig.text(0.01, 0.98, "   ".join(heading), fontsize=7, va="top")
    return fig


def add_histogram(writer, tag: str, values: torch.Tensor, step: int, bins: int = 64) -> None:
    """TensorBoard's histogram of the finite values, in its own proto layout (right bucket
    limits, an empty bucket first so the left edge shows). Counted by ``torch.histc`` over the
    exact range: ``SummaryWriter.add_histogram`` goes through float64 numpy, ~10× slower on the
    200k weights of the default first layer, at every logging point."""
    t = values.detach().flatten().float()
    lo, hi = (float(v) for v in torch.aminmax(t))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        t = t[torch.isfinite(t)]
        if not t.numel():
            return
        lo, hi = (float(v) for v in torch.aminmax(t))
    if lo == hi:  # one value: a bin of width 1 around it, as numpy does
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(t, bins, lo, hi)
    writer.add_histogram_raw(
        tag,
        min=lo,
        max=hi,
        num=t.numel(),
        sum=float(t.sum()),
        sum_squares=float(t.dot(t)),
        bucket_limits=torch.linspace(lo, hi, bins + 1).tolist(),
        bucket_counts=[0.0, *counts.tolist()],
        global_step=step,
    )


def depth_figure(act_std: dict[str, float], grad_norm: dict[str, float] | None) -> Figure:
    """Activation std (and, during training, weight-gradient norm) against depth, log scale."""
    fig = Figure(figsize=(3.6, 2.2), dpi=72)
    ax = fig.add_axes((0.15, 0.2, 0.8, 0.75))
    depth = range(1, len(act_std) + 1)
    ax.plot(depth, _positive(act_std.values()), "o-", label="activation std")
    if grad_norm:
        ax.plot(depth, _positive(grad_norm.values()), "s--", label="gradient norm")
    ax.set_yscale("log")
    ax.set_xlabel("layer", fontsize=7)
    # Few plain tick labels, no minor ticks: tick text is most of the drawing time, and the
    # default log labels go through mathtext.
    ax.xaxis.set_major_locator(MaxNLocator(min(len(act_std), 10), integer=True))
    ax.yaxis.set_major_locator(LogLocator(numticks=4))
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False)
    return fig


def _positive(values) -> list[float]:
    """Values for a log axis: zero, negative and non-finite ones are left out (NaN)."""
    return [v if math.isfinite(v) and v > 0 else float("nan") for v in values]


# ----------------------------------------------------------------------------------------------
# The callback.


class Diagnostics(pl.Callback):
    """Per-layer statistics, histograms and figures in TensorBoard (tags: DESIGN.md §7).

    Logged at step 0 (after the initializer, before the first optimizer step), every
    ``every_n_steps`` steps (``None``: about 10 points per epoch) and at the last step:

    - ``weights``: ``weights/layerK/std`` and the histogram ``weights/layerK`` (before the step);
    - ``activations``: ``activations/layerK/{mean,std,saturation}`` and ``activations/layerK``,
      from the step's own training batch;
    - ``gradients``: ``gradients/layerK/norm`` and ``gradients/layerK``, the weight gradient the
      optimizer is about to apply.

    With ``images``, two figures: ``diagnostics/activation_histograms`` (the layers side by
    side) and ``diagnostics/depth`` (activation std and gradient norm against depth), at step 0,
    the last step, and the first logging point after every ``images_every_n_steps`` steps
    (``None``: once an epoch). A figure costs ~50 ms to render on a 2-core CPU, as much as 25
    steps of the default MLP, so they come less often than the scalars.

    Forward hooks are attached at the start of a logging step and removed after its forward
    pass; the steps in between cost a comparison.
    """

    def __init__(
        self,
        activation: Activation,
        every_n_steps: int | None = None,
        stats: Sequence[str] = STATS,
        histograms: bool = True,
        images: bool = True,
        images_every_n_steps: int | None = None,
    ):
        for key, value in (
            ("every_n_steps", every_n_steps),
            ("images_every_n_steps", images_every_n_steps),
        ):
            if value is not None:
                positive_int(key, value)
        stats = list(stats)
        if not stats or any(s not in STATS for s in stats) or len(set(stats)) < len(stats):
            raise ConfigError("stats", stats, f"must be a non-empty list of {', '.join(STATS)}")
        for key, value in (("histograms", histograms), ("images", images)):
            if not isinstance(value, bool):
                raise ConfigError(key, value, "must be true or false")
        self.activation, self.stats = activation, set(stats)
        self.every_n_steps, self.histograms = every_n_steps, histograms
        self.images, self.images_every_n_steps = images, images_every_n_steps
        self._sites: list[Site] = []
        self._every = self._images_every = 1
        self._last = 0
        self._step: int | None = None  # the logging step in progress
        self._image_step = False
        self._recorder: ActivationRecorder | None = None
        self._scalars: dict[str, torch.Tensor] = {}  # 0-d tensors, read once at the end
        self._tensors: dict[str, torch.Tensor] = {}  # histogram tag -> values

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._sites = sites(pl_module.net, self.activation, getattr(pl_module, "in_shape", None))
        per_epoch = max(1, int(trainer.num_training_batches))
        self._every = self.every_n_steps or max(1, per_epoch // 10)
        self._images_every = self.images_every_n_steps or per_epoch
        self._last = int(trainer.estimated_stepping_batches) - 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if trainer.is_global_zero and (step % self._every == 0 or step == self._last):
            self._begin(step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._step is not None:
            self._after_backward()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._step is not None:
            self._write(trainer.logger)

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._close()

    def _begin(self, step: int) -> None:
        """Before the step's forward pass: read the weights, hook the activations."""
        self._step, self._scalars, self._tensors = step, {}, {}
        # The first logging point of every images_every-step window, and the last step: a
        # function of the step alone, so a resumed run draws where the uninterrupted one did.
        first_in_window = step % self._images_every < self._every
        self._image_step = self.images and (first_in_window or step == self._last)
        if "weights" in self.stats:
            for site in self._sites:
                w = site.layer.weight.detach()
                self._scalars[f"weights/{site.name}/std"] = w.std()
                if self.histograms:  # a copy: the optimizer step changes w in place
                    self._tensors[f"weights/{site.name}"] = w.clone()
        if "activations" in self.stats or self._image_step:
            keep = self._image_step or (self.histograms and "activations" in self.stats)
            self._recorder = ActivationRecorder(self._sites, keep=keep).__enter__()

    def _after_backward(self) -> None:
        """The forward pass is over: drop the hooks; read the weight gradients."""
        if self._recorder is not None:
            self._recorder.__exit__(None, None, None)
        if "gradients" in self.stats or self._image_step:
            for site in self._sites:
                g = site.layer.weight.grad
                if g is not None:
                    self._scalars[f"gradients/{site.name}/norm"] = g.detach().norm()
                    if self.histograms and "gradients" in self.stats:
                        self._tensors[f"gradients/{site.name}"] = g.detach()

    def _write(self, logger) -> None:
        step, recorder = self._step, self._recorder
        self._close()
        if recorder is not None:
            for name, values in recorder.stats.items():
                for stat, v in values.items():
                    self._scalars[f"activations/{name}/{stat}"] = v
                if self.histograms and "activations" in self.stats:
                    self._tensors[f"activations/{name}"] = recorder.outputs[name]
        values = torch.stack(list(self._scalars.values())).tolist() if self._scalars else []
        scalars = dict(zip(self._scalars, values, strict=True))  # one read from the device
        if logger is None:
            return
        logged = {tag: v for tag, v in scalars.items() if tag.split("/", 1)[0] in self.stats}
        logger.log_metrics(logged, step=step)
        writer = logger.experiment
        for tag, tensor in self._tensors.items():
            add_histogram(writer, tag, tensor, step)
        self._tensors = {}
        if self._image_step and recorder is not None:
            names = [site.name for site in self._sites]
            act_std = {n: scalars[f"activations/{n}/std"] for n in names}
            grad = {n: scalars.get(f"gradients/{n}/norm", float("nan")) for n in names}
            hist = histogram_figure(recorder.outputs, f"step {step}")
            writer.add_figure("diagnostics/activation_histograms", hist, step)
            writer.add_figure("diagnostics/depth", depth_figure(act_std, grad), step)

    def _close(self) -> None:
        if self._recorder is not None:
            self._recorder.__exit__(None, None, None)
        self._step, self._recorder = None, None
