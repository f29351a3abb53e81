"""The report's figures: the ranking or the heatmaps of a grid's test metrics, the curves
against step and the step-0 statistics against depth, mean and ±1 std band over seeds.

Each reads at README width (about 800 px): axes labelled with their units, a title in
words with the number of seeds under it (no ± where there is one; :mod:`.wording`), a legend
that names each line as the reproductions' captions do (``names``: a value -> its name, e.g.
lecun -> "Xavier √(1/n) (lecun)").
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from initlab.reporting.jobs import Job, scalars
from initlab.reporting.tables import cell
from initlab.reporting.wording import SMALL, TEXT, heading, natural, seeds, words
from initlab.training import record

CURVES = ("val/acc", "val/loss", "train/loss", "train/acc")
DEPTH = {"activation_std": "activations/layer{}/std", "gradient_norm": "gradients/layer{}/norm"}
FEW = 4  # a panel with at most this many steps: markers side by side, not lines


def _layout(varied: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """(the axis down the rows / along the lines, the axis across / per panel, the rest)."""
    first = varied[0] if varied else None
    second = varied[1] if len(varied) > 1 else None
    return first, second, list(varied[2:])


def _values(rows: list[dict], key: str | None) -> list[str]:
    return sorted({r.get(key, "") for r in rows}, key=natural) if key else [""]


def ranked(rows: list[dict], axis: str, metric: str, names: dict[str, str] | None = None) -> Figure:
    """A grid with one varied axis: ``metric`` per value as bars, best first, ± std over seeds;
    values where every run diverged or none finished are listed as such."""
    names = names or {}
    lower_is_better = metric.endswith("loss")
    done = [r for r in rows if math.isfinite(r[f"{metric} mean"])]
    done.sort(key=lambda r: r[f"{metric} mean"], reverse=not lower_is_better)
    rest = [r for r in rows if not math.isfinite(r[f"{metric} mean"])]
    labels = [names.get(r[axis], r[axis]) for r in done + rest]
    fig = Figure(figsize=(8, 0.32 * len(labels) + 1.5), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(labels))
    means = [r[f"{metric} mean"] for r in done]
    stds = [r[f"{metric} std"] if r["n"] > 1 else 0.0 for r in done]
    colors = colormaps["viridis"](np.linspace(0.85, 0.2, max(1, len(done))))
    ax.barh(y[: len(done)], means, xerr=stds, color=colors, capsize=2)
    for i, r in enumerate(done):
        note = cell(r, metric) + (" (some seeds diverged)" if r["diverged"] else "")
        ax.text(means[i], i, f" {note}", va="center", fontsize=SMALL)
    for i, r in enumerate(rest, start=len(done)):
        note = " diverged" if r["diverged"] else " no result"
        ax.text(0, i, note, va="center", fontsize=SMALL)
    ax.set_yticks(y, labels, fontsize=SMALL)
    ax.invert_yaxis()  # the best on top
    if lower_is_better and done and min(means) > 0 and max(means) / min(means) > 100:
        ax.set_xscale("log")  # a diverging init's loss would flatten everyone else's
    ax.set_xlabel(words(metric), fontsize=TEXT)
    ax.set_ylabel(axis, fontsize=TEXT)
    ax.tick_params(labelsize=SMALL)
    ax.margins(x=0.25)
    fig.suptitle(
        f"{heading(metric)} by {axis}, best first\n{seeds(r['n'] for r in rows)}", fontsize=TEXT
    )
    fig.set_layout_engine("constrained")
    return fig


def heatmap(
    rows: list[dict], varied: Sequence[str], metric: str, names: dict[str, str] | None = None
) -> Figure:
    """``metric`` means on the grid's two main axes, one panel per value of the others, on one
    colour scale (one colour bar, labelled); a cell says its value (* some seeds diverged),
    "diverged" (every seed), "no result" (none finished) or "not run" (not in the sweep)."""
    names = names or {}
    rows_axis, cols_axis, rest = _layout(varied)
    ys, xs = _values(rows, rows_axis), _values(rows, cols_axis)
    panels = sorted({tuple(r[k] for k in rest) for r in rows}, key=natural)
    width = min(1.3 * len(xs) * len(panels) + 1.2 + 0.07 * max(map(len, _named(ys, names))), 9.6)
    fig = Figure(figsize=(width, 0.42 * len(ys) + 1.9), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    means = [r[f"{metric} mean"] for r in rows if math.isfinite(r[f"{metric} mean"])]
    norm = Normalize(min(means, default=0.0), max(means, default=1.0))
    cmap = colormaps["viridis"].with_extremes(bad="0.9")  # light grey: no number there
    for ax, panel in zip(axes, panels, strict=True):
        grid = np.full((len(ys), len(xs)), np.nan)
        notes = np.full((len(ys), len(xs)), "not run", dtype=object)
        for r in rows:
            if tuple(r[k] for k in rest) != panel:
                continue
            i, j = ys.index(r.get(rows_axis, "")), xs.index(r.get(cols_axis, ""))
            grid[i, j] = r[f"{metric} mean"]
            if math.isfinite(grid[i, j]):
                notes[i, j] = f"{grid[i, j]:.2f}" + ("*" if r["diverged"] else "")
            else:
                notes[i, j] = "diverged" if r["diverged"] else "no result"
        image = ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto")
        for (i, j), note in np.ndenumerate(notes):
            # viridis is dark below its middle; a grey cell takes dark text
            light = math.isfinite(grid[i, j]) and norm(grid[i, j]) < 0.5
            color = "w" if light else "0.15"
            ax.text(j, i, note, ha="center", va="center", fontsize=SMALL, color=color)
        ax.set_xticks(range(len(xs)), _named(xs, names), fontsize=SMALL, rotation=20)
        ax.set_yticks(range(len(ys)), _named(ys, names), fontsize=SMALL)
        ax.set_xlabel(cols_axis or "", fontsize=TEXT)
        title = ", ".join(f"{k}={names.get(v, v)}" for k, v in zip(rest, panel, strict=True))
        ax.set_title(title, fontsize=TEXT)
    axes[0].set_ylabel(rows_axis or "", fontsize=TEXT)
    bar = fig.colorbar(image, ax=list(axes), fraction=0.06, pad=0.02, aspect=12)
    bar.set_label(words(metric), fontsize=SMALL)
    bar.ax.tick_params(labelsize=SMALL)
    where = " and ".join(a for a in (rows_axis, cols_axis) if a)
    note = seeds((r["n"] for r in rows), spread="mean")
    if any(r["diverged"] and math.isfinite(r[f"{metric} mean"]) for r in rows):
        note += "; * some seeds diverged"  # a cell marked so
    fig.suptitle(f"{heading(metric)} by {where}\n{note}", fontsize=TEXT)
    fig.set_layout_engine("constrained")
    return fig


def _named(values: Sequence[str], names: dict[str, str]) -> list[str]:
    return [names.get(v, v) for v in values]


def _band(series: list[dict[int, float]]) -> tuple[list[int], np.ndarray, np.ndarray, list[int]]:
    """Every step any series has, with the mean and std over the series that have a finite
    value there, and how many do: a seed that diverged or stopped early leaves the others'
    line going on (the title then says n=2-3 seeds)."""
    steps = sorted(set().union(*(set(s) for s in series)))
    values = np.array([[s.get(t, np.nan) for t in steps] for s in series], dtype=float)
    values[~np.isfinite(values)] = np.nan
    counts = np.isfinite(values).sum(axis=0).tolist()
    with warnings.catch_warnings():  # a step where every run is NaN stays NaN: a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        return steps, np.nanmean(values, axis=0), np.nanstd(values, axis=0), counts


def line_panels(
    series: dict[tuple[tuple, str], list[dict[int, float]]],
    title: str,
    xlabel: str,
    log: bool,
    *,
    ylabel: str = "",
    names: dict[str, str] | None = None,
    legend_title: str = "",
) -> Figure:
    """One panel per panel key (up to three across, then wrapped), one line per line key: the
    mean over its runs (seeds), with a ±1 std band where there are several. A panel with at most
    :data:`FEW` steps (a few epochs' validation) draws markers with error bars instead, each
    line nudged sideways so equal values stay apart, the steps as ticks. The title says how
    many seeds; the legend names each line by ``names`` (the value itself by default), in the
    order ``names`` gives them where it names them all, else in :func:`natural` order."""
    names = names or {}
    panels = sorted({panel for panel, _ in series}, key=natural)
    lines = sorted({line for _, line in series}, key=natural)
    if set(lines) <= set(names):  # a reproduction names its values in its table's order
        lines = [line for line in names if line in lines]
    # tab10's ten distinct colours, eleven markers and four dash patterns: no two of the first
    # 110 lines look alike (tab20 pairs a light and a dark shade of each colour: neighbours in
    # the sorted order, such as default and lecun, were near twins), and a line keeps its look
    # in every panel.
    colors, markers = colormaps["tab10"].colors, "osD^vP*Xh<>"
    look = {
        line: (colors[i % 10], ("-", "--", ":", "-.")[i // 10 % 4], markers[i % len(markers)])
        for i, line in enumerate(lines)
    }
    ncols = 2 if len(panels) == 4 else min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    legend = 2.3 if lines != ["all"] else 0.0  # the legend's column, beside the panels
    each = 4.6 if ncols == 1 else 3.1  # inches a panel: one alone gets the room
    fig = Figure(figsize=(min(each * ncols + 1.0, 9.6 - legend) + legend, 2.6 * nrows + 0.9))
    fig.set_dpi(100)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).flatten()
    counts, handles = [], {}
    for ax, panel in zip(axes, panels, strict=False):  # axes past the panels: hidden
        bands = {
            line: (_band(runs), len(runs))
            for (p, line), runs in series.items()
            if p == panel and runs
        }
        steps_here = sorted({t for (steps, *_), _ in bands.values() for t in steps})
        few = len(steps_here) <= FEW
        for line, ((steps, mean, std, per_step), n) in bands.items():
            if not steps:
                continue
            color, dashes, marker = look[line]
            label = names.get(line, line)
            if few:
                nudge = (lines.index(line) - (len(lines) - 1) / 2) * 0.5 / len(lines)
                x = [steps_here.index(t) + nudge for t in steps]
                handles[label] = ax.errorbar(
                    x,
                    mean,
                    yerr=std if n > 1 else None,
                    linestyle=dashes,
                    color=color,
                    marker=marker,
                    ms=6,
                    linewidth=1,
                    capsize=2,
                    label=label,
                )
            else:
                (handles[label],) = ax.plot(
                    steps,
                    mean,
                    dashes,
                    color=color,
                    label=label,
                    linewidth=1.2,
                    marker=marker,
                    ms=3,
                )
                if n > 1:
                    ax.fill_between(steps, mean - std, mean + std, alpha=0.2, color=color)
            counts += per_step
        if few:
            ax.set_xticks(range(len(steps_here)), [str(t) for t in steps_here])
            ax.set_xlim(-0.5, len(steps_here) - 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(", ".join(panel), fontsize=TEXT)
        ax.set_xlabel(xlabel, fontsize=TEXT)
        if log:
            ax.set_yscale("log")
        ax.tick_params(labelsize=SMALL)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(ylabel, fontsize=TEXT)
    fig.set_layout_engine("constrained")
    if legend:
        ordered = [names.get(line, line) for line in lines if names.get(line, line) in handles]
        fig.legend(
            [handles[label] for label in ordered],
            ordered,
            loc="outside right upper",
            fontsize=SMALL,
            title=legend_title or None,
            title_fontsize=SMALL,
            ncols=1 + len(lines) // 16,
        )
    # on the left: the legend holds the upper right
    fig.suptitle(f"{title}\n{seeds(counts)}", fontsize=TEXT, x=0.02, ha="left")
    return fig


def event_figures(
    jobs: Sequence[Job], varied: Sequence[str], names: dict[str, str] | None = None
) -> dict[str, Figure]:
    """The curves and depth figures, from the finished jobs' TensorBoard events: one line per
    value of the first varied axis (init), one panel per combination of the others; ``names``:
    the legend's and the panels' names for values."""
    names = names or {}
    line_axis, _, _ = _layout(varied)

    def keys(job: Job) -> tuple[tuple, str]:
        panel = tuple(
            f"{k}={names.get(job.overrides.get(k, ''), job.overrides.get(k, ''))}"
            for k in varied
            if k != line_axis
        )
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

    common = {"names": names, "legend_title": line_axis or ""}
    figures = {}
    for tag, series in curves.items():
        if series:
            log = "loss" in tag  # a diverging init's loss would flatten everyone else's
            title = f"{heading(tag)} against step"
            figures[f"curves_{tag.replace('/', '_')}"] = line_panels(
                series, title, "step", log, ylabel=words(tag), **common
            )
    for stat, series in depth.items():
        if series:
            title = f"{heading(stat)} at step 0, by layer"
            figures[f"depth_{stat}"] = line_panels(
                series, title, "layer (from the input)", True, ylabel=words(stat), **common
            )
    return figures
