"""A run's record, ``metrics.json``: how a run ended, defined once for the run
(:mod:`initlab.training.run`), the sweeper and the report.

A run writes ``status: running`` before it trains and its final record when it ends, each time
whole (a temporary file and a rename). The statuses:

- ``completed``: trained and tested; ``metrics`` holds every final metric.
- ``collapsed``: trained and tested, but its predictions no longer depend on the input (a dead
  net: :mod:`initlab.training.collapse`); ``metrics`` holds every final metric. A result.
- ``diverged``: the loss became NaN/inf at ``diverged_at_step``; training stopped at the next
  read of the losses (:mod:`initlab.training.held_losses`). A result, not a crash.
- ``failed``: an exception or a signal; ``error`` says which. The process exits non-zero.
- ``running``: the run is in progress, or was killed before it could write anything else
  (SIGKILL, a power cut). :func:`status_of` tells the two apart by the folder's lock
  (:mod:`initlab.runtime.folder_lock`): a ``running`` record nobody holds the lock for is
  ``killed``.

:func:`status_of` adds ``missing`` (no record: the job never started) and ``unreadable`` (the
file is damaged). Only :data:`FINISHED` records are results; a sweep reruns every other job,
resuming it from its checkpoint when there is one (``resumed_from_step`` then says where).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from initlab.runtime.folder_lock import is_held

FILE = "metrics.json"
TRAINED = ("completed", "collapsed")  # trained and tested: every final metric recorded
FINISHED = (*TRAINED, "diverged")  # results: a rerun of the sweep keeps them
STATUSES = (*FINISHED, "failed", "running", "killed", "missing", "unreadable")


def new(cfg, overrides: list[str]) -> dict:
    """The record of a run of ``cfg`` (its composed config) starting now: its init, activation,
    dataset and model by name, its seed, the overrides that made it."""
    return {
        "status": "running",
        **{group: cfg[group].name for group in ("init", "activation", "dataset", "model")},
        "seed": cfg.seed,
        "overrides": list(overrides),
        "metrics": {},
        "epochs": 0,
        "steps": 0,
        "fit_seconds": None,
        "error": None,
        "resumed_from_step": None,
    }


def finite(metrics: dict) -> dict:
    """NaN/inf become null: the record stays valid JSON when a run diverges."""
    return {k: (float(v) if math.isfinite(float(v)) else None) for k, v in metrics.items()}


def write(folder: Path, record: dict) -> None:
    """Write ``record`` to ``folder/metrics.json`` through a temporary file and a rename:
    readers see the old file or the whole new one, never half of it. The file gets the mode
    any new file gets under the process's umask (mkstemp's own is 0600, which would hide
    results from the other users of a shared results folder)."""
    path = Path(folder) / FILE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask, read from /proc (setting it to read it would briefly change it
    for every thread of the process)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0)  # no /proc: the classic way
    os.umask(umask)
    return umask


def read(folder: Path) -> dict | None:
    """The record in ``folder``; None when there is none or it cannot be read."""
    try:
        record = json.loads((Path(folder) / FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") in STATUSES else None


def status_of(folder: Path) -> str:
    """How the job in ``folder`` stands: one of :data:`STATUSES`."""
    if not (Path(folder) / FILE).exists():
        return "running" if is_held(folder) else "missing"
    record = read(folder)
    if record is None:
        return "running" if is_held(folder) else "unreadable"
    if record["status"] == "running" and not is_held(folder):
        return "killed"
    return record["status"]
