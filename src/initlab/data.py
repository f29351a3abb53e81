"""Datasets held as tensors in memory, batched by index permutation.

These sets are small (FashionMNIST is 188 MB as float32), so each is read once per process into
tensors (moved to the GPU when training there) and a batch is ``x[idx]`` for a slice of a random
permutation: no per-sample Python transforms, no DataLoader workers.

A dataset entry is a function of plain arguments returning a :class:`Dataset`: its input shape
and class count (known without reading anything, so configs validate before any I/O) and a
``load`` that reads the data.

Sources for the IDX sets (DESIGN.md §Data): ``dataset.data_dir`` → the system copy from Debian's
``dataset-fashion-mnist`` package → torchvision's download (needs internet). A ``data_dir`` that
is given is the only source: the files in it, or a download into it, never another copy.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from initlab.errors import ConfigError, integer, number, positive_int

Arrays = tuple[
    torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor
]  # x_train, y_train, x_test, y_test

SYSTEM_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
DOWNLOAD_ROOT = Path.home() / ".cache" / "initlab"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
TORCHVISION_CLASS = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST", "cifar10": "CIFAR10"}


class DatasetUnavailable(RuntimeError):
    """No source could provide the dataset (offline and no local copy)."""


@dataclass(frozen=True)
class Dataset:
    name: str
    in_shape: tuple[int, ...]  # one example, e.g. (1, 28, 28)
    num_classes: int
    load: Callable[[], Arrays]  # x as float32 in [0, 1] (images) of shape (N, *in_shape), y int64
    # Training examples (before the validation split), known without reading, so validation
    # can refuse a val_size that leaves none; None: unknown until load().
    n_train: int | None = None


# ----------------------------------------------------------------------------------------------
# Readers.


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (LeCun's MNIST format), gzip-compressed or not, into a uint8 tensor.

    Header: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each
    dimension as a big-endian int32. torchvision's reader takes only uncompressed files, and
    Debian ships the .gz files.
    """
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != math.prod(shape):
        raise ValueError(f"{path}: header says {shape}, file holds {array.size} values")
    return torch.from_numpy(array.reshape(shape).copy())


def _find_idx(folder: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``folder`` or in torchvision's ``<folder>/<Class>/raw``."""
    for sub in [folder, *folder.glob("*/raw")]:
        for name in (stem, stem + ".gz"):
            if (sub / name).is_file():
                return sub / name
    return None


def _read_idx_folder(folder: Path) -> Arrays | None:
    paths = [_find_idx(folder, stem) for split in ("train", "test") for stem in IDX_FILES[split]]
    if any(p is None for p in paths):
        return None
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)
    return xtr.unsqueeze(1), ytr.long(), xte.unsqueeze(1), yte.long()  # (N, 1, 28, 28)


def _read_cifar_folder(folder: Path) -> Arrays | None:
    """CIFAR-10's python pickles (``data_batch_1..5``, ``test_batch``), in ``folder`` or its
    ``cifar-10-batches-py``. Each holds b"data" (N, 3072) uint8 in CHW order and b"labels"."""
    for sub in (folder, folder / "cifar-10-batches-py"):
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        if all((sub / n).is_file() for n in names):
            batches = []
            for n in names:
                with open(sub / n, "rb") as f:
                    d = pickle.load(f, encoding="bytes")
                x = torch.from_numpy(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                batches.append((x, torch.as_tensor(d[b"labels"], dtype=torch.long)))
            xtr = torch.cat([b[0] for b in batches[:5]])
            ytr = torch.cat([b[1] for b in batches[:5]])
            return xtr, ytr, *batches[5]
    return None


def _download(name: str, root: Path) -> Arrays:
    """torchvision's download (it verifies checksums) into a temporary folder inside ``root``,
    whose files move into ``root`` only once both splits have loaded: a failed or interrupted
    download leaves ``root`` as it was (no half-made ``MNIST/raw``)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_CLASS[name])
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        train = cls(staging, train=True, download=True)
        test = cls(staging, train=False, download=True)
        _move_into(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):  # the folder this call made, if still empty
                root.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)

    def x(ds) -> torch.Tensor:
        data = torch.as_tensor(ds.data)
        return data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1)  # HWC -> CHW

    return x(train), torch.as_tensor(train.targets), x(test), torch.as_tensor(test.targets)


def _move_into(src: Path, dst: Path) -> None:
    """Move every file under ``src`` to the same relative path under ``dst`` (folders merged,
    files replaced one by one with an atomic rename: same file system)."""
    for path in sorted(src.rglob("*")):  # a folder sorts before what it holds
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            os.replace(path, target)


@lru_cache(maxsize=4)
def _load_vision(name: str, data_dir: str | None) -> Arrays:
    """Read a torchvision set once per process, trying the sources in order."""
    reader = _read_cifar_folder if name == "cifar10" else _read_idx_folder
    system = SYSTEM_DIRS.get(name)
    # A given data_dir is the only source (its files, or a download into it): a typo in it must
    # not silently train on another copy. Without one: the system copy, then the cache.
    root = Path(data_dir).expanduser() if data_dir else DOWNLOAD_ROOT
    folders = [root] if data_dir else [p for p in (system, root) if p is not None]
    for folder in folders:
        if folder.is_dir() and (arrays := reader(folder)) is not None:
            return arrays
    try:
        return _download(name, root)
    except Exception as err:  # no network, a proxy, a checksum mismatch: say what to do instead
        tried = f"tried: {data_dir}, no complete copy there" if data_dir else "not set"
        ways = [f"  1. dataset.data_dir=<a folder holding the files> ({tried})"]
        if system is not None and data_dir and system.is_dir():
            ways.append(f"  2. the system copy in {system}: leave dataset.data_dir unset to use it")
        elif system is not None:
            ways.append(
                f"  2. sudo apt-get install dataset-{name.replace('_', '-')}  "
                f"(Debian/Ubuntu; puts them in {system}, not present here)"
            )
        ways.append(
            f"  {len(ways) + 1}. torchvision's download into {root} (needs internet): "
            f"{type(err).__name__}: {err}"
        )
        raise DatasetUnavailable(
            f"dataset={name}: no copy found. Provide it one of these ways:\n"
            + "\n".join(ways)
            + "\nor train offline on scikit-learn's bundled digits: dataset=digits"
        ) from err


def _as_float(arrays: Arrays) -> Arrays:
    xtr, ytr, xte, yte = arrays
    return xtr.float().div_(255), ytr, xte.float().div_(255), yte


# ----------------------------------------------------------------------------------------------
# The registry.


def _check_data_dir(data_dir) -> str | None:
    """A given ``data_dir`` must be an existing folder: it is the only source then (a download
    goes into it), so a typo must fail here, not train on another copy or download elsewhere."""
    if data_dir is None:
        return None
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError("data_dir", data_dir, "must be a path or null")
    if not Path(data_dir).expanduser().is_dir():
        raise ConfigError(
            "data_dir",
            data_dir,
            "no such folder (create it for a download into it, or leave data_dir null)",
        )
    return data_dir


def _vision(name: str, in_shape: tuple[int, ...], n_train: int, data_dir) -> Dataset:
    """A torchvision set: read (or downloaded) by :func:`_load_vision`, 10 classes."""
    data_dir = _check_data_dir(data_dir)
    load = lambda: _as_float(_load_vision(name, data_dir))  # noqa: E731
    return Dataset(name, in_shape, 10, load, n_train=n_train)


def fashion_mnist(data_dir: str | None = None) -> Dataset:
    """Zalando's Fashion-MNIST (Xiao et al., 2017): 60k/10k 28×28 grey images, 10 classes."""
    return _vision("fashion_mnist", (1, 28, 28), 60000, data_dir)


def mnist(data_dir: str | None = None) -> Dataset:
    """LeCun's MNIST digits: 60k/10k 28×28 grey images, 10 classes."""
    return _vision("mnist", (1, 28, 28), 60000, data_dir)


def cifar10(data_dir: str | None = None) -> Dataset:
    """Krizhevsky's CIFAR-10: 50k/10k 32×32 RGB images, 10 classes."""
    return _vision("cifar10", (3, 32, 32), 50000, data_dir)


@lru_cache(maxsize=1)
def _load_digits(test_size: int) -> Arrays:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)  # (1797, 64) in 0..16
    x = torch.as_tensor(x, dtype=torch.float32).div_(16).view(-1, 1, 8, 8)
    y = torch.as_tensor(y, dtype=torch.long)
    # A fixed test split, the same for every seed, so test metrics compare across seeds.
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    test, train = perm[:test_size], perm[test_size:]
    return x[train], y[train], x[test], y[test]


def digits(test_size: int = 360) -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes): real data that
    works offline. ``test_size`` images, chosen once by a fixed permutation, form the test set."""
    if isinstance(test_size, bool) or not isinstance(test_size, int) or not 0 < test_size < 1797:
        raise ConfigError("test_size", test_size, "must be an integer in 1..1796")
    return Dataset(
        "digits", (1, 8, 8), 10, lambda: _load_digits(test_size), n_train=1797 - test_size
    )


@lru_cache(maxsize=2)
def _make_gaussian(
    n_train: int, n_test: int, features: int, classes: int, separation: float, data_seed: int
) -> Arrays:
    g = torch.Generator().manual_seed(data_seed)
    means = torch.randn(classes, features, generator=g) * separation  # one blob per class

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(classes, (n,), generator=g)
        return means[y] + torch.randn(n, features, generator=g), y

    return (*sample(n_train), *sample(n_test))


def gaussian(
    n_train: int = 10000,
    n_test: int = 2000,
    features: int = 100,
    classes: int = 10,
    separation: float = 0.5,
    data_seed: int = 0,
) -> Dataset:
    """Synthetic: ``classes`` unit-variance gaussian blobs in ``features`` dimensions whose
    means are drawn from N(0, separation²). Any size; the same data for every ``seed``."""
    for key, value, low in [
        ("n_train", n_train, 2),
        ("n_test", n_test, 1),
        ("features", features, 1),
        ("classes", classes, 2),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(key, value, f"must be an integer ≥ {low}")
    separation = number("separation", separation, positive=True)  # nan, inf: refused
    data_seed = integer("data_seed", data_seed, 0, 2**63 - 1)  # torch.Generator's range
    args = (n_train, n_test, features, classes, separation, data_seed)
    return Dataset("gaussian", (features,), classes, lambda: _make_gaussian(*args), n_train=n_train)


DATASETS: dict[str, Callable[..., Dataset]] = {
    f.__name__: f for f in (fashion_mnist, mnist, cifar10, digits, gaussian)
}


# ----------------------------------------------------------------------------------------------
# Batching and the datamodule.


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


NORMALIZATIONS = ("standardize", "none")


class TensorDataModule(pl.LightningDataModule):
    """Train/val/test tensors from a :class:`Dataset`.

    The training set is split into train and ``val_size`` validation examples by a permutation
    seeded by ``seed``; the test set gives the final metrics. ``normalize="standardize"`` maps
    inputs to zero mean, unit variance per channel using the training split's statistics (the
    unit-variance input the initializers' derivations assume); ``"none"`` keeps [0, 1] pixels.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 100,
        eval_batch_size: int = 1000,
        val_size: int = 5000,
        normalize: str = "standardize",
        seed: int = 0,
    ):
        super().__init__()
        self.dataset = dataset
        self.batch_size = positive_int("batch_size", batch_size)
        self.eval_batch_size = positive_int("eval_batch_size", eval_batch_size)
        self.val_size = positive_int("val_size", val_size)
        if normalize not in NORMALIZATIONS:
            raise ConfigError("normalize", normalize, f"must be one of {', '.join(NORMALIZATIONS)}")
        self.normalize, self.seed = normalize, seed
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None

    def setup(self, stage: str) -> None:
        if self.splits is not None:
            return
        xtr, ytr, xte, yte = self.dataset.load()
        if self.val_size >= len(ytr):
            raise ConfigError(
                "dataset.val_size", self.val_size, f"must be < the {len(ytr)} training examples"
            )
        perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(self.seed))
        val, train = perm[: self.val_size], perm[self.val_size :]
        splits = {
            "train": (xtr[train], ytr[train]),
            "val": (xtr[val], ytr[val]),
            "test": (xte, yte),
        }
        if self.normalize == "standardize":
            x = splits["train"][0]
            dims = [d for d in range(x.ndim) if d != 1] if x.ndim == 4 else list(range(x.ndim))
            mean, std = x.mean(dims, keepdim=True), x.std(dims, keepdim=True).clamp_min(1e-8)
            splits = {k: ((xs - mean) / std, ys) for k, (xs, ys) in splits.items()}
        device = (
            self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        )
        self.splits = {
            k: (xs.to(device).contiguous(), ys.to(device)) for k, (xs, ys) in splits.items()
        }

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        if batch[0].device == device:  # setup() put the splits on the strategy's device
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def train_dataloader(self) -> TensorBatches:
        rank, world = (
            (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        )
        x, y = self.splits["train"]
        sampler = EpochShuffle(len(y), self.seed)
        return TensorBatches(x, y, self.batch_size, sampler, rank=rank, world=world)

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["val"], self.eval_batch_size)

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["test"], self.eval_batch_size)
