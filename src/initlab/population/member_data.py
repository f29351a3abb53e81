"""A population's data: every member's own splits and batch order, stacked.

A member sees exactly the batches its sequential run sees. A run's train/val split and its input
standardization come from its ``seed`` (:class:`~initlab.data.TensorDataModule`), and so does the
order of each epoch (:class:`~initlab.data.batches.EpochShuffle`: a function of (seed, epoch)).
Members that share a seed share all of it, so the data is held once per distinct seed. When the
whole population has one seed, a batch is one ``(B, ...)`` tensor that every member reads
(``shared``); otherwise each member's rows are gathered into ``(members, B, ...)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import pytorch_lightning as pl
import torch

from initlab.data import TensorDataModule
from initlab.data.batches import EpochShuffle


class Epochs:
    """What Lightning calls ``set_epoch`` on: every seed's shuffle."""

    def __init__(self, shuffles: Sequence[EpochShuffle]):
        self.shuffles = list(shuffles)

    def set_epoch(self, epoch: int) -> None:
        for s in self.shuffles:
            s.set_epoch(epoch)


class PopulationBatches:
    """An epoch of ``(x, y)`` batches for all members: ``x`` is (B, ...) when the population has
    one seed, else (members, B, ...); ``y`` likewise (B,) or (members, B)."""

    batch_sampler = None

    def __init__(
        self,
        splits: Sequence[tuple[torch.Tensor, torch.Tensor]],  # per distinct seed
        member_split: torch.Tensor,  # (members,): which seed's split each member reads
        batch_size: int,
        shuffles: Sequence[EpochShuffle] | None = None,
    ):
        self.splits, self.member_split, self.batch_size = list(splits), member_split, batch_size
        self.n = len(self.splits[0][1])
        self.sampler = Epochs(shuffles) if shuffles else None

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        orders = (
            [s.permutation().to(self.splits[0][0].device) for s in self.sampler.shuffles]
            if self.sampler
            else None
        )
        for start in range(0, self.n, self.batch_size):
            end = min(start + self.batch_size, self.n)
            if orders is None:  # contiguous slices: views, no copy
                rows = [(x[start:end], y[start:end]) for x, y in self.splits]
            else:
                rows = [
                    (x[o[start:end]], y[o[start:end]])
                    for (x, y), o in zip(self.splits, orders, strict=True)
                ]
            if len(rows) == 1:
                yield rows[0]
            else:
                xs = torch.stack([x for x, _ in rows])[self.member_split]
                ys = torch.stack([y for _, y in rows])[self.member_split]
                yield xs, ys


class PopulationData(pl.LightningDataModule):
    """The members' datamodules, one per distinct seed (``datamodules``: the members' own, as
    their runs build them; those with the same seed are the same data)."""

    def __init__(self, datamodules: Sequence[TensorDataModule]):
        super().__init__()
        seeds = [dm.seed for dm in datamodules]
        self.seeds = sorted(set(seeds))
        first = {s: datamodules[seeds.index(s)] for s in self.seeds}
        self.by_seed = [first[s] for s in self.seeds]
        self.member_split = torch.tensor([self.seeds.index(s) for s in seeds])
        self.batch_size = self.by_seed[0].batch_size
        self.eval_batch_size = self.by_seed[0].eval_batch_size

    @property
    def shared(self) -> bool:
        return len(self.seeds) == 1

    def setup(self, stage: str) -> None:
        for dm in self.by_seed:
            dm.trainer = self.trainer  # its splits go to the device the population trains on
            dm.setup(stage)
        if self.trainer is not None:
            self.member_split = self.member_split.to(self.trainer.strategy.root_device)

    def split(self, seed: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return self.by_seed[self.seeds.index(seed)].splits[name]

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        if batch[0].device == device:
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _batches(self, name: str, batch_size: int, shuffle: bool) -> PopulationBatches:
        splits = [dm.splits[name] for dm in self.by_seed]
        shuffles = [
            EpochShuffle(len(s[1]), dm.seed) for s, dm in zip(splits, self.by_seed, strict=True)
        ]
        return PopulationBatches(
            splits, self.member_split, batch_size, shuffles if shuffle else None
        )

    def train_dataloader(self) -> PopulationBatches:
        return self._batches("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> PopulationBatches:
        return self._batches("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> PopulationBatches:
        return self._batches("test", self.eval_batch_size, shuffle=False)
