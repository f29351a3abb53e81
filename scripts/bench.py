"""One epoch of the default run under initlab (Lightning) against a plain PyTorch loop.

Both train the 784-256-256-10 MLP with Adam, batch 100, on the same in-memory FashionMNIST
tensors, in this process, back to back as a pair (``--repeats`` pairs, alternating which side
goes first). The Lightning side is exactly what ``python train.py`` builds (module, datamodule,
TensorBoard logger, checkpoint) minus the data loading, which both sides share. Timed: the
training epoch (first to last batch) and the whole fit (setup, training, validation,
checkpoint). Printed: the best time of each side and the median of the per-pair ratios.

    python scripts/bench.py                      # FashionMNIST, CPU
    python scripts/bench.py dataset=digits       # any train.py overrides
    python scripts/bench.py --repeats 10
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from pytorch_lightning.loggers import TensorBoardLogger

from initlab.config import build
from initlab.initializers import apply
from initlab.module import InitModule
from initlab.train import CONF_DIR


class EpochTimer(pl.Callback):
    """Seconds from the start of the first training batch to the end of the last one: the
    validation and checkpoint at the epoch's end (inside Lightning's epoch hooks) are left out."""

    def on_train_epoch_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seconds = time.perf_counter() - self.start


def lightning_epoch(spec, run_dir: Path) -> tuple[float, float]:
    """(training epoch seconds, whole fit seconds) through initlab's module and trainer."""
    module = InitModule(spec.make_net(), spec.initializer, spec.seed, spec.optimizer)
    timer = EpochTimer()
    trainer = pl.Trainer(
        **{**spec.trainer, "max_epochs": 1},
        logger=TensorBoardLogger(run_dir, name="", version="", default_hp_metric=False),
        callbacks=[timer],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=spec.datamodule)
    return timer.seconds, time.perf_counter() - start


def plain_epoch(spec) -> tuple[float, float]:
    """The same epoch as a hand-written loop: permutation batches, forward, backward, step;
    then one pass over the validation split."""
    net = spec.make_net()
    apply(spec.initializer, net, spec.seed)
    opt = spec.optimizer(net.parameters())
    (x, y), (xv, yv) = spec.datamodule.splits["train"], spec.datamodule.splits["val"]
    batch, g = spec.datamodule.batch_size, torch.Generator().manual_seed(spec.seed)
    start = time.perf_counter()
    net.train()
    perm = torch.randperm(len(y), generator=g)
    for i in range(0, len(y), batch):
        idx = perm[i : i + batch]
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    epoch = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        for i in range(0, len(yv), spec.datamodule.eval_batch_size):
            F.cross_entropy(net(xv[i : i + 1000]), yv[i : i + 1000])
    return epoch, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("overrides", nargs="*", help="train.py overrides, e.g. dataset=digits")
    args = parser.parse_args()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=args.overrides)
    spec = build(cfg)
    start = time.perf_counter()
    spec.datamodule.setup("fit")  # loaded once, shared by both sides
    print(
        f"data: {cfg.dataset.name}, loaded in {time.perf_counter() - start:.2f} s; "
        f"threads: {torch.get_num_threads()}; torch {torch.__version__}, lightning {pl.__version__}"
    )
    pl.seed_everything(cfg.seed, verbose=False)
    # This machine's speed drifts by up to 2x over tens of seconds (shared cores), so the two
    # sides run back to back as a pair, in alternating order, and the ratio is taken per pair.
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            light_run = functools.partial(lightning_epoch, spec, Path(tmp) / str(r))
            if r % 2:
                light = light_run()
                plain = plain_epoch(spec)
            else:
                plain = plain_epoch(spec)
                light = light_run()
            pairs.append((plain, light))
            print(f"  repeat {r + 1}: plain epoch {plain[0]:.2f} s, initlab epoch {light[0]:.2f} s")
    for i, label in enumerate(["training epoch", "epoch + val"]):
        plain_s = min(p[i] for p, _ in pairs)
        initlab_s = min(light[i] for _, light in pairs)
        ratios = sorted(light[i] / p[i] for p, light in pairs)
        print(
            f"{label:15} best: plain {plain_s:5.2f} s  initlab {initlab_s:5.2f} s   "
            f"ratio per pair: median {statistics.median(ratios):.2f} "
            f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f})"
        )
    print("(initlab's epoch + val is its whole fit: setup, training, validation, checkpoint)")


if __name__ == "__main__":
    main()
