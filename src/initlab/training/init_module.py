"""The LightningModule: a classifier whose ``setup`` hook applies the chosen initializer once."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from initlab.initializers import Initializer, LayerPlan, apply, coverage, plan_records, plan_table
from initlab.initializers.calibration import calibrate
from initlab.initializers.residual_schemes import lr_multipliers, scalar_records
from initlab.parametrization import Parametrized, optimizer_params
from initlab.runtime import private_api
from initlab.runtime.markdown import markdown_table
from initlab.training.collapse import METRIC as SPREAD
from initlab.training.collapse import LogitRange
from initlab.training.held_losses import HeldLosses, read_point
from initlab.training.module_base import EpochSums, LeanModule
from initlab.training.optimizers import OptimizerFactory

CONFIG_KEY = "initlab_config"  # the run's config, in every checkpoint
# What a resumed run needs beyond Lightning's own state to continue bit for bit: the global RNG
# states (dropout draws from them), the running train-epoch sums and the last validation
# metrics (a run resumed from its final checkpoint trains no further epoch, yet its record
# needs them).
STATE_KEY = "initlab_state"


def rng_states(device: torch.device) -> dict:
    """Lightning's collection of the global RNG states (torch, numpy, Python), with numpy's key
    array as a tensor, so the checkpoint still loads with ``weights_only=True``; and the RNG of
    the CUDA device the run trains on, alone (a resumed job may get another GPU, or a node with
    fewer)."""
    states = private_api.collect_rng_states()
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    states["numpy"] = (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss)
    if device.type == "cuda":
        states["cuda_device"] = torch.cuda.get_rng_state(device)
    return states


def restore_rng_states(states: dict, device: torch.device) -> None:
    states = dict(states)
    cuda = states.pop("cuda_device", None)
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    numpy_state = (kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss)
    private_api.set_rng_states({**states, "numpy": numpy_state})
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)


def _records_table(rows: list[dict]) -> str:
    """Records with the same keys as a markdown table, one column per key."""
    keys = list(rows[0])
    return markdown_table(keys, ([r[k] for k in keys] for r in rows))


def initialize(
    initializer: Initializer, net: nn.Module, seed: int, in_shape, train_x: torch.Tensor
) -> tuple[list[LayerPlan], list[dict], float | None]:
    """Apply ``initializer`` to ``net`` from ``seed``, then its calibration (if any) on the
    training inputs ``train_x``: (the plan, the calibration per layer, its seconds)."""
    init_plan = apply(initializer, net, seed, in_shape)
    if initializer.calibration is None:
        return init_plan, [], None
    start = time.perf_counter()
    calibration = calibrate(initializer, net, train_x, seed)
    return init_plan, calibration, time.perf_counter() - start


def write_plan(
    logger,
    initializer: Initializer,
    seed: int,
    net: nn.Module,
    init_plan: list[LayerPlan],
    calibration: list[dict],
    calibration_seconds: float | None,
) -> None:
    """The applied plan: the ``init/plan`` text at step 0 and ``init_plan.json`` in the logger's
    folder (with the residual scalars, the defaults kept and the calibration)."""
    logger.experiment.add_text(
        "init/plan",
        _plan_text(initializer, seed, net, init_plan, calibration, calibration_seconds),
        global_step=0,
    )
    by_width = initializer.parametrization
    with open(f"{logger.log_dir}/init_plan.json", "w") as f:
        json.dump(
            {
                "init": initializer.name,
                "seed": seed,
                **({"parametrization": by_width.record()} if by_width is not None else {}),
                "layers": plan_records(init_plan),
                "norm_layers": coverage.norm_layers(net),
                "scalars": scalar_records(net),  # residual inits' added scalars
                "lr_multipliers": lr_multipliers(net),  # the init's recipe, by parameter
                "kept_default": coverage.uncovered(net),  # init.uncovered=default
                "calibration": calibration,
                "calibration_seconds": calibration_seconds,
            },
            f,
            indent=1,
        )


def _plan_text(initializer, seed, net, init_plan, calibration, calibration_seconds) -> str:
    heading = f"**init={initializer.name}**, seed {seed}, bias {initializer.bias_text}"
    if initializer.parametrization is not None:
        heading += f", {initializer.parametrization}"
    text = heading + "\n\n" + plan_table(init_plan)
    for title, rows in (
        ("Normalization layers: weight 1, bias 0", coverage.norm_layers(net)),
        ("Residual scalars the initializer added", scalar_records(net)),
        (
            "Learning-rate multipliers of the initializer's recipe",
            [{"parameter": n, "lr_mult": m} for n, m in lr_multipliers(net).items()],
        ),
        ("Kept at torch's default (init.uncovered=default)", coverage.uncovered(net)),
    ):
        if rows:
            text += f"\n\n**{title}**:\n\n" + _records_table(rows)
    if calibration:
        text += (
            f"\n\n**{initializer.calibration.method}** on a training batch, "
            f"{calibration_seconds:.2f} s:\n\n" + _records_table(calibration)
        )
    return text


class InitModule(LeanModule):
    """Cross-entropy classification of ``net``'s logits.

    Training stops cleanly once a step's loss is NaN or ±inf; ``diverged_at`` holds the first
    such step. Losses are read from the device at read points only
    (:mod:`initlab.training.held_losses`): the run stops at the read that finds the divergence.
    ``setup("fit")`` initialises the net with ``initializer`` from a generator seeded by
    ``seed`` — exactly once: never for validate/test, never a second time when ``fit`` is
    called again, and never over a checkpoint's weights. Lightning restores a checkpoint after
    ``setup``, so ``trainer.fit(m, ckpt_path=p)`` always ends up with the checkpoint's weights;
    setting ``trainer.ckpt_path = p`` before ``trainer.fit(m)`` (what ``initlab.training.run`` does)
    also skips the initializer's work, which matters for data-dependent methods.
    Data-dependent initializers (``lsuv``, ``data_dependent``, ``dbn``) then calibrate the net
    on the datamodule's training split, on its device (:mod:`initlab.initializers.calibration`);
    ``calibration`` holds what they did per layer.
    The plan it applied is kept in ``init_plan``, logged to TensorBoard as text (``init/plan``)
    and written to ``init_plan.json`` in the logger's folder, with the calibration.
    """

    def __init__(
        self,
        net: nn.Module,
        initializer: Initializer,
        seed: int,
        optimizer: OptimizerFactory,
        config: dict | None = None,
        in_shape: tuple[int, ...] | None = None,
        val_dropout: bool = False,
        parametrization: Parametrized | None = None,
    ):
        super().__init__()
        # μP's learning rate per parameter (initlab.parametrization); None: one for all (SP).
        self.parametrization = parametrization
        # Dropout on while validating: the protocol of studies that evaluated a model still in
        # training mode (the Udacity notebook); its masks come from the same global RNG.
        self.val_dropout = val_dropout
        self.config = config  # the run's resolved config, kept in its checkpoints
        # One example's shape: layerK is numbered in the order a forward pass reaches the
        # layers (initlab.initializers.forward_order); None: registration order.
        self.in_shape = in_shape
        # The step is written out in training_step: forward, zero_grad, backward, step. Lightning
        # still calls every hook around it (on_before_backward, on_after_backward,
        # on_before_optimizer_step), without the closure machinery of automatic optimisation,
        # a large share of a small net's step (scripts/bench.py measures the whole loop).
        self.automatic_optimization = False
        self.net = net
        self.initializer, self.seed, self.optimizer_factory = initializer, seed, optimizer
        self.init_plan: list[LayerPlan] | None = None  # None until setup("fit") has run
        self.diverged_at: int | None = None  # the first step whose loss was NaN or ±inf
        self.calibration: list[dict] = []  # per layer, what a data-dependent init did
        self.calibration_seconds: float | None = None
        self._restored_val: dict[str, float] = {}
        self.logit_range = LogitRange()  # the test set's logits, per class (collapse.py)
        # The train epoch so far (the record's train/loss and train/acc): its correct count is a
        # tensor, added to on the device, so no step waits for it.
        self.train_sums = EpochSums(torch.zeros((), dtype=torch.long))
        self.held = HeldLosses()  # the steps' losses since the last read point

    def setup(self, stage: str) -> None:
        if stage != "fit" or self.init_plan is not None:
            return
        if self.trainer.ckpt_path:  # weights come from the checkpoint, restored after setup
            self.init_plan = []
            return
        # The datamodule is set up before the module: its training split is on the device the
        # model will train on, and a calibration runs there.
        x, _ = self.trainer.datamodule.splits["train"]
        self.init_plan, self.calibration, self.calibration_seconds = initialize(
            self.initializer, self.net, self.seed, self.in_shape, x
        )
        if self.logger is not None:
            write_plan(
                self.logger,
                self.initializer,
                self.seed,
                self.net,
                self.init_plan,
                self.calibration,
                self.calibration_seconds,
            )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._read()  # the sums it keeps hold every step so far
        checkpoint[CONFIG_KEY] = self.config  # a resumed run checks it is the same run
        checkpoint[STATE_KEY] = {
            "rng": rng_states(self.trainer.strategy.root_device),
            "train_sums": self.train_sums.state(),
            "val": self.val_metrics(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Lightning restores the module before the loops run: from here on the global RNGs are
        # where the uninterrupted run had them when it wrote this checkpoint.
        state = checkpoint[STATE_KEY]
        restore_rng_states(state["rng"], self.trainer.strategy.root_device)
        self.train_sums.load(state["train_sums"], torch.tensor)
        self._restored_val = state["val"]

    def val_metrics(self) -> dict[str, float]:
        """The last validation's metrics: this fit's, or the restored checkpoint's."""
        logged = self.trainer.callback_metrics
        current = {k: v.item() for k, v in logged.items() if k.startswith("val/")}
        return current or dict(self._restored_val)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss_acc(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch  # (B, *in_shape), (B,)
        logits = self.net(x)  # (B, classes)
        return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean(), logits

    def on_train_epoch_start(self) -> None:
        self.train_sums.reset(torch.zeros((), device=self.device, dtype=torch.long))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        step = self.global_step  # the optimizer step this batch makes, counted from 0
        x, y = batch  # (B, *in_shape), (B,)
        logits = self.net(x)  # (B, classes)
        loss = F.cross_entropy(logits, y)
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        correct = (logits.argmax(1) == y).sum()
        self.train_sums.correct += correct
        self.held.hold(step, len(y), loss)
        if read_point(self.trainer, step, batch_idx):
            logging = (step + 1) % self.trainer.log_every_n_steps == 0 and self.logger is not None
            self._read(correct if logging else None)
        return loss

    def _read(self, correct: torch.Tensor | None = None) -> None:
        """Read the held losses into the epoch's sums, stop at a NaN or ±inf one, and, given the
        last step's ``correct`` count, log that step's loss and accuracy."""
        held, count = self.held.read(correct)
        for step, n, value in held:
            self.train_sums.add(value, n)
            if not math.isfinite(value):
                self._diverge(step, value)
        if count is not None:
            # Written straight to the logger at Lightning's own logging steps: self.log goes
            # through Lightning's result collection, which costs more than the step, for two
            # step-only scalars.
            step, n, value = held[-1]
            self.logger.log_metrics({"train/loss": value, "train/acc": count / n}, step=step)

    def _diverge(self, step: int, loss: float) -> None:
        """A diverging run is a result, not a crash: stop cleanly."""
        if self.diverged_at is None:
            self.diverged_at, self.trainer.should_stop = step, True
            print(f"Loss became {loss} at step {step}: the run diverged; stopping.")

    # Values a hook needs: every step's, read before it.
    def on_validation_start(self) -> None:
        self._read()

    def on_train_epoch_end(self) -> None:
        self._read()

    def on_train_end(self) -> None:
        self._read()

    def on_validation_model_eval(self) -> None:
        super().on_validation_model_eval()
        if self.val_dropout:
            for m in self.net.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd):
                    m.train()

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, acc, _ = self._loss_acc(batch)
        self.log_dict({"val/loss": loss, "val/acc": acc}, batch_size=len(batch[1]))

    def on_test_epoch_start(self) -> None:
        self.logit_range = LogitRange()

    def test_step(self, batch, batch_idx: int) -> None:
        loss, acc, logits = self._loss_acc(batch)
        self.logit_range.add(logits)
        self.log_dict({"test/loss": loss, "test/acc": acc}, batch_size=len(batch[1]))

    def on_test_epoch_end(self) -> None:
        self.log(SPREAD, self.logit_range.spread())  # 0: the predictions ignore the input

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr = self.optimizer_factory.keywords["lr"]
        slow = lr_multipliers(self.net)  # the init's reference recipe (Fixup's)
        return self.optimizer_factory(
            optimizer_params(self.parametrization, self.net.named_parameters(), lr, slow)
        )
