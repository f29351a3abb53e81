"""The diagnostics' heavy writes off the training path: histograms and figures made by a helper
process while training goes on.

At a logging point the callback reads its scalars (one read from the device) and hands the
rest — the tensors of its histograms and the inputs of its figures, copied to the host — to
:class:`Offload`: a process forked from this one (``concurrent.futures`` with one worker) counts
the histograms and draws the figures with the very functions a synchronous write would call, on
the same values, so the events hold the same tags, steps and values; this process writes each
result to its run's TensorBoard writer once it is ready (at the next logging point), and all of
them at the end of every epoch, before its checkpoint: a run resumed from a checkpoint has every
event of the steps before it. A run that fails drops what was not written yet (its resume purges
the steps after its checkpoint anyway).

The helper is forked at the first logging point (no import, no copy of the data); its parent's
objects are frozen out of its garbage collector first (``gc.freeze``), so it never finalizes a
copy of a file the parent writes. It dies with its parent (``PR_SET_PDEATHSIG``). Where fork is
unavailable, in a daemonic process (a worker of the population launcher, which runs as many
of them as there are cores: no core to spare) or where ``INITLAB_DIAGNOSTICS_INLINE=1`` is set,
everything is done inline, with the same results.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import multiprocessing.util
import os
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import torch

from initlab.diagnostics.figures import histogram_stats

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _child_start(parent: int) -> None:
    # The parent's handlers are not its own: Ctrl-C and a preemption's SIGUSR1/2 (SLURM sends
    # them to every process of the job) are the parent's to handle; it ends the helper.
    for signum in (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)
    torch.set_num_threads(1)  # its parent's thread pool did not survive the fork
    os.nice(19)  # training first: it only takes a core its parent leaves idle


def _render(draw, args) -> np.ndarray:
    """The figure ``draw(*args)`` as TensorBoard's ``add_figure`` renders it: RGB, (3, H, W)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = draw(*args)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    width, height = canvas.get_width_height()
    rgba = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8).reshape(height, width, 4)
    return np.ascontiguousarray(np.moveaxis(rgba[:, :, :3], 2, 0))


def _make(jobs: list[tuple]) -> list:
    """A logging point's results, in order: one task (one round trip) per point."""
    return [fn(*args) for fn, args in jobs]


class Offload:
    """Histograms and figures for TensorBoard writers, made by a helper process (module
    docstring). What a logging point asks for is sent as one task by :meth:`send`; results are
    written in the order they were asked for."""

    def __init__(self, inline: bool | None = None):
        if inline is None:
            inline = (
                os.environ.get("INITLAB_DIAGNOSTICS_INLINE") == "1"
                or "fork" not in multiprocessing.get_all_start_methods()
                or multiprocessing.current_process().daemon  # may not have children
            )
        self.inline = inline
        self._executor: ProcessPoolExecutor | None = None
        self._point: list[tuple] = []  # (how a result is made, how it is written), not sent yet
        # (the point's results to come, how they are made, how they are written), in order
        self._pending: deque[tuple[Future, list, list]] = deque()

    def histogram(self, writer, tag: str, values: torch.Tensor, step: int) -> None:
        """``writer.add_histogram_raw`` of ``values`` (a tensor on any device) at ``step``."""
        values = values.detach().flatten().float().cpu()

        def write(stats) -> None:
            if stats is not None:
                writer.add_histogram_raw(tag, global_step=step, **stats)

        self._point.append(((histogram_stats, (values,)), write))

    def figure(self, writer, tag: str, step: int, draw, *args) -> None:
        """The figure ``draw(*args)`` (host values only) as ``tag``'s image at ``step``."""

        def write(image) -> None:
            writer.add_image(tag, image, step, dataformats="CHW")

        self._point.append(((_render, (draw, args)), write))

    def send(self) -> None:
        """The end of a logging point: send what it asked for (inline: make and write it now),
        then write the earlier points' results that are ready, without waiting."""
        point, self._point = self._point, []
        if point:
            jobs, writes = [job for job, _ in point], [write for _, write in point]
            future = None if self.inline else self._submit(jobs)
            if future is None:
                self.drain()  # what was sent before, in order
                for write, result in zip(writes, _make(jobs), strict=True):
                    write(result)
            else:
                self._pending.append((future, jobs, writes))
        while self._pending and self._pending[0][0].done():
            self._write_first()

    def _submit(self, jobs: list) -> Future | None:
        try:
            if self._executor is None:
                self._executor = self._start()
            return self._executor.submit(_make, jobs)
        except BrokenProcessPool:
            self._helper_died()
            return None

    def _helper_died(self) -> None:
        """The helper was killed: from now on, everything is made inline."""
        self._executor, self.inline = None, True

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_child_start,
            initargs=(os.getpid(),),
        )
        gc.freeze()  # the fork happens at the first submit, in this thread
        try:
            executor.submit(int).result()
        finally:
            gc.unfreeze()
        # A multiprocessing child (a joblib worker) joins its children before Python's exit
        # handlers, which would end the helper, run: it is ended first, among the finalizers
        # that run before that join.
        multiprocessing.util.Finalize(
            None, executor.shutdown, kwargs={"cancel_futures": True}, exitpriority=10
        )
        return executor

    def drain(self) -> None:
        """Send what is asked for, wait for every result and write it."""
        if self._point:
            self.send()
        while self._pending:
            self._write_first()

    def _write_first(self) -> None:
        future, jobs, writes = self._pending.popleft()
        try:
            results = future.result()
        except BrokenProcessPool:
            self._helper_died()
            results = _make(jobs)
        for write, result in zip(writes, results, strict=True):
            write(result)

    def discard(self) -> None:
        """Drop what is not written yet (the run failed)."""
        for future, _, _ in self._pending:
            future.cancel()
        self._pending.clear()
        self._point = []

    def close(self) -> None:
        self.discard()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


_PROCESS_OFFLOAD: Offload | None = None


def offload() -> Offload:
    """This process's :class:`Offload` (one helper serves every run and member in it)."""
    global _PROCESS_OFFLOAD
    if _PROCESS_OFFLOAD is None:
        _PROCESS_OFFLOAD = Offload()
    return _PROCESS_OFFLOAD
