"""Signals end runs honestly, and one folder has one writer: a signalled run records `failed`
and exits 128 + the signal; a SIGKILLed one is read as `killed`, never finished; a second sweep
into a folder being written leaves that job to its writer."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.runtime import folder_lock, signals
from initlab.training import record as record_lib

# digits: an epoch is ~40 steps and a fraction of a second, so 300 epochs is a run that is
# still going when the test signals it.
LONG = ["dataset=digits", "trainer.max_epochs=300", "trainer.progress_bar=none"]


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return start_in_group([sys.executable, str(REPO / "train.py"), *args], tmp_path)


def start_in_group(command: list[str], tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {what}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.05)


def checkpointed(folder: Path):
    return lambda: bool(list(folder.glob("checkpoints/*.ckpt")))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_run_records_failed_and_dies_by_the_signal(tmp_path, signum):
    run_dir = tmp_path / "run"
    proc = start(tmp_path, *LONG, f"hydra.run.dir={run_dir}")
    wait_for(checkpointed(run_dir), proc, "checkpoint")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signum, err[-2000:]  # died by it: a shell shows 128 + signum
    record = json.loads((run_dir / "metrics.json").read_text())
    name = signal.Signals(signum).name
    assert record["status"] == "failed" and name in record["error"]
    assert 0 < record["steps"] < 300 * 40
    assert f"stopped by {name}" in out + err
    assert f"run it again with the same command and hydra.run.dir={run_dir} to resume" in out + err
    assert record_lib.status_of(run_dir) == "failed"


@pytest.mark.slow
def test_a_signalled_sweep_says_how_to_resume_and_dies_by_the_signal(tmp_path):
    proc = start(tmp_path, "-m", f"hydra.sweep.dir={tmp_path}", *LONG, "seed=0,1")
    wait_for(lambda: any(tmp_path.glob("*seed=0*/checkpoints/*.ckpt")), proc, "a checkpoint")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err[-2000:]  # a shell shows 143
    assert "sweep: 2 jobs: 1 failed, 1 missing" in out
    assert f"Resume with the same command and hydra.sweep.dir={tmp_path}" in err


@pytest.mark.slow
def test_a_sigkilled_run_never_looks_finished(tmp_path):
    run_dir = tmp_path / "run"
    proc = start(tmp_path, *LONG, f"hydra.run.dir={run_dir}")
    wait_for(checkpointed(run_dir), proc, "checkpoint")
    assert record_lib.status_of(run_dir) == "running"  # its record, and its lock held
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "running"
    assert record_lib.status_of(run_dir) == "killed"  # nobody holds the lock any more


@pytest.mark.slow
def test_a_single_run_into_a_busy_folder_leaves_it_alone(tmp_path):
    run_dir = tmp_path / "run"
    first = start(tmp_path, *LONG, f"hydra.run.dir={run_dir}")
    wait_for(checkpointed(run_dir), first, "checkpoint")
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_bytes()
    log = (run_dir / "train.log").read_bytes()
    second = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *LONG, "init=he", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 75, second.stderr[-2000:]
    assert "is being written by another process" in second.stdout + second.stderr
    assert f"pid {first.pid}" in second.stdout + second.stderr
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1  # nothing of the second's
    # nor Hydra's: the second run (another config) left .hydra/ and train.log as they were
    assert (run_dir / ".hydra" / "overrides.yaml").read_bytes() == overrides
    assert (run_dir / "train.log").read_bytes() == log
    os.killpg(first.pid, signal.SIGTERM)
    first.communicate(timeout=60)


@pytest.mark.slow
def test_two_sweeps_into_one_folder_never_run_a_job_twice(tmp_path):
    # Two jobs of ~10 s; the second sweep starts (its imports take seconds) while the first
    # runs job seed=0.
    epochs = 25
    grid = ["dataset=digits", f"trainer.max_epochs={epochs}", "trainer.progress_bar=none"]
    args = ["-m", f"hydra.sweep.dir={tmp_path}", *grid, "seed=0,1"]
    first = start(tmp_path, *args)
    job0 = tmp_path / f"dataset=digits,seed=0,trainer.max_epochs={epochs},trainer.progress_bar=none"
    wait_for(lambda: folder_lock.is_held(job0), first, "job 0")
    second = start(tmp_path, *args)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert {first.returncode, second.returncode} <= {0, 1}, [e[-2000:] for _, e in outs]
    assert "being written by another process" in outs[1][0]  # the second left job 0 alone
    folders = sorted(tmp_path.glob("dataset=digits,seed=*"))
    assert len(folders) == 2
    for folder in folders:
        assert record_lib.status_of(folder) == "completed"
        assert len(list(folder.glob("checkpoints/*.ckpt"))) == 1
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        acc.Reload()
        steps = [e.step for e in acc.Scalars("train/loss")]
        assert len(steps) == len(set(steps)) == epochs * 40 // 10  # every step once


def test_under_submitit_its_preemption_handler_runs_once(monkeypatch):
    # SLURM can deliver SIGUSR2 twice within milliseconds; submitit's checkpoint-and-requeue
    # handler raises when it runs a second time, and the job then ends failed, not requeued.
    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda num, frame: calls.append(num))
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    try:
        signals.install()
        signals.install()  # a second job in the same process: still one call per signal run
        signal.raise_signal(signal.SIGUSR2)
        signal.raise_signal(signal.SIGUSR2)
        assert calls == [signal.SIGUSR2]
        # from the first call on, blocked: a child the handler starts (scontrol) inherits this
        assert signal.SIGUSR2 in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        signal.raise_signal(signal.SIGUSR2)  # pending, never delivered to the handler
        assert calls == [signal.SIGUSR2]
        assert signal.getsignal(signal.SIGTERM) is not signals._raise  # submitit's stays
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # drop the pending one, then unblock
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
        signal.signal(signal.SIGUSR2, previous)


def test_signals_the_parent_ignores_stay_ignored(monkeypatch):
    # nohup ignores SIGHUP: closing the terminal must not stop the run.
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    saved = {s: signal.getsignal(s) for s in signals.CAUGHT}
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signals.install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signals._raise
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_a_repeated_signal_does_not_interrupt_the_run_it_stopped(monkeypatch):
    # seen in CI: a population worker's parent killed with SIGKILL; Linux sends the worker its
    # PR_SET_PDEATHSIG once per thread of the dying parent, so a burst of SIGTERMs came, and
    # the second one interrupted the writing of the members' failed records: one stayed
    # `running` and read `killed`
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    monkeypatch.setattr(signals, "_received", None)
    saved = {s: signal.getsignal(s) for s in signals.CAUGHT}
    cleaned = []
    try:
        signals.install()
        with pytest.raises(signals.Signalled) as stopped:
            try:
                signal.raise_signal(signal.SIGTERM)
            finally:
                signal.raise_signal(signal.SIGTERM)  # the repeats, while the run unwinds
                signal.raise_signal(signal.SIGINT)
                cleaned.append("records written")
        assert cleaned == ["records written"]
        assert stopped.value.signum == signal.SIGTERM  # the first one is what stopped it
        assert signals.as_signalled(None).signum == signal.SIGTERM
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_signalled_survives_pickling():
    # a joblib worker sends it to the sweep's process pickled
    back = pickle.loads(pickle.dumps(signals.Signalled(signal.SIGTERM)))
    assert isinstance(back, signals.Signalled) and back.code == 143 and back.name == "SIGTERM"


def test_a_file_system_without_flock_warns_and_goes_on(tmp_path, monkeypatch):
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(folder_lock.fcntl, "flock", no_flock)
    with pytest.warns(UserWarning, match="does not support flock"), folder_lock.hold(tmp_path):
        pass
    with pytest.warns(UserWarning, match="does not support flock"):
        assert folder_lock.is_held(tmp_path) is False


@pytest.mark.slow
def test_ctrl_c_stops_a_shell_loop_of_runs(tmp_path):
    # Ctrl-C sends SIGINT to the foreground process group. bash, waiting for a child that died
    # of SIGINT, stops the loop; a child that merely exited 130 would let it start seed=1.
    script = tmp_path / "loop.sh"
    script.write_text(
        f"for s in 0 1; do {sys.executable} {REPO / 'train.py'} {' '.join(LONG)} seed=$s "
        f"hydra.run.dir={tmp_path}/run$s; done\n"
    )
    proc = start_in_group(["bash", str(script)], tmp_path)
    wait_for(checkpointed(tmp_path / "run0"), proc, "checkpoint")
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    run0 = json.loads((tmp_path / "run0" / "metrics.json").read_text())
    assert run0["status"] == "failed" and "SIGINT" in run0["error"], run0["error"]
    assert proc.returncode == -signal.SIGINT  # bash itself stopped by it, as a shell does
    assert not (tmp_path / "run1").exists()  # the loop did not go on to the next run


def test_a_signal_that_a_library_turns_into_another_error_is_still_a_signal(monkeypatch):
    # seen in CI: SIGINT during a matplotlib drawing surfaced as "ValueError: Invalid bounding
    # box"; the run must still record and end as stopped by SIGINT
    monkeypatch.setattr(signals, "_received", None)
    assert signals.as_signalled(ValueError("x")) is None
    monkeypatch.setattr(signals, "_received", signal.SIGINT)
    stop = signals.as_signalled(ValueError("Invalid bounding box"))
    assert isinstance(stop, signals.Signalled) and stop.code == 130
    same = signals.Signalled(signal.SIGTERM)
    assert signals.as_signalled(same) is same


def test_the_run_start_check_takes_the_folder_so_a_run_started_with_it_loses(tmp_path):
    """Two runs started at the same moment into one folder: the check before Hydra writes
    anything used to only look at the lock, and both could pass it before either took it (the
    loser then rewrote the winner's .hydra/). The check now takes the lock, and the run keeps
    it: a second process finds the folder busy from that moment."""
    from conftest import hydra_cfg

    from initlab.training.spec import ValidateBeforeRun

    run_dir = tmp_path / "run"
    cfg = hydra_cfg("dataset=digits", f"hydra.run.dir={run_dir}")
    ValidateBeforeRun().on_run_start(config=cfg)  # this process: checked, not yet training
    assert not (run_dir / ".hydra").exists()
    probe = [
        sys.executable,
        "-c",
        f"from initlab.runtime import folder_lock; print(folder_lock.is_held({str(run_dir)!r}))",
    ]
    assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "True"
    with folder_lock.hold(run_dir):  # the run itself takes over what the check holds
        pass
    assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "False"
