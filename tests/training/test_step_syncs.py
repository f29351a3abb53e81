"""A training step between logging points never waits for the device.

Every way a tensor's value reaches the host (``item``, ``tolist``, ``bool``, ``float``, ``int``,
``cpu``, ``numpy``) is counted, with the training step it happens in, over a whole one-epoch fit
of a run and of a population. A step that is neither a Lightning logging step, nor a
diagnostics point, nor the epoch's last step must have none. On a GPU each of these reads is a
device→host synchronization; on the CPU they are what would be one (``scripts/gpu_check.sh``
runs the GPU side with ``torch.cuda.set_sync_debug_mode``).

Reads made by torch itself are left out: CPU Adam reads its step counter, a CPU tensor on every
device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from conftest import QUICK, make_cfg

from initlab.population import population_run
from initlab.population.population_module import PopulationModule
from initlab.training.init_module import InitModule
from initlab.training.run import run

READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy")
TORCH = str(Path(torch.__file__).parent)
EVERY = ["trainer.log_every_n_steps=10", "diagnostics.every_n_steps=7"]
STEPS = 40  # digits' 1257 training examples in batches of 32: one epoch


class Reads:
    """The host reads made in each training step: {step: [caller, ...]}."""

    def __init__(self, monkeypatch, module: type):
        self.step: int | None = None
        self.by_step: dict[int, list[str]] = {}
        for name in READS:
            monkeypatch.setattr(torch.Tensor, name, self._counted(getattr(torch.Tensor, name)))
        starts = module.on_train_batch_start

        def on_train_batch_start(mod, batch, batch_idx):
            self.step = mod.trainer.global_step  # the optimizer step this batch makes
            return starts(mod, batch, batch_idx)

        def stopped(mod):
            self.step = None  # validation's reads are not a training step's

        monkeypatch.setattr(module, "on_train_batch_start", on_train_batch_start)
        monkeypatch.setattr(module, "on_validation_start", stopped, raising=False)

    def _counted(self, method):
        def read(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if self.step is not None and not caller.startswith(TORCH):
                self.by_step.setdefault(self.step, []).append(caller)
            return method(tensor, *args, **kwargs)

        return read


def points(log_every: int = 10, diagnostics_every: int = 7) -> set[int]:
    return {
        s
        for s in range(STEPS)
        if (s + 1) % log_every == 0 or s % diagnostics_every == 0 or s == STEPS - 1
    }


def test_a_runs_steps_between_logging_points_read_nothing(tmp_path, monkeypatch):
    reads = Reads(monkeypatch, InitModule)
    overrides = [*QUICK, *EVERY]
    record = run(make_cfg(*overrides), tmp_path, overrides)
    assert record["status"] == "completed" and record["steps"] == STEPS
    between = {s: r for s, r in reads.by_step.items() if s not in points()}
    assert between == {}
    assert reads.by_step, "the counter saw no read at all: it is not counting"


def test_a_populations_steps_between_logging_points_read_nothing(tmp_path, monkeypatch):
    reads = Reads(monkeypatch, PopulationModule)
    grid = [*QUICK, *EVERY]
    members = [
        (make_cfg(*grid, f"init={init}"), tmp_path / init, [*grid, f"init={init}"])
        for init in ("he", "xavier")
    ]
    population_run.run(members, tmp_path / "p", "p")
    between = {s: r for s, r in reads.by_step.items() if s not in points()}
    assert between == {}
    assert reads.by_step, "the counter saw no read at all: it is not counting"


@pytest.mark.parametrize("read", ["item", "tolist"])
def test_the_counter_sees_a_read_in_a_step(tmp_path, monkeypatch, read):
    """The counter itself: a step that reads one value is caught."""
    reads = Reads(monkeypatch, InitModule)
    steps = InitModule.training_step

    def reading(self, batch, batch_idx):
        loss = steps(self, batch, batch_idx)
        getattr(loss.detach(), read)()
        return loss

    monkeypatch.setattr(InitModule, "training_step", reading)
    overrides = [*QUICK, *EVERY]
    run(make_cfg(*overrides), tmp_path, overrides)
    assert set(reads.by_step) == set(range(STEPS))
