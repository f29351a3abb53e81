"""The LightningModule: a classifier whose ``setup`` hook applies the chosen initializer once."""

from __future__ import annotations

import json

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from initlab.initializers import Initializer, LayerPlan, apply, plan_records, plan_table
from initlab.optim import OptimizerFactory


class InitModule(pl.LightningModule):
    """Cross-entropy classification of ``net``'s logits.

    ``setup("fit")`` initialises the net with ``initializer`` from a generator seeded by
    ``seed`` — exactly once: never for validate/test, never a second time when ``fit`` is
    called again, and never over a checkpoint's weights. Lightning restores a checkpoint after
    ``setup``, so ``trainer.fit(m, ckpt_path=p)`` always ends up with the checkpoint's weights;
    setting ``trainer.ckpt_path = p`` before ``trainer.fit(m)`` (what ``initlab.train`` does)
    also skips the initializer's work, which matters for data-dependent methods.
    The plan it applied is kept in ``init_plan``, logged to TensorBoard as text (``init/plan``)
    and written to ``init_plan.json`` in the logger's folder.
    """

    def __init__(
        self, net: nn.Module, initializer: Initializer, seed: int, optimizer: OptimizerFactory
    ):
        super().__init__()
        self.net = net
        self.initializer, self.seed, self.optimizer_factory = initializer, seed, optimizer
        self.init_plan: list[LayerPlan] | None = None  # None until setup("fit") has run
        # Sums over the current training epoch, kept as tensors so no step waits on the device.
        self._sums = torch.zeros(3)  # loss·n, correct, n

    def setup(self, stage: str) -> None:
        if stage != "fit" or self.init_plan is not None:
            return
        if self.trainer.ckpt_path:  # weights come from the checkpoint, restored after setup
            self.init_plan = []
            return
        self.init_plan = apply(self.initializer, self.net, self.seed)
        if self.logger is not None:
            self.logger.experiment.add_text("init/plan", self._plan_text(), global_step=0)
            with open(f"{self.logger.log_dir}/init_plan.json", "w") as f:
                json.dump(
                    {
                        "init": self.initializer.name,
                        "seed": self.seed,
                        "layers": plan_records(self.init_plan),
                    },
                    f,
                    indent=1,
                )

    def _plan_text(self) -> str:
        return (
            f"**init={self.initializer.name}**, seed {self.seed}, bias {self.initializer.bias}\n\n"
            + plan_table(self.init_plan)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss_acc(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch  # (B, *in_shape), (B,)
        logits = self.net(x)  # (B, classes)
        return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()

    def on_train_epoch_start(self) -> None:
        self._sums = torch.zeros(3, device=self.device)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, acc = self._loss_acc(batch)
        n = len(batch[1])
        self._sums[0] += loss.detach() * n
        self._sums[1] += acc * n
        self._sums[2] += n
        # Lightning writes step metrics every log_every_n_steps; self.log on the steps in between
        # costs ~1 ms each in its result collection and writes nothing. Same points, less work.
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            metrics = {"train/loss": loss, "train/acc": acc}
            self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=n)
        return loss

    def train_epoch_metrics(self) -> dict[str, float]:
        """Mean train loss and accuracy over the current (or last) epoch's steps so far."""
        loss, correct, n = self._sums.tolist()
        return {"train/loss": loss / n, "train/acc": correct / n} if n else {}

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, acc = self._loss_acc(batch)
        self.log_dict({"val/loss": loss, "val/acc": acc}, batch_size=len(batch[1]))

    def test_step(self, batch, batch_idx: int) -> None:
        loss, acc = self._loss_acc(batch)
        self.log_dict({"test/loss": loss, "test/acc": acc}, batch_size=len(batch[1]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())
