"""The private APIs initlab reaches are all in ``initlab.runtime.private_api``, and each one is
still there in the installed versions (an upgrade that removes one fails here, by name)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from initlab.runtime import private_api

SRC = Path(__file__).resolve().parents[2] / "src"
# Attributes of instances that private_api reaches (checked on real objects below).
PRIVATE_ATTRIBUTES = ("_get_file_writer", "_checkpoint_connector", "_batches_that_stepped")


def test_every_private_symbol_is_in_the_installed_versions():
    private_api.check()


def test_a_missing_symbol_is_named(monkeypatch):
    gone = ("lightning_fabric.utilities.seed", "_collect_rng_states_v2")
    monkeypatch.setattr(private_api, "SYMBOLS", (*private_api.SYMBOLS, gone))
    with pytest.raises(AttributeError, match=r"lightning_fabric\.utilities\.seed\._collect_rng"):
        private_api.check()


def test_no_other_module_reaches_a_private_api():
    for path in [*SRC.rglob("*.py"), SRC.parent / "train.py"]:
        if path.name == "private_api.py":
            continue
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert "._" not in node.module and not private, f"{path}: {node.module} {private}"
            if isinstance(node, ast.Attribute):
                assert node.attr not in PRIVATE_ATTRIBUTES, f"{path}:{node.lineno} {node.attr}"


def test_rng_states_round_trip():
    torch.manual_seed(3)
    np.random.seed(3)
    states = private_api.collect_rng_states()
    expected = torch.rand(3), np.random.rand(3)
    private_api.set_rng_states(states)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])


def test_durations_parse_as_the_trainer_parses_them():
    assert private_api.parse_duration("00:01:00:30") == 3630
    assert private_api.parse_duration({"minutes": 2}) == 120


def test_the_file_writer_writes_into_the_summary_writers_folder(tmp_path):
    writer = SummaryWriter(tmp_path)
    file_writer = private_api.file_writer(writer)
    assert Path(file_writer.get_logdir()) == tmp_path
    writer.close()


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 1)
        self.seen: dict = {}

    def training_step(self, batch, _):
        return self.net(batch[0]).pow(2).mean()

    def on_train_epoch_end(self):
        self.seen["checkpoint"] = private_api.dump_checkpoint(self.trainer)
        self.seen["step"] = private_api.batches_that_stepped(self.trainer)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_the_checkpoint_and_the_logging_step_mid_fit(tmp_path):
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(6, 2)), 2)
    module = _Tiny()
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, data)
    assert module.seen["step"] == 3 == trainer.global_step
    checkpoint = module.seen["checkpoint"]
    assert checkpoint["global_step"] == 3 and "net.weight" in checkpoint["state_dict"]
    assert "optimizer_states" in checkpoint
