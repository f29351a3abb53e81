"""Every private API of Lightning, Hydra and TensorBoard's writer that initlab reaches, in one
place, each with what it reaches and why no public way does it.

An upgrade that renames or removes one of them fails ``tests/runtime/test_private_api.py``,
which names the symbol (:func:`check`), instead of a run failing somewhere in the middle.
"""

from __future__ import annotations

import importlib
from typing import Any

# (module, attribute path): what :func:`check` looks for; instances' attributes are checked
# on real objects by the test.
SYMBOLS = (
    ("hydra._internal.core_plugins.basic_sweeper", "BasicSweeper"),
    ("lightning_fabric.utilities.seed", "_collect_rng_states"),
    ("lightning_fabric.utilities.seed", "_set_rng_states"),
    ("pytorch_lightning.trainer.setup", "_parse_time_interval_seconds"),
    ("torch.utils.tensorboard.writer", "SummaryWriter._get_file_writer"),
)

__all__ = [
    "SYMBOLS",
    "basic_sweeper",
    "batches_that_stepped",
    "check",
    "collect_rng_states",
    "dump_checkpoint",
    "file_writer",
    "parse_duration",
    "set_rng_states",
]


def basic_sweeper() -> type:
    """Hydra's basic sweeper class, which initlab's sweeper extends (its grid expansion,
    batching and the launcher call) with validation, resume and a summary. Hydra exports no
    public base class for a sweeper that keeps the basic one's behaviour. Imported when asked
    for, not before: Hydra's plugin scan loads its core plugins' modules again, and the class a
    plugin subclasses must be the one in ``sys.modules`` then."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper


def collect_rng_states() -> dict[str, Any]:
    """The global RNGs' states (torch CPU, numpy, Python), as Lightning saves them in a
    checkpoint. ``pl.seed_everything`` sets them and has no public getter; the LightningModule
    restores them on resume, so a resumed run draws what the uninterrupted one drew."""
    from lightning_fabric.utilities.seed import _collect_rng_states

    return _collect_rng_states(include_cuda=False)


def set_rng_states(states: dict[str, Any]) -> None:
    """The inverse of :func:`collect_rng_states` (Lightning's own, for the same format)."""
    from lightning_fabric.utilities.seed import _set_rng_states

    _set_rng_states(states)


def parse_duration(value) -> float | None:
    """Seconds in a ``"DD:HH:MM:SS"`` string or a dict of timedelta keywords, parsed as the
    Trainer's ``max_time`` and ``val_check_interval`` parse them (checked before any run;
    Lightning exposes its parser only privately)."""
    from pytorch_lightning.trainer.setup import _parse_time_interval_seconds

    return _parse_time_interval_seconds(value)


def file_writer(summary_writer):
    """A ``SummaryWriter``'s own event-file writer, to write the HPARAMS summaries alone
    (``add_hparams`` would open a second event file in a sub-folder, and Lightning's
    ``log_hyperparams`` logs every metric again at step 0)."""
    return summary_writer._get_file_writer()


def dump_checkpoint(trainer) -> dict:
    """The checkpoint Lightning would save now, as a dict (loops, optimizer, callbacks): each
    population member's checkpoint is cut out of it. ``Trainer.save_checkpoint`` only writes
    a file."""
    return trainer._checkpoint_connector.dump_checkpoint(weights_only=False)


def batches_that_stepped(trainer) -> int:
    """The step Lightning logs an epoch's metrics at (``_batches_that_stepped``, which can
    differ from ``global_step``): a population member logs at the step its own run logs at."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def check() -> None:
    """Raise naming the first of :data:`SYMBOLS` the installed packages no longer have."""
    for module, path in SYMBOLS:
        obj: Any = importlib.import_module(module)
        for part in path.split("."):
            if not hasattr(obj, part):
                raise AttributeError(
                    f"{module}.{path}: gone from the installed version (initlab reaches it in "
                    "initlab.runtime.private_api; see there why)"
                )
            obj = getattr(obj, part)
