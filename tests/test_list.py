"""``python -m initlab.list``: every option that exists, one line each, as it is typed — and every
name it prints works as written; the reference pages in docs/reference are what it generates;
``--help`` lists the groups (not the internal ones), the launchers and the list command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, groups_options, hydra_cfg, make_cfg

from initlab import inventory
from initlab import list as list_cmd
from initlab.data import DATASETS
from initlab.initializers import INITIALIZERS
from initlab.models.activations import ACTIVATIONS
from initlab.models.builders import MODELS
from initlab.reproductions import REPRODUCTIONS

CHOSEN = [(kind, item.choose) for kind in inventory.KINDS for item in inventory.KINDS[kind]()]


def test_every_option_is_listed_once():
    listed = {kind: [item.choose for item in inventory.KINDS[kind]()] for kind in inventory.KINDS}
    assert listed["inits"] == [f"init={n}" for n in INITIALIZERS]
    assert listed["activations"] == [f"activation={n}" for n in ACTIVATIONS]
    assert [c.split()[0] for c in listed["models"]] == [f"model={n}" for n in MODELS]
    assert listed["datasets"] == [f"dataset={n}" for n in DATASETS]
    launchers = ["basic", *groups_options("hydra/launcher")]
    assert listed["launchers"] == [f"hydra/launcher={n}" for n in sorted(launchers)]
    assert listed["experiments"] == [f"experiment={n}" for n in groups_options("experiment")]
    assert listed["reproductions"] == [f"initlab-reproduce {n}" for n in REPRODUCTIONS]


@pytest.mark.parametrize("kind, choose", CHOSEN, ids=[c for _, c in CHOSEN])
def test_every_listed_name_works_as_written(kind, choose):
    if kind == "reproductions":
        script, name = choose.split()
        assert f'{script} = "initlab.reproduce:main"' in (REPO / "pyproject.toml").read_text()
        assert name in REPRODUCTIONS
        return
    if kind == "launchers":
        cfg = hydra_cfg(choose)
        assert cfg.hydra.runtime.choices["hydra/launcher"] == choose.split("=")[1]
        return
    overrides = choose.replace("<your class>", "torch.nn.Flatten").split()
    cfg = make_cfg(*overrides)  # Hydra would refuse an unknown option here
    group, name = overrides[0].split("=")
    if group != "experiment":
        assert cfg[group].name == name


def test_each_item_says_what_it_is_and_where():
    for kind, choose in CHOSEN:
        item = next(i for i in inventory.KINDS[kind]() if i.choose == choose)
        assert len(item.summary) > 20, (choose, item.summary)
        assert item.source, choose
    he = next(i for i in inventory.inits() if i.choose == "init=he")
    assert he.summary.startswith("He et al. (2015)") and "gain/√fan_in" in he.summary
    tanh = next(i for i in inventory.activations() if i.choose == "activation=tanh")
    assert (
        tanh.columns["gain (auto)"] == "1.593" and tanh.columns["torch's calculate_gain"] == "1.667"
    )
    assert tanh.columns["saturated when"] == "|a| > 0.99"
    he2015 = next(i for i in inventory.experiments() if i.choose == "experiment=he2015_30_layers")
    assert he2015.columns["reproduction"] == "he2015"  # the two names, each listing the other
    rep = next(i for i in inventory.reproductions() if i.choose == "initlab-reproduce he2015")
    assert rep.columns["experiments"] == "he2015_30_layers"


@pytest.mark.parametrize("kind", list(inventory.KINDS))
def test_the_committed_reference_pages_are_what_the_code_generates(kind):
    committed = REPO / "docs" / "reference" / list_cmd.PAGES[kind]
    assert committed.read_text() == inventory.page(kind), (
        f"{committed} is stale: python -m initlab.list --docs docs/reference"
    )


def test_the_command_lists_a_kind_and_refuses_an_unknown_one():
    run = [sys.executable, "-m", "initlab.list"]
    proc = subprocess.run([*run, "models"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("model=mlp ")
    assert "model=vit" in proc.stdout and "[initlab.models.builders.vit]" in proc.stdout
    proc = subprocess.run([*run, "initializers"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown kind 'initializers'; choose from inits, activations" in proc.stderr


def test_help_lists_the_groups_the_launchers_and_the_list_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "hydra/launcher: basic, gpus, joblib, population, submitit_slurm" in out
    assert "python -m initlab.list" in out and "dry_run=true" in out
    listed = out.split("== Config groups: group=option ==\n")[1].split("\n\n")[0]
    groups = [line.split(":")[0] for line in listed.splitlines()]
    assert "init" in groups and "probe" not in groups and "init_defaults" not in groups
