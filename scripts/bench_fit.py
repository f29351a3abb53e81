"""A whole run's fit against a plain PyTorch loop: what initlab costs around the arithmetic.

The run is ``initlab.training.run.run`` on a temporary folder — what ``python train.py`` does
after composing: the data read and standardized, the initializer, training with the configured
diagnostics, validation and a checkpoint every epoch — timed as its record's ``fit_seconds``. The
plain loop trains the same net (same initializer, seed and batches) on the same in-memory tensors:
permutation batches, forward, backward, Adam step, nothing else. Both run back to back in this
process, ``--repeats`` times, alternating which goes first; printed: the median of the paired
ratios, per step (fit seconds / steps against the plain loop's seconds / steps) and per epoch.

    python scripts/bench_fit.py 'model.hidden=[16,16]' diagnostics.enabled=false   # row (a)
    python scripts/bench_fit.py                                                   # row (d)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from initlab.config.hydra_conf import CONF_DIR, register_resolvers
from initlab.data.batches import EpochShuffle
from initlab.initializers import apply
from initlab.runtime import console_noise
from initlab.training.run import run
from initlab.training.spec import build


def plain(cfg) -> tuple[float, int]:
    """(seconds, steps) of the plain loop over the run's epochs, data already in memory."""
    spec = build(cfg)
    dm = spec.datamodule
    dm.setup("fit")
    x, y = dm.splits["train"]
    pl.seed_everything(spec.seed, verbose=False)
    net = spec.make_net()
    apply(spec.initializer, net, spec.seed, dm.dataset.in_shape)
    optimizer = spec.optimizer(net.parameters())
    shuffle = EpochShuffle(len(y), spec.seed)
    steps = 0
    start = time.perf_counter()
    for epoch in range(cfg.trainer.max_epochs):
        shuffle.set_epoch(epoch)
        order = shuffle.permutation()
        for i in range(0, len(y), dm.batch_size):
            idx = order[i : i + dm.batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
    loss.item()
    return time.perf_counter() - start, steps


def initlab_fit(cfg) -> tuple[float, int]:
    """(fit seconds, steps) of the run, as its record says."""
    with tempfile.TemporaryDirectory() as tmp:
        record = run(cfg, Path(tmp) / "run")
    return record["fit_seconds"], record["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="train.py overrides")
    args = parser.parse_args()
    console_noise.silence()
    register_resolvers()
    overrides = [
        f"trainer.max_epochs={args.epochs}",
        "trainer.progress_bar=none",
        *args.overrides,
    ]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    print(
        f"{' '.join(args.overrides) or 'the default run'}, {args.epochs} epochs; "
        f"threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.2f}"
    )
    sides = {"plain": plain, "initlab": initlab_fit}
    times: dict[str, list[tuple[float, int]]] = {k: [] for k in sides}
    for r in range(args.repeats):
        for name in list(sides)[r % 2 :] + list(sides)[: r % 2]:
            times[name].append(sides[name](cfg))
        (p, ps), (i, steps) = times["plain"][-1], times["initlab"][-1]
        print(
            f"  repeat {r + 1}: plain {p / ps * 1e3:.3f} ms/step, "
            f"initlab fit {i / steps * 1e3:.3f} ms/step ({steps} steps)"
        )
    per_step = sorted(
        (i / s) / (p / ps) for (p, ps), (i, s) in zip(times["plain"], times["initlab"], strict=True)
    )
    print(
        f"whole fit / plain loop, per step (= per epoch): {statistics.median(per_step):.2f} "
        f"({per_step[0]:.2f}-{per_step[-1]:.2f}); load after {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
