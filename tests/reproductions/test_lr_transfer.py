"""The learning-rate transfer of a (width × learning rate) grid, on synthetic grids whose answer
is known: each width's best learning rate, how far it moves, and the loss at the transferred
one."""

from __future__ import annotations

import math

import pytest

from initlab.reproductions import REPRODUCTIONS
from initlab.reproductions.lr_transfer import (
    BEST,
    MOVED,
    SPREAD,
    WIDENING,
    WIDEST,
    Transfer,
    best,
    figure,
    samples,
)
from initlab.reproductions.reproduction import Sample, check_rows

TRANSFER = Transfer(metric="train/loss")
WIDTHS = (64, 256, 1024)
LOG2_LRS = range(-14, -5)


def run(parametrization: str, width: int, log2_lr: int, seed: int, loss: float) -> Sample:
    labels = {
        "parametrization": parametrization,
        "model.width": str(width),
        "optimizer.lr": repr(2.0**log2_lr),
        "seed": str(seed),
    }
    return Sample(labels, lambda m: loss if m == "train/loss" else math.nan)


def bowl(optimum: dict[int, int], floor: dict[int, float], parametrization: str, seed: int = 0):
    """A loss (log₂ lr − the width's optimum)² / 10 + its floor at every grid point."""
    return [
        run(parametrization, w, k, seed, (k - optimum[w]) ** 2 / 10 + floor[w])
        for w in WIDTHS
        for k in LOG2_LRS
    ]


SP = bowl({64: -9, 256: -10, 1024: -12}, {64: 0.55, 256: 0.52, 1024: 0.50}, "sp")
MUP = bowl({64: -9, 256: -9, 1024: -9}, {64: 0.55, 256: 0.51, 1024: 0.50}, "mup")


def derived(runs) -> dict[str, Sample]:
    return {s.labels["parametrization"]: s for s in samples(TRANSFER, runs)}


def test_each_width_s_best_learning_rate_and_how_far_it_moves():
    sp, mup = derived(SP + MUP)["sp"], derived(SP + MUP)["mup"]
    assert [sp.value(f"{BEST}_at_width_{w}") for w in WIDTHS] == [-9, -10, -12]
    assert [mup.value(f"{BEST}_at_width_{w}") for w in WIDTHS] == [-9, -9, -9]
    assert sp.value(MOVED) == 3 and sp.value(SPREAD) == 3
    assert mup.value(MOVED) == 0 and mup.value(SPREAD) == 0


def test_the_loss_at_the_learning_rate_tuned_on_the_narrowest_net():
    sp, mup = derived(SP + MUP)["sp"], derived(SP + MUP)["mup"]
    # μP at 2^-9: 0.55, 0.51, 0.50. SP at 2^-9: 0.55, 0.52 + 0.1, 0.50 + 0.9.
    assert mup.value(WIDEST) == pytest.approx(0.50 - 0.55)
    assert mup.value(WIDENING) == pytest.approx(0.50 - 0.51)
    assert sp.value(WIDEST) == pytest.approx(1.40 - 0.55)
    assert sp.value(WIDENING) == pytest.approx(1.40 - 0.62)


def test_a_spread_counts_the_width_farthest_from_the_narrowest_not_only_the_widest():
    runs = bowl({64: -9, 256: -12, 1024: -10}, {64: 0.5, 256: 0.5, 1024: 0.5}, "mup")
    one = derived(runs)["mup"]
    assert one.value(MOVED) == 1 and one.value(SPREAD) == 3


def test_a_diverged_run_is_never_the_best_and_an_all_diverged_width_has_no_best():
    assert best({-9.0: math.inf, -10.0: 0.7, -11.0: 0.8}) == -10.0
    assert best({-9.0: 0.5, -10.0: 0.5}) == -10.0  # a tie: the smaller rate
    assert math.isnan(best({-9.0: math.inf}))
    runs = [
        run("sp", w, k, 0, math.nan if k == -9 else (k + 9) ** 2 + 1)
        for w in WIDTHS
        for k in (-10, -9, -8)
    ]
    one = derived(runs)["sp"]
    assert one.value(f"{BEST}_at_width_64") == -10  # the tie between -10 and -8: the smaller


def test_one_sample_per_parametrization_and_seed_and_none_for_a_single_width():
    runs = SP + bowl({64: -9, 256: -11, 1024: -13}, {64: 0.5, 256: 0.5, 1024: 0.5}, "sp", seed=1)
    found = samples(TRANSFER, runs)
    assert [(s.labels["parametrization"], s.labels["seed"]) for s in found] == [
        ("sp", "0"),
        ("sp", "1"),
    ]
    assert [s.value(MOVED) for s in found] == [3, 4]
    assert samples(TRANSFER, [r for r in SP if r.labels["model.width"] == "64"]) == []


def test_the_yang2021_checks_read_the_grid_the_way_the_paper_states_its_claims():
    """The reproduction's claims on a grid shaped as the paper's figure 1 match, and on one
    where μP's optimum moves two powers of 2 they do not."""
    rep = REPRODUCTIONS["yang2021"]
    five = (64, 128, 256, 512, 1024)

    def grid(optimum, floor, parametrization, seed):
        return [
            run(parametrization, w, k, seed, (k - optimum(w)) ** 2 / 10 + floor(w))
            for w in five
            for k in range(-14, -5)
        ]

    def rows(mup_optimum):
        runs = []
        for seed in (0, 1):
            runs += grid(
                lambda w: -9 - round(math.log2(w / 64)) * 3 // 4, lambda w: 0.5, "sp", seed
            )
            runs += grid(mup_optimum, lambda w: 0.55 - 0.01 * math.log2(w / 64), "mup", seed)
        found = check_rows(rep, runs + samples(rep.transfer, runs))
        return {
            r["check"]: r["verdict"]
            for r in found
            if r["metric"] in (SPREAD, MOVED, WIDEST, WIDENING)
        }

    assert set(rows(lambda w: -9).values()) == {"matches", "reported"}
    moved = rows(lambda w: -9 - (2 if w == 1024 else 0))
    assert [v for c, v in moved.items() if "every width" in c] == ["does not match"]


def test_the_figure_has_a_panel_per_parametrization_and_a_line_and_star_per_width():
    fig = figure(TRANSFER, SP + MUP, {"mup": "μP"}, "training loss")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["sp", "μP"]
    for ax in axes:
        lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
        stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
        assert len(lines) == len(WIDTHS) and len(stars) == len(WIDTHS)
    stars = [line.get_xdata()[0] for line in axes[0].get_lines() if line.get_marker() == "*"]
    assert stars == [-9, -10, -12]
