"""The reproductions: a band's verdict, each check read from results (final metrics, a curve at
a step, a probe's layer, a difference paired by seed), the page regenerated the same from the
same results, `--quick` end to end (its verdicts, its page and figures), and the published data
set (MNIST, CIFAR-10) run instead of the offline analogue whenever its files are present."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, groups_options, write_raw_mnist
from hydra import compose, initialize_config_dir
from torch.utils.tensorboard import SummaryWriter

from initlab.config.errors import ConfigError
from initlab.config.hydra_conf import CONF_DIR
from initlab.data import readers
from initlab.reproduce import choose, data_dirs, page, sweep_samples, table
from initlab.reproductions import REPRODUCTIONS
from initlab.reproductions.reproduction import (
    Check,
    Reproduction,
    Sample,
    check_rows,
    measure,
    verdict,
)
from initlab.training.spec import build


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.5, "matches"),
        (0.4, "matches"),  # the ends belong to the band
        (0.6, "matches"),
        (0.3999, "does not match"),
        (0.6001, "does not match"),
        (float("nan"), "no result"),
    ],
)
def test_a_band_says_whether_a_result_matches(value, expected):
    assert verdict(value, (0.4, 0.6)) == expected
    assert verdict(value, None) == ("no result" if value != value else "reported")


def test_an_open_band_checks_one_side():
    assert verdict(0.001, (0.0, math.inf)) == "matches"
    assert verdict(-0.001, (0.0, math.inf)) == "does not match"
    assert verdict(math.inf, (2.0, math.inf)) == "matches"  # never reached: longer than any
    assert verdict(math.inf, (0.0, 1.5)) == "does not match"


def test_an_open_band_is_shown_with_its_end_included():
    # verdict counts the ends in (90 matches a band from 90 up): the table must not say "> 90"
    rows = [
        {"reproduction": "r", "check": c, "metric": "m", "published": "p", "band": band,
         "mean": 90.0, "std": 0.0, "n": 2, "verdict": verdict(90.0, band)}
        for c, band in (("up", (90.0, math.inf)), ("down", (-math.inf, 90.0)))
    ]  # fmt: skip
    text = table(rows)
    assert "| r | up | m | p | ≥ 90 | 90 ± 0 (n=2) | matches |" in text, text
    assert "| r | down | m | p | ≤ 90 | 90 ± 0 (n=2) | matches |" in text, text


def _job(sweep: Path, overrides: list[str], init: str, metrics: dict, status="completed") -> Path:
    folder = sweep / ",".join(sorted(overrides))
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"init": {"name": init}}))
    (folder / "metrics.json").write_text(json.dumps({"status": status, "metrics": metrics}))
    return folder


def udacity_like(sweep: Path, accs: dict[str, list[float]]) -> None:
    for init, values in accs.items():
        for seed, acc in enumerate(values):
            extra = (
                ["init=uniform", "init.a=-0.5", "init.b=0.5"] if "(" in init else [f"init={init}"]
            )
            overrides = ["experiment=udacity", *extra, f"seed={seed}"]
            _job(sweep, overrides, init.split("(")[0], {"val/acc": acc, "test/acc": acc})


def test_each_check_reads_its_grid_point_and_the_page_is_deterministic(tmp_path):
    rep = REPRODUCTIONS["udacity"]
    accs = {c.point["init"]: [sum(c.band) / 2] * 3 for c in rep.checks}
    accs["lecun"] = [0.80, 0.81, 0.82]  # outside its band
    udacity_like(tmp_path, accs)
    rows = check_rows(rep, sweep_samples(tmp_path))
    assert [r["check"] for r in rows] == [c.label for c in rep.checks]
    by_check = {r["check"]: r for r in rows}
    assert by_check["N(0, 1/n)"]["verdict"] == "does not match"
    assert by_check["N(0, 1/n)"]["mean"] == pytest.approx(0.81)
    assert by_check["N(0, 1/n)"]["std"] == pytest.approx(0.01)
    assert by_check["N(0, 1/n)"]["n"] == 3
    assert all(r["verdict"] == "matches" for r in rows if r["check"] != "N(0, 1/n)")
    shown = {"udacity": ["udacity_curves_val_acc.png"]}
    again = check_rows(rep, sweep_samples(tmp_path))
    assert page([rep], rows, shown) == page([rep], again, shown)
    assert "| udacity | N(0, 1/n) | val/acc | 85.2% | 0.837 – 0.867 | 0.81 ± 0.01 (n=3) |" in (
        table(rows)
    )
    assert "![udacity_curves_val_acc.png](reproductions/udacity_curves_val_acc.png)" in page(
        [rep], rows, shown
    )


def test_a_missing_grid_point_is_no_result_and_unfinished_runs_are_left_out(tmp_path):
    rep = REPRODUCTIONS["udacity"]
    udacity_like(tmp_path, {"zeros": [0.1, 0.1, 0.1], "ones": [0.1, 0.1, 0.1]})
    _job(tmp_path, ["experiment=udacity", "init=default", "seed=0"], "default", {}, "running")
    diverged = {"val/acc": 0.2}  # what it had when its loss became NaN: a result
    _job(tmp_path, ["experiment=udacity", "init=lecun", "seed=0"], "lecun", diverged, "diverged")
    rows = {r["check"]: r for r in check_rows(rep, sweep_samples(tmp_path))}
    assert rows["all zeros"]["verdict"] == "matches"
    assert rows["PyTorch default"]["verdict"] == "no result"
    assert rows["PyTorch default"]["n"] == 0
    assert (rows["N(0, 1/n)"]["mean"], rows["N(0, 1/n)"]["verdict"]) == (0.2, "does not match")


def _sample(seed: int, value: float, **labels) -> Sample:
    return Sample({**labels, "seed": str(seed)}, lambda metric: value)


def test_a_difference_is_paired_by_seed():
    check = Check("x", {"init": "lecun"}, "m", "", (0.0, math.inf), "", minus={"init": "he"})
    samples = [
        _sample(0, 1.0, init="lecun"),
        _sample(1, 1.5, init="lecun"),
        _sample(2, 9.0, init="lecun"),  # its pair is missing: left out
        _sample(0, 0.5, init="he"),
        _sample(1, 0.5, init="he"),
    ]
    mean, std, n = measure(check, samples)
    assert (mean, n) == (pytest.approx(0.75), 2)
    assert std == pytest.approx(math.sqrt(0.125))
    below = [_sample(0, 0.2, init="lecun"), _sample(0, 0.5, init="he")]
    assert check_rows(Reproduction("r", "", "", "", [check]), below)[0]["verdict"] == (
        "does not match"
    )


def test_a_ratio_is_paired_by_seed():
    check = Check("x", {"depth": "32"}, "m", "", (0.0, 1.5), "", over={"depth": "2"})
    samples = [
        _sample(0, 300.0, depth="32"),
        _sample(1, 500.0, depth="32"),
        _sample(2, 100.0, depth="32"),  # its pair reached nothing (0 steps): left out
        _sample(0, 200.0, depth="2"),
        _sample(1, 250.0, depth="2"),
        _sample(2, 0.0, depth="2"),
    ]
    mean, _, n = measure(check, samples)
    assert (mean, n) == (pytest.approx(1.75), 2)
    never = [_sample(0, math.inf, depth="32"), _sample(0, 200.0, depth="2")]
    assert measure(check, never)[0] == math.inf
    assert check_rows(Reproduction("r", "", "", "", [check]), never)[0]["verdict"] == (
        "does not match"
    )


def test_a_curve_is_read_at_its_step_from_the_jobs_events(tmp_path):
    folder = _job(tmp_path, ["init=he", "seed=0"], "he", {"val/acc": 0.5})
    with SummaryWriter(str(folder)) as writer:
        for step, loss in [(99, 2.0), (199, 1.5), (499, 0.4)]:
            writer.add_scalar("train/loss", loss, step)
    (sample,) = sweep_samples(tmp_path)
    assert sample.value("train/loss@499") == pytest.approx(0.4)
    assert sample.value("train/loss@199") == pytest.approx(1.5)
    assert math.isnan(sample.value("train/loss@500"))  # not logged there
    assert sample.value("train/loss<=1.5") == 199  # the first logged step at or below
    assert sample.value("train/loss<=0.3") == math.inf  # never
    assert sample.value("val/acc") == 0.5


def test_every_reproduction_names_real_configs_and_sound_bands():
    experiments = groups_options("experiment")
    assert {n for n, r in REPRODUCTIONS.items() if r.quick}  # --quick has something to run
    for rep in REPRODUCTIONS.values():
        assert rep.sweeps or rep.probes, rep.name
        for overrides in [*rep.sweeps, *rep.probes]:
            named = [o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")]
            assert named and all(n in experiments for n in named), rep.name
        assert rep.checks and all(c.band is None or c.band[0] < c.band[1] for c in rep.checks)
        assert all(c.why and c.published for c in rep.checks), rep.name


def reproduce(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "initlab.reproduce", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


def test_an_unknown_name_exits_2_and_names_the_choices(tmp_path):
    proc = reproduce("nope", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "unknown reproduction 'nope'" in proc.stderr and "udacity" in proc.stderr
    assert not any(tmp_path.iterdir())


def _first_point(sweep: list[str]) -> list[str]:
    """A sweep's first grid point: each comma list's first value."""
    return [o if "=" not in o else o.split(",")[0] for o in sweep]


def _grid(sweeps: list[list[str]]) -> dict[str, set[str]]:
    """Every value each key takes in the sweeps (lower case: Hydra writes true as True)."""
    grid: dict[str, set[str]] = {}
    for sweep in sweeps:
        for override in sweep:
            key, _, values = override.partition("=")
            grid.setdefault(key, set()).update(v.lower() for v in values.split(","))
    return grid


def test_every_original_composes_on_its_published_data_set(tmp_path):
    """Each reproduction with an original: on it, every sweep's config is the published data set
    (with the data_dir given) and passes the checks a run makes; its checks are the original's."""
    originals = {n: r for n, r in REPRODUCTIONS.items() if r.original is not None}
    assert {"dlfs_weight_init_compare", "dlfs_batch_norm_test", "zta_lab10"} <= set(originals)
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for name, rep in originals.items():
            on = rep.on_original(str(tmp_path))
            assert on.label == f"{name}_{rep.original.dataset}" and on.name == name
            assert on.checks == rep.original.checks and on.title == rep.original.title
            assert rep.original.dataset.replace("_", "") in on.title.lower().replace("-", "")
            assert on.original is None and len(on.sweeps) == len(rep.sweeps)
            for sweep in on.sweeps:
                cfg = compose("config", overrides=_first_point(sweep))
                build(cfg)
                assert cfg.dataset.name == rep.original.dataset, name
                assert cfg.dataset.data_dir == str(tmp_path), name
            assert all(c.why and c.published for c in on.checks), name
            grid = _grid(on.sweeps)
            for check in on.checks:
                for point in (check.point, check.minus or {}, check.over or {}):
                    for key, value in point.items():
                        assert value.lower() in grid.get(key, set()), (name, check.label, key)
    with pytest.raises(ValueError, match="no original"):
        REPRODUCTIONS["cs231n"].on_original()


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """No MNIST anywhere: an empty cache (MNIST has no system copy)."""
    monkeypatch.setattr(readers, "DOWNLOAD_ROOT", tmp_path / "cache")
    assert "mnist" not in readers.SYSTEM_DIRS


def test_the_original_runs_when_its_files_are_present(tmp_path, no_mnist):
    zta = REPRODUCTIONS["zta_lab10"]
    assert choose(zta, "auto", {}) is zta  # absent: the analogue
    assert choose(zta, "analogue", {}) is zta
    with pytest.raises(ConfigError) as err:
        choose(zta, "original", {})
    assert err.value.key == "--data" and "zta_lab10 needs mnist: none in" in err.value.reason
    assert str(tmp_path / "cache") in err.value.reason  # where it looked
    assert "train-images-idx3-ubyte" in err.value.reason  # what it looked for
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(ConfigError, match="no complete copy there: the four IDX files"):
        data_dirs([f"mnist={mine}"])  # given, so the only source: no fallback to the analogue
    write_raw_mnist(mine)
    dirs = data_dirs([f"mnist={mine}"])
    assert dirs == {"mnist": str(mine)}
    on = choose(zta, "auto", dirs)
    assert on.data == "mnist" and on.checks[0].band == (0.975, 1.0)
    assert on.sweeps == [[*zta.sweeps[0], "dataset=mnist", f"dataset.data_dir='{mine}'"]]
    assert choose(zta, "original", dirs) == on
    assert choose(zta, "analogue", dirs) is zta
    assert choose(REPRODUCTIONS["cs231n"], "original", dirs) is REPRODUCTIONS["cs231n"]
    # In the cache (where a download puts it), found without --data-dir.
    write_raw_mnist(tmp_path / "cache" / "MNIST" / "raw")
    assert choose(zta, "auto", {}).sweeps == [[*zta.sweeps[0], "dataset=mnist"]]


@pytest.mark.parametrize(
    "pair, reason",
    [
        ("mnist", "must be NAME=DIR"),
        ("imagenet=/tmp", "must be NAME=DIR, NAME one of cifar10, mnist (the published"),
        ("fashion_mnist=/tmp", "must be NAME=DIR, NAME one of cifar10, mnist"),  # the analogue
        ("mnist=/no/such/folder", "no such folder"),
        ("mnist=", "no such folder"),
        ("mnist={tmp}/it's", "a quote, a backslash or '${' in the path"),  # a folder
        ("mnist={tmp}", "no complete copy there: the four IDX files"),  # an empty folder
    ],
)
def test_a_bad_data_dir_exits_2_naming_it_before_anything_runs(tmp_path, pair, reason):
    (tmp_path / "it's").mkdir()
    pair = pair.format(tmp=tmp_path)
    out = tmp_path / "out"
    proc = reproduce("zta_lab10", "--data-dir", pair, "--out", str(out))
    assert proc.returncode == 2
    assert f"--data-dir={pair!r}: {reason}" in proc.stderr
    assert not out.exists()


def test_a_relative_data_dir_reaches_the_sweeps_absolute(tmp_path, monkeypatch):
    write_raw_mnist(tmp_path / "data" / "MNIST" / "raw")
    monkeypatch.chdir(tmp_path)  # the sweeps run from the repository, not from here
    assert data_dirs(["mnist=data"]) == {"mnist": str(tmp_path / "data")}


def test_an_out_that_is_a_file_or_docs_that_is_a_folder_exits_2_before_any_run(tmp_path):
    (tmp_path / "file").write_text("")
    proc = reproduce("cs231n", "--out", str(tmp_path / "file"))
    assert proc.returncode == 2 and f"--out='{tmp_path / 'file'}': not a folder" in proc.stderr
    proc = reproduce("cs231n", "--out", str(tmp_path / "out"), "--docs", str(tmp_path))
    assert proc.returncode == 2 and f"--docs='{tmp_path}': a folder" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_analogue_with_a_data_dir_exits_2(tmp_path):
    write_raw_mnist(tmp_path / "mnist")
    proc = reproduce("zta_lab10", "--data", "analogue", "--data-dir", f"mnist={tmp_path / 'mnist'}")
    assert proc.returncode == 2 and "--data-dir would go unused" in proc.stderr


def test_original_without_its_files_exits_2_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    home = tmp_path / "home"  # its ~/.cache/initlab is empty
    home.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.reproduce", "zta_lab10", "--data", "original"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "HOME": str(home)},
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--data='original': zta_lab10 needs mnist: none in" in proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_with_mnist_present_zta_runs_and_checks_the_original(tmp_path):
    """Fake MNIST (random pixels and labels) in a folder given with --data-dir: the lab's sweep
    runs on it, its row is checked against the lab's MNIST band (and, at chance, leaves it: exit
    1), and the page and figures are the MNIST reproduction's."""
    mnist = tmp_path / "mnist"
    write_raw_mnist(mnist, n_train=6000, n_test=200)  # 5000 held out: 1000 to train on
    out = tmp_path / "out"
    page_md = out / "page.md"
    proc = reproduce(
        "zta_lab10", "--data-dir", f"mnist={mnist}", "--out", str(out), "--docs", str(page_md)
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| zta_lab10"))
    cells = [c.strip() for c in row.split("|")]
    assert cells[1] == "zta_lab10_mnist" and cells[5] == "0.975 – 1"
    assert cells[7] == "does not match" and float(cells[6].split(" ")[0]) < 0.3
    jobs = sorted((out / "zta_lab10_mnist").glob("*/.hydra/config.yaml"))
    assert len(jobs) == 3
    for config in jobs:
        dataset = yaml.safe_load(config.read_text())["dataset"]
        assert dataset["name"] == "mnist" and dataset["data_dir"] == str(mnist)
    text = page_md.read_text()
    assert "MLP with Xavier init (MNIST) (`zta_lab10`)" in text
    assert "dataset=mnist dataset.data_dir=" in text  # the command that ran
    assert "![zta_lab10_mnist_curves_val_acc.png]" in text
    assert (out / "reproductions" / "zta_lab10_mnist_curves_val_acc.png").stat().st_size > 5000


@pytest.mark.slow
def test_quick_runs_checks_and_writes_its_page_and_figures(tmp_path):
    proc = reproduce("--quick", "--data", "analogue", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    quick = [n for n, r in REPRODUCTIONS.items() if r.quick]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("| ")][2:]
    verdicts = {line.split("|")[7].strip() for line in lines}
    assert verdicts <= {"matches", "reported"} and "matches" in verdicts
    assert {line.split("|")[1].strip() for line in lines} == set(quick)
    text = (tmp_path / "reproductions.md").read_text()
    for name in quick:
        assert f"(`{name}`)" in text
    pictures = [line.split("](")[1].rstrip(")") for line in text.splitlines() if "![" in line]
    assert pictures and all((tmp_path / p).stat().st_size > 5000 for p in pictures)
    # A rerun skips the finished jobs and writes the same page.
    again = reproduce("--quick", "--data", "analogue", "--out", str(tmp_path))
    assert again.returncode == 0 and (tmp_path / "reproductions.md").read_text() == text


def test_a_subset_writes_its_page_under_out_and_leaves_the_docs_alone(tmp_path):
    """``python -m initlab.reproduce cs231n`` (a name, as the README shows): the page of that one
    reproduction goes to <out>/reproductions.md, not over docs/reproductions.md (the whole set's
    page, committed), which only the whole set rewrites."""
    docs = REPO / "docs" / "reproductions.md"
    before = docs.read_bytes()
    proc = reproduce("cs231n", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert docs.read_bytes() == before
    text = (tmp_path / "reproductions.md").read_text()
    assert "(`cs231n`)" in text and "(`udacity`)" not in text
    assert f"page: {tmp_path / 'reproductions.md'}" in proc.stdout
    assert (tmp_path / "reproductions" / "cs231n_normal.png").stat().st_size > 5000


def test_a_data_dir_with_hydra_syntax_in_its_name_is_one_path(tmp_path):
    """A folder named ``mnist, v2=final`` (comma, equals sign, space) reaches the sweep as one
    path, not as a list of values to sweep over."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    folder = tmp_path / "mnist, v2=final"
    folder.mkdir()
    (override,) = [
        o
        for o in REPRODUCTIONS["zta_lab10"].on_original(str(folder)).sweeps[0]
        if o.startswith("dataset.data_dir=")
    ]
    (parsed,) = OverridesParser.create().parse_overrides([override])
    assert not parsed.is_sweep_override() and parsed.value() == str(folder)
    with pytest.raises(ValueError, match="a quote in its name"):
        REPRODUCTIONS["zta_lab10"].on_original(str(tmp_path / "it's"))


def _legend(fig) -> list[str]:
    (legend,) = fig.legends
    return [t.get_text() for t in legend.get_texts()]


def test_the_legends_call_each_init_what_the_captions_call_it():
    """He et al.'s 'Xavier' is std √(1/n), initlab's lecun: the caption says Xavier, so does the
    legend (it said lecun), with the option's name beside it."""
    for name in ("he2015", "dlfs_weight_init_compare"):
        rep = REPRODUCTIONS[name]
        assert rep.names["lecun"] == "Xavier √(1/n) (lecun)"
        assert rep.names["he"] == "He √(2/n) (he)"
        for check in rep.checks:
            if check.minus is None:  # "Xavier √(1/n): loss at step 200" -> Xavier √(1/n)
                said = rep.names[check.point["init"]].split(" (")[0]
                assert check.label.startswith(said.split(" ")[0]), (name, check.label)
    udacity = REPRODUCTIONS["udacity"]
    for check in udacity.checks:  # the legend starts with the check's own words
        assert udacity.names[check.point["init"]].startswith(check.label), check.label


def test_a_reproductions_figures_are_drawn_with_its_names(tmp_path, monkeypatch):
    """The report that draws a reproduction's curves gets its names (the he2015 figure's legend
    said lecun where its caption said Xavier)."""
    import initlab.reproduce as reproduce_lib

    rep = REPRODUCTIONS["he2015"]
    for init in ("lecun", "he"):
        folder = _job(tmp_path / "sweep", [f"init={init}", "seed=0"], init, {"val/acc": 0.5})
        with SummaryWriter(str(folder)) as writer:
            for step in (9, 19, 29, 39, 49):
                writer.add_scalar("train/loss", 2.0 - step / 100, step)
            writer.add_scalar("val/acc", 0.5, 49)
    given = {}

    def spy(folder, *args, **kwargs):
        given.update(kwargs)
        return real(folder, *args, **kwargs)

    real = reproduce_lib.report
    monkeypatch.setattr(reproduce_lib, "report", spy)
    (tmp_path / "docs").mkdir()
    shown = reproduce_lib.figures(rep, tmp_path / "sweep", tmp_path / "docs", [])
    assert given["names"] == rep.names
    assert shown == ["he2015_curves_train_loss.png", "he2015_curves_val_acc.png"]


def test_the_against_figure_says_what_it_plots():
    """Deep Learning from Scratch's batch_norm_test: accuracy against the init's std, a line
    with and one without batch norm, over three seeds."""
    from initlab.reproduce import against_figure

    rep = REPRODUCTIONS["dlfs_batch_norm_test"]
    samples = [
        Sample(
            {"init.std": std, "model.batch_norm": bn, "seed": str(seed)},
            lambda metric, v=float(std) + seed / 100: v,
        )
        for std in ("0.01", "0.1", "1")
        for bn in ("True", "False")
        for seed in range(3)
    ]
    fig = against_figure(rep, samples)
    ax = fig.axes[0]
    assert fig.get_suptitle() == (
        "Training accuracy against the std of the initial weights\nmean ± std over n=3 seeds"
    )
    assert ax.get_xlabel() == "std of the initial weights (init.std, log scale)"
    assert ax.get_ylabel() == "training accuracy (fraction correct)"
    assert ax.get_xscale() == "log"
    assert _legend(fig) == ["with batch norm", "without batch norm"]


def test_the_layers_figure_names_each_layer_and_the_logits(tmp_path):
    """Glorot & Bengio's figures 3-4: each layer's saturated fraction during training; the
    last layer's statistics are the logits' (DESIGN.md §7), and the legend says so."""
    from initlab.reproduce import layers_figure

    for seed in (0, 1):
        folder = _job(tmp_path, ["init=xavier", "activation=tanh", f"seed={seed}"], "xavier", {})
        with SummaryWriter(str(folder)) as writer:
            for k in (1, 2, 3):
                for step in range(0, 100, 10):
                    writer.add_scalar(f"activations/layer{k}/saturation", step / 1000 * k, step)
    names = {"xavier": "normalized (xavier)"}
    fig = layers_figure(tmp_path, "saturation", [{"activation": "tanh", "init": "xavier"}], names)
    ax = fig.axes[0]
    assert fig.get_suptitle() == (
        "Saturated fraction of units in each layer during training\nmean ± std over n=2 seeds"
    )
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "saturated fraction of units")
    assert ax.get_title() == "activation=tanh, init=normalized (xavier)"
    assert _legend(fig) == ["layer 1", "layer 2", "layer 3 (logits)"]


def test_every_option_of_the_command_says_what_it_does():
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.reproduce", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    options = proc.stdout.split("options:")[1]
    for flag in ("--quick", "--out OUT", "--docs DOCS", "--data-dir NAME=DIR"):
        described = options.split(flag, 1)[1].split("\n  -")[0]
        assert len(described.split()) > 3, f"{flag}: no help text"
