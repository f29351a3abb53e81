"""Sweeps: Hydra's basic sweeper, made dependable for large grids.

``python train.py -m init='glob(*)' activation=relu,tanh`` expands the grid as Hydra's basic
sweeper does, then, before any job starts:

1. composes every job's config and checks it (the entry point's own ``hydra.callbacks.validate``
   check): a bad value anywhere in the grid is reported for all bad jobs at once, exit 2;
2. skips every job whose folder already holds a ``metrics.json`` that says ``completed`` or
   ``diverged`` for the same config (``.hydra/config.yaml``): running the same sweep again with
   the same ``hydra.sweep.dir`` resumes it;

then hands the remaining jobs to the configured launcher (basic, joblib, submitit), and ends with
a one-screen summary: jobs per status, the folders of the failed ones, how many were skipped. A
sweep with a failed job exits 1; an interrupted one says how far it got and how to resume.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from initlab.errors import ConfigError

DONE = ("completed", "diverged")  # a rerun of the sweep skips these


def job_status(folder: Path) -> str:
    """The status in ``folder/metrics.json``; ``missing`` when there is none (never started, or
    stopped before it could write one), ``unreadable`` when it is not valid JSON."""
    try:
        return json.loads((folder / "metrics.json").read_text())["status"]
    except FileNotFoundError:
        return "missing"
    except (ValueError, KeyError):
        return "unreadable"


def _task_config(cfg: DictConfig) -> dict:
    """The job's own config, as Hydra saves it in ``.hydra/config.yaml`` (no ``hydra`` node)."""
    task = OmegaConf.to_container(cfg, resolve=False)
    task.pop("hydra", None)
    return task


class Sweeper(BasicSweeper):
    """:class:`BasicSweeper` with validation of the whole grid, resume and a summary (module
    docstring). Configured in ``conf/hydra/sweeper/initlab.yaml``."""

    def sweep(self, arguments: list[str]) -> list:
        assert self.config is not None and self.launcher is not None
        loader = self.hydra_context.config_loader
        params = [*self._parse_config(), *arguments]
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(params)
        jobs = [list(job) for batch in self.split_arguments(parsed, None) for job in batch]
        configs = [loader.load_sweep_config(self.config, job) for job in jobs]
        self._validate(jobs, configs)

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        folders = [sweep_dir / str(c.hydra.sweep.subdir) for c in configs]
        todo = [
            i
            for i, (cfg, folder) in enumerate(zip(configs, folders, strict=True))
            if not _done(cfg, folder)
        ]
        skipped = len(jobs) - len(todo)
        if skipped:
            print(f"resuming {sweep_dir}: {skipped} of {len(jobs)} jobs already finished, skipped")

        size = self.max_batch_size or len(todo) or 1
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        returns = []
        try:
            for batch in batches:
                returns.append(self.launcher.launch([jobs[i] for i in batch], batch[0]))
        except BaseException as err:  # KeyboardInterrupt, SystemExit: say so before stopping
            self._summary(folders, skipped)
            print(
                f"sweep interrupted ({type(err).__name__}); finished results are kept. Resume "
                f"with the same command and hydra.sweep.dir={sweep_dir}",
                file=sys.stderr,
            )
            raise
        if self._summary(folders, skipped)["failed"]:
            sys.exit(1)
        return returns

    def _validate(self, jobs: list[list[str]], configs: list[DictConfig]) -> None:
        """Every job's config through the entry point's check; all errors, then exit 2."""
        validate = self.config.hydra.callbacks.get("validate")
        if validate is None:
            return
        check = instantiate(validate).check
        errors = []
        for job, cfg in zip(jobs, configs, strict=True):
            try:
                check(cfg)
                if "ddp" in str(cfg.get("trainer", {}).get("strategy", "")):
                    raise ConfigError(
                        "trainer.strategy",
                        cfg.trainer.strategy,
                        "DDP re-executes the script, which a sweep job cannot do: sweep with "
                        "trainer=gpu hydra/launcher=gpus (one GPU per job), or run trainer=ddp "
                        "without -m",
                    )
            except ConfigError as err:
                errors.append(f"  {' '.join(job) or '(no overrides)'}: {err}")
        if errors:
            print(
                f"initlab: invalid config in {len(errors)} of {len(jobs)} jobs; none started:",
                *errors,
                sep="\n",
                file=sys.stderr,
            )
            sys.exit(2)

    @staticmethod
    def _summary(folders: list[Path], skipped: int) -> Counter:
        statuses = Counter()
        failed = []
        for folder in folders:
            status = job_status(folder)
            statuses[status] += 1
            if status not in DONE:
                failed.append(f"  {status:10} {folder}")
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        print(f"sweep: {len(folders)} jobs: {counts} ({skipped} skipped as already finished)")
        if failed:
            shown = failed[:20] + ([f"  … and {len(failed) - 20} more"] if len(failed) > 20 else [])
            print("not finished:", *shown, sep="\n")
        return statuses


def _done(cfg: DictConfig, folder: Path) -> bool:
    """Whether ``folder`` holds this job's finished result: completed or diverged, same config."""
    if job_status(folder) not in DONE:
        return False
    saved = folder / ".hydra" / "config.yaml"
    return saved.exists() and OmegaConf.to_container(OmegaConf.load(saved)) == _task_config(cfg)
