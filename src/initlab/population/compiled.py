"""``hydra.launcher.compile=true``: a population's training objective — the stacked forward and
the members' losses, and their backward — compiled by ``torch.compile``; on a GPU with CUDA
graphs (``mode="reduce-overhead"``), which replay a step's many small kernels as one launch.

The optimizer's step and the diagnostics points stay eager (a diagnostics point records the
layers' inputs and outputs with hooks). The compiled objective computes what the eager one
computes up to the order of floating-point sums (tests/population/test_compiled.py compares
the members' results with their jobs' within the population tests' tolerance). Compiling costs
tens of seconds at the first step (and again for the epoch's shorter last batch, and when a
member stops): it pays off for long populations of small nets, not for a one-epoch grid.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import torch

from initlab.population.stack import Stack


def eager_because(stack: Stack) -> str | None:
    """Why ``stack``'s objective cannot be compiled here, or None."""
    if stack.has_dropout:
        return (
            "its net has dropout, whose masks each member draws from its own RNG in Python "
            "(torch.compile would trace one draw)"
        )
    device = next(iter(stack.params.values())).device
    if device.type == "cpu" and shutil.which(os.environ.get("CXX", "g++")) is None:
        return "torch.compile on the CPU needs a C++ compiler (g++: apt-get install g++)"
    return None


def compiled(objective: Callable, device: torch.device) -> Callable:
    """``objective`` compiled for ``device``; on CUDA each call starts a new CUDA-graph step
    and its outputs are copied out of the graph's memory, which the next replay overwrites
    (the step's losses are held until a read point)."""
    if device.type != "cuda":
        return torch.compile(objective, dynamic=False)
    graphed = torch.compile(objective, mode="reduce-overhead", dynamic=False)

    def step(*args):
        torch.compiler.cudagraph_mark_step_begin()
        return tuple(out.clone() for out in graphed(*args))

    return step
