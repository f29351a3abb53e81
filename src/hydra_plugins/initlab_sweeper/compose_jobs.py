"""Composing a sweep's jobs, on every core.

Hydra composes each job's config from the YAML files and the job's overrides (its config
loader's ``load_sweep_config``), one after another: on a grid of hundreds of jobs that is a large
share of the sweep before its first step. The jobs are independent, so a large grid is composed
by forked copies of this process, one per core, each composing a slice with the same loader and
the sweep's own config, and sending the configs back (pickled: OmegaConf keeps every node, flag
and interpolation). A fork shares what this process has loaded (the loader, its search path, the
imported modules) at no cost; it is used only where it is safe — before this process has started
any thread or touched CUDA — else the jobs are composed here.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

from omegaconf import DictConfig

PER_WORKER = 8  # a fork and a pickled config cost about one composition: fewer jobs stay here

_loader = None  # what a forked composer inherits: set just before the fork
_master: DictConfig | None = None


def _compose(job: list[str]) -> DictConfig:
    return _loader.load_sweep_config(_master, job)


def _fork_is_safe() -> bool:
    """No other thread (a fork copies only this one, with any lock another holds) and no CUDA
    context (a forked child cannot use it)."""
    import torch

    return threading.active_count() == 1 and not torch.cuda.is_initialized()


def compose(loader, master: DictConfig, jobs: list[list[str]]) -> list[DictConfig]:
    """Each job's composed config (``loader.load_sweep_config(master, job)``), in order."""
    global _loader, _master
    workers = min(len(os.sched_getaffinity(0)), len(jobs) // PER_WORKER)
    if workers < 2 or not _fork_is_safe():
        return [loader.load_sweep_config(master, job) for job in jobs]
    _loader, _master = loader, master
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_compose, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
    finally:
        _loader = _master = None
