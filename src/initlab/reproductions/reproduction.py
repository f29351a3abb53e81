"""What a reproduction is, and how its checks are read from results.

A :class:`Reproduction` is a published experiment: its source, its protocol, the commands that
rerun it here (``train.py -m`` sweeps, or probes of the untrained net) and its :class:`Check` s.
A check is one published figure: the grid point it is about, the metric, the number as the
source prints it, and the band the mean over seeds measured here must fall in, with why the band
is that wide. A band is set from the source and the measured seed spread, never widened until a
result passes.

A check reads :class:`Sample` s, one per finished run (its labels: the overrides that made it,
seed included, and its metrics): a run's final metrics (``val/acc``), a training curve at a step
(``train/loss@499``: the value TensorBoard holds at step 499), the first step a curve reaches a
value (``train/loss<=0.6``), or a probe's layer statistic (``std@layer3``). With ``minus``, a
check's value is the difference between two grid points, paired by seed (``He is below Xavier
at step 499``: a band above 0); with ``over``, their ratio (``depth 32 takes no longer than
depth 2``).

Where the published data set needs a download (MNIST, CIFAR-10) a reproduction runs an offline
analogue (FashionMNIST), labelled as such, and names its :class:`Original`: the same sweeps on
the published data set, with the published bands, run instead whenever its files are present.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from initlab.reproductions.lr_transfer import Transfer
    from initlab.reproductions.trainable_region import Region

# What a quoted Hydra override value cannot carry as plain text (``dataset.data_dir='…'``).
UNQUOTABLE = ("'", "\\", "${")


@dataclass(frozen=True)
class Check:
    label: str
    point: dict[str, str]  # the labels that pick the grid point, e.g. {"init": "zeros"}
    metric: str  # "val/acc", "train/loss@499", "std@layer3"
    published: str  # as the source prints it
    band: tuple[float, float] | None  # None: reported, not checked (another protocol or data)
    why: str
    minus: dict[str, str] | None = None  # the value is point's minus this point's, per seed
    over: dict[str, str] | None = None  # the value is point's over this point's, per seed


@dataclass(frozen=True)
class CoordCheck:
    """μP's coordinate check beside a reproduction (``python -m initlab.coord_check``): the run
    its overrides describe, at each width, under SP and μP. Its checks read
    ``logits_slope_at_step_K`` and ``steepest_slope_at_step_K`` at the point ``{"parametrization":
    "sp"}`` or ``"mup"``."""

    overrides: tuple[str, ...]
    widths: tuple[int, ...]


@dataclass(frozen=True)
class Original:
    """The published data set, run instead of the offline analogue when its files are present:
    the reproduction's sweeps with ``dataset=<dataset>``, checked against the published bands."""

    dataset: str  # a dataset config: mnist, cifar10
    title: str
    protocol: str  # how the run differs from the published one on the published data
    checks: list[Check]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reproduction:
    name: str
    title: str
    source: str  # where the numbers are printed
    protocol: str  # the published setup, and how this one differs
    checks: list[Check]
    sweeps: list[list[str]] = field(default_factory=list)  # train.py -m overrides, one each
    probes: list[list[str]] = field(default_factory=list)  # initlab.probe overrides, per seed
    figures: tuple[str, ...] = ("curves_val_acc", "curves_train_loss")  # the report's, copied
    # (metric, x, line): a figure of the metric against a numeric override, one line per value
    # of another, e.g. ("train/acc", "init.std", "model.batch_norm")
    against: tuple[str, str, str] | None = None
    # [(stat, points)]: a figure each, every layer's activations/layerK/<stat> against the
    # step, one panel per grid point (Glorot & Bengio's figures 2-4), e.g.
    # [("saturation", [{"activation": "tanh"}])]
    layers: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the figures' names for grid values (legends, ticks, panels), as the captions call them:
    # {"lecun": "Xavier √(1/n) (lecun)"}; a value without one is shown as it is
    names: dict[str, str] = field(default_factory=dict)
    quick: bool = False  # in ``--quick``: fits the test suite
    theory: bool = False  # its probes' mean-field comparison (theory.png) shown too
    # the sweep's trainable region over (a hyperparameter, depth): its checks may read each
    # column's deepest trained net, and its figure draws the theory's curve over the grid
    region: Region | None = None
    # a grid over (width, learning rate) per parametrization: its checks may read where the
    # loss is lowest at each width, and its figure is the loss against the learning rate
    transfer: Transfer | None = None
    coord_check: CoordCheck | None = None  # μP's coordinate check, its slopes and its figure
    original: Original | None = None  # the published data set, when the analogue runs here
    data: str | None = None  # the dataset its sweeps are switched to (the original's); None: as
    # its experiments set it

    @property
    def label(self) -> str:
        """Its name in tables and folders: ``zta_lab10``, or ``zta_lab10_mnist`` on the
        original."""
        return self.name if self.data is None else f"{self.name}_{self.data}"

    def on_original(self, data_dir: str | None = None) -> Reproduction:
        """This reproduction on its published data set: every sweep with ``dataset=<name>``
        (and ``dataset.data_dir=<data_dir>`` when given), the original's title, protocol,
        checks and notes."""
        if self.original is None:
            raise ValueError(f"{self.name} has no original data set to run on")
        o = self.original
        extra = [f"dataset={o.dataset}"]
        if data_dir:
            if any(c in data_dir for c in UNQUOTABLE):
                raise ValueError(f"data_dir={data_dir!r}: a quote in its name (or '\\', '${{')")
            # Quoted: a comma, an equals sign or a space in the path is the path's, not a sweep.
            extra.append(f"dataset.data_dir='{data_dir}'")
        return replace(
            self,
            title=o.title,
            protocol=o.protocol,
            checks=o.checks,
            notes=o.notes,
            sweeps=[[*sweep, *extra] for sweep in self.sweeps],
            original=None,
            data=o.dataset,
        )


@dataclass(frozen=True)
class Sample:
    """One finished run: its labels (override -> value, ``seed`` included) and its metrics."""

    labels: dict[str, str]
    value: Callable[[str], float]  # metric name -> number (NaN when the run has none)


def verdict(value: float, band: tuple[float, float] | None) -> str:
    """``matches`` when ``value`` is inside ``band`` (ends included; ±inf is a value: a curve
    that never reached its criterion), ``no result`` for NaN, ``reported`` without a band."""
    if math.isnan(value):
        return "no result"
    if band is None:
        return "reported"
    low, high = band
    return "matches" if low <= value <= high else "does not match"


def _per_seed(samples: Sequence[Sample], point: dict[str, str], metric: str) -> dict[str, float]:
    """seed -> the metric, over the samples at the point that have it (not NaN): a run and the
    summary of its column (:mod:`.trainable_region`) can share a point's labels."""
    values = {}
    for s in samples:
        if all(s.labels.get(k) == v for k, v in point.items()):
            value = s.value(metric)
            if not math.isnan(value):
                values[s.labels.get("seed", "")] = value
    return values


def measure(check: Check, samples: Sequence[Sample]) -> tuple[float, float, int]:
    """The check's value over seeds: (mean, sample std, n). A seed whose value is NaN (or,
    with ``minus`` or ``over``, whose other point is missing) is left out; an infinite value
    stays (the mean is then infinite, the std NaN)."""
    values = _per_seed(samples, check.point, check.metric)
    if check.minus is not None:
        other = _per_seed(samples, check.minus, check.metric)
        values = {seed: v - other[seed] for seed, v in values.items() if seed in other}
    if check.over is not None:
        other = _per_seed(samples, check.over, check.metric)
        values = {seed: v / other[seed] for seed, v in values.items() if other.get(seed)}
    kept = [v for v in values.values() if not math.isnan(v)]
    if not kept:
        return float("nan"), float("nan"), 0
    if not all(math.isfinite(v) for v in kept):
        return (math.inf if max(kept) == math.inf else -math.inf), float("nan"), len(kept)
    std = statistics.stdev(kept) if len(kept) > 1 else 0.0
    return statistics.fmean(kept), std, len(kept)


def check_rows(reproduction: Reproduction, samples: Sequence[Sample]) -> list[dict]:
    """One row per check: the measured mean ± std over seeds and its verdict."""
    rows = []
    for check in reproduction.checks:
        mean, std, n = measure(check, samples)
        rows.append(
            {
                "reproduction": reproduction.label,
                "check": check.label,
                "metric": check.metric,
                "published": check.published,
                "band": check.band,
                "mean": mean,
                "std": std,
                "n": n,
                "verdict": verdict(mean, check.band),
            }
        )
    return rows
