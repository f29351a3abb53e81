"""Exact resume: a run killed at any point and run again into the same folder ends with the
metrics, bit for bit, and the TensorBoard scalars, step for step, of the uninterrupted run.

The kills here are in-process (an exception raised from inside the step, validation or test,
which no code of initlab catches for good), so each one lands exactly where the test says;
``tests/sweeper/test_sweeper.py`` kills a real sweep with SIGKILL.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import RUN_METRICS, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.training.init_module import InitModule
from initlab.training.run import run

# digits: 1257 training examples in batches of 32 = 40 steps an epoch; dropout draws from the
# global RNG, so its state must come back with the checkpoint too.
OVERRIDES = [
    "dataset=digits",
    "trainer.max_epochs=3",
    "trainer.progress_bar=none",
    "model.dropout=0.2",
    "diagnostics.every_n_steps=7",
    "init=xavier",
    "seed=0",
]
STEPS_PER_EPOCH = 40


class Killed(BaseException):
    """Stands for SIGKILL: nothing in initlab handles it."""


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag's (step, value) pairs as TensorBoard shows them (purges applied), and
    every image tag's steps."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    points = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    points.update({t: [e.step for e in acc.Images(t)] for t in acc.Tags()["images"]})
    return points


def resume_later() -> None:
    """Let the resumed attempt start in a later second, as a rerun does. TensorBoard reads a
    folder's event files in the order of their names: the start time in seconds, then the host,
    the pid and a per-process counter that does not sort as a number. Two attempts in one
    process within one second (only in these in-process tests) could be read newest first."""
    time.sleep(1.05)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    record = run(make_cfg(*OVERRIDES), run_dir, OVERRIDES)
    assert record["status"] == "completed"
    return record, scalars(run_dir)


def kill_in(monkeypatch, method: str, when) -> None:
    """Make ``InitModule.<method>`` raise :class:`Killed` the first time ``when(module)``."""
    original = getattr(InitModule, method)

    def dying(self, *args, **kwargs):
        if when(self):
            raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(InitModule, method, dying)


KILLS = {
    # mid-epoch: step 50 of 120, in epoch 1; the newest checkpoint is epoch 0's
    "mid-epoch": ("training_step", lambda m: m.global_step == 50),
    # between epochs: the first step of epoch 2, right after epoch 1's checkpoint
    "between-epochs": ("training_step", lambda m: m.global_step == 2 * STEPS_PER_EPOCH),
    # in epoch 1's validation, before its checkpoint is written
    "validation": ("validation_step", lambda m: m.current_epoch == 1),
    # during test: training is over and the last checkpoint has every train/val metric
    "test": ("test_step", lambda m: True),
}


@pytest.mark.parametrize("where", KILLS)
def test_a_killed_run_resumes_to_the_same_bits(where, tmp_path, monkeypatch, uninterrupted):
    expected, expected_scalars = uninterrupted
    with monkeypatch.context() as patch:
        kill_in(patch, *KILLS[where])
        with pytest.raises(Killed):
            run(make_cfg(*OVERRIDES), tmp_path, OVERRIDES)
    killed = json.loads((tmp_path / "metrics.json").read_text())
    assert killed["status"] not in ("completed", "diverged")

    resume_later()
    record = run(make_cfg(*OVERRIDES), tmp_path, OVERRIDES)
    assert record["status"] == "completed"
    assert record["metrics"] == expected["metrics"]  # every metric, bit for bit
    assert (record["epochs"], record["steps"]) == (expected["epochs"], expected["steps"])
    resumed_from = {"mid-epoch": 40, "between-epochs": 80, "validation": 40, "test": 120}[where]
    assert record["resumed_from_step"] == resumed_from
    assert "resumed_from_step" not in expected or expected["resumed_from_step"] is None

    got = scalars(tmp_path)
    assert set(got) == set(expected_scalars)
    for tag, points in expected_scalars.items():
        assert got[tag] == points, tag  # each step once, with the same value


def test_a_damaged_record_is_rerun_without_losing_a_metric(tmp_path, uninterrupted):
    expected, _ = uninterrupted
    first = run(make_cfg(*OVERRIDES), tmp_path, OVERRIDES)
    assert first["metrics"] == expected["metrics"]
    (tmp_path / "metrics.json").write_text('{"status": "compl')  # cut short
    resume_later()
    record = run(make_cfg(*OVERRIDES), tmp_path, OVERRIDES)
    assert record["status"] == "completed"
    assert record["metrics"] == expected["metrics"]
    assert set(record["metrics"]) == RUN_METRICS


def test_validation_inside_the_epoch_still_checkpoints_at_its_end(tmp_path, monkeypatch):
    """Validation twice an epoch: checkpoints are still written only where an epoch ends, so
    a run killed after a mid-epoch validation resumes from the last whole epoch, exactly."""
    overrides = [*OVERRIDES, "trainer.max_epochs=2", "+trainer.val_check_interval=0.5"]
    expected = run(make_cfg(*overrides), tmp_path / "uninterrupted", overrides)
    assert [p.name for p in (tmp_path / "uninterrupted" / "checkpoints").iterdir()] == [
        "epoch=1-step=80.ckpt"
    ]
    with monkeypatch.context() as patch:
        kill_in(patch, "training_step", lambda m: m.global_step == 60)  # after step 60's val
        with pytest.raises(Killed):
            run(make_cfg(*overrides), tmp_path / "killed", overrides)
    resume_later()
    record = run(make_cfg(*overrides), tmp_path / "killed", overrides)
    assert record["resumed_from_step"] == 40
    assert record["metrics"] == expected["metrics"]


@pytest.mark.parametrize(
    "extra,status",
    [
        (["trainer.max_epochs=1"], "completed"),
        (["optimizer=sgd", "optimizer.lr=1000"], "diverged"),  # a NaN checkpoint
    ],
)
def test_a_finished_run_run_again_is_left_as_it_is(tmp_path, extra, status):
    """The same command into the same folder after the run finished: its result stands. A
    diverged run used to resume from its NaN checkpoint and record a second divergence one
    step later; a completed one to test again and rewrite its record."""
    overrides = [*OVERRIDES, *extra]
    first = run(make_cfg(*overrides), tmp_path, overrides)
    assert first["status"] == status
    recorded = (tmp_path / "metrics.json").read_bytes()
    events = sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))
    again = run(make_cfg(*overrides), tmp_path, overrides)
    assert again == first
    assert (tmp_path / "metrics.json").read_bytes() == recorded
    assert sorted(p.name for p in tmp_path.glob("events.out.tfevents.*")) == events
