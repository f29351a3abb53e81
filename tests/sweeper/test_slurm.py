"""SLURM: a sweep through ``hydra/launcher=submitit_slurm_cpu`` on the real one-node cluster of
``scripts/local_slurm.sh``, with one job requeued mid-run (``scontrol requeue``) and another
preempted (SIGUSR2, which submitit answers with a checkpoint and a requeue).

The cluster must be up (``sudo bash scripts/local_slurm.sh``); these tests fail, not skip,
when it is not. One sweep (module fixture) serves both tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO
from omegaconf import OmegaConf

START = "sudo bash scripts/local_slurm.sh"
# Four 1-core jobs, two at a time on two cores; 30 digits epochs: ~10-15 s a job, long enough
# to requeue one between its first checkpoint and its end.
GRID = [
    "dataset=digits",
    "trainer.max_epochs=30",
    "trainer.progress_bar=none",
    "init=he,xavier",
    "seed=0,1",
]


def _cluster_problem() -> str | None:
    """Why the local cluster cannot run the sweep, or None when it can."""
    if shutil.which("sinfo") is None:
        return f"SLURM is not installed (no `sinfo`): apt-get install -y slurm-wlm munge; {START}"
    sinfo = subprocess.run(
        ["sinfo", "-h", "-p", "cpu", "-o", "%T"], capture_output=True, text=True, timeout=30
    )
    if sinfo.returncode or not re.match(r"(idle|mixed|allocated|completing)", sinfo.stdout):
        said = (sinfo.stderr or sinfo.stdout or "no partition `cpu`").strip()
        return f"the local SLURM cluster is not up ({said}): run `{START}`"
    sacct = subprocess.run(["sacct", "-n", "-j", "1"], capture_output=True, text=True, timeout=30)
    if sacct.returncode:
        return f"SLURM accounting is not up ({sacct.stderr.strip()}): run `{START}`"
    return None


@dataclass
class Sweep:
    problem: str | None = None
    dir: Path | None = None
    returncode: int | None = None
    output: str = ""
    requeued: str | None = None  # the SLURM job id, e.g. 12_1: `scontrol requeue`
    requeued_folder: Path | None = None
    preempted: str | None = None  # SIGUSR2, what SLURM sends before preemption or the limit
    preempted_folder: Path | None = None


def _array_ids(sweep_dir: Path) -> set[str]:
    """The sweep's SLURM array job ids, from submitit's per-job folders (``<array>_<task>``)."""
    return {p.name.split("_")[0] for p in (sweep_dir / ".submitit").glob("*_*") if p.is_dir()}


def _state(job: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=30
    ).stdout.strip()


def _running_job_with_a_checkpoint(
    proc: subprocess.Popen, sweep_dir: Path, deadline: float, exclude: Path | None
) -> tuple[str, Path]:
    """(SLURM job id, folder) of a job that is running and has written a checkpoint."""
    while True:
        assert proc.poll() is None, (
            "the sweep ended before two jobs were interrupted: "
            + subprocess.run(
                ["sacct", "-X", "-D", "-o", "JobID,State,Start,End", "-P"],
                capture_output=True,
                text=True,
            ).stdout[-1500:]
        )
        assert time.monotonic() < deadline, "no running job with a checkpoint in time"
        for ckpt in sweep_dir.glob("*/checkpoints/*.ckpt"):
            folder = ckpt.parents[1]
            if folder == exclude:
                continue
            job = OmegaConf.load(folder / ".hydra" / "hydra.yaml").hydra.job.id
            if _state(job) == "RUNNING":
                return job, folder
        time.sleep(0.2)


@pytest.fixture(scope="module")
def requeued_sweep(tmp_path_factory) -> Sweep:
    problem = _cluster_problem()
    if problem:
        return Sweep(problem=problem)
    sweep_dir = tmp_path_factory.mktemp("slurm_sweep")
    logs = tmp_path_factory.mktemp("slurm_logs")
    out = (logs / "sweep.out").open("w+")
    cmd = [sys.executable, str(REPO / "train.py"), "-m", "hydra/launcher=submitit_slurm_cpu"]
    proc = subprocess.Popen(
        [*cmd, *GRID, f"hydra.sweep.dir={sweep_dir}"], cwd=logs, stdout=out, stderr=out, text=True
    )
    sweep = Sweep(dir=sweep_dir)
    try:
        # A job that has written its first epoch's checkpoint, still running: preempt it the
        # way SLURM warns of preemption or the time limit, with SIGUSR2 (submitit checkpoints
        # and requeues it); once SLURM has it pending again, requeue another running one as an
        # operator would (`scontrol requeue`).
        deadline = time.monotonic() + 120
        for action in ("preempt", "requeue"):
            job, folder = _running_job_with_a_checkpoint(
                proc, sweep_dir, deadline, exclude=sweep.preempted_folder
            )
            if action == "preempt":
                # to the job's step (job.0), where SLURM's `--signal=USR2@…` of submitit lands:
                # signalling the whole job also hits its batch step, which SLURM may refuse
                # ("try again later"); scancel then retries until the job's next attempt.
                subprocess.run(["scancel", "--signal=USR2", f"{job}.0"], check=True, timeout=30)
                sweep.preempted, sweep.preempted_folder = job, folder
                while _state(job) == "RUNNING":
                    assert time.monotonic() < deadline, f"{job} still running after SIGUSR2"
                    time.sleep(0.2)
            else:
                subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
                sweep.requeued, sweep.requeued_folder = job, folder
        # The requeued job waits ~AuthInfo cred_expire (10 s here) before it may start again.
        sweep.returncode = proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if sweep.returncode != 0:  # leave no job of a broken sweep behind on the cluster
            for array in _array_ids(sweep_dir):
                subprocess.run(["scancel", array], check=False)
        out.seek(0)
        sweep.output = out.read()
        out.close()
    return sweep


def _accounted_states(job: str) -> list[str]:
    """The states ``sacct`` holds for each attempt at ``job``, once the last one has ended
    (slurmdbd records a job's end a moment after the job itself has ended)."""
    deadline = time.monotonic() + 30
    while True:
        states = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-D", "-o", "State", "-j", job],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if states[-1:] not in (["PENDING"], ["RUNNING"], ["COMPLETING"]):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def _records(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")}


@pytest.mark.slow
def test_a_requeued_job_resumes_and_every_job_completes(requeued_sweep):
    sweep = requeued_sweep
    if sweep.problem:
        pytest.fail(sweep.problem)
    assert sweep.returncode == 0, sweep.output
    records = _records(sweep.dir)
    assert len(records) == 4, sweep.output
    assert {name: r["status"] for name, r in records.items()} == dict.fromkeys(records, "completed")
    for job, folder in [
        (sweep.requeued, sweep.requeued_folder),
        (sweep.preempted, sweep.preempted_folder),
    ]:
        # SLURM ran it twice: its accounting keeps the requeued attempt (-D) and the final one.
        states = _accounted_states(job)
        assert states == ["REQUEUED", "COMPLETED"], (job, states)
        # The second attempt resumed from the first one's checkpoint instead of starting over.
        assert records[folder.name].get("resumed_from_step", 0) > 0
        log = (sweep.dir / ".submitit" / job / f"{job}_0_log.out").read_text()
        assert log.count("Starting with JobEnvironment") == 2, log
    err = (sweep.dir / ".submitit" / sweep.preempted / f"{sweep.preempted}_0_log.err").read_text()
    assert "Caught signal SIGUSR2" in err and "this job is preempted" in err
    # submitit polls sacct; with working accounting it never has to bypass an error.
    assert "sacct" not in sweep.output, sweep.output


def _single_run(overrides: list[str], run_dir: Path) -> dict:
    """``python train.py <overrides>`` uninterrupted, one torch thread as in a SLURM job."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *overrides, f"hydra.run.dir={run_dir}"],
        cwd=run_dir.parent,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_sweep_jobs_match_uninterrupted_single_runs(requeued_sweep, tmp_path):
    """Resume is exact (DESIGN, contract 6): every job, the requeued one included, ends with the
    metrics of the same overrides run alone without interruption, bit for bit."""
    sweep = requeued_sweep
    if sweep.problem:
        pytest.fail(sweep.problem)
    assert sweep.returncode == 0, sweep.output
    jobs = _records(sweep.dir)
    assert len(jobs) == 4
    names = sorted(jobs)
    overrides = [list(OmegaConf.load(sweep.dir / n / ".hydra" / "overrides.yaml")) for n in names]
    # run0..run3: the job folders' names hold "=" and ",", which a hydra.run.dir override cannot
    run_dirs = [tmp_path / f"run{i}" for i in range(len(names))]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores
        singles = dict(zip(names, pool.map(_single_run, overrides, run_dirs), strict=True))
    for name, job in jobs.items():
        single = singles[name]["metrics"]
        differ = {k: (v, single.get(k)) for k, v in job["metrics"].items() if v != single.get(k)}
        assert job["metrics"].keys() == single.keys() and not differ, (
            f"{name}{' (requeued)' if name == sweep.requeued_folder.name else ''}"
            f"{' (preempted)' if name == sweep.preempted_folder.name else ''}: "
            f"sweep job vs single run: {differ}"
        )
