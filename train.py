"""Train and test one configuration: ``python train.py init=he activation=relu`` (Hydra).

The entry point only: :func:`initlab.training.run.run` does the work."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import hydra
import joblib
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from initlab.config.hydra_conf import CONF_DIR, register_resolvers
from initlab.config.renamed import check_overrides
from initlab.runtime import console_noise, folder_lock, signals
from initlab.runtime.devices import claim
from initlab.runtime.signals import Signalled
from initlab.training.run import run

log = logging.getLogger("train")  # to the console and the run folder's train.log (Hydra)
console_noise.silence()  # before Hydra composes: its warnings too
register_resolvers()


@contextlib.contextmanager
def _job_resources(hydra_cfg: DictConfig, cfg: DictConfig) -> Iterator[list[int] | None]:
    """What a sweep job may use. Under a launcher with ``n_jobs`` workers (joblib), torch gets
    cores // n_jobs threads. With ``trainer=gpu``, the job holds a free GPU for its duration
    (:mod:`initlab.runtime.devices`) and yields ``[index]`` for the trainer's ``devices``; otherwise
    None (keep the config's)."""
    if hydra_cfg.mode != RunMode.MULTIRUN:
        yield None
        return
    n_jobs = OmegaConf.select(hydra_cfg, "launcher.n_jobs")
    if n_jobs is not None:
        torch.set_num_threads(max(1, os.cpu_count() // joblib.effective_n_jobs(n_jobs)))
    if (
        cfg.trainer.get("accelerator") != "gpu"
        or cfg.trainer.get("devices") != 1
        or signals.under_submitit()  # SLURM gave this job its GPU: it sees it as device 0
    ):
        yield None
        return
    gpus = range(torch.cuda.device_count())
    with claim(gpus, Path(hydra_cfg.sweep.dir) / ".gpu_locks") as gpu:
        yield [gpu]


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    """One run, or one job of a sweep. Exits 0 for completed and diverged; a failed run
    re-raises (Hydra exits 1), except in a sweep, where it is recorded and the next job runs;
    a signal exits 128 + its number; a folder another process is writing is left alone."""
    console_noise.silence()  # a submitit job runs main without this module's top
    signals.install()
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        with _job_resources(hydra_cfg, cfg) as devices:
            record = run(cfg, run_dir, list(hydra_cfg.overrides.task), devices)
    except folder_lock.FolderBusy as busy:
        log.warning("skipped: %s; nothing written", busy)
        if not sweep:
            sys.exit(folder_lock.BUSY_EXIT)
        return
    except signals.Signalled as stop:
        how = "" if sweep else f" with the same command and hydra.run.dir={run_dir}"
        log.error("%s: run folder %s (status failed); run it again%s to resume", stop, run_dir, how)
        raise
    except Exception:
        if not sweep:
            raise
        # In a sweep, metrics.json says failed and the next job runs; the error is shown here.
        traceback.print_exc()
        log.error("failed: run folder %s", run_dir)
        return
    shown = "  ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items() if v is not None)
    if sweep:  # one line per job: Hydra's line above named it, the summary names its folder
        log.info("%s: %s", record["status"], shown)
        return
    log.info("%s: %s", record["status"], shown)
    log.info("run folder: %s", run_dir)


if __name__ == "__main__":
    check_overrides(sys.argv[1:])  # a renamed option: one line, before Hydra looks for its file
    try:
        main()
    except Signalled as stop:  # recorded and reported: now end by the signal itself
        stop.die()
