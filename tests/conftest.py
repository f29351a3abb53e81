"""Shared helpers: compose configs the way `python train.py` does, and run quick fits."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import initlab
from initlab.config.hydra_conf import CONF_DIR, register_resolvers
from initlab.data.readers import IDX_FILES

REPO = CONF_DIR.parent
register_resolvers()  # as the entry points do: hydra/launcher=gpus composes
# A fit on scikit-learn's digits in about a second: the CPU stand-in for FashionMNIST.
QUICK = ["dataset=digits", "trainer.max_epochs=1", "trainer.enable_checkpointing=false"]
# The metrics of a run that trained and was tested: in metrics.json and as TensorBoard scalars.
RUN_METRICS = {
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "test/loss",
    "test/acc",
    "test/logit_spread",
}


def hydra_cfg(*overrides: str) -> DictConfig:
    """The composed config with its ``hydra`` node, as the callback and the sweeper see it."""
    with warnings.catch_warnings():  # the launcher plugins' schema-matching deprecation notice
        warnings.simplefilter("ignore", UserWarning)
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=list(overrides), return_hydra_config=True)


def make_cfg(*overrides: str) -> DictConfig:
    """The config `python train.py <overrides>` would run (without Hydra's own node)."""
    return initlab.compose(*overrides)


@pytest.fixture
def train_cmd() -> list[str]:
    """The README's command, runnable from any working directory."""
    return [sys.executable, str(REPO / "train.py")]


def train(cwd: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python train.py <overrides>`` run in ``cwd``, its output captured."""
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def groups_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


N_TRAIN, N_TEST = 12, 4


def write_raw_mnist(
    folder: Path, fill: int | None = None, n_train: int = N_TRAIN, n_test: int = N_TEST
) -> None:
    """The four uncompressed IDX files torchvision's MNIST reads from its ``raw`` folder: every
    pixel ``fill`` (so the source is recognisable), or random pixels with ``fill=None``."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = IDX_FILES[split]
        pixels = rng.integers(0, 256, (n, 28, 28)) if fill is None else np.full((n, 28, 28), fill)
        for name, array in ((images, pixels), (labels, rng.integers(0, 10, n))):
            array = array.astype(np.uint8)
            header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
            header += struct.pack(f">{array.ndim}i", *array.shape)
            (folder / name).write_bytes(header + array.tobytes())
