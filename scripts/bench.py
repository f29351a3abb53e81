"""One epoch of the default run under initlab (Lightning) against a plain PyTorch loop.

Both train the 784-256-256-10 MLP with Adam, batch 100, on the same in-memory FashionMNIST
tensors, in this process: the plain loop, initlab without diagnostics, and initlab with the
configured diagnostics, back to back (``--repeats`` times, rotating which goes first). The
Lightning side is what ``python train.py`` builds (module, datamodule, TensorBoard logger,
checkpoint, diagnostics callback) minus the data loading, which all share. Timed: the training
epoch (first to last batch; the whole fit is shown too). Printed: the best time of each and the
median of the ratios within a repeat: initlab / plain (≤ 1.25 wanted) and diagnostics on / off
(≤ 1.10 wanted).

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
from pytorch_lightning.profilers import SimpleProfiler

from initlab.config.hydra_conf import CONF_DIR
from initlab.initializers import apply
from initlab.training.init_module import InitModule
from initlab.training.spec import build


class EpochTimer(pl.Callback):
    """Seconds from the start of the first training batch to the end of the last one: the
    validation and checkpoint at the epoch's end (inside Lightning's epoch hooks) are left out."""

    def on_train_epoch_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seconds = time.perf_counter() - self.start


def lightning_epoch(
    spec, run_dir: Path, diagnostics: bool, profiler: SimpleProfiler | None = None
) -> tuple[float, float]:
    """(training epoch seconds, whole fit seconds) through initlab's module and trainer, with
    the diagnostics callback as configured, or without it."""
    module = InitModule(spec.make_net(), spec.initializer, spec.seed, spec.optimizer)
    timer = EpochTimer()
    callbacks = [spec.diagnostics()] if diagnostics and spec.diagnostics else []
    trainer = pl.Trainer(
        **{**spec.trainer, "max_epochs": 1},
        profiler=profiler,
        logger=TensorBoardLogger(
            run_dir, name="", version="", default_hp_metric=False, **spec.logger
        ),
        callbacks=[*callbacks, timer],  # the timer last: it sees the diagnostics' writes
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=spec.datamodule)
    return timer.seconds, time.perf_counter() - start


def diagnostics_share(spec, run_dir: Path) -> tuple[float, float]:
    """(seconds inside the diagnostics callback's hooks, training epoch seconds), from
    Lightning's SimpleProfiler: the callback's own cost, free of the machine's drift."""
    profiler = SimpleProfiler(dirpath=run_dir, filename="profile")  # its report to a file
    epoch, _ = lightning_epoch(spec, run_dir, diagnostics=True, profiler=profiler)
    inside = sum(
        sum(durations)
        for action, durations in profiler.recorded_durations.items()
        if action.startswith("[Callback]Diagnostics.")
    )
    return inside, epoch


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
    # This machine's speed drifts by up to 2x over tens of seconds (shared cores), so the three
    # runs of a repeat go back to back, in rotating order, and ratios are taken within a repeat.
    runs = {
        "plain": plain_epoch,
        "initlab, no diagnostics": functools.partial(lightning_epoch, diagnostics=False),
        "initlab, diagnostics": functools.partial(lightning_epoch, diagnostics=True),
    }
    names = list(runs)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name in names[r % 3 :] + names[: r % 3]:
                folder = Path(tmp) / f"{r}-{names.index(name)}"
                times[name].append(
                    runs[name](spec) if name == "plain" else runs[name](spec, folder)
                )
            print(
                f"  repeat {r + 1}: "
                + ", ".join(f"{name} {times[name][-1][0]:.2f} s" for name in names)
            )
    print("training epoch (first to last batch), best of the repeats:")
    for name in names:
        epoch, fit = min(times[name])
        print(f"  {name:24} {epoch:5.2f} s   (whole fit {fit:5.2f} s)")
    print("ratios per repeat (median, min-max):")
    for top, bottom, target in [
        (names[1], names[0], "target ≤ 1.25"),
        (names[2], names[1], "diagnostics overhead, target ≤ 1.10"),
        (names[2], names[0], ""),
    ]:
        r = sorted(t[0] / b[0] for t, b in zip(times[top], times[bottom], strict=True))
        print(
            f"  {top} / {bottom}: {statistics.median(r):.2f} ({r[0]:.2f}-{r[-1]:.2f})"
            + (f"   {target}" if target else "")
        )
    if spec.diagnostics:
        with tempfile.TemporaryDirectory() as tmp:
            inside, epoch = diagnostics_share(spec, Path(tmp))
        print(
            f"inside the diagnostics callback (SimpleProfiler, one more epoch): {inside:.3f} s "
            f"of a {epoch:.2f} s epoch, {inside / epoch:.1%}"
        )


if __name__ == "__main__":
    main()
