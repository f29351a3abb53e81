"""The population's LightningModule: the members' nets trained as one stacked net.

Each member is one job of the sweep (:class:`Member`): its own config, seed, initializer, data
order, dropout masks, logger and record. ``setup("fit")`` does for every member what its own run's
``InitModule.setup`` does (seed, build, apply the initializer, calibrate, write the plan), then
stacks them (:class:`~initlab.population.stack.Stack`). A training step is one forward of every
active member on its own batch, the sum of their mean losses as the objective (each member's
gradient is its own loss's), and one optimizer step on the stacked parameters: Adam and SGD act
element by element, so the stacked optimizer makes each member's own step.

A member whose loss turns NaN/inf stops where its sequential run would, at the read point that
finds it (:mod:`initlab.training.held_losses`: all members' losses are read together, at the
points a run reads its own): it is validated at once, as Lightning validates a run stopped
mid-epoch, its record says ``diverged`` from then on, and it leaves the objective; the others
go on.
Metrics and diagnostics go to each member's own TensorBoard logger, with the tags and steps its
sequential run writes.
"""

from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from initlab.diagnostics.callback import Diagnostics
from initlab.diagnostics.offload import offload
from initlab.initializers.residual_schemes import lr_multipliers
from initlab.parametrization import optimizer_params
from initlab.population.compiled import compiled, eager_because
from initlab.population.dropout import MemberRNG
from initlab.population.stack import Stack, lay_out_state
from initlab.runtime import private_api
from initlab.training import record as record_lib
from initlab.training.collapse import METRIC as SPREAD
from initlab.training.collapse import LogitRange
from initlab.training.held_losses import HeldLosses, read_point
from initlab.training.init_module import CONFIG_KEY, STATE_KEY, initialize, rng_states, write_plan
from initlab.training.lifecycle import Attempt, epochs_done
from initlab.training.module_base import EpochSums, LeanModule
from initlab.training.optimizers import OptimizerFactory
from initlab.training.spec import RunSpec


class Member(Attempt):
    """One job of a population: its run folder's attempt, and what its sequential run's module
    would hold, for one member. It is ``active`` until it diverges (``stopped``)."""

    def __init__(self, cfg: DictConfig, spec: RunSpec, run_dir, overrides: list[str]):
        super().__init__(cfg, spec, run_dir, overrides)
        self.net: nn.Module | None = None  # its own net: the weights it started from
        self.diagnostics: Diagnostics | None = spec.diagnostics() if spec.diagnostics else None
        self.train_sums = EpochSums()  # its correct count is the population's, until it stops
        self.val: dict[str, float] = {}
        self.test: dict[str, float] = {}

    @property
    def active(self) -> bool:
        return not self.stopped


def _losses(logits: torch.Tensor, y: torch.Tensor, shared: bool):
    """Each member's mean cross-entropy (members,) and correct count (members,).

    ``logits`` (members, B, classes), ``y`` (B,) shared or (members, B). Written out as
    ``F.cross_entropy`` computes it (log-softmax, the target's entry, its mean over the batch),
    bit for bit, forward and backward, as a ``vmap`` of ``F.cross_entropy`` over the members
    (tests/population/test_population.py) — which would go through its Python decomposition,
    a share of a small population's step."""
    target = y.expand(logits.shape[:-1]) if shared else y
    picked = F.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    correct = (logits.argmax(-1) == y).sum(-1)
    return -picked.sum(-1) / target.shape[-1], correct


class PopulationModule(LeanModule):
    """The members (:class:`Member`, same structure, same data shape, same optimizer) trained
    together. ``stack`` exists from ``setup("fit")`` on."""

    def __init__(
        self, members: list[Member], optimizer: OptimizerFactory, in_shape, compile: bool = False
    ):
        super().__init__()
        self.automatic_optimization = False  # as InitModule: the step is written out
        self.members = members  # a plain list: the members' own nets are not submodules
        self.optimizer_factory, self.in_shape = optimizer, tuple(in_shape)
        self.stack: Stack | None = None
        self._site_paths: list[str] = []
        self._correct: torch.Tensor | None = None
        self.held = HeldLosses()  # the members' losses (members,) since the last read point
        self._eval: tuple[torch.Tensor, torch.Tensor, int] | None = None
        self.compile = compile  # hydra.launcher.compile: the training objective compiled
        self._compiled = None  # from on_train_start, where compile is on and can trace the net
        self._structure = None  # the parameters' names and the init's lr multipliers
        self._logit_range = LogitRange()  # every member's test logits, per class
        # optimizer.lr is a member key: the optimizer steps at the largest member's rate, and
        # each member's step is scaled by its rate over that, (members,); None where all are one.
        rates = [m.spec.optimizer.keywords["lr"] for m in members]
        self.lr = max(rates)
        ratios = torch.tensor(rates, dtype=torch.float64) / self.lr
        self._lr_ratios = None if bool((ratios == 1).all()) else ratios
        self._lr_weight_cache: dict[tuple, torch.Tensor] = {}

    # --- set-up: each member as its own run sets itself up, then the stack -------------------

    def setup(self, stage: str) -> None:
        if stage != "fit" or self.stack is not None:
            return
        device = self.trainer.strategy.root_device
        rngs = []
        for m in self.members:
            # What initlab.training.run.run and InitModule.setup do for this run, in the same order,
            # so the global RNG (which its dropout draws from) is where the run's would be.
            pl.seed_everything(m.spec.seed, workers=False, verbose=False)
            net = m.spec.make_net()
            if m.resume is None:
                x, _ = self.trainer.datamodule.split(m.spec.seed, "train")
                done = initialize(m.spec.initializer, net, m.spec.seed, self.in_shape, x)
                write_plan(m.logger, m.spec.initializer, m.spec.seed, net, *done)
            m.net = net.to(device)
            rngs.append(MemberRNG(rng_states(device)))  # restored from a checkpoint on resume
        self.stack = Stack(nets=[m.net for m in self.members], rngs=rngs, in_shape=self.in_shape)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params, _ = self.stack.stacked()
        by_width = self.members[0].spec.parametrization  # μP's groups (every member's)
        # the net's own order, at the largest member's rate
        slow = lr_multipliers(self.members[0].net)  # the init's own (a population shares it)
        named = optimizer_params(by_width, params.items(), self.lr, slow)
        return partial(self.optimizer_factory, lr=self.lr)(named)

    def on_train_start(self) -> None:
        for optimizer in self.trainer.optimizers:  # restored, on resume: as the stack lays out
            lay_out_state(optimizer)
        if self.compile:
            why = eager_because(self.stack)
            if why:
                print(f"hydra.launcher.compile=true: this population trains eager: {why}")
            else:
                self._compiled = compiled(self._objective, self.device)
        shims = [SimpleNamespace(net=m.net, in_shape=self.in_shape) for m in self.members]
        for m, shim in zip(self.members, shims, strict=True):
            if m.diagnostics is not None:
                m.diagnostics.on_train_start(self.trainer, shim)
        first = next((m for m in self.members if m.diagnostics is not None), None)
        if first is not None:  # the same paths in every member: one structure
            paths = {module: path for path, module in first.net.named_modules()}
            outputs = [s.output for s in first.diagnostics.sites if s.output is not None]
            self._site_paths = [paths[module] for module in outputs]

    # --- training ----------------------------------------------------------------------------

    def on_train_epoch_start(self) -> None:
        for m in self.members:
            if m.active:
                m.train_sums.reset()
        self._correct = torch.zeros(len(self.members), dtype=torch.long, device=self.device)

    def training_step(self, batch, batch_idx: int) -> None:
        step = self.global_step
        x, y = batch  # (B, ...) shared, or (members, B, ...)
        shared = x.dim() == len(self.in_shape) + 1
        active = [i for i, m in enumerate(self.members) if m.active]
        due = [
            i
            for i in active
            if self.members[i].diagnostics is not None and self.members[i].diagnostics.due(step)
        ]
        for i in due:  # the member's net holds its weights before the step
            self.members[i].net.load_state_dict(self.stack.member_state(i))
            self.members[i].diagnostics.begin(step, hooks=False)
        if self._compiled is not None and not due:  # a diagnostics point records the sites
            losses, correct = self._compiled(x, y, shared, self._active())
            seen = {}
        else:
            logits, seen = self.stack(x, shared, self._active(), self._site_paths if due else ())
            losses, correct = _losses(logits, y, shared)
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(losses.sum() if len(active) == len(losses) else losses[active].sum())
        for i in due:
            self._member_diagnostics(i, seen)
        self._step(optimizer)
        # A diverged member's count froze at its divergence (Member.train_sums): its row here
        # goes on counting, unread.
        self._correct += correct
        self.held.hold(step, y.shape[-1], losses)
        diverged = {}
        if read_point(self.trainer, step, batch_idx):
            logging = (step + 1) % self.trainer.log_every_n_steps == 0
            diverged = self._read(correct if logging else None)
        for i in due:
            self.members[i].diagnostics.write(self.members[i].logger)
        self._stop(diverged)

    def group_rates(self, i: int | None = None) -> list[float]:
        """The learning rate of each of the optimizer's groups: member ``i``'s own run's (what
        its checkpoint holds), or with ``None`` the population's (at the largest rate)."""
        member = self.members[0 if i is None else i]
        lr = self.lr if i is None else member.spec.optimizer.keywords["lr"]
        if self._structure is None:  # every member's net has the same structure
            net = member.net
            if net is None:  # before setup (a resume's stacked checkpoint): built on meta
                with torch.device("meta"):
                    net = member.spec.make_net()
            self._structure = [(n, None) for n, _ in net.named_parameters()], lr_multipliers(net)
        names, slow = self._structure
        groups = optimizer_params(member.spec.parametrization, names, lr, slow)
        return [g["lr"] for g in groups] if isinstance(groups[0], dict) else [lr]

    def _step(self, optimizer) -> None:
        """The optimizer's step, each member's scaled to its own learning rate: Adam's and SGD's
        state (moments, momentum) does not depend on the learning rate, and their step is
        proportional to it, so member i's step is the step at the largest rate times
        lr_i / lr_max. Scaling down (ratios ≤ 1) keeps the rounding of each step at a
        sequential run's: the difference of the parameter before and after is exact, and its
        rounding error shrinks with it. Without temporaries: old + r·(new − old) with r =
        lr_i/lr_max (``torch.lerp``, which computes new − (new − old)·(1 − r) for r ≥ 0.5, so
        that r = 1, a member at the largest rate, keeps the optimizer's own step bit for bit; a
        member already at ±inf becomes NaN, diverged either way), then copied back."""
        if self._lr_ratios is None:
            optimizer.step()
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        before = [p.detach().clone() for p in params]
        optimizer.step()
        with torch.no_grad():
            for p, old in zip(params, before, strict=True):
                p.copy_(old.lerp_(p, self._lr_weights(p)))

    def _lr_weights(self, p: torch.Tensor) -> torch.Tensor:
        """lr_i/lr_max per member, shaped to broadcast over ``p`` (kept per shape)."""
        key = (p.device, p.dtype, p.dim())
        if key not in self._lr_weight_cache:
            weights = self._lr_ratios.to(p.device, p.dtype)
            self._lr_weight_cache[key] = weights.view(-1, *[1] * (p.dim() - 1))
        return self._lr_weight_cache[key]

    def _objective(self, x, y, shared: bool, active: list[bool]):
        """What :func:`compiled` compiles: the stacked forward and the members' losses."""
        logits, _ = self.stack(x, shared, active)
        return _losses(logits, y, shared)

    def _read(self, correct: torch.Tensor | None = None) -> dict[int, tuple[int, float]]:
        """Read the held losses of every member at once into their sums; given the last step's
        ``correct`` counts (members,), log that step's loss and accuracy. The members whose
        loss was NaN or ±inf: {member: (its first such step, that loss)}."""
        held, counts = self.held.read(correct)
        active = [i for i, m in enumerate(self.members) if m.active]
        diverged: dict[int, tuple[int, float]] = {}
        for step, n, values in held:
            for i in active:
                self.members[i].train_sums.add(values[i], n)
                if i not in diverged and not math.isfinite(values[i]):
                    diverged[i] = (step, values[i])
        if counts is not None:
            step, n, values = held[-1]
            for i in active:
                self.members[i].logger.log_metrics(
                    {"train/loss": values[i], "train/acc": counts[i] / n}, step=step
                )
        return diverged

    def _stop(self, diverged: dict[int, tuple[int, float]]) -> None:
        for i, (step, value) in diverged.items():
            self._diverge(i, step, value)
        if not any(m.active for m in self.members):
            self.trainer.should_stop = True

    def _active(self) -> list[bool]:
        return [m.active for m in self.members]

    def _member_diagnostics(self, i: int, seen: dict) -> None:
        """Member i's activations (from the stacked forward) and gradients, for its callback."""
        m, params = self.members[i], self.stack.stacked()[0]
        outputs = [site for site in m.diagnostics.sites if site.output is not None]
        for site, path in zip(outputs, self._site_paths, strict=True):
            x_in, out = seen[path]
            m.diagnostics.recorder.record(site, x_in[i], out[i])
        for name, p in m.net.named_parameters():
            g = params[name].grad
            p.grad = None if g is None else g[i].contiguous()  # as its own net's would be
        m.diagnostics.after_backward()

    def _diverge(self, i: int, step: int, loss: float) -> None:
        """Member i's loss was NaN or ±inf at ``step``: its run would stop at this read point.
        Validate it as Lightning validates a run stopped mid-epoch, and take it out of the
        objective."""
        m = self.members[i]
        m.stopped = True
        m.train_sums.correct = int(self._correct[i])
        print(
            f"Loss became {loss} at step {step}: {m.run_dir} diverged; it stops, the others go on."
        )
        x, y = self.trainer.datamodule.split(m.spec.seed, "val")
        loss_sum = acc_sum = torch.zeros((), device=self.device)
        with torch.no_grad():
            for start in range(0, len(y), self.trainer.datamodule.eval_batch_size):
                xb = x[start : start + self.trainer.datamodule.eval_batch_size]
                yb = y[start : start + self.trainer.datamodule.eval_batch_size]
                logits = self.stack.member_forward(i, xb)
                loss_sum = loss_sum + F.cross_entropy(logits, yb) * len(yb)
                acc_sum = acc_sum + (logits.argmax(1) == yb).float().mean() * len(yb)
        m.val = {"val/loss": (loss_sum / len(y)).item(), "val/acc": (acc_sum / len(y)).item()}
        self._log_epoch_metrics(m, m.val)
        # Its result from now on, as its job's would be: a population stopped later keeps it.
        m.record.update(
            status="diverged",
            diverged_at_step=step,
            metrics=record_lib.finite({**m.train_sums.metrics(), **m.val}),
            steps=self.trainer.global_step,
            epochs=epochs_done(self.trainer.global_step, self.trainer),
            resumed_from_step=m.resumed_from_step,
        )
        record_lib.write(m.run_dir, m.record)

    def on_train_epoch_end(self) -> None:
        self._stop(self._read())
        counts = self._correct.tolist()
        for i, m in enumerate(self.members):
            if m.active:
                m.train_sums.correct = counts[i]
        offload().drain()  # without checkpoints, the end of an epoch still writes them all

    def on_train_end(self) -> None:
        self._stop(self._read())
        offload().drain()

    # --- validation and test: every member on its own split ---------------------------------

    def _eval_start(self) -> None:
        zeros = torch.zeros(len(self.members), device=self.device)
        self._eval = (zeros, zeros.clone(), 0)
        self._logit_range = LogitRange()

    def _eval_step(self, batch) -> None:
        x, y = batch
        shared = x.dim() == len(self.in_shape) + 1
        logits, _ = self.stack(x, shared, self._active())
        self._logit_range.add(logits)
        losses, correct = _losses(logits, y, shared)
        n = y.shape[-1]
        loss_sum, acc_sum, seen = self._eval
        # Lightning's mean of a logged value: Σ value·batch size / Σ batch size.
        self._eval = (loss_sum + losses.detach() * n, acc_sum + correct.float() / n * n, seen + n)

    def _eval_end(self, prefix: str) -> None:
        loss_sum, acc_sum, seen = self._eval
        losses, accs = (loss_sum / seen).tolist(), (acc_sum / seen).tolist()
        spreads = self._logit_range.spread().tolist()
        for i, m in enumerate(self.members):
            if m.active:
                metrics = {f"{prefix}/loss": losses[i], f"{prefix}/acc": accs[i]}
                if prefix == "test":  # 0: the member's predictions ignore the input
                    metrics[SPREAD] = spreads[i]
                setattr(m, prefix, metrics)
                self._log_epoch_metrics(m, metrics)

    def _log_epoch_metrics(self, m: Member, metrics: dict) -> None:
        """As Lightning logs an epoch's metrics: with ``epoch``, at the steps stepped so far."""
        step = private_api.batches_that_stepped(self.trainer)
        m.logger.log_metrics({**metrics, "epoch": self.trainer.current_epoch}, step=step)

    def on_validation_model_eval(self) -> None:
        super().on_validation_model_eval()
        self.stack.eval_dropout = self.members[0].spec.val_dropout  # a population shares it

    def on_validation_model_train(self) -> None:
        super().on_validation_model_train()
        self.stack.eval_dropout = False

    def on_validation_start(self) -> None:
        self._stop(self._read())  # every step's loss, read before the members are validated

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    # --- checkpoints: the members' states, stacked ------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._stop(self._read())  # the sums it keeps hold every step so far
        counts = self._correct.tolist() if self._correct is not None else [0] * len(self.members)
        checkpoint[CONFIG_KEY] = [m.config for m in self.members]
        checkpoint[STATE_KEY] = [
            {
                "rng": rng.snapshot(),
                "train_sums": (
                    m.train_sums.loss_sum,
                    counts[i] if m.active else m.train_sums.correct,
                    m.train_sums.seen,
                ),
                "val": m.val,
            }
            for i, (m, rng) in enumerate(zip(self.members, self.stack.rngs, strict=True))
        ]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        for i, (m, state) in enumerate(zip(self.members, checkpoint[STATE_KEY], strict=True)):
            self.stack.rngs[i] = MemberRNG(state["rng"])
            m.train_sums.load(state["train_sums"])
            m.val = dict(state["val"])
