"""Datasets held as tensors in memory, batched by index permutation.

These sets are small (FashionMNIST is 188 MB as float32), so each is read once per process into
tensors (moved to the GPU when training there) and a batch is ``x[idx]`` for a slice of a random
permutation: no per-sample Python transforms, no DataLoader workers.

``readers``: where the files come from and how they are read; ``datasets``: the registry of
:class:`Dataset` entries; ``batches``: the epoch order and its batches; ``datamodule``: the
LightningDataModule that splits and holds the tensors.

May import: runtime, config.
"""

from initlab.data.batches import EpochShuffle, TensorBatches
from initlab.data.datamodule import TensorDataModule
from initlab.data.datasets import DATASETS, Dataset, cifar10, digits, fashion_mnist, gaussian, mnist
from initlab.data.readers import IDX_FILES, SYSTEM_DIRS, DatasetUnavailable, read_idx

__all__ = [
    "DATASETS",
    "IDX_FILES",
    "SYSTEM_DIRS",
    "Dataset",
    "DatasetUnavailable",
    "EpochShuffle",
    "TensorBatches",
    "TensorDataModule",
    "cifar10",
    "digits",
    "fashion_mnist",
    "gaussian",
    "mnist",
    "read_idx",
]
