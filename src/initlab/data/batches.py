"""Batching by index permutation over tensors already on their device: no DataLoader."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch


class EpochShuffle:
    """The order of one epoch's examples: a permutation drawn from a generator seeded by
    ``(seed, epoch)`` alone, like :class:`torch.utils.data.DistributedSampler`.

    No generator state carries from one epoch to the next, so a run resumed at epoch k (whose
    checkpoint restored Lightning's epoch counter) draws the very permutation the uninterrupted
    run drew. Lightning calls ``set_epoch`` on a loader's ``sampler`` before every epoch.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def permutation(self) -> torch.Tensor:
        # SeedSequence mixes (seed, epoch) into one 64-bit seed: (0, 1) and (1, 0) differ.
        mixed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)[0])
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(mixed))


class TensorBatches:
    """An epoch of ``(x[idx], y[idx])`` batches over tensors already on their device.

    With a ``sampler`` (:class:`EpochShuffle`), each epoch takes its permutation; under DDP each
    rank takes every ``world``-th index of it, so ranks see disjoint, equal-sized shards.
    ``sampler`` and ``batch_sampler`` are where Lightning looks on a DataLoader.
    """

    batch_sampler = None

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        sampler: EpochShuffle | None = None,
        rank: int = 0,
        world: int = 1,
    ):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.sampler, self.rank, self.world = sampler, rank, world
        self.n = len(y) // world if world > 1 else len(y)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.sampler is not None:
            order = self.sampler.permutation()
            order = order[self.rank :: self.world][: self.n].to(self.x.device)
            for i in range(0, self.n, self.batch_size):
                idx = order[i : i + self.batch_size]
                yield self.x[idx], self.y[idx]
        else:  # contiguous slices are views: no copy
            start = self.rank * self.n
            for i in range(start, start + self.n, self.batch_size):
                end = min(i + self.batch_size, start + self.n)
                yield self.x[i:end], self.y[i:end]
