"""Learning-rate transfer across widths (Yang et al. 2021, "Tensor Programs V", figure 1): a
grid of nets over (width, learning rate) under each parametrization; where the loss is lowest at
each width, how far that learning rate moves from the narrowest net to the widest, and the loss
of each width at the learning rate tuned on the narrowest (the transferred one).

A :class:`Transfer` turns a sweep's samples into one sample per (parametrization, seed), with
the metrics its checks read, learning rates in powers of 2 (log₂):

- ``best_log2_lr_at_width_W``: the learning rate of the lowest loss at width W;
- ``best_lr_moved``: |best at the widest − best at the narrowest|;
- ``best_lr_spread``: the largest |best at W − best at the narrowest| over the widths;
- ``widest_minus_narrowest``: the widest net's loss minus the narrowest's, both at the
  narrowest's best learning rate (below 0: the wider net is better there);
- ``worst_widening``: the largest rise of that loss from one width to the next wider.

A run with no loss (diverged, or never finished) counts as an infinite loss: never the best.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from initlab.reproductions.reproduction import Sample

BEST = "best_log2_lr"
MOVED = "best_lr_moved"
SPREAD = "best_lr_spread"
WIDEST = "widest_minus_narrowest"
WIDENING = "worst_widening"


@dataclass(frozen=True)
class Transfer:
    metric: str  # the loss (lower is better), e.g. "train/loss": the mean over the run's steps
    width: str = "model.width"  # the override giving the width
    lr: str = "optimizer.lr"
    by: str = "parametrization"  # one grid, and one panel, per value


Grid = dict[int, dict[float, float]]  # width -> {log₂ lr: loss}


def _grids(transfer: Transfer, runs: Sequence[Sample]) -> dict[tuple[str, str], Grid]:
    """(parametrization, seed) -> its grid, over the samples that have all three labels."""
    grids: dict[tuple[str, str], Grid] = defaultdict(lambda: defaultdict(dict))
    for s in runs:
        if all(k in s.labels for k in (transfer.width, transfer.lr, transfer.by)):
            loss = s.value(transfer.metric)
            width = int(s.labels[transfer.width])
            log2_lr = math.log2(float(s.labels[transfer.lr]))
            key = (s.labels[transfer.by], s.labels.get("seed", ""))
            grids[key][width][log2_lr] = math.inf if math.isnan(loss) else loss
    return grids


def best(losses: dict[float, float]) -> float:
    """The log₂ learning rate of the lowest loss (the smaller rate on a tie); NaN when every
    run diverged."""
    finite = {lr: v for lr, v in losses.items() if math.isfinite(v)}
    return min(finite, key=lambda lr: (finite[lr], lr)) if finite else math.nan


def metrics(grid: Grid) -> dict[str, float]:
    """The transfer metrics of one (parametrization, seed)'s grid (the module's docstring)."""
    widths = sorted(grid)
    bests = {w: best(grid[w]) for w in widths}
    narrow, wide = widths[0], widths[-1]
    tuned = bests[narrow]
    at_tuned = [grid[w].get(tuned, math.nan) for w in widths]
    out = {f"{BEST}_at_width_{w}": b for w, b in bests.items()}
    out[MOVED] = abs(bests[wide] - bests[narrow])
    out[SPREAD] = max(abs(b - bests[narrow]) for b in bests.values())
    out[WIDEST] = at_tuned[-1] - at_tuned[0]
    out[WIDENING] = max(b - a for a, b in pairwise(at_tuned))
    return out


def samples(transfer: Transfer, runs: Sequence[Sample]) -> list[Sample]:
    """One sample per (parametrization, seed) with its grid's transfer metrics."""
    derived = []
    for (by, seed), grid in sorted(_grids(transfer, runs).items()):
        if len(grid) < 2:
            continue  # one width: nothing transfers
        values = metrics(grid)
        derived.append(
            Sample({transfer.by: by, "seed": seed}, lambda m, v=values: v.get(m, math.nan))
        )
    return derived


def _mean_curves(transfer: Transfer, runs: Sequence[Sample]) -> dict[str, Grid]:
    """parametrization -> width -> {log₂ lr: the mean loss over seeds (inf if any diverged)}."""
    pooled: dict[str, dict[int, dict[float, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for (by, _), grid in _grids(transfer, runs).items():
        for width, losses in grid.items():
            for lr, loss in losses.items():
                pooled[by][width][lr].append(loss)
    return {
        by: {w: {lr: statistics.fmean(v) for lr, v in lrs.items()} for w, lrs in widths.items()}
        for by, widths in pooled.items()
    }


def figure(
    transfer: Transfer, runs: Sequence[Sample], names: dict[str, str], ylabel: str
) -> Figure:
    """The paper's figure 1: the loss (mean over seeds) against log₂ of the learning rate, one
    line per width (darker: wider), one panel per parametrization side by side on one scale;
    each width's best learning rate starred."""
    curves = _mean_curves(transfer, runs)
    order = sorted(curves, key=lambda by: (by != "sp", by))  # SP first, as in the paper
    widths = sorted({w for grid in curves.values() for w in grid})
    colors = colormaps["viridis_r"](np.linspace(0.15, 0.95, len(widths)))
    fig = Figure(figsize=(4.2 * len(order), 3.8), dpi=100)
    axes = fig.subplots(1, len(order), sharey=True, squeeze=False)[0]
    finite = [v for g in curves.values() for lrs in g.values() for v in lrs.values()]
    finite = [v for v in finite if math.isfinite(v)]
    low = min(finite, default=0.0)
    high = min(max(finite, default=1.0), 3 * low if low > 0 else math.inf)
    for ax, by in zip(axes, order, strict=True):
        for width, color in zip(widths, colors, strict=True):
            losses = curves[by].get(width)
            if not losses:
                continue
            lrs = sorted(losses)
            ax.plot(lrs, [losses[lr] for lr in lrs], "-o", ms=3, color=color, label=str(width))
            star = best(losses)
            if not math.isnan(star):
                ax.plot(star, losses[star], "*", ms=12, color=color, mec="k", mew=0.6)
        ax.set_title(names.get(by, by), fontsize=10)
        ax.set_xlabel(f"log₂ learning rate ({transfer.lr})")
        ax.grid(alpha=0.3)
        ax.set_ylim(low - 0.05 * (high - low), high)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(title=f"width ({transfer.width})", fontsize=7, title_fontsize=7)
    fig.suptitle("The loss against the learning rate at each width (★: the best)", fontsize=10)
    fig.tight_layout()
    return fig
