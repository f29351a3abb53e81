"""One writer per run folder.

A run holds an exclusive ``flock`` on ``<folder>/.lock`` from before it writes anything until it
has written its final record. A second run or sweep aimed at the same folder finds it held and
leaves the folder alone (:class:`FolderBusy`), so two processes never train the same job at once
into the same checkpoints and event files. The kernel drops the lock when its holder exits,
killed or not, so a dead run never leaves its folder claimed; the lock file names the holder's
pid and host for the message.

A lock lives while any copy of its descriptor is open, and a forked process gets copies of them
all: a child that outlived its run (the diagnostics' helper process lives as long as the process
that forked it) would keep the run's folder claimed. So every fork closes the child's copies at
once (``os.register_at_fork``); each lock stays its holder's alone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"
# A file system without flock (e.g. Lustre mounted noflock): runs go on unguarded, with a warning.
UNSUPPORTED = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP)
BUSY_EXIT = 75  # EX_TEMPFAIL: a run aimed at a folder another process is writing; try later


class FolderBusy(RuntimeError):
    """Another process is writing this run folder."""

    def __init__(self, folder: Path, holder: str):
        self.folder, self.holder = folder, holder
        super().__init__(f"{folder} is being written by another process ({holder})")


_CLAIMED: dict[Path, int] = {}  # folder -> the descriptor holding its lock, taken by claim()
_HELD: set[int] = set()  # every descriptor of this process that holds a folder's lock


def _close_copies_in_child() -> None:
    for fd in _HELD:
        os.close(fd)
    _HELD.clear()
    _CLAIMED.clear()


os.register_at_fork(after_in_child=_close_copies_in_child)


def claim(folder: Path) -> None:
    """Take ``folder``'s lock now and keep it, or raise :class:`FolderBusy`: the run-start
    check, before Hydra writes into the folder, so two runs started at once cannot both pass it.
    The run's own :func:`hold` takes the lock over; the process's exit releases it otherwise."""
    folder = Path(folder).resolve()
    if folder not in _CLAIMED:
        _CLAIMED[folder] = _lock(folder)


@contextmanager
def hold(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the ``with`` block (taking over this process's
    :func:`claim`), or raise :class:`FolderBusy` at once."""
    fd = _CLAIMED.pop(Path(folder).resolve(), None)
    if fd is None:
        fd = _lock(Path(folder))
    try:
        yield
    finally:
        _HELD.discard(fd)
        os.close(fd)  # closing the descriptor releases the lock


def _lock(folder: Path) -> int:
    """An open descriptor on ``folder/.lock`` holding its exclusive lock, the holder's name
    written in it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderBusy(folder, holder(folder)) from None
    except OSError as err:
        if err.errno not in UNSUPPORTED:
            os.close(fd)
            raise
        _warn_unsupported(folder, err)
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    _HELD.add(fd)
    return fd


def is_held(folder: Path) -> bool:
    """Whether a live process holds ``folder``'s lock now."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError as err:
        if err.errno not in UNSUPPORTED:
            raise
        _warn_unsupported(folder, err)
        return False
    finally:
        os.close(fd)
    return False


def holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as its holder wrote it: ``pid N on host``."""
    try:
        return (folder / LOCK_NAME).read_text().strip() or "unknown pid"
    except OSError:
        return "unknown pid"


def _warn_unsupported(folder: Path, err: OSError) -> None:
    warnings.warn(
        f"{folder}: this file system does not support flock ({err.strerror}): nothing stops "
        "two runs from writing this folder at once, and a killed run reads as killed only "
        "once nothing is running",
        stacklevel=3,
    )
