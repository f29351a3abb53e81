"""The report's figures: the ranking or the heatmaps of a grid's test metrics, the curves
against step and the step-0 statistics against depth, mean and ±1 std band over seeds."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from initlab.reporting.jobs import Job, scalars
from initlab.reporting.tables import cell
from initlab.training import record

CURVES = ("val/acc", "val/loss", "train/loss", "train/acc")


DEPTH = {"activation_std": "activations/layer{}/std", "gradient_norm": "gradients/layer{}/norm"}


def _layout(varied: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """(the axis down the rows / along the lines, the axis across / per panel, the rest)."""
    first = varied[0] if varied else None
    second = varied[1] if len(varied) > 1 else None
    return first, second, list(varied[2:])


def _values(rows: list[dict], key: str | None) -> list[str]:
    return sorted({r.get(key, "") for r in rows}) if key else [""]


def ranked(rows: list[dict], axis: str, metric: str) -> Figure:
    """A grid with one varied axis: ``metric`` per value as bars, best first, ± std over seeds;
    values where every run diverged or none finished are listed as such."""
    lower_is_better = metric.endswith("loss")
    done = [r for r in rows if math.isfinite(r[f"{metric} mean"])]
    done.sort(key=lambda r: r[f"{metric} mean"], reverse=not lower_is_better)
    rest = [r for r in rows if not math.isfinite(r[f"{metric} mean"])]
    labels = [r[axis] for r in done] + [r[axis] for r in rest]
    fig = Figure(figsize=(6.4, 0.3 * len(labels) + 1.2), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(labels))
    means = [r[f"{metric} mean"] for r in done]
    stds = [r[f"{metric} std"] for r in done]
    colors = colormaps["viridis"](np.linspace(0.85, 0.2, max(1, len(done))))
    ax.barh(y[: len(done)], means, xerr=stds, color=colors, capsize=2)
    for i, r in enumerate(done):
        note = cell(r, metric) + (" (some seeds diverged)" if r["diverged"] else "")
        ax.text(means[i], i, f" {note}", va="center", fontsize=7)
    for i, r in enumerate(rest, start=len(done)):
        ax.text(0, i, " diverged" if r["diverged"] else " no result", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()  # the best on top
    if lower_is_better and done and min(means) > 0 and max(means) / min(means) > 100:
        ax.set_xscale("log")  # a diverging init's loss would flatten everyone else's
    ax.set_xlabel(metric, fontsize=8)
    ax.set_ylabel(axis, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.margins(x=0.25)
    fig.suptitle(f"{metric} by {axis}, best first (mean ± std over seeds)", fontsize=9)
    fig.set_layout_engine("constrained")
    return fig


def heatmap(rows: list[dict], varied: Sequence[str], metric: str) -> Figure:
    """``metric`` means on the grid's two main axes, one panel per value of the others; cells
    where every run diverged say "diverged", cells with no result "—"."""
    rows_axis, cols_axis, rest = _layout(varied)
    ys, xs = _values(rows, rows_axis), _values(rows, cols_axis)
    panels = sorted({tuple(r[k] for k in rest) for r in rows})
    fig = Figure(figsize=(1.1 * len(xs) * len(panels) + 2.5, 0.35 * len(ys) + 1.4), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        grid = np.full((len(ys), len(xs)), np.nan)
        notes = np.full((len(ys), len(xs)), "—", dtype=object)
        for r in rows:
            if tuple(r[k] for k in rest) != panel:
                continue
            i, j = ys.index(r.get(rows_axis, "")), xs.index(r.get(cols_axis, ""))
            grid[i, j] = r[f"{metric} mean"]
            if math.isfinite(grid[i, j]):
                notes[i, j] = f"{grid[i, j]:.2f}" + ("*" if r["diverged"] else "")
            elif r["diverged"]:
                notes[i, j] = "diverged"
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        middle = np.nanmean(grid) if np.isfinite(grid).any() else 0.0
        for (i, j), note in np.ndenumerate(notes):
            dark = not np.isfinite(grid[i, j]) or grid[i, j] < middle  # viridis: dark below
            ax.text(j, i, note, ha="center", va="center", fontsize=7, color="w" if dark else "k")
        ax.set_xticks(range(len(xs)), xs, fontsize=7, rotation=30)
        ax.set_yticks(range(len(ys)), ys, fontsize=7)
        ax.set_xlabel(cols_axis or "", fontsize=8)
        ax.set_ylabel(rows_axis or "", fontsize=8)
        ax.set_title(", ".join(f"{k}={v}" for k, v in zip(rest, panel, strict=True)), fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    fig.suptitle(f"{metric} (mean over seeds; * some seeds diverged)", fontsize=9)
    fig.set_layout_engine("constrained")
    return fig


def _band(series: list[dict[int, float]]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Steps every series has, with the mean and std over the series (NaN-safe)."""
    steps = sorted(set.intersection(*(set(s) for s in series)))
    values = np.array([[s[t] for t in steps] for s in series], dtype=float)
    values[~np.isfinite(values)] = np.nan
    with warnings.catch_warnings():  # a step where every run is NaN stays NaN: a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        return steps, np.nanmean(values, axis=0), np.nanstd(values, axis=0)


def line_panels(
    series: dict[tuple[tuple, str], list[dict[int, float]]], title: str, xlabel: str, log: bool
) -> Figure:
    """One panel per panel key, one line (mean, ±1 std band) per line key."""
    panels = sorted({panel for panel, _ in series})
    lines = sorted({line for _, line in series})
    # tab10's ten distinct colours, eleven markers and four dash patterns: no two of the first
    # 110 lines look alike (tab20 pairs a light and a dark shade of each colour: neighbours in
    # the sorted order, such as default and lecun, were near twins), and a line keeps its look
    # in every panel.
    colors, markers = colormaps["tab10"].colors, "osD^vP*Xh<>"
    look = {
        line: (colors[i % 10], ("-", "--", ":", "-.")[i // 10 % 4], markers[i % len(markers)])
        for i, line in enumerate(lines)
    }
    fig = Figure(figsize=(3.6 * len(panels) + 2.4, 3.2), dpi=100)  # + the legend's column
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for (p, line), runs in sorted(series.items()):
            if p != panel or not runs:
                continue
            steps, mean, std = _band(runs)
            if not steps:
                continue
            color, dashes, marker = look[line]
            ax.plot(
                steps, mean, dashes, color=color, label=line, linewidth=1.2, marker=marker, ms=3
            )
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2, color=color)
        ax.set_title(", ".join(panel), fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if log:
            ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    fig.set_layout_engine("constrained")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=6, ncols=1 + len(lines) // 16)
    fig.suptitle(title, fontsize=9)
    return fig


def event_figures(jobs: Sequence[Job], varied: Sequence[str]) -> dict[str, Figure]:
    """The curves and depth figures, from the finished jobs' TensorBoard events: one line per
    value of the first varied axis (init), one panel per combination of the others."""
    line_axis, _, _ = _layout(varied)

    def keys(job: Job) -> tuple[tuple, str]:
        panel = tuple(f"{k}={job.overrides.get(k, '')}" for k in varied if k != line_axis)
        return panel, job.overrides.get(line_axis, "") if line_axis else "all"

    layers = range(1, 100)
    depth_tags = [pattern.format(k) for pattern in DEPTH.values() for k in layers]
    curves: dict[str, dict] = {tag: defaultdict(list) for tag in CURVES}
    depth: dict[str, dict] = {stat: defaultdict(list) for stat in DEPTH}
    for job in jobs:
        if job.status not in record.FINISHED:
            continue
        logged = scalars(job, [*CURVES, *depth_tags])
        for tag in CURVES:
            if tag in logged:
                curves[tag][keys(job)].append(logged[tag])
        for stat, pattern in DEPTH.items():  # {layer: value at step 0}
            at_0 = {
                k: logged[pattern.format(k)].get(0) for k in layers if pattern.format(k) in logged
            }
            if at_0 and None not in at_0.values():
                depth[stat][keys(job)].append(at_0)

    figures = {}
    for tag, series in curves.items():
        if series:
            log = "loss" in tag  # a diverging init's loss would flatten everyone else's
            title = f"{tag} (mean ± std over seeds)"
            figures[f"curves_{tag.replace('/', '_')}"] = line_panels(series, title, "step", log)
    for stat, series in depth.items():
        if series:
            title = f"step-0 {stat.replace('_', ' ')} against depth (mean ± std over seeds)"
            figures[f"depth_{stat}"] = line_panels(series, title, "layer", True)
    return figures
