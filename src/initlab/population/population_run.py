"""A population run: the jobs of one population, trained and tested together, each ending with
its own record, events, plan and checkpoint in its own folder (as :func:`initlab.training.run.run`
leaves a job's folder)."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from initlab.diagnostics.offload import offload
from initlab.population.member_checkpoints import MemberCheckpoints, population_checkpoint, save
from initlab.population.member_data import PopulationData
from initlab.population.population_module import Member, PopulationModule
from initlab.runtime import folder_lock
from initlab.training import collapse
from initlab.training import record as record_lib
from initlab.training.lifecycle import Recording, make_trainer
from initlab.training.spec import build

log = logging.getLogger(__name__)


def run(
    jobs: list[tuple[DictConfig, Path, list[str]]],
    population_dir: Path,
    name: str,
    threads: int | None = None,
    compile: bool = False,
) -> list[dict | None]:
    """Train and test ``jobs`` (config, run folder, overrides) as one population named ``name``;
    ``population_dir`` holds what belongs to the population alone (a resume's stacked
    checkpoint). Returns each job's record; None for a job whose folder another process is
    writing (left untouched, as :func:`initlab.training.run.run` leaves it).

    The jobs must differ only in member keys (``seed``, ``init``,
    ``optimizer.lr``) and resume from the same step
    (:mod:`initlab.population.groups`). A signal or an exception ends every unfinished member
    ``failed`` and is re-raised.

    It computes with ``threads`` torch threads (None: this process's count), or, when it
    resumes, with the count its members' records say it started with: a float sum's order can
    depend on the count, and a resumed member must end as the uninterrupted one. ``compile``:
    the training objective through ``torch.compile`` (:mod:`initlab.population.compiled`).
    """
    members = [Member(cfg, build(cfg), run_dir, overrides) for cfg, run_dir, overrides in jobs]
    with contextlib.ExitStack() as held:
        kept = []
        for m in members:
            try:
                held.enter_context(folder_lock.hold(m.run_dir))
            except folder_lock.FolderBusy as busy:
                log.warning("skipped: %s; nothing written", busy)
                continue
            kept.append(m)
        if kept:
            _run_locked(kept, Path(population_dir), name, threads, compile)
    return [m.record if m in kept else None for m in members]


def _run_locked(
    members: list[Member], population_dir: Path, name: str, threads, compile: bool
) -> None:
    size = len(members)
    for m in members:
        m.locate()
    threads = _started_with(members) or threads or torch.get_num_threads()
    for i, m in enumerate(members):
        m.record["population"] = {
            "name": name,
            "size": size,
            "member": i,
            "threads": threads,
            "compile": compile,
        }
        m.begin()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _fit_and_test(members, population_dir, name, compile)
    except BaseException:
        offload().discard()  # the members' unwritten diagnostics: they failed
        raise
    finally:
        torch.set_num_threads(before)


def _started_with(members: list[Member]) -> int | None:
    """The torch threads the resumed members' population started with (their records'), if
    they resume."""
    if not members[0].resume:  # grouped by resume step: all resume, or none
        return None
    previous = record_lib.read(members[0].run_dir) or {}
    return (previous.get("population") or {}).get("threads")


def _fit_and_test(members: list[Member], population_dir: Path, name: str, compile: bool) -> None:
    size = len(members)
    spec = members[0].spec
    checkpoints = spec.trainer.get("enable_checkpointing", True)
    with Recording(members) as recording:
        module = PopulationModule(
            members, spec.optimizer, spec.datamodule.dataset.in_shape, compile=compile
        )
        data = PopulationData([m.spec.datamodule for m in members])
        population_dir.mkdir(parents=True, exist_ok=True)
        trainer = recording.trainer = make_trainer(
            spec,
            population_dir,
            logger=False,  # each member writes to its own
            callbacks=[recording, *([MemberCheckpoints()] if checkpoints else [])],
            summary=False,
            enable_checkpointing=False,  # MemberCheckpoints instead
        )
        if members[0].resume:  # grouped by resume step: all resume, or none
            resumes = [m.resume for m in members]
            trainer.ckpt_path = _stacked_resume(module, resumes, population_dir)
            log.info("resuming population %s from step %s", name, members[0].purge_step)
        start = time.perf_counter()
        trainer.fit(module, datamodule=data)
        seconds = round(time.perf_counter() - start, 3)
        if any(m.active for m in members):
            trainer.ckpt_path = None
            trainer.test(module, datamodule=data, verbose=False)
        for m in members:
            # Its share of the population's fit (what the report compares between jobs); the
            # whole is in the population's entry.
            m.record["fit_seconds"] = round(seconds / size, 3)
            m.record["population"]["fit_seconds"] = seconds
            if m.active:  # a diverged member's result was recorded where it stopped
                metrics = {**m.train_sums.metrics(), **m.val, **m.test}
                m.record["metrics"] = record_lib.finite(metrics)
                m.record["status"] = collapse.ending(metrics)


def _stacked_resume(module, resumes: list[str], population_dir: Path) -> str:
    """The members' checkpoints stacked into one for the population's trainer to restore."""
    saved = [torch.load(path, map_location="cpu", weights_only=True) for path in resumes]
    with torch.device("meta"):  # the names alone
        net = module.members[0].spec.make_net()
    names = [k for k, _ in net.named_parameters()]
    buffer_names = [k for k, _ in net.named_buffers()]
    path = population_dir / "resume.ckpt"
    save(population_checkpoint(saved, names, buffer_names, module.group_rates()), path)
    return str(path)
