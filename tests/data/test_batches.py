"""An epoch's order and its batches (:mod:`initlab.data.batches`): every example once an epoch,
the order fixed by seed and epoch alone, DDP shards disjoint and equal."""

from __future__ import annotations

import torch

from initlab.data import EpochShuffle, TensorBatches


def test_batches_cover_each_example_once_per_epoch():
    x, y = torch.arange(103).float().unsqueeze(1), torch.arange(103)
    batches = TensorBatches(x, y, 10, EpochShuffle(103, seed=0))
    assert len(batches) == 11
    epoch0 = torch.cat([b[1] for b in batches])
    batches.sampler.set_epoch(1)  # Lightning does this before every epoch
    epoch1 = torch.cat([b[1] for b in batches])
    assert sorted(epoch0.tolist()) == list(range(103))
    assert not torch.equal(epoch0, epoch1)  # a new permutation every epoch
    for xb, yb in batches:
        assert torch.equal(xb.squeeze(1).long(), yb)  # inputs stay paired with labels


def test_ddp_shards_are_disjoint_and_equal():
    x, y = torch.zeros(101, 1), torch.arange(101)
    shards = [
        torch.cat(
            [b[1] for b in TensorBatches(x, y, 8, EpochShuffle(101, seed=3), rank=r, world=4)]
        )
        for r in range(4)
    ]
    assert all(len(s) == 25 for s in shards)
    assert len(set(torch.cat(shards).tolist())) == 100


def test_an_epochs_order_depends_on_seed_and_epoch_alone():
    # A resumed run makes a new sampler: epoch k's order must not depend on the epochs before.
    def order(seed, epoch, fresh=True):
        sampler = EpochShuffle(50, seed)
        if not fresh:
            for e in range(epoch):  # the uninterrupted run's history
                sampler.set_epoch(e)
                sampler.permutation()
        sampler.set_epoch(epoch)
        return sampler.permutation()

    assert torch.equal(order(0, 3), order(0, 3, fresh=False))
    orders = [order(s, e) for s, e in [(0, 0), (0, 1), (1, 0), (1, 1)]]
    assert all(not torch.equal(a, b) for i, a in enumerate(orders) for b in orders[i + 1 :])
