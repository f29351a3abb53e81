"""Populations side by side: worker processes that each train one population at a time.

The population launcher hands each population (its members' configs and folders) to the first
free worker, the most work first (:func:`longest_first`). A worker is a fresh Python started by
multiprocessing's ``spawn`` (no state inherited from the sweep's process, no fork after torch
started its threads or CUDA) that imports initlab once and then trains population after
population with :func:`initlab.population.population_run.run`, exactly as the sweep's process
would: the same code, the same records, the same folder locks (one writer per folder, across
processes).

A worker dies with the sweep. Linux's ``PR_SET_PDEATHSIG`` sends it SIGTERM when the sweep's
process ends, however it ends, ``kill -9`` included; a SIGTERM ends a worker's members
``failed``, as a signal ends any run. A signal the sweep's process receives is passed on to the
workers (SIGINT from a terminal reaches them already: they are in its process group). A worker
that dies on its own (the kernel's OOM killer) leaves its members' ``running`` records, which
read ``killed``, and the sweep goes on with a new worker.

How many: ``hydra.launcher.n_jobs`` (null: one per core this process may run on), at most one
per population, and at most what fits in memory (:func:`worker_count`).

The sweep's torch threads are shared out: each worker's population computes with
threads // workers of them (as the joblib launcher gives its jobs cores // n_jobs), since
workers that each spin every core's threads take twice as long. A float sum's order can depend
on the thread count, so a member's record keeps its population's count, and a population that
resumes computes with the count it started with (:mod:`initlab.population.population_run`): a
killed sweep's rerun, whose populations are split by the step they resume from, ends bit for
bit as the uninterrupted one.
"""

from __future__ import annotations

import ctypes
import logging
import math
import multiprocessing
import os
import queue
import signal
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from initlab.config.trainer_settings import epoch_batches
from initlab.population import groups
from initlab.runtime import signals
from initlab.training.spec import build

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # linux/prctl.h
OPTIMIZER_COPIES = 4  # weights, gradients and Adam's two moments, float32, per member
PROCESS_BYTES = 1 << 30  # a worker's own footprint (torch, Lightning; on a GPU its context)
MEMORY_SHARE = 0.8  # of the free memory the workers may plan to use
LIGHTNING_MAX_EPOCHS = 1000  # pl.Trainer's max_epochs when it is not set


def cores() -> int:
    """The cores this process may run on (its affinity: a SLURM allocation, ``taskset``)."""
    return len(os.sched_getaffinity(0))


@dataclass(kw_only=True)
class Plan:
    """How many workers, with how many torch threads each, and why that many."""

    workers: int
    threads: int
    why: str

    def __str__(self) -> str:
        threads = f"{self.threads} torch thread{'s' if self.threads > 1 else ''} each"
        return f"populations side by side: {self.workers} worker processes ({self.why}), {threads}"


def worker_count(
    n_jobs: int | None, population_bytes: Sequence[int], free_bytes: int | None
) -> Plan:
    """Workers for populations that need ``population_bytes`` each (model, optimizer and data
    of all members), with ``free_bytes`` of device memory free (None: unknown, no cap).
    ``n_jobs`` as joblib reads it: None or -1 every core, -2 all but one, n ≥ 1 that many."""
    host = cores()
    if n_jobs is None:
        wanted, why = host, f"n_jobs=null: {host} cores"
    else:
        wanted = n_jobs if n_jobs > 0 else max(1, host + 1 + n_jobs)
        why = f"n_jobs={n_jobs}"
    workers = min(wanted, len(population_bytes))
    if len(population_bytes) < wanted:
        why += f", {len(population_bytes)} populations"
    if free_bytes is not None and population_bytes and workers > 1:
        each = max(population_bytes) + PROCESS_BYTES
        fits = max(1, math.floor(free_bytes * MEMORY_SHARE / each))
        if fits < workers:
            workers = fits
            gib = f"{free_bytes / 2**30:.1f} GiB free, {each / 2**30:.2f} GiB each"
            why += f", memory for {fits} ({gib})"
    return Plan(workers=workers, threads=max(1, torch.get_num_threads() // workers), why=why)


@dataclass(kw_only=True)
class Schedule:
    """How a sweep's populations train: ``plan``, and ``populations`` in the order they start.
    With two workers or more, the populations are split so that the workers end together
    (``split`` says how, '' where nothing was split) and the stacked ones come the most work
    first, then the jobs that train alone; with one, they keep the sweep's order."""

    plan: Plan
    populations: list
    split: str = ""


def schedule(populations: list, configs: list, n_jobs: int | None) -> Schedule:
    """The :class:`Schedule` of ``populations`` (:func:`~initlab.population.groups.plan`'s, of
    the sweep's composed jobs ``configs``): the launcher trains by it, the dry run lists it."""
    stacked = [p for p in populations if len(p.jobs) > 1]
    if len(stacked) < 2 or n_jobs == 1:
        one = Plan(workers=1, threads=torch.get_num_threads(), why="")
        return Schedule(plan=one, populations=populations)
    built = {}  # each job's spec and meta net: its population's first job's (one net for all)
    needs = []
    for population in stacked:
        spec, net = _on_meta(population, configs)
        built.update(dict.fromkeys(population.jobs, (spec, net)))
        seeds = {configs[i].seed for i in population.jobs}
        needs.append(population_bytes(spec, net, len(population.jobs), len(seeds)))
    accelerator = spec.trainer.get("accelerator")  # one for the sweep: its trainer group
    plan = worker_count(n_jobs, needs, free_memory(accelerator))
    if plan.workers == 1:
        return Schedule(plan=plan, populations=populations)
    split = groups.balance(populations, plan.workers)
    parts = [p for p in split if len(p.jobs) > 1]
    work = {id(p): population_work(*built[p.jobs[0]], len(p.jobs)) for p in parts}
    return Schedule(
        plan=plan,
        populations=[*longest_first(parts, work), *(p for p in split if len(p.jobs) == 1)],
        split=groups.split_note(populations, split, plan.workers),
    )


def _on_meta(population, configs: list):
    """The spec of ``population``'s first job, and its net built on the meta device."""
    spec = build(groups.task_config(configs[population.jobs[0]]))
    with torch.device("meta"):
        net = spec.make_net()
    return spec, net


def longest_first(populations: list, work: dict[int, int]) -> list:
    """``populations`` in the order the workers should take them: the most ``work`` (by each
    population's ``id``, :func:`population_work`) first, ties in the sweep's order. Each free
    worker takes the next one, so a large population that came last in the sweep would
    otherwise train on one worker while the others idle; largest first, the small ones fill the
    gaps at the end (Graham's longest-processing-time rule). The yang2021 grid's populations
    span 34× in work (widths 64 to 1024)."""
    return sorted(populations, key=lambda p: -work[id(p)])


def population_work(spec, net, members: int) -> int:
    """How much a population computes, to order populations by: its members' parameters
    (a step's multiply-adds per example, for a dense net) times its training steps."""
    params = sum(p.numel() for p in net.parameters())
    return members * params * _steps(spec)


def _steps(spec) -> int:
    """The training steps of ``spec``'s trainer settings: ``max_steps`` or ``max_epochs``' worth
    of batches, whichever ends training first (an epoch counts as one batch where its size is
    not known without reading the data)."""
    train = spec.n_train and math.ceil(spec.n_train / spec.datamodule.batch_size)
    batches = epoch_batches(train, spec.trainer.get("limit_train_batches")) or 1
    steps = batches * spec.trainer.get("max_epochs", LIGHTNING_MAX_EPOCHS)
    max_steps = spec.trainer.get("max_steps", -1)
    return min(steps, max_steps) if max_steps > 0 else steps


def population_bytes(spec, net, members: int, seeds: int) -> int:
    """What a population of ``members`` nets like ``net`` (on the meta device) holds: per member
    its weights, gradients and optimizer state; per distinct seed a copy of the data."""
    params = sum(p.numel() for p in net.parameters())
    data = (spec.n_train or 0) * math.prod(spec.datamodule.dataset.in_shape) * 4
    return members * params * 4 * OPTIMIZER_COPIES + seeds * data


def free_memory(accelerator: str | None) -> int | None:
    """Free bytes where the populations will train: the GPU's (CUDA), else the host's."""
    if accelerator == "gpu":
        if torch.cuda.is_available():
            return torch.cuda.mem_get_info()[0]
        return None
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


@dataclass(kw_only=True)
class Done:
    """A population's end in a worker: its members' records (None where a folder was busy), or
    ``error``, the worker's traceback (or how it died); then every record is None."""

    key: int
    records: list[dict | None] | None = None
    error: str | None = None


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)


def _serve(tasks, done, parent: int, threads: int, compile: bool) -> None:
    """A worker's life: populations from ``tasks`` until None, each one's :class:`Done`."""
    signals.install()
    _die_with_parent(parent)
    from initlab.config.hydra_conf import register_resolvers
    from initlab.population import population_run
    from initlab.runtime import console_noise

    console_noise.silence()
    register_resolvers()
    torch.set_num_threads(threads)
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    )
    while (task := tasks.get()) is not None:
        key, jobs, population_dir, name = task
        done.put(("start", key, os.getpid()))
        try:
            records = population_run.run(jobs, Path(population_dir), name, threads, compile=compile)
        except signals.Signalled as stop:
            done.put(Done(key=key, error=str(stop)))
            done.close()
            done.join_thread()  # the message out before the process ends by the signal
            stop.die()
        except Exception:
            done.put(Done(key=key, error=traceback.format_exc()))
        else:
            done.put(Done(key=key, records=records))


class Workers:
    """``plan.workers`` worker processes; :meth:`submit` a population, :meth:`results` yields
    each one's :class:`Done` as it ends. Leaving the ``with`` block ends them: normally, after
    their last population; on an exception (a signal included), by SIGTERM at once."""

    def __init__(self, plan: Plan, compile: bool = False):
        self.plan, self.compile = plan, compile
        self._context = multiprocessing.get_context("spawn")
        self._tasks = self._context.Queue()
        self._done = self._context.Queue()
        self._procs: list = []
        self._running: dict[int, int] = {}  # pid -> the key of the population it trains
        self._pending = 0

    def __enter__(self) -> Workers:
        for _ in range(self.plan.workers):
            self._start()
        return self

    def _start(self) -> None:
        proc = self._context.Process(
            target=_serve,
            args=(self._tasks, self._done, os.getpid(), self.plan.threads, self.compile),
            name="initlab-population-worker",
            daemon=True,
        )
        proc.start()
        self._procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def submit(self, key: int, jobs: list, population_dir: Path, name: str) -> None:
        self._tasks.put((key, jobs, str(population_dir), name))
        self._pending += 1

    def results(self) -> Iterator[Done]:
        """Each submitted population's :class:`Done`, in the order they end."""
        while self._pending:
            try:
                message = self._done.get(timeout=1.0)
            except queue.Empty:
                signals.check()  # a signal whose exception a finalizer swallowed
                yield from self._reap()
                continue
            if isinstance(message, tuple):  # ("start", key, pid)
                _, key, pid = message
                self._running[pid] = key
                continue
            self._running = {p: k for p, k in self._running.items() if k != message.key}
            self._pending -= 1
            yield message

    def _reap(self) -> Iterator[Done]:
        """Workers that died on their own: their population ends failed; a new worker comes."""
        for proc in [p for p in self._procs if not p.is_alive()]:
            self._procs.remove(proc)
            key = self._running.pop(proc.pid, None)
            log.error("population worker %d died (exit code %s)", proc.pid, proc.exitcode)
            self._start()
            if key is not None:
                self._pending -= 1
                yield Done(key=key, error=f"its worker {proc.pid} died (exit {proc.exitcode})")

    def __exit__(self, kind, err, tb) -> None:
        if kind is None:
            for _ in self._procs:
                self._tasks.put(None)
            for proc in self._procs:
                proc.join()
        else:
            self.terminate()
        self._tasks.close()
        self._done.close()

    def terminate(self) -> None:
        """SIGTERM to every worker (their members end failed), then wait for them."""
        for proc in self._procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
                proc.join()
