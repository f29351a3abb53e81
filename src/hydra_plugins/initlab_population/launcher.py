"""``hydra/launcher=population``: the sweep's jobs that differ only in ``seed`` and ``init`` train
together, as one stacked model, in this process.

    python train.py -m hydra/launcher=population init='glob(*,exclude=[…])' seed=0,1,2

The jobs are grouped into populations (:mod:`initlab.population.groups`) of at most
``max_members``; each population is one Lightning fit (:mod:`initlab.population.population_run`)
whose members each end with the folder, record, events, plan and checkpoint their sequential jobs
would have. A job that cannot be stacked exactly, and a population of one, runs as an ordinary job
(the task function, as Hydra's basic launcher runs it), with a line saying why.

Populations train side by side, each in a worker process (:mod:`initlab.population.workers`), up
to ``n_jobs`` at once (null: one per core, as many as fit in memory), all on the same device;
with one worker, they train one after another in this process.
"""

from __future__ import annotations

import copy
import logging
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from initlab.population import groups, population_run, workers
from initlab.runtime import signals

log = logging.getLogger(__name__)
SHOWN = 10  # populations named in the line that says their order


def _folder(hydra_cfg) -> tuple[Path, list[str]]:
    """The task function of a member's ``run_job``: Hydra has made its folder and ``.hydra/``;
    the population trains it later."""
    return Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task)


class PopulationLauncher(Launcher):
    """Hydra launcher (``conf/hydra/launcher/population.yaml``)."""

    def __init__(
        self, max_members: int = 256, n_jobs: int | None = None, compile: bool = False
    ) -> None:
        # checked with the grid (initlab.config.launcher_settings.check_launcher)
        self.max_members, self.n_jobs, self.compile = max_members, n_jobs, compile
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        # The jobs' configs by their overrides, as the sweeper composed them to check them
        # (composing is a large share of a small job: the sweeper hands them over instead of
        # composing twice; scripts/bench_sweep.py measures the per-job overhead).
        self.composed: dict[tuple[str, ...], DictConfig] = {}

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        configs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            cfg = self.composed.get(tuple(overrides))
            if cfg is None:
                cfg = self.hydra_context.config_loader.load_sweep_config(
                    self.config, list(overrides)
                )
            cfg = copy.deepcopy(cfg)
            with open_dict(cfg):
                cfg.hydra.job.id = idx
                cfg.hydra.job.num = idx
            configs.append(cfg)
        folders = []
        for cfg in configs:
            HydraConfig.instance().set_config(cfg)  # subdir interpolates the job's overrides
            folders.append(sweep_dir / str(cfg.hydra.sweep.subdir))
        populations = groups.plan(configs, folders, self.max_members)
        sizes = sorted((len(p.jobs) for p in populations), reverse=True)
        log.info(
            "Launching %d jobs as %d populations (members: %s)",
            len(configs),
            len(populations),
            ", ".join(map(str, sizes)),
        )
        returns: list[JobReturn | None] = [None] * len(configs)
        schedule = workers.schedule(populations, configs, self.n_jobs)
        plan = schedule.plan
        if plan.workers > 1:
            log.info("%s", plan)
            if schedule.split:
                log.info("%s", schedule.split)
            self._side_by_side(schedule, configs, folders, returns)
            return returns
        for population in populations:
            if len(population.jobs) == 1:
                self._alone(population, configs, folders, returns)
            else:
                prepared = self._prepare(population, configs)
                records = self._train(population, prepared, plan.threads)
                self._finish(population, prepared, records, returns)
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return returns

    def _side_by_side(
        self, schedule: workers.Schedule, configs, folders: list[Path], returns: list
    ) -> None:
        """The populations in ``schedule.plan.workers`` worker processes, in the schedule's
        order (the most work first); the jobs that train alone here, meanwhile."""
        prepared: dict[int, list[JobReturn]] = {}
        by_key = {}
        stacked = [p for p in schedule.populations if len(p.jobs) > 1]
        names = [p.name for p in stacked]
        more = f", … ({len(names)} in all)" if len(names) > SHOWN else ""
        log.info("to the workers, the most work first: %s%s", ", ".join(names[:SHOWN]), more)
        with workers.Workers(schedule.plan, self.compile) as pool:
            for key, population in enumerate(stacked):
                prepared[key] = self._prepare(population, configs)
                jobs = [(ret.cfg, *ret.return_value) for ret in prepared[key]]
                by_key[key] = population
                folder = Path(str(self.config.hydra.sweep.dir)) / ".populations" / population.name
                pool.submit(key, jobs, folder, population.name)
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            for population in schedule.populations:
                if len(population.jobs) == 1:
                    self._alone(population, configs, folders, returns)
                    configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            for done in pool.results():
                population = by_key[done.key]
                if done.error is not None:
                    print(done.error)
                    log.error(
                        "population %s failed: %d members' folders say so",
                        population.name,
                        len(population.jobs),
                    )
                records = done.records or [None] * len(population.jobs)
                self._finish(population, prepared[done.key], records, returns)

    def _alone(
        self, population: groups.Population, configs, folders: list[Path], returns: list
    ) -> None:
        (i,) = population.jobs
        if population.alone:
            log.info("%s trains alone: %s", folders[i].name, population.alone)
        returns[i] = self._run_job(configs[i], self.task_function)

    def _run_job(self, cfg: DictConfig, task_function) -> JobReturn:
        return run_job(
            hydra_context=self.hydra_context,
            task_function=task_function,
            config=cfg,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )

    def _prepare(self, population: groups.Population, configs) -> list[JobReturn]:
        """Hydra makes each member's folder and ``.hydra/`` (run_job, as for any job); the
        members train later, together. Each return's value is (folder, overrides) for now."""
        prepared = [
            self._run_job(configs[i], lambda _cfg: _folder(HydraConfig.get()))
            for i in population.jobs
        ]
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        log.info("population %s: %d members, trained together", population.name, len(prepared))
        return prepared

    def _train(self, population: groups.Population, prepared: list[JobReturn], threads: int):
        """The population trained in this process, with ``threads`` torch threads: each
        member's record (None: not written)."""
        jobs = [(ret.cfg, *ret.return_value) for ret in prepared]
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        try:
            return population_run.run(
                jobs,
                sweep_dir / ".populations" / population.name,
                population.name,
                threads,
                compile=self.compile,
            )
        except signals.Signalled:
            raise
        except Exception:  # each member says failed; the next population runs
            traceback.print_exc()
            log.error(
                "population %s failed: %d members' folders say so", population.name, len(jobs)
            )
            return [None] * len(jobs)

    def _finish(
        self, population: groups.Population, prepared: list[JobReturn], records, returns: list
    ) -> None:
        """Each member's return holds its record; its job's log says how it ended."""
        size = len(prepared)
        for i, ret, record in zip(population.jobs, prepared, records, strict=True):
            folder = ret.return_value[0]
            ret.return_value = record
            returns[i] = ret
            if record is None:
                continue
            shown = "  ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items() if v is not None)
            log.info("%s: %s: %s", folder.name, record["status"], shown)
            # The job's own log says what its run's would: how it ended, and where.
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            with open(folder / f"{ret.hydra_cfg.hydra.job.name}.log", "a") as f:
                f.write(
                    f"[{stamp}][{__name__}][INFO] - member {record['population']['member']} of "
                    f"population {population.name} ({size} members)\n"
                    f"[{stamp}][{__name__}][INFO] - {record['status']}: {shown}\n"
                    f"[{stamp}][{__name__}][INFO] - run folder: {folder}\n"
                )
