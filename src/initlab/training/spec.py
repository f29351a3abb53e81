"""Compose → validate: turn a Hydra config into checked plain objects, before any data is read.

:func:`build` calls every group's builder with the group's keys (so an unknown key or a value
that cannot work raises :class:`ConfigError` naming ``group.key`` and the value), builds the
model on the ``meta`` device (free) and plans the initializer on it (so layer-dependent
checks such as ``sparse`` ``k`` ≤ fan_in run too), and checks the ``trainer`` and ``logger``
keywords against what Lightning and initlab accept (and, for a run on this machine, that the
accelerator is there). Nothing here reads data or writes to disk.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from torch import nn

from initlab.config.errors import (
    ConfigError,
    UnknownKey,
    call_with,
    integer,
    number,
    positive_int,
)
from initlab.config.hydra_conf import GROUPS
from initlab.config.launcher_settings import runs_remotely
from initlab.config.registry import Registry
from initlab.config.trainer_settings import check_trainer
from initlab.data import DATASETS, TensorDataModule
from initlab.data.readers import DatasetUnavailable
from initlab.diagnostics.callback import STATS, Diagnostics
from initlab.initializers import INITIALIZERS, Initializer, get_initializer, plan
from initlab.initializers.calibration import check as calibration_check
from initlab.models.activations import ACTIVATIONS, Activation
from initlab.models.builders import MODELS
from initlab.parametrization import PARAMETRIZATIONS, Parametrized
from initlab.runtime import folder_lock
from initlab.runtime.devices import ddp_rank
from initlab.training import dry_run
from initlab.training.optimizers import OPTIMIZERS, OptimizerFactory

ROOT_KEYS = ("seed", "val_dropout", "diagnostics", "dry_run", *GROUPS)  # conf/config.yaml's
DATAMODULE_KEYS = ("batch_size", "eval_batch_size", "val_size", "train_size", "normalize")
PROGRESS_BARS = ("auto", "rich", "none")
LOGGERS = ("tensorboard",)
SEED_MAX = 2**32 - 1  # numpy's (and so Lightning's seed_everything's) largest seed
# TensorBoardLogger / SummaryWriter keywords a config may set (initlab.training.lifecycle sets
# the folder, name, version, hp metric and purge step; prefix and sub_dir would move the tags and
# events away from where the report and resume look for them).
LOGGER_KEYS = ("log_graph", "max_queue", "flush_secs", "filename_suffix")


@dataclass(kw_only=True)
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
    val_dropout: bool = False  # dropout on while validating
    n_train: int | None = None  # training examples, where known without reading the data
    parametrization: Parametrized | None = None  # μP's scales and groups; None: SP


def _params(cfg: DictConfig, group: str) -> tuple[str, dict]:
    node = OmegaConf.to_container(cfg[group], resolve=True)
    return node.pop("name", None), node


def _in_group(group: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except UnknownKey as err:
        raise _with_owners(err, group).under(group) from None
    except ConfigError as err:
        raise err.under(group) from None


def _with_owners(err: UnknownKey, group: str) -> UnknownKey:
    """``err``, saying which of the group's options take the key (``+model.depth=20`` on the
    MLP: ``depth`` is a key of ``model=deep_mlp``, …), where any does."""
    registries = (INITIALIZERS, ACTIVATIONS, DATASETS, MODELS, OPTIMIZERS, PARAMETRIZATIONS)
    registry = next((r for r in registries if r.group == group), None)
    if registry is None or "." in err.key:
        return err
    owners = [
        f"{group}={name}"
        for name in registry
        if err.key in inspect.signature(registry[name]).parameters
    ]
    if not owners:
        return err
    return UnknownKey(err.key, err.value, f"{err.reason}; it is a key of {', '.join(owners)}")


def _lookup(registry: Registry, name: str) -> Callable:
    """The group's builder named ``name``; an unknown one raises ``<group>.name=...``."""
    return _in_group(registry.group, registry.get, name)


def build(cfg: DictConfig, *, local_devices: bool = True, local_paths: bool = True) -> RunSpec:
    """Check ``cfg`` and return the run's plain objects. Raises :class:`ConfigError`.

    ``local_devices``: the run will use this machine's devices, so an accelerator it lacks
    (``trainer=gpu`` without a GPU) is refused. ``local_paths``: its ``dataset.data_dir`` must
    exist on this machine. Both False where the job runs elsewhere (a SLURM launcher: the
    submitting host may have neither the GPU nor the nodes' /scratch; the job checks again on
    its node).
    """
    for group in GROUPS:
        if group not in cfg:
            raise ConfigError(group, None, "missing config group")
    seed = integer("seed", cfg.get("seed"), 0, SEED_MAX)
    val_dropout = cfg.get("val_dropout", False)
    if not isinstance(val_dropout, bool):
        raise ConfigError("val_dropout", val_dropout, "must be true or false")
    dry_run.requested(cfg)
    activation = _activation(cfg)
    datamodule, n_train = _data(cfg, seed, local_paths)
    initializer = _initializer(cfg, activation)
    build_net, model = _model(cfg, datamodule.dataset, activation, initializer)
    optimizer = _optimizer(cfg)
    parametrized = _parametrization(cfg, model, initializer, datamodule.dataset.in_shape, optimizer)
    if parametrized is not None:
        initializer = replace(initializer, parametrization=parametrized)
    make_net = partial(_prepared, build_net, initializer, parametrized)
    trainer, progress_bar = _trainer(cfg, datamodule, n_train, local_devices)
    return RunSpec(
        seed=seed,
        datamodule=datamodule,
        activation=activation,
        make_net=make_net,
        initializer=initializer,
        optimizer=optimizer,
        trainer=trainer,
        progress_bar=progress_bar,
        logger=_logger(cfg),
        diagnostics=_diagnostics(cfg, activation),
        val_dropout=val_dropout,
        n_train=n_train,
        parametrization=parametrized,
    )


def _activation(cfg: DictConfig) -> Activation:
    name, params = _params(cfg, "activation")
    return _in_group("activation", call_with, _lookup(ACTIVATIONS, name), params)


def _data(cfg: DictConfig, seed: int, local_paths: bool) -> tuple[TensorDataModule, int | None]:
    """The datamodule (nothing loaded) and its training examples, where the dataset's size is
    known without reading it."""
    name, params = _params(cfg, "dataset")
    dm_params = {k: params.pop(k) for k in DATAMODULE_KEYS if k in params}
    if not local_paths and params.get("data_dir") is not None:
        params["data_dir"] = None  # a path on the compute nodes: checked there
    dataset = _in_group("dataset", call_with, _lookup(DATASETS, name), params, also=DATAMODULE_KEYS)
    datamodule = _in_group("dataset", TensorDataModule, dataset, seed=seed, **dm_params)
    if dataset.n_train is None:
        return datamodule, None
    if datamodule.val_size >= dataset.n_train:
        raise ConfigError(
            "dataset.val_size",
            datamodule.val_size,
            f"must be < the {dataset.n_train} training examples of dataset={name}",
        )
    left = dataset.n_train - datamodule.val_size
    if datamodule.train_size is None:
        return datamodule, left
    if datamodule.train_size > left:
        raise ConfigError(
            "dataset.train_size",
            datamodule.train_size,
            f"must be ≤ the {left} training examples of dataset={name} left after "
            f"dataset.val_size={datamodule.val_size}",
        )
    return datamodule, datamodule.train_size


def _initializer(cfg: DictConfig, activation: Activation) -> Initializer:
    name, params = _params(cfg, "init")
    return _in_group("init", get_initializer, name, activation_gain=activation.gain, **params)


def _model(cfg: DictConfig, dataset, activation: Activation, initializer: Initializer):
    """The model's builder, checked: built on the ``meta`` device (shapes only: no memory, no
    compute) with the structure the initializer adds, and the initializer planned on it; and
    the model by name and keys, with a builder at other keys (on the meta device: a
    parametrization by width reads the model at other widths)."""
    name, params = _params(cfg, "model")
    model_fn = _lookup(MODELS, name)
    target = None
    if name == "custom":  # the builder is the user's class, named by model._target_
        target = params.pop("_target_", None)
        model_fn = _in_group("model", model_fn, target)
    build_net = partial(
        call_with, model_fn, params, dataset.in_shape, dataset.num_classes, activation.make
    )
    with torch.device("meta"):
        meta_net = _in_group("model", build_net) if target is None else _user_net(target, build_net)
        _refuse_lazy(name, meta_net)
        _in_group("init", initializer.prepare, meta_net)
    _in_group("init", plan, initializer, meta_net, dataset.in_shape)
    _in_group("init", calibration_check, initializer, meta_net)

    def build_at(model_params: dict) -> nn.Module:
        with torch.device("meta"):
            made = call_with(
                model_fn, model_params, dataset.in_shape, dataset.num_classes, activation.make
            )
            return initializer.prepare(made)

    return build_net, _Model(name, params, build_at)


@dataclass(frozen=True)
class _Model:
    """The run's model by name and keys, and its builder at other keys."""

    name: str
    params: dict
    build: Callable[[dict], nn.Module]


def _parametrization(
    cfg: DictConfig, model: _Model, initializer: Initializer, in_shape, optimizer: OptimizerFactory
) -> Parametrized | None:
    """The parametrization bound to the model and optimizer (None for SP), and the
    initializer's plan under it checked on the meta device."""
    name, params = _params(cfg, "parametrization")
    chosen = _in_group("parametrization", call_with, _lookup(PARAMETRIZATIONS, name), params)
    optimizer_name = cfg.optimizer.get("name")
    bound = _in_group(
        "parametrization",
        chosen.bind,
        model=model.name,
        model_params=model.params,
        build=model.build,
        initializer=initializer,
        in_shape=in_shape,
        optimizer=optimizer_name,
        lr=optimizer.keywords["lr"],
        weight_decay=optimizer.keywords.get("weight_decay", 0.0),
    )
    if bound is not None:
        parametrized = replace(initializer, parametrization=bound)
        _in_group("parametrization", plan, parametrized, model.build(model.params), in_shape)
    return bound


def _optimizer(cfg: DictConfig) -> OptimizerFactory:
    name, params = _params(cfg, "optimizer")
    return _in_group("optimizer", call_with, _lookup(OPTIMIZERS, name), params)


def _trainer(
    cfg: DictConfig, datamodule: TensorDataModule, n_train: int | None, local_devices: bool
) -> tuple[dict, str]:
    """``pl.Trainer``'s keywords and the progress bar, checked against the epoch's batches
    (where known without reading the data) and this machine's devices."""
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    progress_bar = trainer.pop("progress_bar", "auto")
    if progress_bar not in PROGRESS_BARS:
        raise ConfigError(
            "trainer.progress_bar", progress_bar, f"must be one of {', '.join(PROGRESS_BARS)}"
        )
    batches = {
        "train": n_train and math.ceil(n_train / datamodule.batch_size),
        "val": math.ceil(datamodule.val_size / datamodule.eval_batch_size),
    }
    _in_group("trainer", check_trainer, trainer, batches, local_devices)
    return trainer, progress_bar


def _logger(cfg: DictConfig) -> dict:
    """TensorBoardLogger's keywords, checked."""
    name, logger = _params(cfg, "logger")
    if name not in LOGGERS:
        raise ConfigError("logger.name", name, f"must be one of {', '.join(LOGGERS)}")
    _in_group("logger", _check_logger, logger)
    return logger


def _user_net(target: str, build_net: Callable[[], nn.Module]) -> nn.Module:
    """The user's model (``model=custom``), built: what goes wrong in their code is refused as
    ``model._target_``, with their exception, not as a fault of initlab's check."""
    try:
        net = _in_group("model", build_net)
    except ConfigError:
        raise
    except Exception as err:
        raise ConfigError(
            "model._target_",
            target,
            f"building it with (in_shape, num_classes, activation) raised "
            f"{type(err).__name__}: {err}",
        ) from None
    if not isinstance(net, nn.Module):
        raise ConfigError(
            "model._target_", target, f"returned {type(net).__name__}, not a torch.nn.Module"
        )
    return net


def _prepared(
    build_net: Callable[[], nn.Module],
    initializer: Initializer,
    parametrized: Parametrized | None,
) -> nn.Module:
    """The model, with the structure its initializer adds (Fixup's scalars, SkipInit's α) and
    what its parametrization changes in the forward pass (μP's attention logit scale)."""
    net = initializer.prepare(build_net())
    return net if parametrized is None else parametrized.prepare(net)


def _refuse_lazy(name: str, net: nn.Module) -> None:
    """A lazy layer has no shape, so no fans, until data flows through it: refused by name."""
    for path, m in net.named_modules():
        if isinstance(m, nn.modules.lazy.LazyModuleMixin) and m.has_uninitialized_params():
            raise ConfigError(
                "model.name",
                name,
                f"{type(m).__name__} at {path or '(the model)'} has no shape until its first "
                "forward pass, and initlab plans every weight before any data: give it its "
                "input size (e.g. nn.Linear instead of nn.LazyLinear)",
            )


def _check_logger(logger: dict) -> None:
    """TensorBoardLogger's keywords (keys bare: the caller adds ``logger.``)."""
    for key, value in logger.items():
        if key not in LOGGER_KEYS:
            raise ConfigError(key, value, f"unknown key (accepted: {', '.join(LOGGER_KEYS)})")
    if not isinstance(logger.get("log_graph", False), bool):
        raise ConfigError("log_graph", logger["log_graph"], "must be true or false")
    if "max_queue" in logger:
        positive_int("max_queue", logger["max_queue"])
    if "flush_secs" in logger and number("flush_secs", logger["flush_secs"]) < 1:
        # the writer thread flushes every flush_secs: below 1 s it flushes all the time
        raise ConfigError("flush_secs", logger["flush_secs"], "must be a number of seconds ≥ 1")
    if not isinstance(logger.get("filename_suffix", ""), str):
        raise ConfigError("filename_suffix", logger["filename_suffix"], "must be a string")


def _diagnostics(cfg: DictConfig, activation: Activation) -> Callable[[], Diagnostics] | None:
    """A factory of the configured diagnostics callback (checked here), or None when off."""
    params = OmegaConf.to_container(cfg.get("diagnostics") or {}, resolve=True)
    if not isinstance(params.get("stats", []), list):  # list(5) would raise a TypeError
        raise ConfigError(
            "diagnostics.stats", params["stats"], f"must be a non-empty list of {', '.join(STATS)}"
        )
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
        # Hydra turns an exception from a callback into a warning and runs the job anyway, so
        # every failure of the check must end the process here (SystemExit passes through).
        try:
            spec = self.check(config)
        except ConfigError as err:
            _refuse(f"initlab: invalid config: {err}")
        except Exception as err:  # a bug in a check: still never let the run start
            _refuse(
                f"initlab: invalid config: the check itself failed with {type(err).__name__}: "
                f"{err} (a bug in initlab's validation; the run was not started)"
            )
        if dry_run.requested(config):  # checked: say what would run, and stop before any folder
            try:
                folder = OmegaConf.select(config, "hydra.run.dir", default="")
                overrides = list(OmegaConf.select(config, "hydra.overrides.task", default=[]))
                dry_run.show(dry_run.describe_run(config, spec, folder, overrides))
            except Exception as err:  # never let a dry run go on to run
                _refuse(f"initlab: dry run failed with {type(err).__name__}: {err}")
            sys.exit(0)
        # Hydra writes .hydra/ and train.log into the run folder next: a folder another process
        # is writing is left alone before that. Taking its lock here (not only looking at it)
        # means two runs started at once cannot both get past this point.
        run_dir = Path(str(OmegaConf.select(config, "hydra.run.dir", default="") or ""))
        rank0 = ddp_rank() == 0  # a DDP rank > 0 runs in rank 0's folder, by design
        if rank0 and str(run_dir) not in ("", "."):
            try:
                folder_lock.claim(run_dir)
            except folder_lock.FolderBusy as busy:
                print(
                    f"initlab: {run_dir} is being written by another process ({busy.holder}); "
                    "nothing done",
                    file=sys.stderr,
                )
                sys.exit(folder_lock.BUSY_EXIT)

    def check(self, config: DictConfig) -> RunSpec:
        """The checked run (a dry run describes it); raise :class:`ConfigError` for a bad value.
        Entry points with more keys extend it. Devices are checked against this machine unless
        the jobs run elsewhere (SLURM)."""
        check_root(config)
        here = not runs_remotely(config)
        spec = build(config, local_devices=here, local_paths=here)
        if here:
            check_data(spec)
        return spec


def check_data(spec: RunSpec) -> None:
    """The dataset's files are here, or download now (a run on this machine): else refused, as
    ``dataset.name``, with where it looked and the ways to get it."""
    dataset = spec.datamodule.dataset
    if dataset.ensure is None:
        return
    try:
        dataset.ensure()
    except DatasetUnavailable as err:
        reason = str(err).removeprefix(f"dataset={dataset.name}: ")
        raise ConfigError("dataset.name", dataset.name, reason) from None


def check_root(config: DictConfig, extra: tuple[str, ...] = ()) -> None:
    """The config's top-level keys: the groups, the run's own keys and ``extra`` (the entry
    point's block, such as ``probe``). A key added with ``+`` and misspelled (``+sed=1``) would
    otherwise be carried along and never read."""
    accepted = (*ROOT_KEYS, *extra)
    for key in config:
        if key == "hydra" or key in accepted:
            continue
        if key == "probe":
            raise ConfigError(key, config[key], "the probe's settings: python -m initlab.probe")
        raise ConfigError(key, config[key], f"unknown key (accepted: {', '.join(accepted)})")


def _refuse(line: str) -> None:
    print(" ".join(line.split()), file=sys.stderr)  # one line, whatever the message held
    sys.exit(2)
