"""One run: compose → validate → build → fit → test → metrics.json.

``python train.py [overrides]`` (Hydra's entry, the repository's ``train.py``) calls :func:`run`,
which does the work and can be called directly with a composed config (tests, notebooks).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from initlab.runtime import folder_lock
from initlab.runtime.devices import ddp_rank
from initlab.training import collapse
from initlab.training import record as record_lib
from initlab.training.init_module import InitModule
from initlab.training.lifecycle import Attempt, Recording, make_trainer
from initlab.training.spec import build, check_root

log = logging.getLogger(__name__)  # to the console and the run folder's train.log (Hydra)


def run(
    cfg: DictConfig,
    run_dir: Path,
    overrides: list[str] | None = None,
    devices: list[int] | None = None,
) -> dict:
    """Train and test one configuration, writing TensorBoard events and ``metrics.json`` into
    ``run_dir``. Returns the record (:mod:`initlab.training.record`). ``devices`` replaces
    ``trainer.devices`` (a sweep job's claimed GPU) without changing the recorded config.

    A bad config raises :class:`~initlab.config.errors.ConfigError` before anything is read or
    written. A folder another process is writing raises
    :class:`~initlab.runtime.folder_lock.FolderBusy` and is left untouched. A folder holding an
    unfinished attempt at the same config resumes from its newest checkpoint, exactly. A loss
    that turns NaN/inf ends the run early with ``status: diverged``; any other exception, a
    signal included, is recorded as ``status: failed`` and re-raised.
    """
    check_root(cfg)
    spec = build(cfg)
    run_dir = Path(run_dir)
    if ddp_rank() > 0:
        # A DDP rank that Lightning started by running the script again, into the same folder:
        # rank 0 holds the folder and writes the record; this one only trains.
        return _run_locked(cfg, spec, run_dir, overrides or [], devices, primary=False)
    with folder_lock.hold(run_dir):
        return _run_locked(cfg, spec, run_dir, overrides or [], devices)


def _run_locked(cfg, spec, run_dir: Path, overrides: list[str], devices, primary=True) -> dict:
    attempt = Attempt(cfg, spec, run_dir, overrides)
    attempt.locate()
    previous = attempt.finished_before()
    if previous is not None:
        log.info("%s: already %s with this config; nothing to do", run_dir, previous["status"])
        return previous
    attempt.begin(write=primary)
    record = attempt.record
    checkpoints = spec.trainer.get("enable_checkpointing", True)
    with Recording([attempt], write=primary) as recording:
        pl.seed_everything(spec.seed, workers=False, verbose=False)
        module = InitModule(
            spec.make_net(),
            spec.initializer,
            spec.seed,
            spec.optimizer,
            attempt.config,
            spec.datamodule.dataset.in_shape,
            spec.val_dropout,
            spec.parametrization,
        )
        trainer = recording.trainer = make_trainer(
            spec,
            run_dir,
            logger=attempt.logger,
            callbacks=[
                recording,
                *([spec.diagnostics()] if spec.diagnostics else []),
                # A checkpoint only where an epoch ends, also when validation runs more often
                # (val_check_interval < 1): a run resumes at an epoch boundary, exactly.
                *([ModelCheckpoint(save_on_train_epoch_end=True)] if checkpoints else []),
            ],
            devices=devices,
        )
        # Restored after setup: the initializer's work is skipped.
        trainer.ckpt_path = attempt.resume
        if attempt.resume:
            log.info("resuming %s from %s", run_dir, Path(attempt.resume).name)
        start = time.perf_counter()
        trainer.fit(module, datamodule=spec.datamodule)
        record["fit_seconds"] = round(time.perf_counter() - start, 3)
        metrics = {**module.train_sums.metrics(), **module.val_metrics()}
        if module.diverged_at is None:
            # The trained weights, not the checkpoint the fit resumed from: a ckpt_path set on
            # the trainer would otherwise be loaded again for the test.
            trainer.ckpt_path = None
            (test,) = trainer.test(module, datamodule=spec.datamodule, verbose=False)
            metrics.update(test)
            ending = {"status": collapse.ending(metrics)}
        else:
            ending = {"status": "diverged", "diverged_at_step": module.diverged_at}
        record["metrics"] = record_lib.finite(metrics)
        record.update(ending)  # last: until here, a failure still ends the record failed
    return record
