"""The setup hook applies the initializer exactly once, for fit, and never over restored or
trained weights; the same seed gives the same start and the same result."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from conftest import QUICK, make_cfg

from initlab.initializers import apply
from initlab.training import init_module as module_lib
from initlab.training.init_module import InitModule
from initlab.training.spec import build


class StartWeights(pl.Callback):
    """Records the weights the first optimizer step will see."""

    def on_train_start(self, trainer, pl_module):
        self.state = {k: v.clone() for k, v in pl_module.net.state_dict().items()}


def weights(m: InitModule) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.net.state_dict().items()}


def trainer(tmp_path, epochs=1, **kw) -> pl.Trainer:
    kw = {"logger": False, "enable_checkpointing": False, **kw}
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
        **kw,
    )


@pytest.fixture
def count_apply(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return apply(*args, **kwargs)

    monkeypatch.setattr(module_lib, "apply", counting)
    return calls


def make(*overrides):
    spec = build(make_cfg(*QUICK, *overrides))
    pl.seed_everything(spec.seed, verbose=False)  # dropout's RNG, as initlab.training.run.run does
    return spec, InitModule(spec.make_net(), spec.initializer, spec.seed, spec.optimizer)


def test_setup_initialises_once_and_test_keeps_trained_weights(tmp_path, count_apply):
    spec, m = make("init=he")
    start = StartWeights()
    trainer(tmp_path, callbacks=[start]).fit(m, datamodule=spec.datamodule)
    assert len(count_apply) == 1

    reference = spec.make_net()
    apply(spec.initializer, reference, spec.seed)
    for k, v in reference.state_dict().items():
        assert torch.equal(start.state[k], v), k  # training started from the planned init

    trained = weights(m)
    assert any(not torch.equal(trained[k], start.state[k]) for k in trained)
    trainer(tmp_path).test(m, datamodule=spec.datamodule, verbose=False)
    trainer(tmp_path).validate(m, datamodule=spec.datamodule, verbose=False)
    assert len(count_apply) == 1
    assert all(torch.equal(weights(m)[k], trained[k]) for k in trained)

    # A second fit continues from the trained weights.
    again = StartWeights()
    trainer(tmp_path, callbacks=[again]).fit(m, datamodule=spec.datamodule)
    assert len(count_apply) == 1
    assert all(torch.equal(again.state[k], trained[k]) for k in trained)


def test_resume_keeps_the_checkpoint_weights(tmp_path, count_apply):
    spec, m = make("init=xavier")
    t = trainer(tmp_path, enable_checkpointing=True)
    t.fit(m, datamodule=spec.datamodule)
    ckpt = t.checkpoint_callback.best_model_path
    saved = weights(m)

    # fit(ckpt_path=...): Lightning restores after setup, so the checkpoint's weights win.
    spec2, fresh = make("init=xavier")
    start = StartWeights()
    trainer(tmp_path, epochs=2, callbacks=[start]).fit(
        fresh, datamodule=spec2.datamodule, ckpt_path=ckpt
    )
    assert all(torch.equal(start.state[k], saved[k]) for k in saved)

    # trainer.ckpt_path set first: setup sees it and does not run the initializer at all.
    calls = len(count_apply)
    spec3, fresh = make("init=xavier")
    start = StartWeights()
    t = trainer(tmp_path, epochs=2, callbacks=[start])
    t.ckpt_path = ckpt
    t.fit(fresh, datamodule=spec3.datamodule)
    assert len(count_apply) == calls
    assert fresh.init_plan == []
    assert all(torch.equal(start.state[k], saved[k]) for k in saved)


def test_same_seed_same_start_and_same_metrics(tmp_path):
    results = []
    for _ in range(2):
        spec, m = make("init=lecun", "activation=tanh", "model.dropout=0.2")
        start = StartWeights()
        t = trainer(tmp_path, callbacks=[start])
        t.fit(m, datamodule=spec.datamodule)
        (test,) = t.test(m, datamodule=spec.datamodule, verbose=False)
        results.append((start.state, weights(m), test))
    (s0, w0, t0), (s1, w1, t1) = results
    assert all(torch.equal(s0[k], s1[k]) for k in s0)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert t0 == t1


def test_different_seed_different_start(tmp_path):
    starts = []
    for seed in (0, 1):
        spec, m = make("init=he", f"seed={seed}")
        start = StartWeights()
        trainer(tmp_path, callbacks=[start]).fit(m, datamodule=spec.datamodule)
        starts.append(start.state)
    assert not torch.equal(starts[0]["1.weight"], starts[1]["1.weight"])
