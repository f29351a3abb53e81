"""A large grid is composed on every core: the configs are the ones Hydra composes one by one."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from hydra_plugins.initlab_sweeper import compose_jobs
from initlab.config.hydra_conf import CONF_DIR

INITS = ["he", "xavier", "lecun", "orthogonal", "lsuv", "zeros", "fixup", "normal"]
JOBS = [[f"init={i}", f"activation={a}", "dataset=digits"] for i in INITS for a in ("relu", "tanh")]


@pytest.fixture
def loader_and_master():
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", ["hydra/launcher=population"], RunMode.MULTIRUN
        )
        yield loader, master


def same(a, b) -> bool:
    return OmegaConf.to_yaml(a) == OmegaConf.to_yaml(b) and all(
        a._get_flag(flag) == b._get_flag(flag) for flag in ("struct", "readonly")
    )


# Run in a fresh interpreter: a fork is taken only in a process with no other thread, and the
# test session's earlier tests may have left one (a TensorBoard writer, a pool's manager).
FORKED = """
import multiprocessing, os, sys
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from hydra_plugins.initlab_sweeper import compose_jobs
from initlab.config.hydra_conf import CONF_DIR

sys.path.insert(0, sys.argv[1])
from test_compose_jobs import JOBS as jobs, same

os.sched_getaffinity = lambda _pid: set(range(2))
forks = []
real = multiprocessing.get_context
multiprocessing.get_context = lambda method: forks.append(method) or real(method)
with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
    loader = GlobalHydra.instance().config_loader()
    master = loader.load_configuration("config", ["hydra/launcher=population"], RunMode.MULTIRUN)
    got = compose_jobs.compose(loader, master, jobs)
    expected = [loader.load_sweep_config(master, job) for job in jobs]
print("forks", *forks)
print("composed", len(got), sum(same(a, b) for a, b in zip(got, expected, strict=True)))
print("inits", *(c.init.name for c in got))
"""


def test_forked_composers_give_hydras_configs():
    out = subprocess.run(
        [sys.executable, "-c", FORKED, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.partition(" ")[::2] for line in out.stdout.splitlines())
    assert lines["forks"] == "fork"
    assert lines["composed"] == f"{len(JOBS)} {len(JOBS)}"
    assert lines["inits"].split() == [job[0].removeprefix("init=") for job in JOBS]


def test_no_fork_while_another_thread_runs(loader_and_master, monkeypatch):
    loader, master = loader_and_master
    monkeypatch.setattr(compose_jobs.os, "sched_getaffinity", lambda _pid: set(range(2)))
    monkeypatch.setattr(
        compose_jobs.multiprocessing, "get_context", lambda _m: pytest.fail("forked")
    )
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        got = compose_jobs.compose(loader, master, JOBS)
    finally:
        stop.set()
        thread.join()
    assert [c.activation.name for c in got] == [job[1].removeprefix("activation=") for job in JOBS]


def test_a_small_grid_is_composed_here(loader_and_master, monkeypatch):
    loader, master = loader_and_master
    monkeypatch.setattr(
        compose_jobs.multiprocessing, "get_context", lambda _m: pytest.fail("forked")
    )
    assert len(compose_jobs.compose(loader, master, JOBS[:4])) == 4
