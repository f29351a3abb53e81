"""The diagnostics' helper process: the same histograms and images as written inline, in the
order asked for, and no helper outliving its parent."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import QUICK, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard._utils import figure_to_image
from torch.utils.tensorboard.summary import histogram as tb_histogram

from initlab.diagnostics import offload as offload_module
from initlab.diagnostics.figures import depth_figure, histogram_figure, histogram_stats
from initlab.diagnostics.offload import Offload, _render
from initlab.runtime import folder_lock
from initlab.training.run import run


class Writer:
    """What a SummaryWriter is asked to write, in order."""

    def __init__(self):
        self.calls = []

    def add_histogram_raw(self, tag, global_step, **stats):
        self.calls.append(("histogram", tag, global_step, stats))

    def add_image(self, tag, image, step, dataformats):
        self.calls.append(("image", tag, step, image.tobytes(), image.shape, dataformats))


def ask(work: Offload, writer: Writer, weights: torch.Tensor) -> None:
    outputs = {"layer1": torch.tanh(weights[:1000]), "layer2": torch.relu(weights[1000:3000])}
    work.histogram(writer, "weights/layer1", weights, 0)
    work.figure(writer, "diagnostics/activation_histograms", 0, histogram_figure, outputs, "s")
    std, grad = {"layer1": 1.0, "layer2": 0.5}, {"layer1": 2.0, "layer2": 0.1}
    work.figure(writer, "diagnostics/depth", 0, depth_figure, std, grad)
    work.histogram(writer, "weights/layer2", torch.full((10,), float("nan")), 0)  # none finite
    work.send()  # the end of a logging point
    work.histogram(writer, "weights/layer3", weights * 3, 7)
    work.send()


def test_the_helper_writes_what_inline_writes_in_the_same_order():
    weights = torch.randn(200_000, generator=torch.Generator().manual_seed(0))  # 784 × 256
    inline, helper = Writer(), Writer()
    ask(Offload(inline=True), inline, weights)
    work = Offload(inline=False)
    try:
        ask(work, helper, weights)
        assert work._executor is not None and work._pending  # it went through a helper
        work.drain()
    finally:
        work.close()
    assert [c[:3] for c in helper.calls] == [
        ("histogram", "weights/layer1", 0),
        ("image", "diagnostics/activation_histograms", 0),
        ("image", "diagnostics/depth", 0),
        ("histogram", "weights/layer3", 7),
    ]  # the all-NaN tensor has no histogram, inline or not
    assert helper.calls == inline.calls  # bit for bit: counts, sums, pixels


def test_the_histogram_counts_what_tensorboard_counts():
    values = torch.randn(200_000, generator=torch.Generator().manual_seed(1))
    stats = histogram_stats(values)
    assert stats["num"] == 200_000 and sum(stats["bucket_counts"]) == 200_000
    assert stats["min"] == float(values.min()) and stats["max"] == float(values.max())
    assert stats["sum_squares"] == pytest.approx(float((values.double() ** 2).sum()), rel=1e-5)
    # numpy's counts over the same 64 bins (torch.histc and numpy disagree on at most a few
    # values that sit on a bin edge in float32)
    counts, _ = np.histogram(values.numpy(), bins=np.linspace(stats["min"], stats["max"], 65))
    assert np.abs(np.array(stats["bucket_counts"][1:]) - counts).sum() <= 4
    reference = tb_histogram("h", values.numpy(), bins=64).value[0].histo
    assert reference.num == stats["num"] and reference.min == stats["min"]


def test_a_figure_has_the_pixels_add_figure_would_write():
    args = ({"layer1": 1.0, "layer2": 0.25}, {"layer1": 0.5, "layer2": float("nan")})
    expected = figure_to_image(depth_figure(*args))
    got = _render(depth_figure, args)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_a_dead_helper_is_replaced_by_inline_work():
    weights = torch.randn(5000, generator=torch.Generator().manual_seed(2))
    inline, helper = Writer(), Writer()
    ask(Offload(inline=True), inline, weights)
    work = Offload(inline=False)
    try:
        work.histogram(helper, "warm", weights, 0)
        work.drain()
        helper.calls.clear()
        (pid,) = work._executor._processes
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        ask(work, helper, weights)
        work.drain()
    finally:
        work.close()
    assert work.inline and helper.calls == inline.calls


HELPER_PARENT = """
import os, sys, time, torch
from initlab.diagnostics.offload import Offload
from initlab.diagnostics.figures import depth_figure
class W:
    def add_image(self, *a, **k): pass
work = Offload(inline=False)
work.figure(W(), "t", 0, depth_figure, {"layer1": 1.0}, None)
work.drain()
print(*work._executor._processes, flush=True)
time.sleep(60)
"""


def test_the_helper_dies_with_its_parent():
    parent = subprocess.Popen(
        [sys.executable, "-c", HELPER_PARENT], stdout=subprocess.PIPE, text=True
    )
    try:
        helper = int(parent.stdout.readline())
        os.kill(helper, 0)  # alive while its parent is
        parent.kill()  # kill -9: no handler of the parent runs
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(helper, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the helper {helper} outlived its parent")
    finally:
        parent.kill()


def test_the_helper_leaves_a_preemption_signal_to_its_parent(tmp_path):
    handled = tmp_path / "handled"
    before = signal.signal(signal.SIGUSR2, lambda *_: handled.write_text(str(os.getpid())))
    work = Offload(inline=False)
    try:
        work.histogram(Writer(), "t", torch.arange(10.0), 0)
        work.drain()
        (pid,) = work._executor._processes
        os.kill(pid, signal.SIGUSR2)  # what SLURM sends every process of a job it preempts
        time.sleep(0.5)
        os.kill(pid, 0)  # still alive
        assert not handled.exists()  # and the parent's handler did not run in it
    finally:
        work.close()
        signal.signal(signal.SIGUSR2, before)


def _work_in_a_child() -> None:
    work = Offload(inline=False)
    work.histogram(Writer(), "t", torch.arange(10.0), 0)
    work.drain()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_process_whose_child_used_the_helper_ends(method):
    # a joblib (loky) worker, or any multiprocessing child: its exit joins its own children
    # before Python's exit handlers run, so the helper must be told to end before that
    child = multiprocessing.get_context(method).Process(target=_work_in_a_child)
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
        pytest.fail("the process that used the helper did not end")
    assert child.exitcode == 0


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"histograms": 0, "images": 0})
    acc.Reload()
    return acc


def test_a_run_writes_the_same_events_with_and_without_the_helper(tmp_path, monkeypatch):
    overrides = [*QUICK, "diagnostics.every_n_steps=10"]
    dirs = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("INITLAB_DIAGNOSTICS_INLINE", mode)
        monkeypatch.setattr(offload_module, "_PROCESS_OFFLOAD", None)
        dirs[mode] = tmp_path / mode
        run(make_cfg(*overrides), dirs[mode], overrides)
        assert offload_module._PROCESS_OFFLOAD.inline == (mode == "1")
        # the helper, forked while the run held its folder, lives on and does not hold it
        assert not folder_lock.is_held(dirs[mode])
        offload_module._PROCESS_OFFLOAD.close()
    a, b = events(dirs["0"]), events(dirs["1"])
    assert a.Tags()["histograms"] and a.Tags()["images"]
    assert a.Tags()["histograms"] == b.Tags()["histograms"]
    assert a.Tags()["images"] == b.Tags()["images"]
    for tag in a.Tags()["histograms"]:
        assert [(e.step, e.histogram_value) for e in a.Histograms(tag)] == [
            (e.step, e.histogram_value) for e in b.Histograms(tag)
        ], tag
    for tag in a.Tags()["images"]:
        assert [e.encoded_image_string for e in a.Images(tag)] == [
            e.encoded_image_string for e in b.Images(tag)
        ], tag
        assert [e.step for e in a.Images(tag)] == [e.step for e in b.Images(tag)]
