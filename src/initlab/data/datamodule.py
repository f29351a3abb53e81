"""The LightningDataModule: a :class:`Dataset` split, standardized and moved to the device once."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from initlab.config.errors import ConfigError, positive_int
from initlab.data.batches import EpochShuffle, TensorBatches
from initlab.data.datasets import Dataset

NORMALIZATIONS = ("standardize", "none")


class TensorDataModule(pl.LightningDataModule):
    """Train/val/test tensors from a :class:`Dataset`.

    The training set is split into train and ``val_size`` validation examples by a permutation
    seeded by ``seed``; ``train_size`` keeps only the first that many training examples, in the
    data set's own order (Deep Learning from Scratch's ``x_train[:1000]``; None: all of them).
    The test set gives the final metrics. ``normalize="standardize"`` maps
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
        train_size: int | None = None,
    ):
        super().__init__()
        self.dataset = dataset
        self.batch_size = positive_int("batch_size", batch_size)
        self.eval_batch_size = positive_int("eval_batch_size", eval_batch_size)
        self.val_size = positive_int("val_size", val_size)
        self.train_size = None if train_size is None else positive_int("train_size", train_size)
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
        left = len(ytr) - self.val_size
        if self.train_size is not None and self.train_size > left:
            raise ConfigError(
                "dataset.train_size",
                self.train_size,
                f"must be ≤ the {left} training examples left after dataset.val_size",
            )
        perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(self.seed))
        val, train = perm[: self.val_size], perm[self.val_size :]
        if self.train_size is not None:
            train = train.sort().values[: self.train_size]
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
