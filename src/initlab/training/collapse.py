"""A collapsed run: a net whose predictions no longer depend on its input.

A loss spike can kill every ReLU of a layer (a residual block without normalization, a learning
rate too large for SGD); from then on every input gives the same logits, the bias path's, the
loss sits at the entropy of the labels (ln 10 on a balanced 10-class set) and the accuracy at
chance. Training goes on without a NaN, so the run would end ``completed``, at chance, looking
like a net that simply trained badly. It did not train badly: it died.

:class:`LogitRange` follows, over the test set, each class's smallest and largest logit; the
run's ``test/logit_spread`` is the largest of those ranges (0: every test input gets the same
logits). A run whose spread is at most :data:`TOLERANCE` ends ``collapsed``
(:mod:`initlab.training.record`): a result, with its metrics, not ``completed``.
"""

from __future__ import annotations

import torch

METRIC = "test/logit_spread"
# Below this no logit moves with the input: a dead layer's constant passes on exactly (a spread
# of 0 or float rounding, ~1e-7 of the logits), while a net that tells two inputs apart at all
# moves its logits by far more (a trained net's spread is of order 10).
TOLERANCE = 1e-4


class LogitRange:
    """Each class's smallest and largest logit over the batches seen: of one net, logits
    (batch, classes), or of a population's members at once, (members, batch, classes)."""

    def __init__(self) -> None:
        self.low: torch.Tensor | None = None
        self.high: torch.Tensor | None = None

    def add(self, logits: torch.Tensor) -> None:
        logits = logits.detach()
        low, high = logits.amin(dim=-2), logits.amax(dim=-2)
        self.low = low if self.low is None else torch.minimum(self.low, low)
        self.high = high if self.high is None else torch.maximum(self.high, high)

    def spread(self) -> torch.Tensor:
        """The largest range over the classes (one per member for a population's)."""
        return (self.high - self.low).amax(dim=-1)


def collapsed(metrics: dict) -> bool:
    """Whether a tested run's predictions do not depend on its input: its logit spread at most
    :data:`TOLERANCE`. A NaN spread (a net that returned NaN on the test set, which its losses
    report as divergence first) is not collapsed."""
    spread = metrics.get(METRIC)
    return spread is not None and float(spread) <= TOLERANCE


def ending(metrics: dict) -> str:
    """How a run that trained and was tested ended: ``collapsed`` or ``completed``."""
    return "collapsed" if collapsed(metrics) else "completed"
