"""What the run's LightningModule (:class:`~initlab.training.init_module.InitModule`) and the
population's (:class:`~initlab.population.population_module.PopulationModule`) share: the base
class and the training epoch's running sums."""

from __future__ import annotations

import pytorch_lightning as pl


class LeanModule(pl.LightningModule):
    """A LightningModule whose ``_current_fx_name`` is set as a plain attribute. Lightning sets it
    around every hook it calls, dozens of times a step; through ``nn.Module.__setattr__``'s
    parameter, buffer and module checks that is a measurable share of a small net's step
    (``scripts/bench.py``)."""

    def __setattr__(self, name: str, value) -> None:
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class EpochSums:
    """A training epoch's running sums: loss × examples, correct predictions, examples.

    ``correct`` is an int or a 0-d tensor (added to on the device: no step waits for it)."""

    def __init__(self, correct=0):
        self.reset(correct)

    def reset(self, correct=0) -> None:
        self.loss_sum, self.correct, self.seen = 0.0, correct, 0

    def add(self, loss: float, n: int) -> None:
        """A step's mean ``loss`` over ``n`` examples."""
        self.loss_sum += loss * n
        self.seen += n

    def metrics(self) -> dict[str, float]:
        """Mean train loss and accuracy over the epoch's steps so far."""
        if not self.seen:
            return {}
        return {"train/loss": self.loss_sum / self.seen, "train/acc": int(self.correct) / self.seen}

    def state(self) -> tuple[float, int, int]:
        """What a checkpoint keeps, to go on summing where it was."""
        return self.loss_sum, int(self.correct), self.seen

    def load(self, state: tuple[float, int, int], correct=int) -> None:
        """Go on from a checkpoint's :meth:`state`; ``correct`` makes its count (an int, or
        ``torch.tensor``)."""
        self.loss_sum, count, self.seen = state
        self.correct = correct(count)
