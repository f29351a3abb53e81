"""``hydra.launcher.compile=true``: the population's objective through ``torch.compile``, with
its members' results those of their jobs (within the population tests' tolerance), and a net it
cannot compile trained eager, with a line saying why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO, make_cfg

from initlab.population import population_module, population_run
from initlab.population.compiled import eager_because
from initlab.training.run import run

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None,
    reason="torch.compile on the CPU needs a C++ compiler (g++)",
)
GRID = [
    "dataset=digits",
    "trainer.max_epochs=1",
    "model.hidden=[32]",
    "diagnostics.every_n_steps=7",
]
LOSS_TOL = 1e-5  # relative |Δ| of a final loss (tests/population/test_population.py)
ACC_TOL = 2 / 360 + 1e-7  # two of digits' 360 validation (and test) examples


def test_a_compiled_population_ends_as_its_jobs(tmp_path, monkeypatch):
    calls = []
    real = population_module.compiled

    def counted(objective, device):
        step = real(objective, device)

        def call(*args):
            calls.append(1)
            return step(*args)

        return call

    monkeypatch.setattr(population_module, "compiled", counted)
    jobs = [
        (make_cfg(*GRID, f"init={init}"), tmp_path / "pop" / init, [*GRID, f"init={init}"])
        for init in ("he", "xavier")
    ]
    records = population_run.run(jobs, tmp_path / "pop" / "p", "p", compile=True)
    # 40 steps, of which the diagnostics points (0, 7, … 35 and the last, 39) run eager.
    assert len(calls) == 40 - 7
    for (cfg, _, overrides), got in zip(jobs, records, strict=True):
        expected = run(cfg, tmp_path / "seq" / cfg.init.name, overrides)
        assert got["status"] == expected["status"] == "completed"
        assert got["population"]["compile"] is True
        for key, value in expected["metrics"].items():
            if key.endswith("/acc"):
                assert abs(got["metrics"][key] - value) <= ACC_TOL, key
            else:
                assert abs(got["metrics"][key] - value) <= LOSS_TOL * abs(value), key


def test_a_net_with_dropout_trains_eager_and_says_why(tmp_path, capsys):
    grid = [*GRID, "model.dropout=0.2"]
    jobs = [
        (make_cfg(*grid, f"seed={seed}"), tmp_path / str(seed), [*grid, f"seed={seed}"])
        for seed in (0, 1)
    ]
    records = population_run.run(jobs, tmp_path / "p", "p", compile=True)
    assert [r["status"] for r in records] == ["completed", "completed"]
    out = capsys.readouterr().out
    assert "hydra.launcher.compile=true: this population trains eager: its net has dropout" in out


def test_a_compile_that_is_not_a_bool_is_refused_before_any_folder(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            "-m",
            "hydra/launcher=population",
            "hydra.launcher.compile=yes",
            f"hydra.sweep.dir={tmp_path / 's'}",
            "dataset=digits",
            "init=he,xavier",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "hydra.launcher.compile" in proc.stderr and "'yes'" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_without_a_compiler_the_cpu_trains_eager(monkeypatch):
    from initlab.population.dropout import MemberRNG
    from initlab.population.stack import Stack
    from initlab.training.init_module import rng_states
    from initlab.training.spec import build

    net = build(make_cfg("dataset=digits")).make_net()
    stack = Stack([net, net], [MemberRNG(rng_states(torch.device("cpu")))] * 2)
    assert eager_because(stack) is None
    monkeypatch.setenv("CXX", "no-such-compiler")
    assert "needs a C++ compiler" in eager_because(stack)
