"""One run: compose → validate → build → fit → test → metrics.json.

``python train.py [overrides]`` (Hydra) calls :func:`main`; :func:`run` does the work and can
be called directly with a composed config (tests, notebooks).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import hydra
import joblib
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

from initlab.config import build
from initlab.devices import claim
from initlab.module import CONFIG_KEY, InitModule

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
# conf/hydra/launcher/gpus.yaml: as many jobs at a time as there are visible GPUs.
OmegaConf.register_new_resolver("cuda_device_count", torch.cuda.device_count, replace=True)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers see the old
    file or the whole new one, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _finite(metrics: dict) -> dict:
    """NaN/inf become null: metrics.json stays valid JSON when a run diverges."""
    return {k: (float(v) if math.isfinite(float(v)) else None) for k, v in metrics.items()}


def _hparams(cfg: DictConfig) -> dict:
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
    ``run_dir``. Returns the metrics.json record. ``devices`` replaces ``trainer.devices``
    (a sweep job's claimed GPU) without changing the recorded config.

    A bad config raises :class:`~initlab.errors.ConfigError` before anything is read or
    written. A loss that turns NaN/inf ends the run early with ``status: diverged``; any other
    exception is recorded as ``status: failed`` and re-raised. metrics.json is written in
    every case.
    """
    spec = build(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "status": "failed",
        "init": cfg.init.name,
        "activation": cfg.activation.name,
        "dataset": cfg.dataset.name,
        "model": cfg.model.name,
        "seed": spec.seed,
        "overrides": list(overrides or []),
        "metrics": {},
        "epochs": 0,
        "steps": 0,
        "fit_seconds": None,
        "error": None,
    }
    config = OmegaConf.to_container(cfg, resolve=True)
    resume, purge_step = _resume_point(run_dir, config)
    logger = TensorBoardLogger(
        run_dir,
        name="",
        version="",
        default_hp_metric=False,
        purge_step=purge_step,
        **spec.logger,
    )
    trainer = None
    try:
        pl.seed_everything(spec.seed, workers=False, verbose=False)
        module = InitModule(spec.make_net(), spec.initializer, spec.seed, spec.optimizer, config)
        interactive = spec.progress_bar == "rich" or (
            spec.progress_bar == "auto" and sys.stdout.isatty()
        )
        trainer = pl.Trainer(
            **{**spec.trainer, **({"devices": devices} if devices else {})},
            logger=logger,
            callbacks=[
                *([spec.diagnostics()] if spec.diagnostics else []),
                *([RichProgressBar()] if interactive else []),
            ],
            enable_progress_bar=interactive,
            enable_model_summary=interactive,
            default_root_dir=run_dir,
        )
        trainer.ckpt_path = resume  # restored after setup: the initializer's work is skipped
        start = time.perf_counter()
        trainer.fit(module, datamodule=spec.datamodule)
        record["fit_seconds"] = round(time.perf_counter() - start, 3)
        metrics = {**module.train_epoch_metrics()}
        metrics.update(
            {k: v.item() for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        )
        if module.diverged_at is not None:
            record["status"], record["diverged_at_step"] = "diverged", module.diverged_at
        else:
            (test,) = trainer.test(module, datamodule=spec.datamodule, verbose=False)
            metrics.update(test)
            record["status"] = "completed"
        record["metrics"] = _finite(metrics)
    except BaseException as err:  # KeyboardInterrupt / SystemExit too: the record says so
        record["error"] = f"{type(err).__name__}: {err}"
        raise
    finally:
        if trainer is not None:
            record["epochs"], record["steps"] = trainer.current_epoch, trainer.global_step
        write_json_atomic(run_dir / "metrics.json", record)
        _log_hparams(logger, _hparams(cfg), record)
    return record


def _resume_point(run_dir: Path, config: dict) -> tuple[str | None, int | None]:
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
            saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        except Exception:  # a checkpoint cut short by the kill: try the one before
            continue
        if saved.get(CONFIG_KEY) == config:
            return str(ckpt), int(saved["global_step"])
        break
    return None, 0


def _log_hparams(logger: TensorBoardLogger, params: dict, record: dict) -> None:
    """HPARAMS tab: the run's hyperparameters against its final metrics.

    The metrics are already scalars under their own tags (``test/acc``, …), which is where the
    HPARAMS tab reads them, so only the hparams summaries are written (Lightning's
    ``log_hyperparams`` would also log every metric again at step 0).
    """
    metrics = {k: v for k, v in record["metrics"].items() if v is not None}
    writer = logger.experiment._get_file_writer()
    for summary in hparams({**params, "status": record["status"]}, metrics):
        writer.add_summary(summary)
    logger.experiment.flush()


@contextlib.contextmanager
def _job_resources(hydra_cfg: DictConfig, cfg: DictConfig) -> Iterator[list[int] | None]:
    """What a sweep job may use. Under a launcher with ``n_jobs`` workers (joblib), torch gets
    cores // n_jobs threads. With ``trainer=gpu``, the job holds a free GPU for its duration
    (:mod:`initlab.devices`) and yields ``[index]`` for the trainer's ``devices``; otherwise
    None (keep the config's)."""
    if hydra_cfg.mode != RunMode.MULTIRUN:
        yield None
        return
    n_jobs = OmegaConf.select(hydra_cfg, "launcher.n_jobs")
    if n_jobs is not None:
        torch.set_num_threads(max(1, os.cpu_count() // joblib.effective_n_jobs(n_jobs)))
    if cfg.trainer.get("accelerator") != "gpu" or cfg.trainer.get("devices") != 1:
        yield None
        return
    gpus = range(torch.cuda.device_count())
    with claim(gpus, Path(hydra_cfg.sweep.dir) / ".gpu_locks") as gpu:
        yield [gpu]


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        with _job_resources(hydra_cfg, cfg) as devices:
            record = run(cfg, run_dir, list(hydra_cfg.overrides.task), devices)
    except Exception:
        if not sweep:
            raise
        # In a sweep, metrics.json says failed and the next job runs; the error is shown here.
        traceback.print_exc()
        print(f"failed: run folder {run_dir}", file=sys.stderr)
        return
    shown = "  ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items() if v is not None)
    print(f"{record['status']}: {shown}\nrun folder: {run_dir}")
