"""Diagnostics: what the initializer does inside the net, block by block, in TensorBoard.

:class:`Diagnostics` logs, per ``layerK`` (:mod:`initlab.diagnostics.sites`), weights, activations
and gradients during training, and two figures (:mod:`initlab.diagnostics.figures`);
:mod:`initlab.probe` prints the same statistics for a freshly initialised net.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_lightning as pl
import torch

from initlab.config.errors import ConfigError, positive_int
from initlab.diagnostics.figures import depth_figure, histogram_figure
from initlab.diagnostics.offload import offload
from initlab.diagnostics.sites import ActivationRecorder, Site, sites
from initlab.models.activations import Activation
from initlab.models.residual_blocks import Scalar
from initlab.theory import comparison_figure
from initlab.theory.network import from_pre_activations, why_not

STATS = ("weights", "activations", "gradients")

__all__ = ["STATS", "ActivationRecorder", "Diagnostics", "Site", "histogram_figure", "sites"]


class Diagnostics(pl.Callback):
    """Per-layer statistics, histograms and figures in TensorBoard (tags: DESIGN.md §7).

    Logged at step 0 (after the initializer, before the first optimizer step), every
    ``every_n_steps`` steps (``None``: about 10 points per epoch) and at the last step:

    - ``weights``: ``weights/layerK/std`` and the histogram ``weights/layerK`` (before the step);
    - ``activations``: ``activations/layerK/{mean,std,saturation}`` and ``activations/layerK``,
      from the step's own training batch;
    - ``gradients``: ``gradients/layerK/norm`` and ``gradients/layerK``, the weight gradient the
      optimizer is about to apply;
    - the scalars a residual initializer adds (:class:`initlab.models.residual_blocks.Scalar`:
      Fixup's biases and multipliers, SkipInit's α), by module path: ``weights/<path>/value``
      and ``gradients/<path>/grad``.

    With ``images``, two figures: ``diagnostics/activation_histograms`` (the layers side by
    side) and ``diagnostics/depth`` (activation std and gradient norm against depth), at step 0,
    the last step, and the first logging point after every ``images_every_n_steps`` steps
    (``None``: once an epoch); and with ``theory`` too, at step 0, ``diagnostics/theory``: each
    layer's q^l and c^l, and the spectrum of the hidden-to-hidden Jacobian, beside mean-field
    theory's prediction (:mod:`initlab.theory.network`), or, as text, why the theory does not
    describe this net. A figure costs as much to render
    as many steps of the default MLP (``scripts/bench.py``, diagnostics on and off), so they
    come less often than the scalars.

    Forward hooks are attached at the start of a logging step and removed after its forward
    pass; the steps in between cost a comparison.
    """

    def __init__(
        self,
        activation: Activation,
        every_n_steps: int | None = None,
        stats: Sequence[str] = STATS,
        histograms: bool = True,
        images: bool = True,
        images_every_n_steps: int | None = None,
        theory: bool = True,
    ):
        for key, value in (
            ("every_n_steps", every_n_steps),
            ("images_every_n_steps", images_every_n_steps),
        ):
            if value is not None:
                positive_int(key, value)
        stats = list(stats)
        if not stats or any(s not in STATS for s in stats) or len(set(stats)) < len(stats):
            raise ConfigError("stats", stats, f"must be a non-empty list of {', '.join(STATS)}")
        for key, value in (("histograms", histograms), ("images", images), ("theory", theory)):
            if not isinstance(value, bool):
                raise ConfigError(key, value, "must be true or false")
        self.activation, self.stats = activation, set(stats)
        self.every_n_steps, self.histograms = every_n_steps, histograms
        self.images, self.images_every_n_steps = images, images_every_n_steps
        self.theory = theory
        self._no_theory: str | None = None  # why the theory does not describe the net
        self._theory: list | None = None  # at step 0: each layer's (σ_w², σ_b², weight)
        self.sites: list[Site] = []
        self._residual_scalars: list[tuple[str, Scalar]] = []
        self._every = self._images_every = 1
        self._last = 0
        self._step: int | None = None  # the logging step in progress
        self._image_step = False
        self.recorder: ActivationRecorder | None = None
        self._scalars: dict[str, torch.Tensor] = {}  # 0-d tensors, read once at the end
        self._tensors: dict[str, torch.Tensor] = {}  # histogram tag -> values

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.sites = sites(pl_module.net, self.activation, getattr(pl_module, "in_shape", None))
        self._residual_scalars = [
            (path, m) for path, m in pl_module.net.named_modules() if isinstance(m, Scalar)
        ]
        if self.theory:
            self._no_theory = why_not(pl_module.net, type(self.activation.make()))
        per_epoch = max(1, int(trainer.num_training_batches))
        self._every = self.every_n_steps or max(1, per_epoch // 10)
        self._images_every = self.images_every_n_steps or per_epoch
        self._last = int(trainer.estimated_stepping_batches) - 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.is_global_zero and self.due(trainer.global_step):
            self.begin(trainer.global_step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._step is not None:
            self.after_backward()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._step is not None:
            self.write(trainer.logger)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        offload().drain()  # before the epoch's checkpoint: it covers every event so far

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()
        offload().drain()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._close()
        offload().discard()

    def due(self, step: int) -> bool:
        """Whether ``step`` is a logging point."""
        return step % self._every == 0 or step == self._last

    def begin(self, step: int, hooks: bool = True) -> None:
        """Before the step's forward pass: read the weights, hook the activations (without
        ``hooks``, the caller fills ``recorder`` itself: a population's stacked forward)."""
        self._step, self._scalars, self._tensors = step, {}, {}
        # The first logging point of every images_every-step window, and the last step: a
        # function of the step alone, so a resumed run draws where the uninterrupted one did.
        first_in_window = step % self._images_every < self._every
        self._image_step = self.images and (first_in_window or step == self._last)
        if "weights" in self.stats:
            for site in self.sites:
                w = site.weight().detach()
                self._scalars[f"weights/{site.name}/std"] = w.std()
                if self.histograms:  # a copy: the optimizer step changes w in place
                    self._tensors[f"weights/{site.name}"] = w.clone()
            for path, m in self._residual_scalars:
                self._scalars[f"weights/{path}/value"] = m.value.detach().clone()
        self._theory = None  # read before the step: the initializer's weights
        if self.theory and step == 0 and self._image_step and self._no_theory is None:
            self._theory = [
                (*_variances(site), site.weight().detach().clone()) for site in self.sites
            ]
        if "activations" in self.stats or self._image_step:
            keep = self._image_step or (self.histograms and "activations" in self.stats)
            self.recorder = ActivationRecorder(
                self.sites, keep=keep, keep_pre=self._theory is not None
            )
            if hooks:
                self.recorder.__enter__()

    def after_backward(self) -> None:
        """The forward pass is over: drop the hooks; read the weight gradients."""
        if self.recorder is not None:
            self.recorder.__exit__(None, None, None)
        if "gradients" in self.stats or self._image_step:
            for site in self.sites:
                g = site.grad()
                if g is not None:
                    self._scalars[f"gradients/{site.name}/norm"] = g.detach().norm()
                    if self.histograms and "gradients" in self.stats:
                        self._tensors[f"gradients/{site.name}"] = g.detach()
            for path, m in self._residual_scalars:
                if m.value.grad is not None:
                    self._scalars[f"gradients/{path}/grad"] = m.value.grad.detach().clone()

    def write(self, logger) -> None:
        step, recorder = self._step, self.recorder
        self._close()
        if recorder is not None:
            for name, values in recorder.stats.items():
                for stat, v in values.items():
                    self._scalars[f"activations/{name}/{stat}"] = v
                if self.histograms and "activations" in self.stats:
                    self._tensors[f"activations/{name}"] = recorder.outputs[name]
        values = torch.stack(list(self._scalars.values())).tolist() if self._scalars else []
        scalars = dict(zip(self._scalars, values, strict=True))  # one read from the device
        if logger is None:
            return
        logged = {tag: v for tag, v in scalars.items() if tag.split("/", 1)[0] in self.stats}
        logger.log_metrics(logged, step=step)
        writer, work = logger.experiment, offload()
        for tag, tensor in self._tensors.items():
            work.histogram(writer, tag, tensor, step)
        self._tensors = {}
        if self._image_step and recorder is not None:
            names = [site.name for site in self.sites if site.output is not None]
            act_std = {n: scalars[f"activations/{n}/std"] for n in names}
            grad = {n: scalars.get(f"gradients/{n}/norm", float("nan")) for n in names}
            outputs = {name: t.detach().float().cpu() for name, t in recorder.outputs.items()}
            tag = "diagnostics/activation_histograms"
            work.figure(writer, tag, step, histogram_figure, outputs, f"step {step}")
            work.figure(writer, "diagnostics/depth", step, depth_figure, act_std, grad)
        if self._image_step and step == 0:
            self._theory_figure(writer, work, recorder)
        work.send()

    def _theory_figure(self, writer, work, recorder) -> None:
        """Step 0: mean-field theory beside the net's q^l, c^l and Jacobian spectrum
        (``diagnostics/theory``), or a line saying why the theory does not describe this net."""
        if not self.theory:
            return
        if self._no_theory is not None:
            writer.add_text("diagnostics/theory", f"no prediction: {self._no_theory}", 0)
        elif self._theory is not None and recorder is not None and recorder.pre:
            pre = [recorder.pre[site.name].detach().cpu() for site in self.sites]
            if not all(torch.isfinite(h).all() for h in pre):
                said = "no prediction: the pre-activations at step 0 are not finite (overflow)"
                writer.add_text("diagnostics/theory", said, 0)
                return
            sigma_w2 = [float(w) for w, _, _ in self._theory]
            sigma_b2 = [float(b) for _, b, _ in self._theory]
            weights = [w.cpu() for _, _, w in self._theory]
            # The numbers here: only the drawing goes to the forked helper, which then does no
            # matrix products (BLAS) after the fork.
            compared = from_pre_activations(
                pre, sigma_w2, sigma_b2, self.activation.make(), weights
            )
            work.figure(writer, "diagnostics/theory", 0, comparison_figure.at_step_0, compared)

    def _close(self) -> None:
        if self.recorder is not None:
            self.recorder.__exit__(None, None, None)
        self._step, self.recorder = None, None


def _variances(site) -> tuple[torch.Tensor, torch.Tensor]:
    """A fully connected layer's σ_w² (fan_in · mean W²) and σ_b² (mean b²), as 0-d tensors."""
    w = site.weight().detach()
    bias = getattr(site.layer, "bias", None)
    b = bias.detach() if bias is not None else torch.zeros(1, device=w.device)
    return w.shape[1] * (w * w).mean(), (b * b).mean()
