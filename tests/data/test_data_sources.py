"""Where a dataset comes from when ``dataset.data_dir`` is given: that folder must exist, it is
the only source (its files or a download into it, never the system copy), and a download that
fails leaves it as it was. torchvision's download is replaced by fakes: no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision.datasets as tvd
from conftest import N_TEST, N_TRAIN, write_raw_mnist

from initlab import data
from initlab.config.errors import ConfigError
from initlab.data import readers


@pytest.fixture(autouse=True)
def fresh_cache():
    readers.load_vision.cache_clear()
    yield
    readers.load_vision.cache_clear()


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
