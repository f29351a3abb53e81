"""The trainable region of a grid of nets over (a hyperparameter, depth): which nets trained, the
deepest that did at each value, and its figure with the theory's deepest trainable depth drawn
over it (Schoenholz et al. 2017, fig. 5: training accuracy over (σ_w², L) under the 6 ξ_c curve).

A :class:`Region` turns a sweep's samples into one sample per (value, seed), the column of
depths at that value, with two metrics its checks read: ``deepest_trainable`` (the deepest net
whose metric reached the threshold; 0 when none did) and ``deepest_over_theory`` (that depth over
the theory's prediction at the value). A run with no value (diverged, or never tested) did not
train.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from initlab.reproductions.reproduction import Sample

DEEPEST = "deepest_trainable"
OVER_THEORY = "deepest_over_theory"
CURVE_POINTS = 200  # where the theory's curve is evaluated, across the grid's values


@dataclass(frozen=True)
class Region:
    metric: str  # what says a net trained, e.g. "test/acc"
    threshold: float  # a net trained when its metric is at least this
    x: str  # the override across the grid, e.g. "init.sigma_w2"
    depth: str  # the override giving the depth, e.g. "model.depth"
    theory: Callable[[float], float]  # the predicted deepest trainable depth at a value of x
    theory_label: str  # e.g. "6 ξ_c (mean-field theory)"


def _grid(region: Region, runs: Sequence[Sample]) -> dict[tuple[str, str], dict[int, float]]:
    """(value of x, seed) -> {depth: the metric} over the samples that have both labels."""
    grid: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for s in runs:
        if region.x in s.labels and region.depth in s.labels:
            key = (s.labels[region.x], s.labels.get("seed", ""))
            grid[key][int(s.labels[region.depth])] = s.value(region.metric)
    return grid


def trained(region: Region, value: float) -> bool:
    """Whether a net with this metric trained (NaN: no result, did not train)."""
    return not math.isnan(value) and value >= region.threshold


def _values(deepest: int, predicted: float, metric: str) -> float:
    return {DEEPEST: float(deepest), OVER_THEORY: deepest / predicted}.get(metric, math.nan)


def samples(region: Region, runs: Sequence[Sample]) -> list[Sample]:
    """One sample per (value of x, seed): its column's deepest trained net, alone and over the
    theory's prediction."""
    derived = []
    for (x, seed), column in sorted(_grid(region, runs).items()):
        deepest = max((d for d, v in column.items() if trained(region, v)), default=0)
        predicted = region.theory(float(x))
        derived.append(
            Sample(
                {region.x: x, "seed": seed},
                lambda m, deepest=deepest, predicted=predicted: _values(deepest, predicted, m),
            )
        )
    return derived


def figure(region: Region, runs: Sequence[Sample], title: str, xlabel: str) -> Figure:
    """The grid's metric (the mean over seeds) coloured over (x, depth), each cell trained in at
    least half the seeds ringed, each column's deepest trained net (mean over seeds) starred,
    and the theory's curve over it."""
    cells: dict[tuple[float, int], list[float]] = defaultdict(list)
    for (x, _), column in _grid(region, runs).items():
        for depth, value in column.items():
            cells[(float(x), depth)].append(value)
    xs = sorted({x for x, _ in cells})
    depths = sorted({d for _, d in cells})
    mean = np.full((len(depths), len(xs)), np.nan)
    for (x, d), values in cells.items():
        kept = [v for v in values if not math.isnan(v)]
        if kept:
            mean[depths.index(d), xs.index(x)] = statistics.fmean(kept)
    fig = Figure(figsize=(6.4, 4.6), dpi=100)
    ax = fig.add_axes((0.11, 0.12, 0.7, 0.78))
    ax.set_facecolor("0.85")  # no result
    shown = ax.pcolormesh(xs, depths, mean, shading="nearest", cmap="viridis", vmin=0, vmax=1)
    bar = fig.colorbar(shown, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label(f"{region.metric} (mean over seeds)")
    ringed = [
        (x, d)
        for (x, d), values in cells.items()
        if statistics.fmean(trained(region, v) for v in values) >= 0.5
    ]
    if ringed:
        ax.plot(
            *zip(*ringed, strict=True),
            "o",
            ls="none",
            mfc="none",
            mec="w",
            ms=9,
            label=f"trained in half the seeds or more ({region.metric} ≥ {region.threshold:g})",
        )
    deepest = defaultdict(list)
    for s in samples(region, runs):
        deepest[float(s.labels[region.x])].append(s.value(DEEPEST))
    ax.plot(
        list(deepest),
        [statistics.fmean(v) for v in deepest.values()],
        "w*",
        ms=11,
        mec="k",
        label="the deepest trained net (mean over seeds)",
    )
    curve_x = np.linspace(xs[0], xs[-1], CURVE_POINTS)
    top = depths[-1] * 1.15
    curve = [min(region.theory(float(x)), 2 * top) for x in curve_x]
    ax.plot(curve_x, curve, "r-", lw=2, label=region.theory_label)
    ax.set_ylim(depths[0] - (depths[1] - depths[0]) / 2 if len(depths) > 1 else 0, top)
    ax.set_xlim(xs[0] - (xs[1] - xs[0]) / 2, xs[-1] + (xs[-1] - xs[-2]) / 2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("depth (hidden layers)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    return fig
