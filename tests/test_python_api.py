"""The Python API (``import initlab``): the names the package's ``__init__`` declares stable, and
the promise that a notebook's call checks what the command line checks, with the same
ConfigError, before any compute or any folder."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import QUICK, REPO, hydra_cfg, make_cfg
from omegaconf import OmegaConf, open_dict

import initlab
from initlab.config.errors import ConfigError
from initlab.probe import probe


def test_every_stable_name_resolves_and_the_docs_list_exactly_them():
    for name in initlab.__all__:
        assert getattr(initlab, name) is not None, name
    page = REPO.joinpath("docs", "python-api.md").read_text()
    listed = re.findall(r"^\| `initlab\.(\w+)`", page, re.M)
    assert sorted(listed) == sorted(initlab.__all__)


def test_an_unknown_name_says_so():
    with pytest.raises(AttributeError, match="initlab has no attribute 'nope'"):
        initlab.nope  # noqa: B018


def test_importing_initlab_is_light():
    """``import initlab`` loads no torch, Lightning or Hydra: a name is imported when used."""
    heavy = "{'torch', 'pytorch_lightning', 'hydra'}"
    code = f"import sys, initlab; print(sorted({heavy} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_compose_is_the_config_the_command_line_runs():
    cfg = initlab.compose("init=he", "activation=tanh", *QUICK)
    assert (cfg.init.name, cfg.activation.name, cfg.dataset.name) == ("he", "tanh", "digits")
    expected = hydra_cfg("init=he", "activation=tanh", *QUICK)  # Hydra's compose, directly
    with open_dict(expected):
        del expected["hydra"]
    assert OmegaConf.to_container(cfg) == OmegaConf.to_container(expected)
    assert "hydra" not in cfg


def _with_root_key(cfg, key, value):
    with open_dict(cfg):
        cfg[key] = value
    return cfg


def test_run_refuses_an_unknown_root_key_before_any_folder(tmp_path):
    cfg = _with_root_key(make_cfg(*QUICK), "sed", 1)  # +sed=1, a misspelled seed
    with pytest.raises(ConfigError) as err:
        initlab.run(cfg, tmp_path / "run")
    assert err.value.key == "sed" and err.value.value == 1
    assert not (tmp_path / "run").exists()


def test_probe_refuses_an_unknown_root_key():
    cfg = _with_root_key(initlab.compose(*QUICK, config_name="probe"), "sed", 1)
    with pytest.raises(ConfigError) as err:
        probe(cfg)
    assert err.value.key == "sed"
