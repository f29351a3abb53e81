"""Compose → validate: turn a Hydra config into checked plain objects, before any data is read.

:func:`build` calls every group's builder with the group's keys (so an unknown key or a value
that cannot work raises :class:`ConfigError` naming ``group.key`` and the value), builds the
model on the ``meta`` device (free) and plans the initializer on it (so layer-dependent
checks such as ``sparse`` ``k`` ≤ fan_in run too). Nothing here touches data or disk.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytorch_lightning as pl
import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from torch import nn

from initlab.activations import Activation, get_activation
from initlab.calibrate import check as calibration_check
from initlab.data import DATASETS, TensorDataModule
from initlab.diagnostics import Diagnostics
from initlab.errors import ConfigError, call_with
from initlab.initializers import Initializer, get_initializer, plan
from initlab.models import MODELS
from initlab.optim import OPTIMIZERS, OptimizerFactory

GROUPS = ("init", "activation", "dataset", "model", "optimizer", "trainer", "logger")
DATAMODULE_KEYS = ("batch_size", "eval_batch_size", "val_size", "normalize")
PROGRESS_BARS = ("auto", "rich", "none")
LOGGERS = ("tensorboard",)


@dataclass
class RunSpec:
    """Everything a run needs, checked; built by :func:`build`."""

    seed: int
    datamodule: TensorDataModule  # constructed, nothing loaded yet
    activation: Activation
    make_net: Callable[[], nn.Module]
    initializer: Initializer
    optimizer: OptimizerFactory
    trainer: dict  # pl.Trainer keyword arguments
    progress_bar: str
    logger: dict  # TensorBoardLogger keyword arguments
    diagnostics: Callable[[], Diagnostics] | None  # None: switched off


def _params(cfg: DictConfig, group: str) -> tuple[str, dict]:
    node = OmegaConf.to_container(cfg[group], resolve=True)
    return node.pop("name", None), node


def _in_group(group: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ConfigError as err:
        raise err.under(group) from None


def _lookup(group: str, registry: dict, name: str) -> Callable:
    if name not in registry:
        raise ConfigError(
            f"{group}.name", name, f"unknown {group}; choose from {', '.join(registry)}"
        )
    return registry[name]


def build(cfg: DictConfig) -> RunSpec:
    """Check ``cfg`` and return the run's plain objects. Raises :class:`ConfigError`."""
    for group in GROUPS:
        if group not in cfg:
            raise ConfigError(group, None, "missing config group")
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", seed, "must be an integer ≥ 0")

    name, params = _params(cfg, "activation")
    activation = _in_group("activation", get_activation, name, **params)

    name, params = _params(cfg, "dataset")
    dm_params = {k: params.pop(k) for k in DATAMODULE_KEYS if k in params}
    dataset = _in_group("dataset", call_with, _lookup("dataset", DATASETS, name), params)
    datamodule = _in_group("dataset", TensorDataModule, dataset, seed=seed, **dm_params)

    name, params = _params(cfg, "model")
    model_fn = _lookup("model", MODELS, name)
    make_net = partial(
        call_with, model_fn, params, dataset.in_shape, dataset.num_classes, activation.make
    )
    with torch.device("meta"):  # shapes only: no memory, no compute
        meta_net = _in_group("model", make_net)

    name, params = _params(cfg, "init")
    initializer = _in_group(
        "init", get_initializer, name, activation_gain=activation.gain, **params
    )
    _in_group("init", plan, initializer, meta_net)
    _in_group("init", calibration_check, initializer, meta_net)

    name, params = _params(cfg, "optimizer")
    optimizer = _in_group("optimizer", call_with, _lookup("optimizer", OPTIMIZERS, name), params)

    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    progress_bar = trainer.pop("progress_bar", "auto")
    if progress_bar not in PROGRESS_BARS:
        raise ConfigError(
            "trainer.progress_bar", progress_bar, f"must be one of {', '.join(PROGRESS_BARS)}"
        )
    accepted = inspect.signature(pl.Trainer).parameters
    for key, value in trainer.items():
        if key not in accepted or key in ("logger", "callbacks", "enable_progress_bar"):
            raise ConfigError(
                f"trainer.{key}", value, "not a pl.Trainer argument this template passes on"
            )
    for key in ("gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches"):
        if key in trainer:  # Lightning refuses these under manual optimization, after data loads
            raise ConfigError(
                f"trainer.{key}",
                trainer[key],
                "not supported: initlab's training_step makes the optimizer step itself",
            )
    epochs = trainer.get("max_epochs")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError("trainer.max_epochs", epochs, "must be a positive integer")

    name, logger = _params(cfg, "logger")
    if name not in LOGGERS:
        raise ConfigError("logger.name", name, f"must be one of {', '.join(LOGGERS)}")

    return RunSpec(
        seed,
        datamodule,
        activation,
        make_net,
        initializer,
        optimizer,
        trainer,
        progress_bar,
        logger,
        _diagnostics(cfg, activation),
    )


def _diagnostics(cfg: DictConfig, activation: Activation) -> Callable[[], Diagnostics] | None:
    """A factory of the configured diagnostics callback (checked here), or None when off."""
    params = OmegaConf.to_container(cfg.get("diagnostics") or {}, resolve=True)
    enabled = params.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("diagnostics.enabled", enabled, "must be true or false")
    if not enabled:
        return None
    make = partial(call_with, partial(Diagnostics, activation), params)
    _in_group("diagnostics", make)
    return make


class ValidateBeforeRun(Callback):
    """Hydra callback: check the composed config before Hydra creates the run folder, so a bad
    value costs nothing and leaves nothing behind. Exits with status 2 and one line naming
    the key and the value."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        try:
            self.check(config)
        except ConfigError as err:
            print(f"initlab: invalid config: {err}", file=sys.stderr)
            sys.exit(2)

    def check(self, config: DictConfig) -> None:
        """Raise :class:`ConfigError` for a bad value; entry points with more keys extend it."""
        build(config)
