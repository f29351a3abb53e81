"""A run's lifecycle, written once for a single run (:mod:`initlab.training.run`), each of its DDP
ranks, and each member of a population (:mod:`initlab.population.population_run`).

- :class:`Attempt`: one run folder's attempt at one config: where it resumes
  (:func:`resume_point`), its record from ``running`` to how it ended, its TensorBoard logger;
- :func:`make_trainer`: the ``pl.Trainer`` of the run's settings, with the progress bar a
  terminal gets and the SLURM plugin a submitit job needs;
- :class:`Recording`: around the fit and test: however they end (normally, by an exception, by a
  signal), each attempt's record says so, with its steps and epochs, and is written with its
  HPARAMS summary;
- :func:`epochs_done`: the whole epochs behind a run's steps, as its record counts them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

from initlab.runtime import private_api, signals
from initlab.training import record as record_lib
from initlab.training.init_module import CONFIG_KEY
from initlab.training.spec import RunSpec


def run_config(cfg: DictConfig) -> dict:
    """The config a run's checkpoints hold, and a resumed run must match: resolved, without
    ``dry_run`` (how the command was asked to run, not what the run is)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("dry_run", None)
    return config


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


class Attempt:
    """One run folder's attempt at one config (``cfg``, composed; ``spec``, checked).

    ``resume`` and ``purge_step`` say where it picks up (:meth:`locate`, once the folder is
    held); ``record`` is its ``metrics.json`` (``running`` until :class:`Recording` ends it);
    ``logger`` exists from :meth:`begin` on. ``stopped`` is set when its record was ended where
    it stopped, before the others (a population member that diverged): the trainer's later
    steps are not its.
    """

    def __init__(self, cfg: DictConfig, spec: RunSpec, run_dir, overrides: Sequence[str]):
        self.cfg, self.spec, self.run_dir = cfg, spec, Path(run_dir)
        self.config = run_config(cfg)  # as its checkpoints hold it
        self.record = record_lib.new(cfg, list(overrides))
        self.resume: str | None = None
        self.purge_step: int | None = None
        self.resumed_from_step: int | None = None  # set when a checkpoint is restored
        self.logger: TensorBoardLogger | None = None
        self.stopped = False

    def locate(self) -> None:
        """Where it picks up (:func:`resume_point`)."""
        self.resume, self.purge_step = resume_point(self.run_dir, self.config)

    def finished_before(self) -> dict | None:
        """The folder's record, if this config already finished here (its newest checkpoint
        says so): that result stands. A diverged run would otherwise resume from its NaN
        checkpoint."""
        previous = record_lib.read(self.run_dir)
        if self.resume and previous and previous.get("status") in record_lib.FINISHED:
            return previous
        return None

    def begin(self, write: bool = True) -> None:
        """Write ``status: running`` (until the final record replaces it) and open the logger,
        which purges the events an interrupted attempt logged after its checkpoint."""
        if write:
            record_lib.write(self.run_dir, self.record)
        self.logger = TensorBoardLogger(
            self.run_dir,
            name="",
            version="",
            default_hp_metric=False,
            purge_step=self.purge_step,
            **self.spec.logger,
        )

    def write(self) -> None:
        """The record to ``metrics.json``, and to TensorBoard's HPARAMS tab."""
        record_lib.write(self.run_dir, self.record)
        log_hparams(self.logger, hparams_of(self.cfg), self.record)


def make_trainer(
    spec: RunSpec,
    root_dir: Path,
    *,
    logger,
    callbacks: list[pl.Callback],
    summary: bool = True,
    devices: list[int] | None = None,
    **settings,
) -> pl.Trainer:
    """The trainer of ``spec``'s settings (``settings`` and ``devices``, a sweep job's claimed
    GPU, override them). A terminal gets a progress bar (``progress_bar=auto``) and, with
    ``summary``, the model summary. Under submitit, submitit requeues on preemption (SIGUSR2):
    Lightning's own SLURM requeue (SIGUSR1, ``hpc_ckpt_*.ckpt`` files that would outrank the
    run's checkpoint) stays off."""
    interactive = spec.progress_bar == "rich" or (
        spec.progress_bar == "auto" and sys.stdout.isatty()
    )
    return pl.Trainer(
        **{**spec.trainer, **settings, **({"devices": devices} if devices else {})},
        logger=logger,
        callbacks=[*callbacks, *([RichProgressBar()] if interactive else [])],
        enable_progress_bar=interactive,
        enable_model_summary=interactive and summary,
        default_root_dir=root_dir,
        plugins=[SLURMEnvironment(auto_requeue=False)] if signals.under_submitit() else None,
    )


class Recording(pl.Callback):
    """``with Recording(attempts) as recording: …``: the fit and test of ``attempts``, recorded
    however they end. The body sets ``recording.trainer`` once it has built it, and adds the
    recording to its callbacks (a restored checkpoint gives each attempt its
    ``resumed_from_step``).

    On an exception or a signal, every attempt still ``running`` ends ``failed`` with the error;
    a signal is re-raised as :class:`~initlab.runtime.signals.Signalled`, whatever the code it
    interrupted raised instead, and if its exception was lost (a finalizer swallowed it) the
    next batch raises it again, or, at the latest, the end of the body. Then, in every case,
    each attempt's record gets the trainer's steps and epochs (unless it ``stopped`` earlier)
    and, with ``write``, is written
    (:meth:`Attempt.write`). A DDP rank other than 0 records nothing: ``write=False``.
    """

    def __init__(self, attempts: Sequence[Attempt], write: bool = True):
        self.attempts, self.write = list(attempts), write
        self.trainer: pl.Trainer | None = None

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        for a in self.attempts:
            a.resumed_from_step = int(checkpoint["global_step"])

    def on_train_batch_end(self, *args) -> None:
        signals.check()

    def on_validation_batch_end(self, *args) -> None:
        signals.check()

    def on_test_batch_end(self, *args) -> None:
        signals.check()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, kind, err, tb) -> bool:
        try:
            # err: signals (SystemExit) and KeyboardInterrupt too. A signal whose exception was
            # lost (signals.check) fails a body that went on to the end: nothing it did after
            # the signal counts as finished.
            stop = signals.as_signalled(err)
            if err is not None or stop is not None:
                shown = stop or err
                ended = ("running",) if err is not None else ("running", *record_lib.TRAINED)
                for a in self.attempts:
                    if a.record["status"] in ended:
                        a.record["status"] = "failed"
                        a.record["error"] = f"{type(shown).__name__}: {shown}"
                if stop is not None and stop is not err:
                    raise stop from err
        finally:
            # Every attempt is written, whatever interrupts one write (a signal landing in it,
            # a full disk): a record left ``running`` by a process that goes on to die would
            # read ``killed``. The first such interruption is raised after the others.
            interrupted: BaseException | None = None
            for a in self.attempts:
                if self.trainer is not None and not a.stopped:
                    a.record["steps"] = self.trainer.global_step
                    a.record["epochs"] = epochs_done(self.trainer.global_step, self.trainer)
                a.record["resumed_from_step"] = a.resumed_from_step
                if self.write:
                    try:
                        a.write()
                    except BaseException as error:  # noqa: BLE001 - re-raised below
                        interrupted = interrupted or error
            if interrupted is not None:
                raise interrupted
        return False


def epochs_done(steps: int, trainer: pl.Trainer) -> int:
    """The whole training epochs ``steps`` make (a run that diverged in its first epoch has done
    0, though Lightning's epoch counter has moved on)."""
    per_epoch = trainer.num_training_batches
    if not isinstance(per_epoch, int) or per_epoch < 1:  # fit never got to its data
        return trainer.current_epoch
    return steps // per_epoch


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
