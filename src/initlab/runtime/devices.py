"""One job per GPU: each job of a sweep claims a free GPU for as long as it runs.

Jobs finish out of order, so ``job.num % n_gpus`` double-books a GPU as soon as a short job's
successor lands on a GPU a long job still holds. Instead every device has a lock file in the
sweep folder; a job takes an exclusive ``flock`` on the first free one and keeps it until it
ends. The kernel drops the lock when the holder exits, even when it is killed, so a crashed job
never leaves its GPU claimed.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def claim(devices: Sequence[int], lock_dir: Path, poll_seconds: float = 0.2) -> Iterator[int]:
    """Hold one of ``devices`` (device indices) for the ``with`` block; wait while all are
    held by other processes. Yields the index."""
    if not devices:
        raise RuntimeError("no GPU to claim: trainer=gpu in a sweep needs at least one")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for device in devices:
            with open(lock_dir / f"gpu{device}.lock", "w") as handle:  # closing it unlocks
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another job holds it
                    continue
                yield device
                return
        time.sleep(poll_seconds)


def ddp_rank() -> int:
    """This process's rank in a DDP run that Lightning launched by running the script again
    once per extra device (0 in the process the user started, and when there is no DDP)."""
    return int(os.environ.get("LOCAL_RANK", 0)) + int(os.environ.get("NODE_RANK", 0))
