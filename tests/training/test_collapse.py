"""A dead net is not ``completed``: a run whose predictions no longer depend on its input ends
``collapsed``, as a run and as a population's member, with its metrics and its logit spread."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from conftest import QUICK, REPO, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.training import record as record_lib
from initlab.training.collapse import METRIC, TOLERANCE, LogitRange, ending
from initlab.training.run import run


def test_the_logit_range_is_each_class_s_over_every_batch_and_the_spread_its_largest():
    r = LogitRange()
    r.add(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
    r.add(torch.tensor([[-1.0, 1.5]]))
    assert r.low.tolist() == [-1.0, 1.0] and r.high.tolist() == [2.0, 1.5]
    assert r.spread().item() == 3.0
    stacked = LogitRange()  # a population's: (members, batch, classes)
    stacked.add(torch.tensor([[[0.0, 0.0], [0.0, 0.0]], [[0.0, 5.0], [1.0, 0.0]]]))
    assert stacked.spread().tolist() == [0.0, 5.0]


def test_a_spread_at_or_below_the_tolerance_is_collapsed_and_above_it_completed():
    assert ending({METRIC: 0.0}) == ending({METRIC: TOLERANCE}) == "collapsed"
    assert ending({METRIC: 10 * TOLERANCE}) == "completed"
    assert ending({}) == "completed"  # a record from before the spread was measured
    assert ending({METRIC: math.nan}) == "completed"
    assert "collapsed" in record_lib.FINISHED and "collapsed" in record_lib.STATUSES


def test_a_net_that_starts_dead_ends_collapsed_with_its_metrics(tmp_path):
    """init=zeros: every hidden unit is 0 and gets no gradient; only the output bias learns, so
    every input gets the same logits: chance accuracy, loss near ln 10."""
    overrides = [*QUICK, "init=zeros", "trainer.max_epochs=1", "diagnostics.enabled=false"]
    record = run(make_cfg(*overrides), tmp_path, overrides)
    assert record["status"] == "collapsed"
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "collapsed"
    assert record["metrics"][METRIC] == 0.0
    assert record["metrics"]["test/loss"] == pytest.approx(math.log(10), abs=0.01)
    assert record_lib.status_of(tmp_path) == "collapsed"


def test_a_net_that_trains_ends_completed_with_its_spread(tmp_path):
    overrides = [*QUICK, "init=he", "trainer.max_epochs=1", "diagnostics.enabled=false"]
    record = run(make_cfg(*overrides), tmp_path, overrides)
    assert record["status"] == "completed"
    assert record["metrics"][METRIC] > 1.0  # a trained net's logits move with the input


# Digits, the MLP, SGD with momentum 0.9 at 0.7: the loss falls from 2.3 to 0.9 in four steps,
# then a spike (4 to 8) kills every ReLU of a layer, and the loss settles near ln 10.
SPIKE = [*QUICK, "trainer.max_epochs=2", "optimizer=sgd", "optimizer.lr=0.7"]


def train_losses(run_dir) -> list[float]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [e.value for e in events.Scalars("train/loss")]


def test_a_net_that_learns_then_spikes_and_dies_ends_collapsed_not_completed(tmp_path):
    overrides = [*SPIKE, "trainer.log_every_n_steps=1", "diagnostics.enabled=false"]
    record = run(make_cfg(*overrides), tmp_path, overrides)
    losses = train_losses(tmp_path)
    assert min(losses[:10]) < 1.0 < max(losses[:10])  # it learned, then spiked
    assert abs(losses[-1] - math.log(10)) < 0.15  # then sat near ln 10
    assert record["status"] == "collapsed"
    assert record["metrics"][METRIC] == 0.0 and record["metrics"]["test/acc"] < 0.15


def test_a_population_member_that_dies_ends_collapsed_beside_one_that_trains(tmp_path):
    sweep_dir = tmp_path / "sweep"
    grid = [*SPIKE, "optimizer.lr=0.01,0.7", "trainer.progress_bar=none"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "-m", "hydra/launcher=population"]
        + [f"hydra.sweep.dir={sweep_dir}", *grid],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]  # a collapsed run is a result
    assert "2 jobs: 1 collapsed, 1 completed" in proc.stdout + proc.stderr
    records = [json.loads(f.read_text()) for f in sweep_dir.glob("*/metrics.json")]
    (dead,) = [r for r in records if "optimizer.lr=0.7" in r["overrides"]]
    (alive,) = [r for r in records if "optimizer.lr=0.01" in r["overrides"]]
    assert dead["status"] == "collapsed" and dead["metrics"][METRIC] == 0.0
    assert alive["status"] == "completed" and alive["metrics"][METRIC] > 1.0
