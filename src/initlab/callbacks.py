"""Callbacks: divergence handling."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class DivergenceMonitor(pl.Callback):
    """Stop training at the first step whose loss is NaN or ±inf.

    A diverging run is a result (``status: diverged`` in metrics.json), not a crash: the
    trainer stops cleanly after the step and ``diverged_at`` holds the step number.
    """

    def __init__(self) -> None:
        self.diverged_at: int | None = None
        self.loss: float | None = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int
    ) -> None:
        self._check(trainer, outputs["loss"] if isinstance(outputs, dict) else outputs)

    def _check(self, trainer: pl.Trainer, loss: torch.Tensor) -> None:
        if self.diverged_at is None and not torch.isfinite(loss):
            self.diverged_at, self.loss = trainer.global_step, float(loss)
            trainer.should_stop = True
            print(
                f"Loss became {self.loss} at step {self.diverged_at}: the run diverged; stopping."
            )
