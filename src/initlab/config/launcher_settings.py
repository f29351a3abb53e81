"""A sweep's own settings, checked with its grid before any job starts: the launcher's
(``hydra.launcher.*``) and the sweeper's (``hydra.sweeper.max_batch_size``).

Hydra's joblib plugin passes its settings to ``joblib.Parallel`` as they are, so a typo in a key
is ignored and a bad value raises inside the pool after the sweep folder exists; both are
refused here, naming the key. The plugin fixes the backend to loky (processes): ``backend``,
``prefer`` and ``require`` can only agree with that. The submitit SLURM launcher's counts and
limits would be refused by sbatch only after the folder exists (a negative ``timeout_min`` is
taken as no limit at all). Each launcher's keys are its plugin's config class's fields.
"""

from __future__ import annotations

import ast
import dataclasses
import math

from hydra.types import RunMode
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from omegaconf import DictConfig, OmegaConf

from initlab.config.errors import ConfigError, choice, positive_int

# The keys each launcher takes: the plugins' own config classes, and ours.
JOBLIB_KEYS = tuple(f.name for f in dataclasses.fields(JobLibLauncherConf))
SLURM_KEYS = tuple(f.name for f in dataclasses.fields(SlurmQueueConf))
# initlab_population.launcher.PopulationLauncher
POPULATION_KEYS = ("_target_", "max_members", "n_jobs", "compile")
SLURM_AT_LEAST = {  # the smallest value sbatch takes for each count
    "timeout_min": 1,
    "nodes": 1,
    "tasks_per_node": 1,
    "array_parallelism": 1,
    "cpus_per_task": 1,
    "cpus_per_gpu": 1,
    "gpus_per_node": 0,
    "gpus_per_task": 0,
    "max_num_timeout": 0,
    "signal_delay_s": 0,
}
SLURM_REQUIRED = ("timeout_min", "nodes", "tasks_per_node")  # the rest may be null


def runs_remotely(config: DictConfig) -> bool:
    """Whether the jobs of ``config`` (with its ``hydra`` node) run on other machines: a sweep
    through a SLURM launcher, whose submitting host may lack the jobs' GPUs."""
    if OmegaConf.select(config, "hydra.mode") == RunMode.RUN:
        return False  # a single run runs here, whatever launcher is configured
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    return "submitit" in target and "Slurm" in target


def check_launcher(hydra_cfg: DictConfig) -> None:
    """The sweep's own settings (``hydra_cfg`` is the ``hydra`` node): each launcher's keys and
    values (joblib, population, SLURM; module docstring). Joblib's ``n_jobs`` must be a
    non-zero integer; ``hydra/launcher=gpus`` resolves it to the number of visible GPUs, which
    is 0 on a machine without one. The sweeper's ``max_batch_size``: null or ≥ 1 (a negative
    one would launch no job at all)."""
    size = OmegaConf.select(hydra_cfg, "sweeper.max_batch_size", default=None)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(
            "hydra.sweeper.max_batch_size", size, "must be a positive integer or null"
        )
    launcher = OmegaConf.select(hydra_cfg, "launcher")
    if launcher is None:
        return
    if "max_members" in launcher:  # hydra/launcher=population
        positive_int("hydra.launcher.max_members", launcher.max_members)
    target = str(launcher.get("_target_", ""))
    if "JoblibLauncher" in target:
        _check_joblib(launcher)
    if "PopulationLauncher" in target:
        _known_keys(launcher, POPULATION_KEYS)
        if not isinstance(launcher.get("compile", False), bool):
            raise ConfigError("hydra.launcher.compile", launcher.compile, "must be true or false")
    if "SlurmLauncher" in target:
        _check_slurm(launcher)
    raw = OmegaConf.select(launcher, "n_jobs", throw_on_resolution_failure=False)
    unresolved = OmegaConf.to_container(launcher, resolve=False).get("n_jobs")
    if raw is None and unresolved is not None:
        raise ConfigError("hydra.launcher.n_jobs", unresolved, "could not be resolved")
    if raw is None:
        return
    if raw == 0 and "cuda_device_count" in str(unresolved):
        raise ConfigError(
            "hydra.launcher.n_jobs",
            0,
            "no GPU visible (hydra/launcher=gpus runs one job per visible GPU): use "
            "hydra/launcher=joblib on a machine without one",
        )
    if isinstance(raw, bool) or not isinstance(raw, int) or raw == 0:
        raise ConfigError(
            "hydra.launcher.n_jobs", raw, "must be a non-zero integer (-1: one per core)"
        )


def _check_joblib(launcher: DictConfig) -> None:
    """The joblib plugin's settings, each as ``joblib.Parallel`` would take it (``n_jobs`` is
    checked by :func:`check_launcher`, after its resolution)."""
    settings = _known_keys(launcher, JOBLIB_KEYS)
    fixed = "the joblib launcher runs processes (Hydra's plugin fixes joblib's backend to loky)"
    if settings.get("backend") not in (None, "loky"):
        raise ConfigError("hydra.launcher.backend", settings["backend"], f"{fixed}: loky or null")
    if settings.get("prefer") is not None:
        choice("hydra.launcher.prefer", settings["prefer"], ("processes", "threads"))
    if settings.get("require") is not None:
        raise ConfigError("hydra.launcher.require", settings["require"], f"{fixed}: null")
    verbose = settings.get("verbose", 0)
    if isinstance(verbose, bool) or not isinstance(verbose, int) or verbose < 0:
        raise ConfigError("hydra.launcher.verbose", verbose, "must be an integer ≥ 0")
    timeout = settings.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigError(
            "hydra.launcher.timeout", timeout, "must be a number of seconds > 0, or null"
        )
    batch = settings.get("batch_size", "auto")
    if batch != "auto" and not _positive_int_text(batch):
        raise ConfigError(
            "hydra.launcher.batch_size", batch, "must be 'auto' or a positive integer"
        )
    pre = settings.get("pre_dispatch", "2*n_jobs")
    if pre != "all" and not _positive_int_text(pre) and not _positive_expression(pre):
        raise ConfigError(
            "hydra.launcher.pre_dispatch",
            pre,
            "must be 'all', a positive integer or an arithmetic expression of n_jobs ('2*n_jobs')",
        )
    if settings.get("mmap_mode") is not None:
        choice("hydra.launcher.mmap_mode", settings["mmap_mode"], ("r+", "r", "w+", "c"))


def _check_slurm(launcher: DictConfig) -> None:
    """The submitit SLURM launcher's numbers, which sbatch would refuse (or, a negative time
    limit, take as none) only once the sweep folder exists."""
    settings = _known_keys(launcher, SLURM_KEYS)
    for key, low in SLURM_AT_LEAST.items():
        value = settings.get(key)
        if value is None and key not in SLURM_REQUIRED:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            null = "" if key in SLURM_REQUIRED else ", or null"
            raise ConfigError(f"hydra.launcher.{key}", value, f"must be an integer ≥ {low}{null}")
    mem = settings.get("mem_gb")
    if mem is not None and (
        isinstance(mem, bool) or not isinstance(mem, (int, float)) or not mem > 0
    ):
        raise ConfigError("hydra.launcher.mem_gb", mem, "must be a number of GB > 0, or null")


def _known_keys(launcher: DictConfig, keys: tuple[str, ...]) -> dict:
    """The launcher's settings (unresolved), refused at the first key it does not take."""
    settings = OmegaConf.to_container(launcher, resolve=False)
    for key, value in settings.items():
        if key not in keys:
            raise ConfigError(
                f"hydra.launcher.{key}", value, f"unknown key (accepted: {', '.join(keys[1:])})"
            )
    return settings


def _positive_int_text(value) -> bool:
    """A positive integer, or its text (the plugin turns such strings into integers)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return value.strip().isdigit() and int(value) > 0
    return isinstance(value, int) and value > 0


def _positive_expression(text) -> bool:
    """An arithmetic expression of ``n_jobs`` (``2*n_jobs``) that is positive for any n_jobs ≥ 1,
    as joblib evaluates it: numbers, ``n_jobs``, + - * / and parentheses only."""
    if not isinstance(text, str) or "n_jobs" not in text:
        return False
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop)
    try:
        tree = ast.parse(text.replace("n_jobs", "1"), mode="eval")
    except SyntaxError:
        return False
    if not all(isinstance(node, allowed) for node in ast.walk(tree)):
        return False
    try:
        return eval(compile(tree, "<pre_dispatch>", "eval"), {"__builtins__": {}}) > 0  # noqa: S307
    except ArithmeticError:
        return False
