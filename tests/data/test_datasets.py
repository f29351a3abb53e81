"""Every dataset that loads without the network delivers what its entry declares."""

from __future__ import annotations

import pytest
import torch

from initlab.data import DATASETS

# Datasets whose load() works offline on a machine set up as the README says (fashion_mnist:
# Debian's dataset-fashion-mnist; the others bundled or generated).
OFFLINE = [
    "fashion_mnist",
    "digits",
    "gaussian",
]


@pytest.mark.parametrize("name", OFFLINE)
def test_an_offline_dataset_loads_what_it_declares(name):
    data = DATASETS.get(name)()
    x_train, y_train, x_test, y_test = data.load()
    assert x_train.dtype == x_test.dtype == torch.float32
    assert y_train.dtype == y_test.dtype == torch.int64
    assert tuple(x_train.shape[1:]) == tuple(x_test.shape[1:]) == data.in_shape
    assert len(x_train) == len(y_train) and len(x_test) == len(y_test) > 0
    if data.n_train is not None:
        assert len(x_train) == data.n_train
    assert set(y_train.tolist()) == set(range(data.num_classes))  # every class, no other label
    assert set(y_test.tolist()) <= set(range(data.num_classes))
    assert torch.isfinite(x_train).all() and torch.isfinite(x_test).all()
