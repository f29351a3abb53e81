"""Where a dataset's files come from and how they are read (:mod:`initlab.data.readers`): the
IDX and CIFAR readers on small files the tests write, the source order, the offline error, and
``dataset.data_dir``: that folder must exist, it is the only source (its files or a download into
it, never the system copy), and a download that fails leaves it as it was. torchvision's
download is replaced by fakes: no network."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from conftest import N_TEST, N_TRAIN, write_raw_mnist

from initlab import data
from initlab.config.errors import ConfigError
from initlab.data import read_idx, readers


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


# ----------------------------------------------------------------------------------------------
# dataset.data_dir: the only source when given.


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    monkeypatch.setitem(readers.SYSTEM_DIRS, "fashion_mnist", tmp_path / "absent")


def test_a_data_dir_that_does_not_exist_is_refused(tmp_path):
    for make in (data.fashion_mnist, data.mnist, data.cifar10):
        with pytest.raises(ConfigError) as err:
            make(data_dir=str(tmp_path / "typo"))
        assert err.value.key == "data_dir" and "no such folder" in err.value.reason
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="no such folder"):
        data.mnist(data_dir=str(tmp_path / "file"))
    data.mnist(data_dir=str(tmp_path))  # an existing folder: fine (nothing read yet)


def test_a_given_data_dir_is_the_only_source(tmp_path, monkeypatch):
    """An empty data_dir while the system copy exists: no silent fallback to that copy."""
    system = tmp_path / "system"
    write_raw_mnist(system, fill=200)
    monkeypatch.setitem(readers.SYSTEM_DIRS, "fashion_mnist", system)

    def offline(name, root):
        assert root == mine  # a download would go into data_dir
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(readers, "_download", offline)
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(data.DatasetUnavailable) as err:
        data.fashion_mnist(data_dir=str(mine)).load()
    assert f"the system copy in {system}: leave dataset.data_dir unset" in str(err.value)
    xtr, *_ = data.fashion_mnist().load()  # without data_dir, the system copy
    assert torch.all(xtr == 200 / 255)


def _fake_download(write):
    """A stand-in for ``MNIST.download``: makes torchvision's ``<root>/MNIST/raw`` (as the real
    one does before fetching anything), then ``write(raw_folder)``."""

    def download(self):
        os.makedirs(self.raw_folder, exist_ok=True)
        write(Path(self.raw_folder))

    return download


def test_a_failed_download_leaves_data_dir_as_it_was(tmp_path, monkeypatch):
    def fail(raw: Path):
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"half a file")
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(tvd.MNIST, "download", _fake_download(fail))
    target = tmp_path / "mnist"
    target.mkdir()
    with pytest.raises(data.DatasetUnavailable, match="name resolution"):
        data.mnist(data_dir=str(target)).load()
    assert list(target.iterdir()) == []  # no MNIST/raw, no temporary folder


def test_a_failed_download_into_the_cache_leaves_no_folder(tmp_path, monkeypatch, no_system_copy):
    def fail(raw: Path):
        raise OSError("offline")

    monkeypatch.setattr(tvd.MNIST, "download", _fake_download(fail))
    cache = tmp_path / "cache" / "initlab"
    monkeypatch.setattr(readers, "DOWNLOAD_ROOT", cache)
    with pytest.raises(data.DatasetUnavailable):
        data.fashion_mnist().load()
    assert not cache.exists()


def test_a_download_moves_its_files_into_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(tvd.MNIST, "download", _fake_download(lambda raw: write_raw_mnist(raw, 7)))
    target = tmp_path / "mnist"
    target.mkdir()
    (target / "notes.txt").write_text("mine")  # what was there stays
    xtr, ytr, xte, yte = data.mnist(data_dir=str(target)).load()
    assert xtr.shape == (N_TRAIN, 1, 28, 28) and xte.shape == (N_TEST, 1, 28, 28)
    assert torch.all(xtr == 7 / 255) and ytr.dtype == torch.long and ytr.max() < 10
    assert sorted(p.name for p in target.iterdir()) == ["MNIST", "notes.txt"]
    assert sorted(p.name for p in (target / "MNIST" / "raw").iterdir()) == sorted(
        name for split in ("train", "test") for name in data.IDX_FILES[split]
    )

    # The next process finds the files there and downloads nothing.
    readers.load_vision.cache_clear()
    monkeypatch.setattr(readers, "_download", lambda *a: pytest.fail("must not download"))
    assert torch.equal(data.mnist(data_dir=str(target)).load()[0], xtr)


def test_the_cache_keeps_mnist_and_fashion_mnist_apart(tmp_path, monkeypatch, no_system_copy):
    """Both downloaded into the one cache (torchvision's ``MNIST/raw`` and ``FashionMNIST/raw``,
    the same file names): each name reads its own, and MNIST alone is not FashionMNIST."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(readers, "DOWNLOAD_ROOT", cache)
    monkeypatch.setattr(readers, "_download", lambda *a: pytest.fail("must not download"))
    write_raw_mnist(cache / "FashionMNIST" / "raw", fill=50)
    assert readers.present("mnist", None) is None
    assert readers.present("fashion_mnist", None) == cache / "FashionMNIST" / "raw"
    write_raw_mnist(cache / "MNIST" / "raw", fill=100)
    assert torch.all(data.mnist().load()[0] == 100 / 255)
    assert torch.all(data.fashion_mnist().load()[0] == 50 / 255)


def test_present_finds_a_complete_copy(tmp_path, monkeypatch, no_system_copy):
    """``present``: the folder a load would read (data_dir, then the system copy, then the
    cache), or None: what the reproductions ask before choosing the original data set."""
    monkeypatch.setattr(readers, "DOWNLOAD_ROOT", tmp_path / "cache")
    mine = tmp_path / "mine"
    assert readers.present("mnist", None) is None
    write_raw_mnist(mine)
    assert readers.present("mnist", str(mine)) == mine
    assert readers.present("mnist", None) is None  # data_dir is not the cache
    (mine / data.IDX_FILES["test"][1]).unlink()  # an incomplete copy is no copy
    assert readers.present("mnist", str(mine)) is None
    assert readers.present("cifar10", str(tmp_path)) is None
