"""The ``trainer`` group: which ``pl.Trainer`` arguments a config may set, and the values that
can work, checked before anything runs.

Types and allowed literal values (``precision``, …) come from ``pl.Trainer``'s own annotations,
so the check follows the installed Lightning; on top of them, the values Lightning accepts but
that cannot work in a run (a 0 that divides, a limit that keeps no batch, an accelerator this
machine lacks). Keys are bare here: :mod:`initlab.training.spec` adds ``trainer.``.
"""

from __future__ import annotations

import importlib.util
import inspect
import types
import typing
from functools import cache

import pytorch_lightning as pl
import torch
from pytorch_lightning.accelerators import AcceleratorRegistry
from pytorch_lightning.strategies import StrategyRegistry

from initlab.config.errors import ConfigError, integer, positive_int
from initlab.runtime import private_api

# pl.Trainer arguments initlab sets itself (initlab.training.lifecycle.make_trainer) or that
# cannot work with it.
TRAINER_OWN = {
    "logger": "initlab passes its TensorBoard logger",
    "callbacks": "initlab passes its callbacks",
    "enable_progress_bar": "use trainer.progress_bar",
    "enable_model_summary": "initlab sets it (shown when the progress bar is)",
    "default_root_dir": "initlab sets it to the run folder",
    "plugins": "not supported by this template",
}
TRAINER_UNSUPPORTED = {  # Lightning refuses these under manual optimization, after data loads
    key: "not supported: initlab's training_step makes the optimizer step itself"
    for key in ("gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches")
} | {  # these switch off the logger that metrics.json, the diagnostics and the plan write to
    "fast_dev_run": "not supported: it switches off the logger initlab records to; use "
    "trainer.max_epochs=1 +trainer.limit_train_batches=<n> for a quick run",
    "barebones": "not supported: it switches off the logger initlab records to",
}


@cache
def _trainer_hints() -> dict:
    """pl.Trainer's own annotations: the types (and Literal values, e.g. of ``precision``)
    Lightning accepts, so the check follows the installed Lightning instead of a copy."""
    return typing.get_type_hints(pl.Trainer.__init__)


def _matches(value, hint) -> bool:
    """Whether a plain config value (None, bool, int, float, str, list, dict) fits ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    if isinstance(hint, type):  # Path, timedelta, Accelerator, …: a config holds none of these
        return isinstance(value, hint)
    return True  # an annotation this check does not model: Lightning decides


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_describe(h) for h in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if hint is type(None):
        return "null"
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_describe(a) for a in args)}]"
    return getattr(hint, "__name__", str(hint))


def _fraction_or_count(key: str, value, batches: int | None, zero: bool = False) -> None:
    """Lightning's ``limit_*_batches`` / ``overfit_batches``: a count (int) or a fraction
    (float) of the epoch's batches. 0 would train or evaluate nothing (refused unless
    ``zero``); a fraction must keep at least one of the ``batches`` (where known)."""
    if value is None:
        return
    low = 0 if zero else 1
    reason = f"must be an integer ≥ {low} or a fraction in {'[0' if zero else '(0'}, 1]"
    if isinstance(value, float):
        if not (0 <= value <= 1 if zero else 0 < value <= 1):
            raise ConfigError(key, value, reason)
        if value > 0 and batches is not None and int(value * batches) < 1:
            raise ConfigError(key, value, f"keeps 0 of the epoch's {batches} batches")
    elif isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(key, value, reason)


def check_trainer(trainer: dict, batches: dict, local_devices: bool) -> None:
    """The ``pl.Trainer`` keywords: known, with values that run, and of the types Lightning's
    own annotations give for the rest (keys are bare: the caller adds ``trainer.``)."""
    accepted = inspect.signature(pl.Trainer).parameters
    for key, value in trainer.items():
        if key not in accepted:
            raise ConfigError(key, value, "not a pl.Trainer argument")
        if key in TRAINER_OWN:
            raise ConfigError(key, value, f"not passed on: {TRAINER_OWN[key]}")
        if key in TRAINER_UNSUPPORTED and value not in (None, False):
            raise ConfigError(key, value, TRAINER_UNSUPPORTED[key])
    get = trainer.get
    positive_int("max_epochs", get("max_epochs"))
    for key in ("log_every_n_steps", "check_val_every_n_epoch"):
        if get(key) is not None:
            positive_int(key, get(key))  # 0: ZeroDivisionError in Lightning's loop
    for key in ("min_epochs", "min_steps"):
        if get(key) is not None:
            integer(key, get(key), 0)
    if get("max_steps", -1) != -1:
        positive_int("max_steps", get("max_steps"))  # 0: "completed" after no step at all
    if get("num_sanity_val_steps") is not None:
        integer("num_sanity_val_steps", get("num_sanity_val_steps"), -1)  # -1: all
    integer("reload_dataloaders_every_n_epochs", get("reload_dataloaders_every_n_epochs", 0), 0)
    positive_int("num_nodes", get("num_nodes", 1))
    train, limit = batches["train"], get("limit_train_batches")
    _fraction_or_count("limit_train_batches", limit, train)
    _fraction_or_count("limit_val_batches", get("limit_val_batches"), batches["val"])
    _fraction_or_count("limit_test_batches", get("limit_test_batches"), None)
    _fraction_or_count("overfit_batches", get("overfit_batches"), train, zero=True)
    train = epoch_batches(train, limit)
    if get("check_val_every_n_epoch", 1) is None:
        train = None  # then validation counts batches across epochs: any interval works
    _check_intervals(get("val_check_interval"), get("max_time"), train)
    if get("profiler") is not None and get("profiler") not in ("simple", "advanced", "pytorch"):
        raise ConfigError("profiler", get("profiler"), "must be simple, advanced, pytorch or null")
    if get("strategy", "auto") not in ["auto", *StrategyRegistry.available_strategies()]:
        raise ConfigError(
            "strategy", get("strategy"), "not a Lightning strategy (e.g. auto, ddp, fsdp)"
        )
    _check_devices(get("accelerator", "auto"), get("devices", "auto"), local_devices)
    precision = str(get("precision"))
    if (
        local_devices
        and precision.startswith("transformer-engine")
        and importlib.util.find_spec("transformer_engine") is None
    ):
        raise ConfigError("precision", get("precision"), "needs NVIDIA's transformer_engine")
    hints = _trainer_hints()  # everything else: the type pl.Trainer declares
    for key, value in trainer.items():
        if key in hints and not _matches(value, hints[key]):
            raise ConfigError(key, value, f"must be {_describe(hints[key])} (as pl.Trainer takes)")


def epoch_batches(train: int | None, limit: int | float | None) -> int | None:
    """The training batches an epoch really has: ``train`` (None: not known without reading
    the data) under ``limit_train_batches`` (a fraction of them or a count)."""
    if train is None or limit is None:
        return train
    return int(train * limit) if isinstance(limit, float) else min(train, limit)


def _check_intervals(val_check_interval, max_time, train_batches: int | None) -> None:
    if isinstance(val_check_interval, float):
        if not 0 < val_check_interval <= 1:
            raise ConfigError(
                "val_check_interval", val_check_interval, "a fraction must be in (0, 1]"
            )
    elif isinstance(val_check_interval, int):
        positive_int("val_check_interval", val_check_interval)  # 0: ZeroDivisionError
        if train_batches is not None and val_check_interval > train_batches:
            raise ConfigError(
                "val_check_interval",
                val_check_interval,
                f"must be ≤ the {train_batches} training batches of an epoch",
            )
    elif val_check_interval is not None:  # a duration: "DD:HH:MM:SS" or {hours: 1, …}
        _duration("val_check_interval", val_check_interval)
    if max_time is not None:  # the parser Lightning's Timer uses
        _duration("max_time", max_time)


def _duration(key: str, value) -> float:
    """Seconds in a "DD:HH:MM:SS" string or a dict of timedelta keywords; > 0."""
    try:
        seconds = private_api.parse_duration(value)
    except Exception:
        seconds = None
    if seconds is None or not seconds > 0:
        raise ConfigError(key, value, 'must be a duration > 0: "DD:HH:MM:SS" or {hours: 1, …}')
    return seconds


def _check_devices(accelerator, devices, local_devices: bool) -> None:
    """Accelerator and devices as Lightning reads them; with ``local_devices``, also that this
    machine has them (instead of Lightning's MisconfigurationException after the run folder
    exists)."""
    names = ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())]
    if accelerator not in names:
        raise ConfigError("accelerator", accelerator, f"must be one of {', '.join(names)}")
    if accelerator == "cpu":
        if devices != "auto" and (
            isinstance(devices, bool) or not isinstance(devices, int) or devices < 1
        ):  # Lightning: "should be an int > 0" for the CPU
            raise ConfigError(
                "devices", devices, "must be a positive integer or auto with accelerator=cpu"
            )
    elif not (
        devices in ("auto", -1)
        or (isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1)
        or (
            isinstance(devices, list)
            and devices
            and len(set(devices)) == len(devices)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices)
        )
    ):
        raise ConfigError(
            "devices",
            devices,
            "must be a positive integer, -1 (all), auto, or a non-empty list of device indices",
        )
    if not local_devices or accelerator in ("auto", "cpu"):
        return
    if accelerator in ("gpu", "cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        mps = accelerator == "gpu" and AcceleratorRegistry["mps"]["accelerator"].is_available()
        if count == 0 and not mps:
            raise ConfigError(
                "accelerator",
                accelerator,
                "no GPU visible on this machine (torch.cuda.is_available() is False): use "
                "trainer=cpu, or run where a GPU is",
            )
        wanted = max(devices) + 1 if isinstance(devices, list) else devices
        if count and isinstance(wanted, int) and wanted > count:
            raise ConfigError("devices", devices, f"this machine has {count} GPU(s)")
    elif not AcceleratorRegistry[accelerator]["accelerator"].is_available():
        raise ConfigError("accelerator", accelerator, "not available on this machine")
