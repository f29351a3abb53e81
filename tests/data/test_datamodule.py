"""The datamodule (:mod:`initlab.data.datamodule`): the seeded split, normalisation, the
training subset, and a split too large named by its key."""

from __future__ import annotations

import pytest
import torch

from initlab import data
from initlab.config.errors import ConfigError
from initlab.data import TensorDataModule


def test_split_is_fixed_by_seed_and_standardized():
    def splits(seed):
        dm = TensorDataModule(data.digits(), val_size=180, seed=seed)
        dm.setup("fit")
        return dm.splits

    a, b, c = splits(0), splits(0), splits(1)
    assert torch.equal(a["val"][1], b["val"][1]) and not torch.equal(a["val"][1], c["val"][1])
    assert torch.equal(a["test"][1], c["test"][1])  # the test set does not depend on the seed
    assert len(a["train"][1]) == 1797 - 360 - 180 and len(a["val"][1]) == 180
    x = a["train"][0]
    assert abs(x.mean().item()) < 1e-5 and x.std().item() == pytest.approx(1, abs=1e-3)


def test_train_size_keeps_the_first_training_examples_in_the_data_sets_order():
    full = TensorDataModule(data.digits(), val_size=180, seed=3, normalize="none")
    first = TensorDataModule(data.digits(), val_size=180, seed=3, normalize="none", train_size=50)
    full.setup("fit"), first.setup("fit")
    assert torch.equal(first.splits["val"][1], full.splits["val"][1])  # the same split
    x, y = data.digits().load()[:2]
    held_out = {tuple(v.flatten().tolist()) for v in full.splits["val"][0]}
    kept = [i for i in range(len(y)) if tuple(x[i].flatten().tolist()) not in held_out][:50]
    assert torch.equal(first.splits["train"][0], x[kept]) and len(first.splits["train"][1]) == 50
    too_many = TensorDataModule(data.digits(), val_size=180, train_size=1258)
    with pytest.raises(ConfigError, match="dataset.train_size=1258"):
        too_many.setup("fit")


def test_val_size_too_big_names_the_key():
    dm = TensorDataModule(data.digits(), val_size=5000)
    with pytest.raises(ConfigError, match="dataset.val_size=5000"):
        dm.setup("fit")
