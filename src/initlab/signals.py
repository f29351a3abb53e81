"""Signals end a run honestly: a SIGTERM (a scheduler, ``kill``), SIGINT (Ctrl-C) or SIGHUP
(the terminal closed) becomes :class:`Signalled`, an exception that unwinds the run like any
other — Lightning tears down, the run records ``status: failed`` with the signal's name in
``error`` — and then exits the process with status 128 + the signal's number (143 for SIGTERM,
130 for SIGINT), the shell's convention, so a scheduler or a script never mistakes a stopped run
for a finished one. SIGKILL cannot be caught: its run keeps the ``running`` record it wrote when
it started, which :mod:`initlab.record` reads as ``killed``.

Lightning composes its own SIGTERM handler with the one installed here: it notes the signal,
then this one raises.

Under submitit (a SLURM job started by ``hydra/launcher=submitit_slurm``) nothing is installed:
submitit's own handlers checkpoint and requeue the job on preemption or timeout, and the
requeued job resumes from its checkpoint.
"""

from __future__ import annotations

import os
import signal

CAUGHT = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Signalled(SystemExit):
    """The run was stopped by a signal. Its exit status is 128 + the signal's number."""

    def __init__(self, signum: int):
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(128 + signum)

    def __str__(self) -> str:
        return f"stopped by {self.name}"


def _raise(signum: int, frame) -> None:
    raise Signalled(signum)


def under_submitit() -> bool:
    """Whether this process is a job that submitit started (it sets SUBMITIT_EXECUTOR)."""
    return "SUBMITIT_EXECUTOR" in os.environ


def install() -> None:
    """Make SIGTERM, SIGINT and SIGHUP raise :class:`Signalled` in this process's main thread."""
    if under_submitit():
        return
    for signum in CAUGHT:
        signal.signal(signum, _raise)
