"""A whole run: metrics.json, TensorBoard events, the init plan, statuses, the README command."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from conftest import QUICK, RUN_METRICS, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.config.errors import ConfigError
from initlab.data import datasets
from initlab.training import record as record_lib
from initlab.training.run import run
from initlab.training.spec import build

SCALARS = RUN_METRICS
RECORD_KEYS = {
    "status",
    "init",
    "activation",
    "dataset",
    "model",
    "seed",
    "overrides",
    "metrics",
    "epochs",
    "steps",
    "fit_seconds",
    "error",
    "resumed_from_step",
}


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return acc


def test_run_writes_metrics_events_and_plan(tmp_path):
    overrides = [*QUICK, "init=he", "activation=relu", "trainer.max_epochs=2"]
    record = run(make_cfg(*overrides), tmp_path, overrides)

    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == record
    assert set(record) == RECORD_KEYS
    assert record["status"] == "completed" and record["error"] is None
    assert (record["init"], record["activation"], record["dataset"], record["model"]) == (
        "he",
        "relu",
        "digits",
        "mlp",
    )
    assert record["overrides"] == overrides
    assert record["epochs"] == 2
    assert record["steps"] == 2 * -(-(1797 - 360 - 180) // 32)  # ceil(1257 / 32) steps per epoch
    assert set(record["metrics"]) == SCALARS
    assert record["metrics"]["test/acc"] > 0.85  # digits is easy; chance is 0.1
    assert record["fit_seconds"] > 0

    acc = events(tmp_path)
    tags = acc.Tags()
    assert set(tags["scalars"]) >= SCALARS
    assert acc.Scalars("test/acc")[-1].value == pytest.approx(record["metrics"]["test/acc"])
    assert len(acc.Scalars("val/acc")) == 2  # one point per epoch
    assert "init/plan" in str(tags["tensors"])  # the text plugin stores text as tensors
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    assert "hp_metric" not in tags["scalars"]

    plan = json.loads((tmp_path / "init_plan.json").read_text())
    assert [row["layer"] for row in plan["layers"]] == ["layer1", "layer2", "layer3"]
    assert [row["fan_in"] for row in plan["layers"]] == [64, 256, 256]
    assert plan["layers"][0]["std"] == pytest.approx(2**0.5 / 64**0.5)


def test_hparams_carry_the_config(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    run(make_cfg(*QUICK, "init=xavier", "activation=tanh"), tmp_path)
    content = events(tmp_path).PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = session.session_start_info.hparams
    assert hp["init"].string_value == "xavier" and hp["activation"].string_value == "tanh"
    assert hp["optimizer.lr"].number_value == pytest.approx(1e-3)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    assert {m.name.tag for m in experiment.experiment.metric_infos} >= {"test/acc", "val/acc"}


DIVERGING = ["init=normal", "init.std=10", "optimizer=sgd", "optimizer.lr=10"]


@pytest.mark.parametrize("log_every", [10, 1])
def test_divergence_is_a_result(tmp_path, log_every):
    """The run stops at the first read of the losses after its loss turned NaN or ±inf: the
    next Lightning logging step (every step with ``log_every_n_steps=1``)."""
    overrides = [
        *QUICK,
        *DIVERGING,
        "optimizer.momentum=0.9",
        f"trainer.log_every_n_steps={log_every}",
    ]
    record = run(make_cfg(*overrides), tmp_path, overrides)
    assert record["status"] == "diverged"
    diverged = record["diverged_at_step"]
    assert isinstance(diverged, int)
    assert record["steps"] == log_every * -(-(diverged + 1) // log_every)
    assert record["steps"] < 40  # it stopped early, not after the epoch
    assert record["epochs"] == 0  # no whole epoch done, though Lightning's counter moved on
    assert record["error"] is None
    json.loads((tmp_path / "metrics.json").read_text())  # valid JSON: no NaN


def test_exception_is_recorded_as_failed(tmp_path, monkeypatch):
    def broken(test_size):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(datasets, "_load_digits", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(make_cfg(*QUICK), tmp_path)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["status"] == "failed"
    assert record["error"] == "RuntimeError: disk on fire"


@pytest.mark.slow
def test_readme_main_command_on_digits(train_cmd, tmp_path):
    """`python train.py init=he activation=relu`, on digits to stay quick."""
    overrides = ["init=he", "activation=relu", "dataset=digits", "trainer.max_epochs=2"]
    proc = subprocess.run(
        [*train_cmd, *overrides], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "logs" / "runs").iterdir()
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["overrides"] == overrides
    assert record["metrics"]["test/acc"] > 0.85
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert set(events(run_dir).Tags()["scalars"]) >= SCALARS
    assert "test/acc" in proc.stdout and str(run_dir.name) in proc.stdout
    log = (run_dir / "train.log").read_text()  # Hydra's log file gets the run's own lines
    assert "completed: " in log and f"run folder: {run_dir}" in log
    assert "💡" not in proc.stdout + proc.stderr  # Lightning's advertising is left out
    assert "LeafSpec" not in proc.stderr


def test_metrics_json_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        record_lib.write(tmp_path, {"status": "completed"})
        assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o644
        os.umask(0o027)
        record_lib.write(tmp_path, {"status": "completed"})
        assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o640
    finally:
        os.umask(old)
    assert not list(tmp_path.glob(".metrics.json.*"))  # no temporary file left behind


@pytest.mark.slow
def test_ddp_on_the_cpu_runs_into_one_folder(train_cmd, tmp_path):
    """Lightning starts rank 1 by running train.py again into rank 0's folder: it must neither
    be refused as a second writer nor write the record."""
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            *train_cmd,
            "dataset=digits",
            "trainer.devices=2",
            "+trainer.strategy=ddp",
            "trainer.max_epochs=1",
            "trainer.progress_bar=none",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["metrics"]["test/acc"] > 0.5
    assert "being written by another process" not in proc.stdout + proc.stderr


def test_val_dropout_keeps_dropout_on_while_validating(tmp_path):
    base = [*QUICK, "model.dropout=0.5"]
    off = run(make_cfg(*base), tmp_path / "off", base)
    on = run(make_cfg(*base, "val_dropout=true"), tmp_path / "on", [*base, "val_dropout=true"])
    # the epoch trains the same; its validation, with half the units dropped, scores worse
    assert on["metrics"]["train/loss"] == off["metrics"]["train/loss"]
    assert on["metrics"]["val/loss"] > off["metrics"]["val/loss"]


def test_val_dropout_must_be_a_bool():
    with pytest.raises(ConfigError, match="val_dropout='yes'"):
        build(make_cfg("val_dropout=yes"))
