"""The run lifecycle written once (initlab.training.lifecycle): how a record ends, whatever ends
the body, for a run and for a population's members alike; the train epoch's sums; and that
importing the package changes nothing in the process (the entry points do that)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import QUICK, make_cfg

from initlab.runtime import signals
from initlab.runtime.signals import Signalled
from initlab.training.held_losses import HeldLosses
from initlab.training.lifecycle import Attempt, Recording, epochs_done
from initlab.training.module_base import EpochSums
from initlab.training.spec import build


def attempts(tmp_path, n=2):
    cfg = make_cfg(*QUICK)
    spec = build(cfg)
    made = [Attempt(cfg, spec, tmp_path / str(k), [f"seed={k}"]) for k in range(n)]
    for a in made:
        a.run_dir.mkdir(parents=True)
        a.locate()
        a.begin()
    return made


def on_disk(a: Attempt) -> dict:
    return json.loads((a.run_dir / "metrics.json").read_text())


def test_a_fresh_attempt_starts_running_with_its_overrides(tmp_path):
    (a,) = attempts(tmp_path, 1)
    assert (a.resume, a.purge_step) == (None, None)
    got = on_disk(a)
    assert got["status"] == "running" and got["overrides"] == ["seed=0"] and got["steps"] == 0
    assert a.finished_before() is None


def test_an_exception_ends_every_running_record_failed_and_is_reraised(tmp_path):
    done, running = attempts(tmp_path)
    trainer = SimpleNamespace(global_step=30, num_training_batches=12, current_epoch=3)
    with pytest.raises(ValueError, match="boom"), Recording([done, running]) as recording:
        recording.trainer = trainer
        done.record["status"] = "completed"
        raise ValueError("boom")
    assert on_disk(done)["status"] == "completed" and on_disk(done)["error"] is None
    failed = on_disk(running)
    assert failed["status"] == "failed" and failed["error"] == "ValueError: boom"
    assert (failed["steps"], failed["epochs"]) == (30, 2)  # 30 // 12 whole epochs
    events = list(running.run_dir.glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0  # the HPARAMS summary


def test_a_signal_turned_into_another_exception_is_reraised_as_the_signal(tmp_path, monkeypatch):
    (a,) = attempts(tmp_path, 1)
    monkeypatch.setattr("initlab.runtime.signals._received", signal.SIGTERM)
    with pytest.raises(Signalled) as stopped, Recording([a]):
        raise RuntimeError("a library's cleanup, raised while the signal unwound it")
    assert stopped.value.signum == signal.SIGTERM
    assert isinstance(stopped.value.__cause__, RuntimeError)
    assert on_disk(a)["error"] == "Signalled: stopped by SIGTERM"


def test_a_member_that_stopped_keeps_its_steps_and_a_rank_writes_nothing(tmp_path):
    stopped, going = attempts(tmp_path)
    stopped.stopped = True
    stopped.record.update(status="diverged", steps=8, epochs=0)
    trainer = SimpleNamespace(global_step=40, num_training_batches=20, current_epoch=2)
    with Recording([stopped, going]) as recording:
        recording.trainer = trainer
        going.record["status"] = "completed"
    assert (on_disk(stopped)["steps"], on_disk(stopped)["epochs"]) == (8, 0)
    assert (on_disk(going)["steps"], on_disk(going)["epochs"]) == (40, 2)
    (rank,) = attempts(tmp_path / "rank", 1)
    with Recording([rank], write=False) as recording:
        recording.trainer = trainer
        rank.record["status"] = "completed"
    assert on_disk(rank)["status"] == "running" and rank.record["steps"] == 40


def test_epochs_done_counts_whole_epochs_and_falls_back_before_the_data():
    trainer = SimpleNamespace(num_training_batches=10, current_epoch=1)
    assert [epochs_done(s, trainer) for s in (0, 9, 10, 25)] == [0, 0, 1, 2]
    assert epochs_done(0, SimpleNamespace(num_training_batches=float("inf"), current_epoch=0)) == 0


def test_epoch_sums_mean_the_steps_and_survive_a_checkpoint():
    sums = EpochSums(torch.zeros((), dtype=torch.long))
    assert sums.metrics() == {}
    sums.add(0.5, 10)
    sums.correct += torch.tensor(7)
    sums.add(1.0, 30)
    sums.correct += torch.tensor(12)
    assert sums.metrics() == {"train/loss": (0.5 * 10 + 1.0 * 30) / 40, "train/acc": 19 / 40}
    again = EpochSums()
    again.load(sums.state())
    assert again.metrics() == sums.metrics() and again.state() == (35.0, 19, 40)


def test_importing_initlab_changes_nothing_in_the_process():
    """The resolver, the log filters and the warning filters are the entry points' to install:
    importing every module a notebook might import leaves the process as it was."""
    code = """
import logging, warnings
import hydra, matplotlib, pytorch_lightning, sklearn, torch, torch.utils.tensorboard
from omegaconf import OmegaConf
before = list(warnings.filters)  # after the libraries': they set their own
import initlab, initlab.training.run, initlab.population.population_run, initlab.probe
import initlab.reproduce, initlab.report
lightning = logging.getLogger("pytorch_lightning.utilities.rank_zero")
print(OmegaConf.has_resolver("cuda_device_count"), lightning.filters, warnings.filters == before)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "[]", "True"]


class _SignalledInAFinalizer:
    """Sends SIGINT to this process from ``__del__``: the handler runs inside the finalizer, so
    Python prints its exception as "Exception ignored in" and goes on (seen in CI: matplotlib's
    weakref callbacks, collected mid-fit)."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(10))  # a few bytecodes: the Python-level handler runs here


@pytest.fixture
def signals_installed(monkeypatch):
    monkeypatch.setattr(signals, "_received", None)
    saved = signal.signal(signal.SIGINT, signals._raise)
    yield
    signal.signal(signal.SIGINT, saved)


def test_a_signal_whose_exception_a_finalizer_swallowed_still_stops_the_run(
    tmp_path, signals_installed
):
    (a,) = attempts(tmp_path, 1)
    with pytest.raises(Signalled) as stopped, Recording([a]):
        _SignalledInAFinalizer()  # collected at once: the signal's exception is lost
        a.record["status"] = "completed"  # the body went on to the end
    assert stopped.value.signum == signal.SIGINT
    assert on_disk(a)["status"] == "failed"
    assert on_disk(a)["error"] == "Signalled: stopped by SIGINT"


def test_a_swallowed_signal_stops_the_fit_at_the_next_batch(signals_installed):
    _SignalledInAFinalizer()
    with pytest.raises(Signalled):
        Recording([]).on_train_batch_end(None, None, None, None, 0)


def test_held_losses_are_read_in_step_order_with_a_count_in_one_transfer():
    held = HeldLosses()
    assert held.read() == ([], None)
    for step, loss in enumerate([0.25, float("nan"), 1.5]):
        held.hold(step, 32 - step, torch.tensor(loss, dtype=torch.bfloat16))
    read, count = held.read(torch.tensor(17))
    assert [(s, n) for s, n, _ in read] == [(0, 32), (1, 31), (2, 30)]
    assert read[0][2] == 0.25 and math.isnan(read[1][2]) and read[2][2] == 1.5
    assert count == 17 and held.read() == ([], None)  # nothing held twice
    held.hold(7, 8, torch.tensor([0.1, 0.2], dtype=torch.float64))  # a population's, in float64
    read, count = held.read(torch.tensor([3, 2**24 - 1]))
    assert read == [(7, 8, [0.1, 0.2])] and count == [3, 2**24 - 1]


def test_one_records_failed_write_still_writes_the_others(tmp_path, monkeypatch):
    """A signal (or an error) while the first member's record is written must not leave the
    second member's ``running`` on disk (it would read ``killed`` once the process is gone)."""
    first, second = attempts(tmp_path)
    written = first.write

    def interrupted() -> None:
        written()
        raise Signalled(signal.SIGTERM)  # a SIGTERM landing in the first write's HPARAMS

    monkeypatch.setattr(first, "write", interrupted)
    with pytest.raises(Signalled), Recording([first, second]):
        raise Signalled(signal.SIGTERM)
    assert on_disk(first)["status"] == "failed"
    assert on_disk(second)["status"] == "failed"
