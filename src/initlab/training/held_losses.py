"""Each training step's loss kept on the device until a read point, then read in one transfer.

Reading a loss (``loss.item()``, ``math.isfinite``) makes the host wait for the device to finish
the step; between read points a step only queues work. A run and a population read at the same
points (:func:`read_point`, and at the hooks that need the values: validation, a checkpoint, the
end of an epoch or of the fit), so a population's member stops where its job stops.

Divergence is found at a read: ``diverged_at_step`` is the first step whose loss was NaN or
±inf, and the run stops at the read that found it, at most ``log_every_n_steps - 1`` steps later.
"""

from __future__ import annotations

from typing import Any

import torch


def read_point(trainer, step: int, batch_idx: int) -> bool:
    """Whether a step's values are read at its end: at Lightning's logging steps, at the
    epoch's last step and at the fit's last step (``max_steps``)."""
    return (
        (step + 1) % trainer.log_every_n_steps == 0
        or batch_idx + 1 == trainer.num_training_batches
        or step + 1 == trainer.max_steps
    )


class HeldLosses:
    """The losses of the steps since the last read: a 0-d tensor a step (a run) or one per member
    (a population), with the step and its batch size."""

    def __init__(self):
        self._held: list[tuple[int, int, torch.Tensor]] = []

    def hold(self, step: int, n: int, loss: torch.Tensor) -> None:
        """Step ``step``'s mean loss over its ``n`` examples, left on the device."""
        self._held.append((step, n, loss.detach()))

    def read(self, extra: torch.Tensor | None = None) -> tuple[list[tuple[int, int, Any]], Any]:
        """The held ``(step, n, loss)`` in step order, their losses as Python floats (lists of
        them for a population), and ``extra`` (the same shape as a loss: a count) read in the
        same transfer; nothing is held afterwards."""
        tensors = [loss for _, _, loss in self._held]
        if extra is not None:
            tensors.append(extra)
        if not tensors:
            return [], None
        # A loss's own precision, or float32 where it is lower: a float16 or bfloat16 loss
        # widens exactly, and a count is exact in float32 up to 2**24.
        dtype = torch.promote_types(tensors[0].dtype, torch.float32)
        values = torch.stack([t.to(dtype) for t in tensors]).tolist()
        held, self._held = self._held, []
        read = [(step, n, v) for (step, n, _), v in zip(held, values[: len(held)], strict=True)]
        return read, (values[-1] if extra is not None else None)
