"""Shared helpers: compose configs the way `python train.py` does, and run quick fits."""

from __future__ import annotations

import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from initlab.train import CONF_DIR

REPO = CONF_DIR.parent
# A fit on scikit-learn's digits in about a second: the CPU stand-in for FashionMNIST.
QUICK = ["dataset=digits", "trainer.max_epochs=1", "trainer.enable_checkpointing=false"]


def make_cfg(*overrides: str) -> DictConfig:
    """The config `python train.py <overrides>` would run (without Hydra's own node)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.fixture
def train_cmd() -> list[str]:
    """The README's command, runnable from any working directory."""
    return [sys.executable, str(REPO / "train.py")]


def groups_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
