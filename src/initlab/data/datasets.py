"""The dataset registry: each entry a function of plain arguments returning a :class:`Dataset`.

A :class:`Dataset` knows its input shape and class count without reading anything, so configs
validate before any I/O; its ``load`` reads the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial

import torch

from initlab.config.errors import ConfigError, integer, number
from initlab.config.registry import Registry
from initlab.data.readers import Arrays, check_data_dir, ensure_available, load_vision


@dataclass(frozen=True)
class Dataset:
    name: str
    in_shape: tuple[int, ...]  # one example, e.g. (1, 28, 28)
    num_classes: int
    load: Callable[[], Arrays]  # x as float32 in [0, 1] (images) of shape (N, *in_shape), y int64
    # Training examples (before the validation split), known without reading, so validation
    # can refuse a val_size that leaves none; None: unknown until load().
    n_train: int | None = None
    # Raises DatasetUnavailable when no copy can be had (a torchvision set offline, no files);
    # None: always available (built in, synthetic).
    ensure: Callable[[], None] | None = None


DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")


def _as_float(arrays: Arrays) -> Arrays:
    xtr, ytr, xte, yte = arrays
    return xtr.float().div_(255), ytr, xte.float().div_(255), yte


def _vision(name: str, in_shape: tuple[int, ...], n_train: int, data_dir) -> Dataset:
    """A torchvision set: read (or downloaded) by :func:`~initlab.data.readers.load_vision`,
    10 classes."""
    data_dir = check_data_dir(data_dir)
    load = lambda: _as_float(load_vision(name, data_dir))  # noqa: E731
    ensure = partial(ensure_available, name, data_dir)
    return Dataset(name, in_shape, 10, load, n_train=n_train, ensure=ensure)


@DATASETS.register
def fashion_mnist(data_dir: str | None = None) -> Dataset:
    """Zalando's Fashion-MNIST (Xiao et al., 2017): 60k/10k 28×28 grey images, 10 classes."""
    return _vision("fashion_mnist", (1, 28, 28), 60000, data_dir)


@DATASETS.register
def mnist(data_dir: str | None = None) -> Dataset:
    """LeCun's MNIST digits: 60k/10k 28×28 grey images, 10 classes."""
    return _vision("mnist", (1, 28, 28), 60000, data_dir)


@DATASETS.register
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


@DATASETS.register
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


@DATASETS.register
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
