"""One run: compose → validate → build → fit → test → metrics.json.

``python train.py [overrides]`` (Hydra's entry, the repository's ``train.py``) calls :func:`run`,
which does the work and can be called directly with a composed config (tests, notebooks).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

from initlab.runtime import console_noise, folder_lock, private_api, signals
from initlab.runtime.devices import ddp_rank
from initlab.training import record as record_lib
from initlab.training.init_module import CONFIG_KEY, InitModule
from initlab.training.spec import build

log = logging.getLogger(__name__)  # to the console and the run folder's train.log (Hydra)
console_noise.silence()

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
# conf/hydra/launcher/gpus.yaml: as many jobs at a time as there are visible GPUs.
OmegaConf.register_new_resolver("cuda_device_count", torch.cuda.device_count, replace=True)


def hparams_of(cfg: DictConfig) -> dict:
    """Flat ``group.key`` → scalar hyperparameters for TensorBoard's HPARAMS tab."""
    flat = {"seed": cfg.seed}
    for group in ("init", "activation", "dataset", "model", "optimizer"):
        node = OmegaConf.to_container(cfg[group], resolve=True)
        flat[group] = node.pop("name")
        flat.update(
            {
                f"{group}.{k}": v if isinstance(v, (int, float, str, bool)) else str(v)
                for k, v in node.items()
            }
        )
    flat["trainer.max_epochs"] = cfg.trainer.max_epochs
    return flat


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
    spec = build(cfg)
    run_dir = Path(run_dir)
    if ddp_rank() > 0:
        # A DDP rank that Lightning started by running the script again, into the same folder:
        # rank 0 holds the folder and writes the record; this one only trains.
        return _run_locked(cfg, spec, run_dir, overrides or [], devices, primary=False)
    with folder_lock.hold(run_dir):
        return _run_locked(cfg, spec, run_dir, overrides or [], devices)


def _run_locked(cfg, spec, run_dir: Path, overrides: list[str], devices, primary=True) -> dict:
    record = record_lib.new(cfg, overrides)
    config = OmegaConf.to_container(cfg, resolve=True)
    resume, purge_step = resume_point(run_dir, config)
    previous = record_lib.read(run_dir)
    if resume and previous and previous.get("status") in record_lib.FINISHED:
        # This config already finished here (its newest checkpoint says so): the result
        # stands. A diverged run would otherwise resume from its NaN checkpoint.
        log.info("%s: already %s with this config; nothing to do", run_dir, previous["status"])
        return previous
    if primary:
        record_lib.write(run_dir, record)  # running: until the final record replaces it
    logger = TensorBoardLogger(
        run_dir,
        name="",
        version="",
        default_hp_metric=False,
        purge_step=purge_step,
        **spec.logger,
    )
    trainer = module = None
    checkpoints = spec.trainer.get("enable_checkpointing", True)
    try:
        pl.seed_everything(spec.seed, workers=False, verbose=False)
        module = InitModule(
            spec.make_net(),
            spec.initializer,
            spec.seed,
            spec.optimizer,
            config,
            spec.datamodule.dataset.in_shape,
            spec.val_dropout,
        )
        interactive = spec.progress_bar == "rich" or (
            spec.progress_bar == "auto" and sys.stdout.isatty()
        )
        trainer = pl.Trainer(
            **{**spec.trainer, **({"devices": devices} if devices else {})},
            logger=logger,
            callbacks=[
                *([spec.diagnostics()] if spec.diagnostics else []),
                *([RichProgressBar()] if interactive else []),
                # A checkpoint only where an epoch ends, also when validation runs more often
                # (val_check_interval < 1): a run resumes at an epoch boundary, exactly.
                *([ModelCheckpoint(save_on_train_epoch_end=True)] if checkpoints else []),
            ],
            enable_progress_bar=interactive,
            enable_model_summary=interactive,
            default_root_dir=run_dir,
            # Under submitit, submitit requeues on preemption (SIGUSR2); Lightning's own SLURM
            # requeue (SIGUSR1, hpc_ckpt_*.ckpt files that would outrank our checkpoint) stays off.
            plugins=[SLURMEnvironment(auto_requeue=False)] if signals.under_submitit() else None,
        )
        trainer.ckpt_path = resume  # restored after setup: the initializer's work is skipped
        if resume:
            log.info("resuming %s from %s", run_dir, Path(resume).name)
        start = time.perf_counter()
        trainer.fit(module, datamodule=spec.datamodule)
        record["fit_seconds"] = round(time.perf_counter() - start, 3)
        metrics = {**module.train_epoch_metrics(), **module.val_metrics()}
        if module.diverged_at is not None:
            record["status"], record["diverged_at_step"] = "diverged", module.diverged_at
        else:
            # The trained weights, not the checkpoint the fit resumed from: a ckpt_path set on
            # the trainer would otherwise be loaded again for the test.
            trainer.ckpt_path = None
            (test,) = trainer.test(module, datamodule=spec.datamodule, verbose=False)
            metrics.update(test)
            record["status"] = "completed"
        record["metrics"] = record_lib.finite(metrics)
    except BaseException as err:  # signals (SystemExit) and KeyboardInterrupt too
        stop = signals.as_signalled(err)
        shown = stop or err
        record["status"], record["error"] = "failed", f"{type(shown).__name__}: {shown}"
        if stop is not None and stop is not err:
            raise stop from err  # a signal, whatever the code it interrupted raised instead
        raise
    finally:
        if trainer is not None:
            record["steps"] = trainer.global_step
            record["epochs"] = _epochs_done(trainer)
        if module is not None:
            record["resumed_from_step"] = module.resumed_from_step
        if primary:
            record_lib.write(run_dir, record)
            log_hparams(logger, hparams_of(cfg), record)
    return record


def _epochs_done(trainer: pl.Trainer) -> int:
    """Whole training epochs behind the run's steps (a run that diverged in its first epoch has
    done 0, though Lightning's epoch counter has moved on)."""
    per_epoch = trainer.num_training_batches
    if not isinstance(per_epoch, int) or per_epoch < 1:  # fit never got to its data
        return trainer.current_epoch
    return trainer.global_step // per_epoch


def resume_point(run_dir: Path, config: dict) -> tuple[str | None, int | None]:
    """Where a run starting in ``run_dir`` picks up: (checkpoint, TensorBoard purge step).

    A folder holding an unfinished attempt at this same config (a sweep killed mid-job and
    resumed, a SLURM job requeued after preemption) resumes from its newest checkpoint, and
    TensorBoard drops the old attempt's events from that step on, so no step is logged twice.
    Any other folder with old events (another config, a rerun) starts over from step 0, purging
    them all. A fresh folder: (None, None).
    """
    if not any(run_dir.glob("events.out.tfevents.*")):
        return None, None
    for ckpt in sorted(run_dir.glob("checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime)[::-1]:
        try:
            saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception:  # a checkpoint cut short by the kill: try the one before
            continue
        if saved.get(CONFIG_KEY) == config:
            return str(ckpt), int(saved["global_step"])
        break
    return None, 0


def log_hparams(logger: TensorBoardLogger, params: dict, record: dict) -> None:
    """HPARAMS tab: the run's hyperparameters against its final metrics.

    The metrics are already scalars under their own tags (``test/acc``, …), which is where the
    HPARAMS tab reads them, so only the hparams summaries are written (Lightning's
    ``log_hyperparams`` would also log every metric again at step 0).
    """
    metrics = {k: v for k, v in record["metrics"].items() if v is not None}
    writer = private_api.file_writer(logger.experiment)
    for summary in hparams({**params, "status": record["status"]}, metrics):
        writer.add_summary(summary)
    logger.experiment.flush()
