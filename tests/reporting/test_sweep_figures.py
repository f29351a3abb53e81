"""The report's figures read at README width (~800 px): axes labelled with their units, titles in
words, the number of seeds shown (no ± for one), markers where there are few points, series that
equal values do not hide, legends named as the captions name them, cells not run marked, one
colour bar, labelled, beside the heatmap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer

from initlab.reporting.jobs import load
from initlab.reporting.sweep_figures import event_figures, heatmap, line_panels, ranked

README_PX = 960  # the widest a figure may be and still read at the README's ~800 px


def plotted(ax) -> dict[str, np.ndarray]:
    """Each series drawn on ``ax`` (a line or an error bar), by its legend label: its points."""
    series = {
        line.get_label(): line.get_xydata()
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            series[container.get_label()] = container[0].get_xydata()
    return series


def markers(ax) -> list:
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    lines += [c[0] for c in ax.containers if isinstance(c, ErrorbarContainer)]
    return lines


def width_px(fig) -> float:
    return fig.get_size_inches()[0] * fig.dpi


def legend_texts(fig) -> list[str]:
    (legend,) = fig.legends
    return [t.get_text() for t in legend.get_texts()]


CURVE = {step: 2.0 / (1 + step) for step in range(0, 100, 10)}


def test_one_seed_says_so_and_claims_no_spread():
    fig = line_panels({((), "he"): [CURVE]}, "Training loss against step", "step", True)
    title = fig.get_suptitle()
    assert title == "Training loss against step\nn=1 seed"
    assert not [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]  # no band


def test_several_seeds_say_how_many_with_their_band():
    runs = [{s: v * (1 + k / 10) for s, v in CURVE.items()} for k in range(3)]
    fig = line_panels({((), "he"): runs, ((), "xavier"): runs[:2]}, "Loss", "step", True)
    assert fig.get_suptitle() == "Loss\nmean ± std over n=2-3 seeds"
    assert len([c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]) == 2


def test_the_axes_are_labelled():
    fig = line_panels(
        {((), "he"): [CURVE]}, "t", "step", True, ylabel="training loss (cross-entropy)"
    )
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == (
        "step",
        "training loss (cross-entropy)",
    )


def test_a_single_point_is_a_visible_marker():
    fig = line_panels({((), "he"): [{40: 0.8}]}, "Validation accuracy", "step", False)
    (line,) = markers(fig.axes[0])
    assert line.get_marker() not in (None, "", "None") and line.get_markersize() >= 6
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["40"]


def test_few_points_keep_equal_series_apart():
    """Seven inits over two epochs, four of them at one value (the Udacity figure): every
    marker has a place of its own, and the ticks are the steps."""
    values = [0.1, 0.1, 0.35, 0.75, 0.85, 0.85, 0.85]
    series = {((), f"init{i}"): [{480: v, 960: v}] for i, v in enumerate(values)}
    ax = line_panels(series, "Validation accuracy", "step", False).axes[0]
    points = [tuple(p) for xy in plotted(ax).values() for p in xy]
    assert len(points) == 14 and len(set(points)) == 14
    assert all(line.get_markersize() >= 6 for line in markers(ax))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["480", "960"]


def test_the_legend_uses_the_captions_names_and_names_its_axis():
    series = {((), "he"): [CURVE], ((), "lecun"): [CURVE]}
    names = {"lecun": "Xavier √(1/n) (lecun)"}
    fig = line_panels(series, "t", "step", True, names=names, legend_title="init")
    assert legend_texts(fig) == ["he", "Xavier √(1/n) (lecun)"]  # he has no name: sorted
    assert fig.legends[0].get_title().get_text() == "init"


def test_a_line_absent_from_the_first_panel_is_still_in_the_legend():
    series = {(("depth=2",), "he"): [CURVE], (("depth=8",), "xavier"): [CURVE]}
    assert legend_texts(line_panels(series, "t", "step", True)) == ["he", "xavier"]


def test_four_panels_wrap_to_readme_width():
    series = {((f"depth={d}",), "he"): [CURVE] for d in (2, 4, 8, 16)}
    fig = line_panels(series, "t", "step", True, ylabel="loss")
    assert width_px(fig) <= README_PX
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 4 and [ax.get_ylabel() for ax in shown] == ["loss", "", "loss", ""]


def row(init: str, activation: str, acc: float, n: int = 3, diverged: int = 0) -> dict:
    return {
        "init": init,
        "activation": activation,
        "n": n,
        "diverged": diverged,
        "failed": 0,
        "missing": 0,
        "test/acc mean": acc,
        "test/acc std": 0.01,
    }


def test_a_cell_not_run_says_so_and_the_colour_bar_is_labelled_and_attached():
    """Glorot & Bengio's grid: the sigmoid ran with the standard init only."""
    rows = [
        row("uniform_rule", "sigmoid", 0.10),
        row("uniform_rule", "tanh", 0.84),
        row("xavier", "tanh", 0.85),
        row("xavier", "softsign", float("nan"), n=0, diverged=3),
    ]
    names = {"uniform_rule": "standard (uniform_rule)"}
    fig = heatmap(rows, ["init", "activation"], "test/acc", names=names)
    ax, bar = fig.axes
    cells = {t.get_text(): t for t in ax.texts}
    assert {"not run", "diverged", "0.10", "0.84", "0.85"} <= set(cells)
    assert sum(t.get_text() == "not run" for t in ax.texts) == 2  # xavier×sigmoid, std×softsign
    # dark text on a light cell (the blank cell was white on white)
    assert np.mean(to_rgb(cells["not run"].get_color())) < 0.5
    assert np.mean(ax.images[0].cmap.get_bad()[:3]) > 0.7
    assert [t.get_text() for t in ax.get_yticklabels()] == ["standard (uniform_rule)", "xavier"]
    assert bar.get_ylabel() == "test accuracy (fraction correct)"
    fig.canvas.draw()
    gap = bar.get_position().x0 - ax.get_position().x1  # figure fractions
    assert 0 < gap * width_px(fig) < 40  # pixels: beside the grid, not across the figure
    assert fig.get_suptitle() == ("Test accuracy by init and activation\nmean over n=3 seeds")
    one = heatmap([row("he", "relu", 0.9, n=1)], ["init", "activation"], "test/acc")
    assert one.get_suptitle().endswith("\nn=1 seed")


def test_the_ranking_labels_its_axis_and_counts_its_seeds():
    rows = [
        {**row("he", "relu", 0.9, n=1), "test/acc std": 0.0},
        {**row("zeros", "relu", 0.1, n=1), "test/acc std": 0.0},
    ]
    fig = ranked(rows, "init", "test/acc", names={"zeros": "all zeros (zeros)"})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "test accuracy (fraction correct)" and ax.get_ylabel() == "init"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["he", "all zeros (zeros)"]
    assert fig.get_suptitle() == "Test accuracy by init, best first\nn=1 seed"
    assert "±" not in " ".join(t.get_text() for t in ax.texts)


def _job(sweep: Path, init: str, seed: int, tags: dict[str, dict[int, float]]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    folder = sweep / f"init={init},seed={seed}"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([f"init={init}", f"seed={seed}"])
    )
    (folder / "metrics.json").write_text(json.dumps({"status": "completed", "metrics": {}}))
    with SummaryWriter(str(folder)) as writer:
        for tag, values in tags.items():
            for step, value in values.items():
                writer.add_scalar(tag, value, step)


def test_the_report_figures_from_one_seed_of_one_epoch(tmp_path):
    """A quick sweep: one seed, one epoch (val/acc at one step), step-0 diagnostics."""
    for init, scale in (("he", 1.0), ("lecun", 0.5)):
        depth = {f"activations/layer{k}/std": {0: scale**k} for k in (1, 2, 3)}
        _job(tmp_path, init, 0, {"val/acc": {40: 0.9 * scale}, "train/loss": CURVE, **depth})
    figures = event_figures(load(tmp_path), ["init"], names={"lecun": "Xavier √(1/n) (lecun)"})
    assert set(figures) == {"curves_val_acc", "curves_train_loss", "depth_activation_std"}
    val = figures["curves_val_acc"]
    assert val.get_suptitle() == "Validation accuracy against step\nn=1 seed"
    ax = val.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "validation accuracy (fraction correct)")
    assert all(line.get_markersize() >= 6 for line in markers(ax))
    assert legend_texts(val) == ["he", "Xavier √(1/n) (lecun)"]
    loss = figures["curves_train_loss"]
    assert loss.axes[0].get_ylabel() == "training loss (cross-entropy)"
    depth = figures["depth_activation_std"]
    assert depth.get_suptitle() == "Std of activations at step 0, by layer\nn=1 seed"
    assert (depth.axes[0].get_xlabel(), depth.axes[0].get_ylabel()) == (
        "layer (from the input)",
        "std of activations",
    )
    assert all(width_px(fig) <= README_PX for fig in figures.values())


def test_numbers_in_names_sort_as_numbers():
    """Depths 2, 8, 32 (not 2, 32, 8); layer 2 before layer 10."""
    series = {
        ((f"model.depth={d}",), f"layer {k}"): [CURVE] for d in (2, 32, 8) for k in (2, 10, 1)
    }
    fig = line_panels(series, "t", "step", True)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["model.depth=2", "model.depth=8", "model.depth=32"]
    assert legend_texts(fig) == ["layer 1", "layer 2", "layer 10"]
    rows = [row("he", str(lr), 0.5) for lr in (0.1, 10, 1)]
    ax = heatmap(rows, ["init", "activation"], "test/acc").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1", "1", "10"]


def test_named_lines_come_in_the_order_the_names_are_given():
    """A reproduction lists its inits as its table does (zeros, ones, default): the legend
    follows; where some line has no name, the natural order."""
    series = {((), init): [CURVE] for init in ("default", "ones", "zeros")}
    names = {"zeros": "all zeros (zeros)", "ones": "all ones (ones)", "default": "default"}
    fig = line_panels(series, "t", "step", True, names=names)
    assert legend_texts(fig) == ["all zeros (zeros)", "all ones (ones)", "default"]
    series[((), "he")] = [CURVE]
    fig = line_panels(series, "t", "step", True, names=names)
    assert legend_texts(fig) == ["default", "he", "all ones (ones)", "all zeros (zeros)"]


def test_a_seed_that_stopped_early_leaves_the_others_line_going_on():
    # one of three seeds diverged at step 30: the mean goes on over the two that trained on
    stopped = {s: v for s, v in CURVE.items() if s <= 30}
    stopped[30] = float("nan")
    fig = line_panels({((), "he"): [CURVE, CURVE, stopped]}, "Loss", "step", True)
    (he,) = plotted(fig.axes[0]).values()
    assert he[:, 0].tolist() == sorted(CURVE)  # to the last step, not to the divergence
    assert np.allclose(he[:, 1], list(CURVE.values()))
    assert fig.get_suptitle() == "Loss\nmean ± std over n=2-3 seeds"
