"""The sweep report: its numbers against the jobs' own metrics.json, every promised file, and a
partial sweep (a job still missing, one failed) that still reports."""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest
from conftest import REPO

from initlab.reporting.sweep import main as report_main
from initlab.reporting.sweep import report
from initlab.reporting.tables import METRICS

# 2 inits × 2 activations × 2 learning rates × 2 seeds on digits; SGD at lr 1000 diverges
# within a few steps with ReLU (tanh keeps the loss finite, if useless).
GRID = [
    "dataset=digits",
    "trainer.max_epochs=1",
    "trainer.progress_bar=none",
    "optimizer=sgd",
    "init=he,xavier",
    "activation=relu,tanh",
    "optimizer.lr=0.05,1000",
    "seed=0,1",
]
FILES = [
    "summary.csv",
    "summary.md",
    "report.md",
    "heatmap_test_acc.png",
    "heatmap_test_loss.png",
    "curves_val_acc.png",
    "curves_val_loss.png",
    "curves_train_loss.png",
    "curves_train_acc.png",
    "depth_activation_std.png",
    "depth_gradient_norm.png",
]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    command = [sys.executable, str(REPO / "train.py"), "-m", f"hydra.sweep.dir={folder}", *GRID]
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder


def records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("*/metrics.json")]


def expected(folder: Path) -> dict[tuple, dict]:
    """Grid point (init, activation, lr) -> the jobs' metrics, recomputed here."""
    groups: dict[tuple, list[dict]] = {}
    for path in folder.glob("*/metrics.json"):
        record = json.loads(path.read_text())
        lr = next(o.split("=")[1] for o in record["overrides"] if o.startswith("optimizer.lr="))
        groups.setdefault((record["init"], record["activation"], lr), []).append(record)
    return groups


@pytest.mark.slow
def test_summary_matches_the_jobs_own_metrics(sweep_dir):
    rows, varied, constant, jobs = report(sweep_dir)
    assert varied == ["init", "activation", "optimizer.lr"]
    assert constant["dataset"] == "digits" and "seed" not in varied
    assert len(jobs) == 16 and len(rows) == 8

    with open(sweep_dir / "report" / "summary.csv") as f:
        on_disk = list(csv.DictReader(f))
    groups = expected(sweep_dir)
    assert len(on_disk) == len(groups) == 8
    for row in on_disk:
        members = groups[(row["init"], row["activation"], row["optimizer.lr"])]
        done = [r for r in members if r["status"] == "completed"]
        assert int(row["n"]) == len(done)
        assert int(row["diverged"]) == sum(r["status"] == "diverged" for r in members)
        assert int(row["failed"]) == int(row["missing"]) == 0
        for metric in METRICS:
            values = [r["metrics"][metric] for r in done]
            mean, std = float(row[f"{metric} mean"]), float(row[f"{metric} std"])
            if not values:
                assert math.isnan(mean)
                continue
            assert mean == pytest.approx(statistics.mean(values), rel=1e-9)
            assert std == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12)
    # ReLU at lr 1000 diverges (every seed): those points have no mean, two diverged runs.
    all_diverged = [r for r in on_disk if int(r["diverged"]) == 2]
    assert {(r["activation"], r["optimizer.lr"]) for r in all_diverged} == {("relu", "1000")}
    assert all(r["test/acc mean"] == "nan" for r in all_diverged)
    # Sorted by test accuracy, best first; points without one last.
    accs = [float(r["test/acc mean"]) for r in on_disk]
    finite = [a for a in accs if not math.isnan(a)]
    assert accs[: len(finite)] == sorted(finite, reverse=True)


@pytest.mark.slow
def test_every_promised_file_is_written_and_valid(sweep_dir):
    report(sweep_dir)
    out = sweep_dir / "report"
    for name in FILES:
        assert (out / name).is_file(), name
        if name.endswith(".png"):
            image = matplotlib.image.imread(out / name)
            assert image.shape[0] > 100 and image.shape[1] > 100
    table = (out / "summary.md").read_text().splitlines()
    assert len(table) == 2 + 8 and all(line.startswith("|") for line in table)
    assert "| he | relu | 0.05 |" in "\n".join(table)
    text = (out / "report.md").read_text()
    assert "python train.py -m" in text and "init=he,xavier" in text
    assert all(f"({name})" in text for name in FILES if name.endswith(".png"))


@pytest.mark.slow
def test_a_partial_sweep_still_reports(sweep_dir, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(sweep_dir, partial, ignore=shutil.ignore_patterns("report"))
    jobs = sorted(p.parent for p in partial.glob("*/metrics.json"))
    running, failed = jobs[0], jobs[1]
    (running / "metrics.json").unlink()  # still running: no result yet
    record = json.loads((failed / "metrics.json").read_text())
    record.update(status="failed", error="RuntimeError: boom", metrics={})
    (failed / "metrics.json").write_text(json.dumps(record))

    proc = subprocess.run(
        [sys.executable, "-m", "initlab.report", str(partial)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "left out 2 jobs without a result" in proc.stdout
    assert running.name in proc.stdout and failed.name in proc.stdout
    assert "| init | activation | optimizer.lr |" in proc.stdout  # the table, not interactive
    with open(partial / "report" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["missing"]) for r in rows) == 1
    assert sum(int(r["failed"]) for r in rows) == 1
    assert sum(int(r["n"]) + int(r["diverged"]) for r in rows) == 14
    text = (partial / "report" / "report.md").read_text()
    assert f"- missing: `{running.name}`" in text and f"- failed: `{failed.name}`" in text


def refusal(capsys, *argv: str) -> str:
    """``initlab-report ARGV``'s one line on stderr, after checking it exits 2 and prints nothing
    else."""
    with pytest.raises(SystemExit) as exit_:
        report_main(list(argv))
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("\n") and err.count("\n") == 1, err
    return err.rstrip("\n")


def _run_folder(
    folder: Path, overrides: list[str], probe: bool = False, mode: str = "MULTIRUN"
) -> Path:
    """A finished run's folder as ``train.py`` (or, with ``probe``, ``initlab.probe``) leaves it,
    a job of a sweep (``mode="MULTIRUN"``) or a single run (``"RUN"``)."""
    import yaml

    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"mode": mode}}))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = {"init": {"name": "he"}, **({"probe": {"input": "gaussian"}} if probe else {})}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "metrics.json").write_text(json.dumps({"status": "completed", "metrics": {}}))
    if probe:
        (folder / "probe.csv").write_text("layer,std\nlayer1,1.0\n")
    return folder


def test_a_path_that_does_not_exist_is_named(tmp_path, capsys):
    missing = tmp_path / "nosuch"
    assert refusal(capsys, str(missing)) == f"initlab-report: {missing}: no such folder"


def test_a_folder_without_jobs_says_what_a_sweep_folder_is(tmp_path, capsys):
    assert refusal(capsys, str(tmp_path)) == (
        f"initlab-report: {tmp_path} holds no job folders (subfolders with "
        ".hydra/overrides.yaml); give a sweep's folder, e.g. logs/multiruns/<time stamp>"
    )
    # the folder above the sweeps: name one of them
    _run_folder(tmp_path / "2026-01-01_00-00-00" / "init=he", ["init=he"])
    assert refusal(capsys, str(tmp_path)) == (
        f"initlab-report: {tmp_path} holds no job folders but 1 sweep folder (e.g. "
        f"{tmp_path / '2026-01-01_00-00-00'}): give that folder"
    )


def test_a_single_run_is_not_a_sweep(tmp_path, capsys):
    """Even beside other single runs (logs/runs/<time stamp>/): they are not a sweep's jobs."""
    run = _run_folder(tmp_path / "2026-01-01_00-00-00", ["init=he"], mode="RUN")
    _run_folder(tmp_path / "2026-01-01_00-00-01", ["init=xavier"], mode="RUN")
    assert refusal(capsys, str(run)) == (
        f"initlab-report: {run} is a single run, not a sweep: its results are in "
        f"{run / 'metrics.json'}; the report compares the jobs of a sweep (python train.py -m "
        "...): give the sweep's folder, e.g. logs/multiruns/<time stamp>"
    )
    assert not (run / "report").exists()


def test_one_job_of_a_sweep_points_at_the_sweep(tmp_path, capsys):
    for init in ("he", "xavier"):
        _run_folder(tmp_path / f"init={init}", [f"init={init}"])
    job = tmp_path / "init=he"
    assert refusal(capsys, str(job)) == (
        f"initlab-report: {job} is one job of the sweep {tmp_path}: report the sweep, "
        f"initlab-report {tmp_path}"
    )


def test_a_probe_sweep_is_a_clear_error(tmp_path, capsys):
    """A probe sweep's jobs have records but no training: a table of dashes would say nothing."""
    for init in ("he", "lecun"):
        _run_folder(tmp_path / f"init={init}", [f"init={init}"], probe=True)
    assert refusal(capsys, str(tmp_path)) == (
        f"initlab-report: {tmp_path} is a probe sweep: no training to report; each job's "
        "probe.md and probe.png hold its layers' statistics"
    )
    assert not (tmp_path / "report").exists()


def test_a_folder_mixing_probes_and_training_runs_is_refused(tmp_path, capsys):
    """Two commands that shared a hydra.sweep.dir: the probes' overrides would become axes of
    the training grid. Refused, naming both kinds with an example folder each; a failed probe
    (no probe.csv) is still a probe (its config has the probe block)."""
    _run_folder(tmp_path / "init=he", ["init=he"])
    _run_folder(tmp_path / "init=he,probe.input=data", ["init=he", "probe.input=data"], True)
    mixed = (
        f"initlab-report: {tmp_path} mixes 1 probe run (e.g. init=he,probe.input=data) and 1 "
        "training run (e.g. init=he): the report compares training runs; move the probe runs "
        "into a folder of their own (each holds its probe.md and probe.png) and report the rest"
    )
    assert refusal(capsys, str(tmp_path)) == mixed
    _run_folder(tmp_path / "init=xavier", ["init=xavier"])
    failed = _run_folder(tmp_path / "init=lecun,probe.input=data", ["init=lecun"], True)
    (failed / "probe.csv").unlink()
    mixed = mixed.replace("1 probe run ", "2 probe runs ").replace(
        "1 training run ", "2 training runs "
    )
    assert refusal(capsys, str(tmp_path)) == mixed
    assert not (tmp_path / "report").exists()


def test_an_unknown_tag_is_named_with_the_tags_that_exist(tmp_path, capsys):
    from torch.utils.tensorboard import SummaryWriter

    for seed in (0, 1):
        job = _run_folder(tmp_path / f"seed={seed}", [f"seed={seed}"])
        with SummaryWriter(str(job)) as writer:
            for tag in ("train/loss", "val/acc", *(f"activations/layer{k}/std" for k in (1, 2))):
                writer.add_scalar(tag, 1.0, 9)
    assert refusal(capsys, str(tmp_path), "--at", "nosuch/tag:1,2") == (
        "initlab-report: --at nosuch/tag: no completed job logged this tag; they logged "
        "activations/layerK/std (K = 1-2), train/loss, val/acc"
    )
    assert not (tmp_path / "report").exists()
    report(tmp_path, [("activations/layer2/std", [9])])  # a layer's tag as logged: accepted
    table = (tmp_path / "report" / "at_activations_layer2_std.md").read_text()
    assert "| 1.000 ± 0.000 | 2 |" in table


@pytest.mark.slow
def test_a_tag_at_chosen_steps_matches_the_jobs_events(sweep_dir):
    """``--at train/loss:STEPS``: per grid point, mean ± std over the completed seeds of the
    values each job's own event file holds at those steps."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def logged(folder: Path, tag: str) -> dict[int, float]:
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        acc.Reload()
        return {e.step: e.value for e in acc.Scalars(tag)}

    point = {"init": "he", "activation": "tanh", "optimizer.lr": "0.05"}
    folders = [
        Path(p).parent
        for p in sweep_dir.glob("*/metrics.json")
        if all(f"{k}={v}" in json.loads(p.read_text())["overrides"] for k, v in point.items())
    ]
    assert len(folders) == 2
    steps = sorted(logged(folders[0], "train/loss"))[:2]
    main_args = [str(sweep_dir), "--at", f"train/loss:{steps[0]},{steps[1]}", "--at", "val/acc"]
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.report", *main_args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    table = (sweep_dir / "report" / "at_train_loss.md").read_text().splitlines()
    assert table[0] == (
        f"| init | activation | optimizer.lr | train/loss @ {steps[0]} | train/loss @ "
        f"{steps[1]} | n |"
    )
    row = next(line for line in table if line.startswith("| he | tanh | 0.05 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    for step, cell in zip(steps, cells[3:5], strict=True):
        values = [logged(f, "train/loss")[step] for f in folders]
        assert cell == f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    assert cells[5] == "2"
    # val/acc without steps: every step all completed jobs logged (the epoch's end: one)
    val = (sweep_dir / "report" / "at_val_acc.md").read_text().splitlines()
    assert len(val[0].split("@")) == 2 and "| relu | 1000 |" in "\n".join(val)
    assert "at_train_loss.md" in (sweep_dir / "report" / "report.md").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "initlab.report", str(sweep_dir), "--at", "train/loss:x"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "steps must be integers" in bad.stderr


def _job(sweep: Path, overrides: list[str], init: str, acc: float) -> None:
    """A finished job's folder as a sweep leaves it (no events: the tables and rankings only)."""
    import yaml

    folder = sweep / ",".join(sorted(overrides))
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"init": {"name": init}}))
    metrics = {"test/acc": acc, "test/loss": 1 - acc, "val/acc": acc, "val/loss": 1 - acc}
    record = {"status": "completed", "metrics": metrics, "fit_seconds": 1.0}
    (folder / "metrics.json").write_text(json.dumps(record))


def test_an_init_with_parameters_is_one_series_and_one_axis_is_ranked(tmp_path):
    # The Udacity study as a new user runs it: six inits, then uniform on [-0.5, 0.5).
    accs = {"zeros": 0.1, "ones": 0.1, "uniform": 0.34, "uniform_rule": 0.85, "lecun": 0.85}
    for name, acc in {**accs, "default": 0.845}.items():
        _job(tmp_path, [f"init={name}", "activation=relu"], name, acc)
    _job(
        tmp_path, ["init=uniform", "init.a=-0.5", "init.b=0.5", "activation=relu"], "uniform", 0.75
    )
    rows, varied, constant, _ = report(tmp_path)
    assert varied == ["init"] and constant == {"activation": "relu"}
    assert {r["init"] for r in rows} == {*accs, "default", "uniform(a=-0.5, b=0.5)"}
    assert {r["init"] for r in rows[:2]} == {"lecun", "uniform_rule"}  # best first
    assert {r["init"] for r in rows[-2:]} == {"zeros", "ones"}
    out = tmp_path / "report"
    for name in ("ranked_test_acc.png", "ranked_test_loss.png"):
        assert matplotlib.image.imread(out / name).shape[0] > 100  # a real picture
    assert not list(out.glob("heatmap_*"))
    assert "uniform(a=-0.5, b=0.5)" in (out / "summary.md").read_text()


def test_every_series_looks_different():
    from initlab.reporting.sweep_figures import line_panels

    series = {((), f"init{i:02d}"): [{0: 1.0 + i, 1: 2.0 + i}] for i in range(23)}
    fig = line_panels(series, "t", "step", log=False)
    looks = [
        (line.get_color(), line.get_marker(), line.get_linestyle())
        for line in fig.axes[0].get_lines()
    ]
    assert len(looks) == 23 and len(set(looks)) == 23
    # and the first ten differ in colour alone (no light/dark pairs of one hue)
    assert len({color for color, _, _ in looks[:10]}) == 10


def test_a_step_no_job_logged_says_where_the_tag_is(tmp_path):
    """``--at train/loss:0,10`` where the loss is logged at 9, 19, …: the cells are dashes, and
    the table says so instead of looking like a result. A row without a completed job shows a
    dash for its fit time, not nan."""
    from torch.utils.tensorboard import SummaryWriter

    from initlab.reporting.jobs import load
    from initlab.reporting.tables import at_steps, markdown, summarize

    for seed in (0, 1):
        job = tmp_path / f"seed={seed}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- seed={seed}\n")
        (job / "metrics.json").write_text(json.dumps({"status": "completed", "metrics": {}}))
        with SummaryWriter(str(job)) as writer:
            for step in (9, 19, 29):
                writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    text = at_steps(load(tmp_path), ["seed"], "train/loss", [0, 9, 10])
    assert (
        "No completed job logged train/loss at step 0, 10; it is logged at steps 9, 19, 29." in text
    )
    assert at_steps(load(tmp_path), ["seed"], "train/loss", [9]).count("No completed job") == 0
    failed = tmp_path / "seed=2"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "overrides.yaml").write_text("- seed=2\n")
    (failed / "metrics.json").write_text(json.dumps({"status": "failed", "metrics": {}}))
    table = markdown(summarize(load(tmp_path), ["seed"]), ["seed"])
    assert "nan" not in table and table.splitlines()[-1].endswith("| — |")
