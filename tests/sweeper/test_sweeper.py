"""Sweeps: statuses, the summary, resume (after a rerun and after a kill), validating the whole
grid before launch, the GPU claim, and run folders that never collide."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, make_cfg, write_raw_mnist
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hydra_plugins.initlab_sweeper.sweeper import _several_processes
from initlab.runtime.devices import claim
from initlab.training import record as record_lib
from initlab.training.run import run

# MNIST from a data_dir that holds only 1000 training examples (validation assumes the real
# 60 000, so val_size 1500 passes the check and fails once the data is read); lr 1000 with SGD
# diverges within a few steps: one job of each kind. The folder is written by `mnist_dir`.
GRID = [
    "dataset=mnist",
    "trainer.max_epochs=1",
    "trainer.progress_bar=none",
    "optimizer=sgd",
    "optimizer.lr=0.1,1000",
    "dataset.val_size=100,1500",
]


@pytest.fixture
def mnist_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("mnist")
    write_raw_mnist(folder / "MNIST" / "raw", n_train=1000, n_test=100)
    return f"dataset.data_dir={folder}"  # left out of the job folders' names


QUICK_SWEEP = ["dataset=digits", "trainer.max_epochs=1", "trainer.progress_bar=none"]


def sweep(tmp_path: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), "-m", f"hydra.sweep.dir={tmp_path}", *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def statuses(sweep_dir: Path) -> dict[str, str]:
    return {
        p.parent.name: json.loads(p.read_text())["status"] for p in sweep_dir.glob("*/metrics.json")
    }


def folder(lr: str, val_size: str) -> str:
    """The job folder Hydra names after the overrides, sorted by key."""
    return (
        f"dataset.val_size={val_size},dataset=mnist,optimizer.lr={lr},optimizer=sgd,"
        "trainer.max_epochs=1,trainer.progress_bar=none"
    )


@pytest.mark.slow
def test_every_job_ends_with_a_status_and_a_rerun_resumes(tmp_path, mnist_dir):
    proc = sweep(tmp_path, *GRID, mnist_dir)
    assert proc.returncode == 1, proc.stderr  # a failed job: the sweep says so in its exit code
    assert statuses(tmp_path) == {
        folder("0.1", "100"): "completed",
        folder("1000", "100"): "diverged",
        folder("0.1", "1500"): "failed",
        folder("1000", "1500"): "failed",
    }
    diverged = json.loads((tmp_path / folder("1000", "100") / "metrics.json").read_text())
    assert isinstance(diverged["diverged_at_step"], int) and diverged["steps"] < 40
    failed = json.loads((tmp_path / folder("0.1", "1500") / "metrics.json").read_text())
    assert "val_size=1500" in failed["error"]
    summary = proc.stdout[proc.stdout.index("sweep: 4 jobs") :]
    assert "1 completed, 1 diverged, 2 failed" in summary
    assert str(tmp_path / folder("0.1", "1500")) in summary  # the failed jobs' folders

    finished = {
        name: (tmp_path / name / "metrics.json").stat().st_mtime_ns
        for name in (folder("0.1", "100"), folder("1000", "100"))
    }
    proc = sweep(tmp_path, *GRID, mnist_dir)
    assert "2 of 4 jobs already finished, skipped" in proc.stdout
    assert "Launching 2 jobs" in proc.stderr + proc.stdout
    for name, mtime in finished.items():  # not run again
        assert (tmp_path / name / "metrics.json").stat().st_mtime_ns == mtime
    assert sorted(statuses(tmp_path).values()) == ["completed", "diverged", "failed", "failed"]


@pytest.mark.slow
def test_a_changed_config_is_not_skipped(tmp_path):
    # max_epochs left out of the folder name: both sweeps write to the folder "dataset=digits,
    # seed=0", the second with a different config, so its finished result is not reused.
    overrides = [
        "dataset=digits",
        "trainer.progress_bar=none",
        "seed=0",
        "hydra.job.config.override_dirname.exclude_keys=[trainer.max_epochs]",
    ]
    assert sweep(tmp_path, *overrides, "trainer.max_epochs=1").returncode == 0
    assert (
        "1 of 1 jobs already finished" in sweep(tmp_path, *overrides, "trainer.max_epochs=1").stdout
    )
    proc = sweep(tmp_path, *overrides, "trainer.max_epochs=2")
    assert "already finished" not in proc.stdout.split("sweep:")[0]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert record["epochs"] == 2


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_duplicates(tmp_path):
    # 2 jobs of 2 epochs, ~150 steps each: kill the sweep once the first job has checkpointed
    # its first epoch, then run the same command again.
    grid = [
        "dataset=gaussian",
        "dataset.n_train=16000",
        "trainer.max_epochs=2",
        "trainer.progress_bar=none",
        "diagnostics.images=false",
        "seed=0,1",
    ]
    command = [sys.executable, str(REPO / "train.py"), "-m", f"hydra.sweep.dir={tmp_path}", *grid]
    proc = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*seed=0*/checkpoints/*.ckpt")):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (killed,) = tmp_path.glob("*seed=0*")
    # The killed job's record still says running, and nobody holds its folder: killed.
    assert statuses(tmp_path) == {killed.name: "running"}
    assert record_lib.status_of(killed) == "killed"

    resumed = sweep(tmp_path, *grid)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout + resumed.stderr
    assert sorted(statuses(tmp_path).values()) == ["completed", "completed"]
    for run_dir in tmp_path.glob("*seed=*"):
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
        steps = [e.step for e in acc.Scalars("train/loss")]
        assert len(steps) == len(set(steps)) == 30  # 300 steps, every 10th: none twice
        result = json.loads((run_dir / "metrics.json").read_text())
        assert result["steps"] == 300
        # the same numbers, bit for bit, as the job run on its own without a kill
        overrides = result["overrides"]
        alone = run(make_cfg(*overrides), tmp_path / "alone" / run_dir.name, overrides)
        assert result["metrics"] == alone["metrics"]
    assert json.loads((killed / "metrics.json").read_text())["resumed_from_step"] == 150


def test_a_bad_value_anywhere_in_the_grid_starts_no_job(tmp_path):
    proc = sweep(tmp_path, "dataset=digits", "init=normal", "init.std=0.5,-1,0", "seed=0,1")
    assert proc.returncode == 2
    assert "invalid config in 4 of 6 jobs; none started" in proc.stderr
    assert proc.stderr.count("must be > 0") == 4
    assert "init.std=-1" in proc.stderr and "init.std=0 " in proc.stderr + " "
    assert not any(tmp_path.iterdir())  # not even multirun.yaml


def test_inits_made_for_other_models_are_skipped_and_listed_not_refused(tmp_path):
    proc = sweep(tmp_path, "dataset=digits", "trainer.max_epochs=1", "init=he,irnn,fixup")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 of 3 jobs skipped: their init does not apply to their model" in proc.stdout
    assert "init.name='irnn'" in proc.stdout and "init.name='fixup'" in proc.stdout
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [
        "dataset=digits,init=he,trainer.max_epochs=1"
    ]
    assert "sweep: 1 jobs: 1 completed" in proc.stdout


def test_a_grid_where_no_init_applies_is_refused(tmp_path):
    proc = sweep(tmp_path, "dataset=digits", "init=irnn,fixup")
    assert proc.returncode == 2
    assert "invalid config in 2 of 2 jobs; none started" in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("launcher", ["basic", "population"])
def test_a_job_listed_twice_runs_once(tmp_path, launcher):
    """``init=he,he`` (or ``seed=0,0``): the same job twice, one folder. It used to run twice
    into that folder (the population launcher: as two members writing it at once) and count 2
    completed jobs; it runs once and the sweep says so."""
    proc = sweep(
        tmp_path, f"hydra/launcher={launcher}", *QUICK_SWEEP, "init=he,he,xavier", "seed=0,0"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4 duplicate jobs (the same config as another) run once" in proc.stdout
    assert "sweep: 2 jobs: 2 completed" in proc.stdout
    for job in tmp_path.glob("*init=*"):
        assert (job / "train.log").read_text().count("completed: ") == 1, job  # one run


def test_two_jobs_that_would_share_a_folder_are_refused(tmp_path, mnist_dir):
    """Folders are named without ``dataset.data_dir``: two data folders in one sweep would be
    two different jobs in one folder."""
    other = tmp_path.parent / f"{tmp_path.name}_copy"
    shutil.copytree(mnist_dir.split("=", 1)[1], other)
    proc = sweep(tmp_path, "dataset=mnist", f"{mnist_dir},{other}", "trainer.max_epochs=1")
    assert proc.returncode == 2
    assert "2 jobs would share a folder" in proc.stderr and "dataset.data_dir" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_ddp_is_refused_in_a_sweep(tmp_path):
    # +trainer.strategy: trainer=ddp on a machine without a GPU is refused earlier (no GPU)
    proc = sweep(tmp_path, "dataset=digits", "+trainer.strategy=ddp", "seed=0,1")
    assert proc.returncode == 2
    assert "trainer.strategy='ddp'" in proc.stderr and "hydra/launcher=gpus" in proc.stderr


def test_two_runs_started_together_get_two_folders(tmp_path):
    command = [sys.executable, str(REPO / "train.py"), "--cfg", "hydra", "--resolve"]
    command += ["--package", "hydra.sweep.dir"]
    procs = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    dirs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(d.startswith("logs/multiruns/") for d in dirs)
    assert dirs[0] != dirs[1]


def _hold(device_list, lock_dir, seconds, log):
    with claim(device_list, lock_dir, poll_seconds=0.01) as device:
        start = time.monotonic()
        time.sleep(seconds)
        end = time.monotonic()
    with open(log, "a") as f:
        f.write(f"{device} {start} {end}\n")


def test_concurrent_jobs_never_share_a_gpu(tmp_path):
    # 8 jobs of uneven length on a fake list of 3 GPUs, 5 at a time: jobs finish out of order,
    # the case where job.num % n_gpus would double-book.
    log = tmp_path / "log"
    durations = [0.3, 0.05, 0.2, 0.05, 0.25, 0.1, 0.05, 0.15]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(5) as pool:
        pool.starmap(_hold, [([0, 1, 2], tmp_path / "locks", d, log) for d in durations])
    held = [line.split() for line in log.read_text().splitlines()]
    assert len(held) == len(durations)
    assert {int(d) for d, _, _ in held} <= {0, 1, 2}
    for device in "012":
        spans = sorted((float(s), float(e)) for d, s, e in held if d == device)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"GPU {device} held by two jobs at once"


def test_a_dead_holder_frees_its_gpu(tmp_path):
    holder = multiprocessing.get_context("spawn").Process(
        target=_hold, args=([0], tmp_path / "locks", 60, tmp_path / "log")
    )
    holder.start()
    time.sleep(1.5)  # let it take GPU 0
    holder.kill()
    holder.join()
    start = time.monotonic()
    with claim([0], tmp_path / "locks", poll_seconds=0.01) as device:
        assert device == 0
    assert time.monotonic() - start < 1


@pytest.mark.slow
def test_joblib_launcher_runs_the_grid_in_parallel(tmp_path):
    grid = ["dataset=digits", "trainer.max_epochs=1", "trainer.progress_bar=none"]
    proc = sweep(tmp_path, *grid, "seed=0,1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert proc.returncode == 0, proc.stderr
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    assert sorted(statuses(tmp_path)) == [
        f"dataset=digits,seed={s},{grid[1]},{grid[2]}" for s in range(3)
    ]
    assert set(statuses(tmp_path).values()) == {"completed"}


@pytest.mark.parametrize(
    "trainer, several",
    [
        ({"accelerator": "gpu", "devices": 1}, False),
        ({"accelerator": "cpu", "devices": "auto"}, False),
        ({"accelerator": "gpu", "devices": "auto"}, True),  # every GPU of the machine
        ({"accelerator": "gpu", "devices": -1}, True),
        ({"accelerator": "gpu", "devices": [0, 1]}, True),
        ({"accelerator": "cpu", "devices": 2}, True),
        ({"accelerator": "gpu", "devices": 1, "strategy": "ddp"}, True),
    ],
)
def test_what_a_sweep_refuses_as_ddp(trainer, several):
    assert _several_processes(OmegaConf.create(trainer)) is several


@pytest.mark.slow
def test_a_sweep_prints_one_line_per_job_and_no_banners(tmp_path):
    proc = sweep(tmp_path, *QUICK_SWEEP, "seed=0,1")
    assert proc.returncode == 0, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    for banner in ("GPU available", "TPU available", "`Trainer.fit` stopped"):
        assert not [line for line in lines if banner in line], banner
    job_lines = [line for line in lines if "[train]" in line]
    assert len(job_lines) == 2 and all("] - completed: " in line for line in job_lines)
    assert "sweep: 2 jobs: 2 completed" in proc.stdout
