"""Data: IDX/CIFAR readers on small files the tests write, the source order, the offline
error, batching by permutation, the seeded split and normalisation."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from initlab import data
from initlab.config.errors import ConfigError
from initlab.data import EpochShuffle, TensorBatches, TensorDataModule, read_idx, readers


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}i", *array.shape
    )
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def write_idx_set(folder: Path, n_train: int, n_test: int, fill: int, compress: bool) -> None:
    """A tiny MNIST-format set whose pixels all equal ``fill`` (so the source is recognisable)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = data.IDX_FILES[split]
        write_idx(folder / images, np.full((n, 28, 28), fill), compress)
        write_idx(folder / labels, rng.integers(0, 10, n), compress)


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    readers.load_vision.cache_clear()
    yield
    readers.load_vision.cache_clear()


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    array = np.random.default_rng(1).integers(0, 256, (5, 28, 28))
    write_idx(tmp_path / "x", array, compress)
    got = read_idx(tmp_path / ("x.gz" if compress else "x"))
    assert got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), array)


def test_read_idx_rejects_truncated_file(tmp_path):
    write_idx(tmp_path / "x", np.zeros((5, 28, 28)), compress=False)
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-10])
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "x")


def test_source_order_data_dir_then_system_copy(tmp_path, monkeypatch):
    system = tmp_path / "system"
    write_idx_set(system, 30, 10, fill=200, compress=True)  # like Debian's package: .gz files
    monkeypatch.setitem(readers.SYSTEM_DIRS, "fashion_mnist", system)
    monkeypatch.setattr(readers, "_download", lambda *a: pytest.fail("must not download"))

    # No data_dir: the system copy.
    xtr, ytr, xte, yte = data.fashion_mnist().load()
    assert xtr.shape == (30, 1, 28, 28) and xte.shape == (10, 1, 28, 28)
    assert ytr.dtype == torch.long and torch.allclose(xtr, torch.full_like(xtr, 200 / 255))

    # data_dir wins over the system copy (uncompressed files in torchvision's raw/ layout).
    mine = tmp_path / "mine"
    write_idx_set(mine / "FashionMNIST" / "raw", 20, 5, fill=50, compress=False)
    xtr, *_ = data.fashion_mnist(data_dir=str(mine)).load()
    assert xtr.shape == (20, 1, 28, 28) and torch.allclose(xtr, torch.full_like(xtr, 50 / 255))


def test_offline_error_names_every_way(tmp_path, monkeypatch):
    monkeypatch.setitem(readers.SYSTEM_DIRS, "fashion_mnist", tmp_path / "absent")

    def offline(name, root):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(readers, "_download", offline)
    (tmp_path / "empty").mkdir()  # a data_dir that is given must exist
    with pytest.raises(data.DatasetUnavailable) as err:
        data.fashion_mnist(data_dir=str(tmp_path / "empty")).load()
    message = str(err.value)
    assert "dataset.data_dir" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "torchvision" in message and "name resolution" in message
    assert "dataset=digits" in message


def test_cifar_pickles(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "_download", lambda *a: pytest.fail("must not download"))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        batch = {b"data": np.full((4, 3072), i, dtype=np.uint8), b"labels": [i % 10] * 4}
        (folder / name).write_bytes(pickle.dumps(batch))
    xtr, ytr, xte, yte = data.cifar10(data_dir=str(tmp_path)).load()
    assert xtr.shape == (20, 3, 32, 32) and xte.shape == (4, 3, 32, 32)
    assert ytr.tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4
    assert torch.all(xte == 5 / 255)


@pytest.mark.skipif(
    not data.SYSTEM_DIRS["fashion_mnist"].is_dir(), reason="dataset-fashion-mnist not installed"
)
def test_system_fashion_mnist_matches_torchvision_reader(tmp_path):
    """The real Debian copy: sizes, and our .gz reader against torchvision's own IDX parser."""
    from torchvision.datasets.mnist import read_image_file

    xtr, ytr, xte, yte = data.fashion_mnist().load()
    assert xtr.shape == (60000, 1, 28, 28) and xte.shape == (10000, 1, 28, 28)
    assert torch.bincount(yte).tolist() == [1000] * 10
    raw = tmp_path / "t10k-images-idx3-ubyte"
    raw.write_bytes(
        gzip.decompress((data.SYSTEM_DIRS["fashion_mnist"] / (raw.name + ".gz")).read_bytes())
    )
    assert torch.equal(read_image_file(str(raw)), read_idx(raw))


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
