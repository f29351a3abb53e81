"""One run: compose → validate → build → fit → test → metrics.json.

``python train.py [overrides]`` (Hydra) calls :func:`main`; :func:`run` does the work and can
be called directly with a composed config (tests, notebooks).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

from initlab.config import build
from initlab.module import InitModule

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


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


def run(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None) -> dict:
    """Train and test one configuration, writing TensorBoard events and ``metrics.json`` into
    ``run_dir``. Returns the metrics.json record.

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
    logger = TensorBoardLogger(run_dir, name="", version="", default_hp_metric=False, **spec.logger)
    trainer = None
    try:
        pl.seed_everything(spec.seed, workers=False, verbose=False)
        module = InitModule(spec.make_net(), spec.initializer, spec.seed, spec.optimizer)
        interactive = spec.progress_bar == "rich" or (
            spec.progress_bar == "auto" and sys.stdout.isatty()
        )
        trainer = pl.Trainer(
            **spec.trainer,
            logger=logger,
            callbacks=[
                *([spec.diagnostics()] if spec.diagnostics else []),
                *([RichProgressBar()] if interactive else []),
            ],
            enable_progress_bar=interactive,
            enable_model_summary=interactive,
            default_root_dir=run_dir,
        )
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


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    record = run(cfg, run_dir, list(hydra_cfg.overrides.task))
    shown = "  ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items() if v is not None)
    print(f"{record['status']}: {shown}\nrun folder: {run_dir}")
