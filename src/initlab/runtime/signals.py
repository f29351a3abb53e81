"""Signals end a run honestly: a SIGTERM (a scheduler, ``kill``), SIGINT (Ctrl-C) or SIGHUP
(the terminal closed) becomes :class:`Signalled`, an exception that unwinds the run like any
other — Lightning tears down, the run records ``status: failed`` with the signal's name in
``error`` — and then ends the process by that same signal (:meth:`Signalled.die`): a shell sees
128 + the signal's number (143 for SIGTERM, 130 for SIGINT), so a scheduler or a script never
mistakes a stopped run for a finished one. Uncaught (another entry point), it exits with that
status. SIGKILL cannot be caught: its run keeps the ``running`` record it wrote when
it started, which :mod:`initlab.training.record` reads as ``killed``.

The first signal stops the process; every one after it is ignored, so that none can interrupt
the recording of the run the first stopped (as Lightning ignores a second Ctrl-C while it shuts
down; ``kill -9`` still ends a process whose shutdown hangs). They come in bursts: Linux sends a
population worker's ``PR_SET_PDEATHSIG`` (:mod:`initlab.population.workers`) once for each
thread of its dying parent, and a sweep has dozens of threads. A code path that waits rather
than trains calls :func:`check` too, since no repeat will come to raise a lost exception again.

Lightning composes its own SIGTERM handler with the one installed here: it notes the signal,
then this one raises.

Under submitit (a SLURM job started by ``hydra/launcher=submitit_slurm``) submitit's own
handlers stay: SIGUSR2 (preemption, the time limit) checkpoints and requeues the job, which
resumes from its checkpoint; SIGTERM is ignored. One guard is added. SLURM may deliver the
SIGUSR2 to every process of the step more than once within milliseconds (seen on
``scripts/local_slurm.sh``'s cluster, ``proctrack/linuxproc``), and submitit's handler survives
neither repeat: run again, it finds its own temporary file and raises; and the ``scontrol
requeue`` it starts is itself a process of the step, killed by the repeat. Either way the job
ends failed instead of requeued. So the handler runs once, with SIGUSR2 blocked from then on,
in this process and in the children it starts (they inherit the mask).
"""

from __future__ import annotations

import logging
import os
import signal
import sys

CAUGHT = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Signalled(SystemExit):
    """The run was stopped by a signal. Its exit status is 128 + the signal's number."""

    def __init__(self, signum: int):
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(128 + signum)

    def __str__(self) -> str:
        return f"stopped by {self.name}"

    def __reduce__(self):  # a joblib worker sends it to the sweep's process pickled
        return (Signalled, (self.signum,))

    def die(self) -> None:
        """End the process by the signal itself, once everything is written: a shell sees
        128 + n, and ``WIFSIGNALED`` holds, so a ``for`` loop in a script stops at Ctrl-C as it
        would for any program (exiting 130 would let it go on). The entry points call this at
        the top, outside Hydra."""
        logging.shutdown()  # train.log's last lines: no atexit handler runs after this
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(self.signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {self.signum})
        os.kill(os.getpid(), self.signum)


_received: int | None = None  # the signal this process was stopped by, once one came


def _raise(signum: int, frame) -> None:
    global _received
    if _received is not None:  # stopping already: a repeat must not interrupt the recording
        return
    _received = signum
    raise Signalled(signum)


def as_signalled(err: BaseException | None) -> Signalled | None:
    """The :class:`Signalled` that ``err`` stands for: itself, or, when a signal came and code
    it interrupted turned the exception into another one (a library's ``try``/``finally`` that
    raises its own error while unwinding; seen in matplotlib's drawing) or swallowed it
    (``err`` is None), a new one; else None."""
    if isinstance(err, Signalled):
        return err
    return Signalled(_received) if _received is not None else None


def check() -> None:
    """Raise :class:`Signalled` if a signal came. Its handler raised already, but the exception
    can be lost: a handler that runs inside a finalizer (``__del__``, a weakref callback, as
    matplotlib's are when the garbage collector runs mid-fit) has its exception printed as
    "Exception ignored in" and the code goes on. A run calls this at every batch."""
    stop = as_signalled(None)
    if stop is not None:
        raise stop


def under_submitit() -> bool:
    """Whether this process is a job that submitit started (it sets SUBMITIT_EXECUTOR)."""
    return "SUBMITIT_EXECUTOR" in os.environ


def install() -> None:
    """Make SIGTERM, SIGINT and SIGHUP raise :class:`Signalled` in this process's main thread
    (those the parent set to be ignored stay ignored); under submitit, make its SIGUSR2 handler
    run once."""
    if under_submitit():
        _first_call_only(signal.SIGUSR2)
        return
    for signum in CAUGHT:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIGHUP, `cmd &`'s SIGINT
            signal.signal(signum, _raise)


def _first_call_only(signum: int) -> None:
    handler = signal.getsignal(signum)
    if not callable(handler) or getattr(handler, "first_call_only", False):
        return
    called = False

    def once(num: int, frame) -> None:
        nonlocal called
        if called:
            logging.getLogger(__name__).warning(
                "%s again: already handled", signal.Signals(num).name
            )
            return
        called = True
        signal.pthread_sigmask(signal.SIG_BLOCK, {num})  # for scontrol too: it inherits this
        handler(num, frame)

    once.first_call_only = True
    signal.signal(signum, once)
