"""``dry_run=true``: exactly a run's checks, then what it would do; nothing written, exit 0
(2 on bad input). A single run prints its choices and init plan; a sweep (``-m``) its jobs,
how the launcher groups them, which are refused and which already finished."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import QUICK, REPO, train


def test_a_single_dry_run_prints_the_choices_and_the_plan_and_writes_nothing(tmp_path):
    proc = train(tmp_path, "init=he", "activation=tanh", "model.hidden=[32]", "dry_run=true")
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # no logs/, no run folder
    out = proc.stdout
    assert "nothing was run or written" in out
    assert "choices: init=he activation=tanh dataset=fashion_mnist model=mlp" in out
    assert "seed 0; 5 epochs" in out
    assert "would write to: logs/runs/" in out
    # He normal: std = √2 / √fan_in, for both layers of 784-32-10
    layer1 = next(line for line in out.splitlines() if line.startswith("| layer1 "))
    layer2 = next(line for line in out.splitlines() if line.startswith("| layer2 "))
    assert "| 784 | 32 | normal | 0 | 0.05051 |" in layer1
    assert "| 32 | 10 | normal | 0 | 0.25 |" in layer2


def test_a_mup_dry_run_says_each_layers_role_and_learning_rate(tmp_path):
    proc = train(tmp_path, "init=he", "model.hidden=[256]", "parametrization=mup", "dry_run=true")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "model=mlp parametrization=mup optimizer=adam" in out
    assert "init plan: init=he, bias zeros, parametrization mup (base width 64)" in out
    assert "| width_role | width_mult | lr_mult |" in out
    # the output layer: He at the base width (√2/√64), times 1/m, m = 256/64; Adam's lr ÷ m
    layer2 = next(line for line in out.splitlines() if line.startswith("| layer2 "))
    assert "| 256 | 10 | normal | 0 | 0.04419 |" in layer2 and "| output | 4 | 0.25 |" in layer2


@pytest.mark.parametrize(
    "bad, named",
    [
        ("init.std=-1", "init.std=-1: must be > 0"),
        ("dry_run=maybe", "dry_run='maybe': must be true or false"),
    ],
)
def test_a_dry_run_refuses_what_a_run_refuses(tmp_path, bad, named):
    overrides = ["init=normal", bad] + ([] if bad.startswith("dry_run") else ["dry_run=true"])
    proc = train(tmp_path, *overrides)
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dry_run_of_a_probe_plans_without_probing(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.probe", "init=xavier", "dry_run=true"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "would write to: logs/probes/" in proc.stdout and "| layer1 " in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_dry_run_lists_jobs_populations_and_refusals_and_writes_nothing(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = train(
        tmp_path,
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra/launcher=population",
        "init=he,xavier,fixup,he",
        "activation=relu,tanh",
        "dry_run=true",
    )
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []
    out = proc.stdout
    assert "2 of 8 jobs skipped: their init does not apply" in out  # fixup on an MLP, refused
    assert "init=fixup activation=relu" in out and "use model=resnet" in out
    assert "2 duplicate jobs (the same config as another) run once" in out
    assert f"sweep folder: {sweep_dir}" in out
    assert "4 jobs: 4 would run, 0 already finished" in out
    assert "jobs that differ only in seed, init, optimizer.lr train together" in out
    assert "2 populations (members: 2, 2)" in out  # one per activation
    relu = out[out.index("population p0x2") :]
    members = ["    activation=relu,init=he", "    activation=relu,init=xavier"]
    assert relu.splitlines()[1:3] == members


def test_a_sweep_that_mixes_dry_and_real_runs_is_refused(tmp_path):
    proc = train(tmp_path, "-m", f"hydra.sweep.dir={tmp_path / 's'}", "dry_run=true,false")
    assert proc.returncode == 2
    assert "dry_run must be the same for every job of a sweep" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_sweep_dry_run_says_which_jobs_already_finished(tmp_path):
    sweep_dir = tmp_path / "sweep"
    grid = ["-m", f"hydra.sweep.dir={sweep_dir}", *QUICK, "seed=0"]
    assert train(tmp_path, *grid).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("*") if p.is_file()}
    proc = train(tmp_path, *grid[:-1], "seed=0,1", "dry_run=true")
    assert proc.returncode == 0, proc.stderr
    assert "2 jobs: 1 would run, 1 already finished" in proc.stdout
    finished = next(p.parent.name for p in sweep_dir.glob("*/metrics.json"))
    assert json.loads((sweep_dir / finished / "metrics.json").read_text())["status"] == "completed"
    assert f"  finished: {finished}" in proc.stdout
    after = {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("*") if p.is_file()}
    assert after == before  # nothing written, not even multirun.yaml again


def test_a_dry_run_read_by_a_reader_that_stops_early_still_runs_nothing(tmp_path):
    # `python train.py model=vit dry_run=true | head -1`: the ViT's plan is longer than the
    # pipe's buffer, so printing it meets the closed pipe; the run must not start.
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), "model=vit", "dry_run=true"]
        + [f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first line
    try:
        err = proc.communicate(timeout=120)[1].decode()
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert not run_dir.exists()
