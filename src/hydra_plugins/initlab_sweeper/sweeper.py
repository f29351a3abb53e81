"""Sweeps: Hydra's basic sweeper, made dependable for large grids.

``python train.py -m init='glob(*)' activation=relu,tanh`` expands the grid as Hydra's basic
sweeper does, then, before any job starts:

1. composes every job's config and checks it (the entry point's own ``hydra.callbacks.validate``
   check): a bad value anywhere in the grid is reported for all bad jobs at once, exit 2; a
   job whose init does not apply to its model (``init='glob(*)'`` meets IRNN, Fixup, … on an
   MLP) is skipped and listed, not refused (:class:`~initlab.config.errors.NotApplicable`);
2. runs each job folder once: a job listed twice (``init=he,he``) runs once; two different
   configs Hydra would name alike (the name leaves out ``dataset.data_dir``) are refused, exit 2;
3. skips every job whose folder already holds a ``metrics.json`` that says ``completed`` or
   ``diverged`` for the same config (``.hydra/config.yaml``): running the same sweep again with
   the same ``hydra.sweep.dir`` resumes it (unfinished jobs resume from their checkpoints);
4. skips every job whose folder another process is writing (a second sweep into the same
   folder): it is never run twice at once (:mod:`initlab.runtime.folder_lock`; a job that becomes
   busy between this check and its start is skipped by the job itself);

then hands the remaining jobs to the configured launcher (basic, joblib, submitit), and ends with
a one-screen summary: jobs per status (:mod:`initlab.training.record`), the folders of the
unfinished ones, how many were skipped. A sweep with an unfinished job (failed, killed, still
running in another process) exits 1; one stopped by a signal says how far it got and how to resume,
and exits 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.initlab_sweeper import compose_jobs
from hydra_plugins.initlab_sweeper.sweep_dry_run import describe_sweep
from initlab.config.errors import ConfigError, NotApplicable
from initlab.config.launcher_settings import check_launcher
from initlab.runtime import folder_lock, private_api, signals
from initlab.training import dry_run, record


def _task_config(cfg: DictConfig) -> dict:
    """The job's own config, as Hydra saves it in ``.hydra/config.yaml`` (no ``hydra`` node),
    without ``dry_run``: a dry run finds the jobs a real run finished."""
    task = OmegaConf.to_container(cfg, resolve=False)
    task.pop("hydra", None)
    task.pop("dry_run", None)
    return task


class Sweeper(private_api.basic_sweeper()):
    """:class:`BasicSweeper` with validation of the whole grid, resume and a summary (module
    docstring). Configured in ``conf/hydra/sweeper/initlab.yaml``."""

    def sweep(self, arguments: list[str]) -> list:
        assert self.config is not None and self.launcher is not None
        signals.install()
        loader = self.hydra_context.config_loader
        params = [*self._parse_config(), *arguments]
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(params)
        jobs = [list(job) for batch in self.split_arguments(parsed, None) for job in batch]
        if not jobs:  # a sweep over an empty range or list: nothing to run, no folder to make
            print(
                f"initlab: the sweep has no jobs ({' '.join(arguments)}): a sweep value "
                "expands to nothing",
                file=sys.stderr,
            )
            sys.exit(2)
        configs = compose_jobs.compose(loader, self.config, jobs)
        inapplicable = self._validate(jobs, configs)
        dry = _dry_run(jobs, configs)
        if inapplicable:
            print(
                f"{len(inapplicable)} of {len(jobs)} jobs skipped: their init does not apply to "
                "their model (a single run of one says why):",
                *(f"  {' '.join(jobs[i])}: {reason}" for i, reason in inapplicable.items()),
                sep="\n",
            )
            jobs = [job for i, job in enumerate(jobs) if i not in inapplicable]
            configs = [cfg for i, cfg in enumerate(configs) if i not in inapplicable]
        jobs, configs = _one_job_per_folder(jobs, configs)
        if hasattr(self.launcher, "composed"):  # the population launcher: compose once, not twice
            self.launcher.composed = {
                tuple(job): cfg for job, cfg in zip(jobs, configs, strict=True)
            }

        sweep_dir = Path(self.config.hydra.sweep.dir)
        folders = [sweep_dir / str(c.hydra.sweep.subdir) for c in configs]
        done = [_done(cfg, folder) for cfg, folder in zip(configs, folders, strict=True)]
        busy = [not d and folder_lock.is_held(f) for d, f in zip(done, folders, strict=True)]
        if dry:
            dry_run.show(describe_sweep(self.config, jobs, configs, folders, done, busy))
            sys.exit(0)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        todo = [i for i in range(len(jobs)) if not done[i] and not busy[i]]
        skipped = sum(done)
        if skipped:
            print(f"resuming {sweep_dir}: {skipped} of {len(jobs)} jobs already finished, skipped")
        if any(busy):
            print(
                f"{sum(busy)} of {len(jobs)} jobs are being written by another process, skipped:",
                *(f"  {f}" for f, b in zip(folders, busy, strict=True) if b),
                sep="\n",
            )

        size = self.max_batch_size or len(todo) or 1
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        returns = []
        try:
            for batch in batches:
                returns.append(self.launcher.launch([jobs[i] for i in batch], batch[0]))
        except BaseException as err:  # a signal, Ctrl-C: say so before stopping
            self._summary(folders, skipped)
            print(
                f"sweep stopped ({err or type(err).__name__}); finished results are kept. "
                f"Resume with the same command and hydra.sweep.dir={sweep_dir}",
                file=sys.stderr,
            )
            if isinstance(err, KeyboardInterrupt):  # a SIGINT that found no handler of ours
                raise signals.Signalled(2) from err
            raise
        statuses = self._summary(folders, skipped)
        if any(n for status, n in statuses.items() if status not in record.FINISHED):
            sys.exit(1)
        return returns

    def _validate(self, jobs: list[list[str]], configs: list[DictConfig]) -> dict[int, str]:
        """Every job's config through the entry point's check; all errors, then exit 2. Returns
        the jobs whose init does not apply to their model (:class:`NotApplicable`), by index,
        with the reason: they are skipped, unless no job is left (then they are the errors)."""
        validate = self.config.hydra.callbacks.get("validate")
        if validate is None:
            return {}
        check = instantiate(validate).check
        errors, inapplicable = [], {}
        for i, (job, cfg) in enumerate(zip(jobs, configs, strict=True)):
            try:
                check_launcher(cfg.hydra)  # n_jobs=0 (gpus, no GPU), max_batch_size
                check(cfg)
                if _several_processes(cfg.get("trainer", {})):
                    raise ConfigError(
                        "trainer.strategy" if "strategy" in cfg.trainer else "trainer.devices",
                        cfg.trainer.get("strategy", cfg.trainer.get("devices")),
                        "DDP re-executes the script, which a sweep job cannot do: sweep with "
                        "trainer=gpu hydra/launcher=gpus (one GPU per job), or run trainer=ddp "
                        "without -m",
                    )
            except NotApplicable as err:
                inapplicable[i] = str(err)
            except ConfigError as err:
                errors.append(f"  {' '.join(job) or '(no overrides)'}: {err}")
            except Exception as err:  # a bug in a check: still start nothing
                errors.append(
                    f"  {' '.join(job) or '(no overrides)'}: the check itself failed with "
                    f"{type(err).__name__}: {err} (a bug in initlab's validation)"
                )
        if inapplicable and len(inapplicable) == len(jobs):
            errors = [f"  {' '.join(jobs[i])}: {reason}" for i, reason in inapplicable.items()]
        if errors:
            print(
                f"initlab: invalid config in {len(errors)} of {len(jobs)} jobs; none started:",
                *errors,
                sep="\n",
                file=sys.stderr,
            )
            sys.exit(2)
        return inapplicable

    @staticmethod
    def _summary(folders: list[Path], skipped: int) -> Counter:
        statuses = Counter()
        failed = []
        for folder in folders:
            status = record.status_of(folder)
            statuses[status] += 1
            if status not in record.FINISHED:
                failed.append(f"  {status:10} {folder}")
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        print(f"sweep: {len(folders)} jobs: {counts} ({skipped} skipped as already finished)")
        if failed:
            shown = failed[:20] + ([f"  … and {len(failed) - 20} more"] if len(failed) > 20 else [])
            print("not finished:", *shown, sep="\n")
        return statuses


def _one_job_per_folder(
    jobs: list[list[str]], configs: list[DictConfig]
) -> tuple[list[list[str]], list[DictConfig]]:
    """Each job folder once. A job listed twice (``init=he,he``, ``seed=0,0``: the same config)
    runs once, and the sweep says so; two different configs that Hydra would name alike (a
    folder's name leaves out some keys, ``dataset.data_dir``) are refused, exit 2, before any
    folder exists: they would write one folder."""
    first: dict[str, int] = {}
    keep, duplicates, clashes = [], 0, []
    for i, cfg in enumerate(configs):
        folder = str(cfg.hydra.sweep.subdir)
        if folder not in first:
            first[folder] = i
            keep.append(i)
        elif _task_config(configs[first[folder]]) == _task_config(cfg):
            duplicates += 1
        else:
            clashes.append(f"  {folder}: {' '.join(jobs[first[folder]])} | {' '.join(jobs[i])}")
    if clashes:
        left_out = OmegaConf.select(
            configs[0], "hydra.job.config.override_dirname.exclude_keys", default=[]
        )
        print(
            f"initlab: {len(clashes) + 1} jobs would share a folder (a folder's name leaves out "
            f"{', '.join(left_out)}); none started:",
            *clashes,
            sep="\n",
            file=sys.stderr,
        )
        sys.exit(2)
    if duplicates:
        print(f"{duplicates} duplicate jobs (the same config as another) run once")
    return [jobs[i] for i in keep], [configs[i] for i in keep]


def _dry_run(jobs: list[list[str]], configs: list[DictConfig]) -> bool:
    """Whether the sweep is a dry run: all its jobs say so, or none (each job's value is checked
    with its config); a grid that mixes them is refused, exit 2."""
    dry = [bool(cfg.get("dry_run", False)) for cfg in configs]
    if len(set(dry)) > 1:
        print(
            "initlab: invalid config: dry_run must be the same for every job of a sweep "
            f"(true in {' '.join(jobs[dry.index(True)])}, false in "
            f"{' '.join(jobs[dry.index(False)])}); none started",
            file=sys.stderr,
        )
        sys.exit(2)
    return bool(dry) and dry[0]


def _several_processes(trainer: DictConfig) -> bool:
    """Whether Lightning would run this trainer as several processes (DDP): an explicit ddp
    strategy, or more than one device (``devices: 2``, ``-1``, a list of two, ``auto`` on
    anything but the CPU)."""
    if "ddp" in str(trainer.get("strategy", "")):
        return True
    devices = trainer.get("devices", 1)
    if devices == "auto":  # every GPU of the machine, when there is one
        return trainer.get("accelerator", "auto") != "cpu"
    if isinstance(devices, int) and not isinstance(devices, bool):
        return devices == -1 or devices > 1
    return not isinstance(devices, str) and len(devices) > 1


def _done(cfg: DictConfig, folder: Path) -> bool:
    """Whether ``folder`` holds this job's finished result: completed or diverged, same config."""
    if record.status_of(folder) not in record.FINISHED:
        return False
    saved = folder / ".hydra" / "config.yaml"
    return saved.exists() and _task_config(OmegaConf.load(saved)) == _task_config(cfg)
