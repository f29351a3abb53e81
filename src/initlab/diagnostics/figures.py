"""The diagnostics' figures and histograms: the TensorBoard images (drawn often during training,
so drawn cheaply) and the probe's PNG (drawn once, to be read at README width)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from matplotlib.ticker import LogFormatter, LogLocator, MaxNLocator, NullLocator

matplotlib.use("Agg")  # figures are rendered to arrays and files, never to a window


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
    figure coordinates, without Axes: an Axes builds tick objects even when hidden, a large share
    of the figure's cost.
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


def probe_figure(outputs: dict[str, torch.Tensor], title: str = "", bins: int = 30) -> Figure:
    """The probe's picture: one histogram per layer, in a grid about 800 px wide (four across
    past six layers, else three), with axes.

    ``outputs`` are the sites' activations in order (``layerK``), the logits last. The hidden
    layers share one x range, so a collapse to 0 or a pile-up at the ends shows as the picture
    changing from panel to panel; the logits have their own (their panel, in another colour,
    says so, and so does the heading). Bar heights are the share of the layer's values in each
    bin, on one y scale for all panels.
    """
    values = {name: _finite(t) for name, t in outputs.items()}
    names = list(values)
    hidden = [values[n] for n in names[:-1] if values[n].size]
    shared = (min(v.min() for v in hidden), max(v.max() for v in hidden)) if hidden else None
    if shared is not None and not shared[0] < shared[1]:
        shared = None  # every hidden value the same: each panel takes numpy's unit range

    ncols = min(len(names), 4 if len(names) > 6 else 3)
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(8, 1.75 * nrows + 1.0), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).flatten()
    for k, (ax, name) in enumerate(zip(axes, names, strict=False)):
        logits = k == len(names) - 1 and len(names) > 1
        label = "layer " + name.removeprefix("layer")
        ax.set_title(f"{label}: logits, own x range" if logits else label, fontsize=9)
        v = values[name]
        if not v.size:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
            continue
        span = None if logits else shared
        counts, edges = np.histogram(v, bins=bins, range=span)
        ax.stairs(counts / v.size, edges, fill=True, color="C1" if logits else "C0")
        if span is not None:
            ax.set_xlim(span)
        box = {"facecolor": "w", "alpha": 0.8, "edgecolor": "none"}  # readable over a bar
        ax.text(
            0.97,
            0.95,
            f"std {v.std():.3g}",
            ha="right",
            va="top",
            fontsize=7,
            bbox=box,
            transform=ax.transAxes,
        )
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.tick_params(labelsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for column in range(ncols):  # each column's lowest panel names the x axis
        lowest = max(i for i in range(column, len(names), ncols))
        axes[lowest].set_xlabel("activation value", fontsize=8)
    for ax in axes[::ncols]:
        ax.set_ylabel("share of values", fontsize=8)
    heading = [title] if title else []
    if shared is not None and len(names) > 1:
        heading.append(
            f"layers {names[0].removeprefix('layer')}-{names[-2].removeprefix('layer')} share "
            f"the x range [{shared[0]:.3g}, {shared[1]:.3g}]; the logits have their own"
        )
    fig.suptitle("\n".join(heading), fontsize=9)
    return fig


def histogram_stats(values: torch.Tensor, bins: int = 64) -> dict | None:
    """TensorBoard's histogram of the finite values (None: there are none), as the keyword
    arguments of ``SummaryWriter.add_histogram_raw``: its own proto layout (right bucket limits,
    an empty bucket first so the left edge shows). Counted by ``torch.histc`` over the exact
    range: ``SummaryWriter.add_histogram`` goes through float64 numpy, much slower on the 200k
    weights of the default first layer, at every logging point. The sums are numpy's pairwise
    float64 sums: the same whatever the number of threads (a float32 reduction's rounding
    depends on how it is split)."""
    t = values.detach().flatten().float().cpu()
    lo, hi = (float(v) for v in torch.aminmax(t))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        t = t[torch.isfinite(t)]
        if not t.numel():
            return None
        lo, hi = (float(v) for v in torch.aminmax(t))
    if lo == hi:  # one value: a bin of width 1 around it, as numpy does
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(t, bins, lo, hi)
    finite = t.numpy().astype(np.float64)
    return {
        "min": lo,
        "max": hi,
        "num": t.numel(),
        "sum": float(finite.sum()),
        "sum_squares": float((finite * finite).sum()),
        "bucket_limits": torch.linspace(lo, hi, bins + 1).tolist(),
        "bucket_counts": [0.0, *counts.tolist()],
    }


def depth_figure(act_std: dict[str, float], grad_norm: dict[str, float] | None) -> Figure:
    """Activation std (and, during training, weight-gradient norm) against depth, log scale.
    ``act_std`` is keyed by ``layerK``: the x axis is K (blocks without an output of their own,
    such as a recurrent layer's other gates, leave gaps)."""
    fig = Figure(figsize=(3.6, 2.2), dpi=72)
    ax = fig.add_axes((0.15, 0.2, 0.8, 0.75))
    depth = [int(name.removeprefix("layer")) for name in act_std]
    ax.plot(depth, _positive(act_std.values()), "o-", label="activation std")
    if grad_norm:
        ax.plot(depth, _positive(grad_norm.values()), "s--", label="gradient norm")
    ax.set_yscale("log")
    ax.set_xlabel("layer", fontsize=7)
    ax.set_ylabel("std, norm (log scale)", fontsize=7)
    # Few plain tick labels, no minor ticks: tick text is most of the drawing time, and the
    # default log labels go through mathtext.
    ax.xaxis.set_major_locator(MaxNLocator(min(max(depth, default=1), 10), integer=True))
    ax.yaxis.set_major_locator(LogLocator(numticks=4))
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False)
    return fig


def _positive(values) -> list[float]:
    """Values for a log axis: zero, negative and non-finite ones are left out (NaN)."""
    return [v if math.isfinite(v) and v > 0 else float("nan") for v in values]
