"""The trainable region of a (σ_w², depth) grid: each column's deepest trained net read from
runs (a run with no result did not train), checked through the reproductions' own checks beside
the runs that share its labels, and its figure with the theory's curve over the grid."""

from __future__ import annotations

import math

import pytest

from initlab.reproductions.reproduction import Check, Sample, measure
from initlab.reproductions.trainable_region import (
    DEEPEST,
    OVER_THEORY,
    Region,
    figure,
    samples,
)

REGION = Region(
    metric="test/acc",
    threshold=0.4,
    x="init.sigma_w2",
    depth="model.depth",
    theory=lambda w: 10.0 * w**3,  # a made-up theory: easy to read off
    theory_label="made-up theory",
)


def run(sigma_w2: str, depth: int, seed: int, acc: float) -> Sample:
    labels = {"init.sigma_w2": sigma_w2, "model.depth": str(depth), "seed": str(seed)}
    return Sample(labels, lambda m: acc if m == "test/acc" else math.nan)


# σ_w² = 1: trains to depth 20 (seed 0) and 10 (seed 1); σ_w² = 2: a hole at 20 (diverged,
# NaN) and trains at 40; σ_w² = 3: nothing trains.
RUNS = [
    run("1", 10, 0, 0.8),
    run("1", 20, 0, 0.4),  # the threshold itself trained
    run("1", 40, 0, 0.1),
    run("1", 10, 1, 0.8),
    run("1", 20, 1, 0.39),
    run("1", 40, 1, 0.1),
    run("2", 10, 0, 0.8),
    run("2", 20, 0, math.nan),
    run("2", 40, 0, 0.7),
    run("3", 10, 0, 0.1),
    run("3", 20, 0, 0.1),
]


def values(metric: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["init.sigma_w2"], s.labels["seed"]): s.value(metric)
        for s in samples(REGION, RUNS)
    }


def test_each_column_gives_its_deepest_trained_net_and_that_over_the_theory():
    assert values(DEEPEST) == {("1", "0"): 20, ("1", "1"): 10, ("2", "0"): 40, ("3", "0"): 0}
    assert values(OVER_THEORY) == {("1", "0"): 2.0, ("1", "1"): 1.0, ("2", "0"): 0.5, ("3", "0"): 0}
    assert all(math.isnan(v) for v in values("test/acc").values())  # only its own metrics


def test_a_check_reads_the_column_beside_the_runs_that_share_its_labels():
    everything = samples(REGION, RUNS) + RUNS  # the runs after: their NaN must not hide it
    check = Check("deepest", {"init.sigma_w2": "1"}, DEEPEST, "-", (0, 100), "-")
    assert measure(check, everything) == (15.0, pytest.approx(math.sqrt(50)), 2)
    ratio = Check(
        "ratio", {"init.sigma_w2": "2"}, DEEPEST, "-", (0, 2), "-", over={"init.sigma_w2": "1"}
    )
    assert measure(ratio, everything) == (2.0, 0.0, 1)  # paired by seed: seed 0 alone


def test_the_figure_draws_the_grid_the_deepest_nets_and_the_theory():
    fig = figure(REGION, RUNS, "a title", "σ_w²")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    curve = lines["made-up theory"]
    assert curve.get_xdata()[0] == 1 and curve.get_xdata()[-1] == 3
    assert list(curve.get_ydata()[[0, -1]]) == [10, 92]  # 270, capped at twice the top
    deepest = lines["the deepest trained net (mean over seeds)"]
    assert list(deepest.get_xdata()) == [1, 2, 3] and list(deepest.get_ydata()) == [15, 40, 0]
    ringed = lines["trained in half the seeds or more (test/acc ≥ 0.4)"]
    assert sorted(zip(ringed.get_xdata(), ringed.get_ydata(), strict=True)) == [
        (1, 10),
        (1, 20),
        (2, 10),
        (2, 40),
    ]
    grid = ax.collections[0].get_array()
    assert grid.shape == (3, 3) and grid[0, 0] == 0.8 and grid[2, 2] is not None
    assert ax.get_title() == "a title" and ax.get_xlabel() == "σ_w²"
