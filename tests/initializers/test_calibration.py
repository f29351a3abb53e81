"""Data-dependent initializers: LSUV's unit output variances, the within-layer step's per-unit
statistics, forward order, what the measuring leaves untouched, and a run that records it all."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import QUICK, make_cfg
from torch import nn

from initlab.config.errors import ConfigError
from initlab.initializers import apply, get_initializer
from initlab.initializers.calibration import forward_order, lsuv, within_layer
from initlab.models.activations import get_activation
from initlab.models.builders import cnn, mlp
from initlab.training.run import run
from initlab.training.spec import build


def outputs_in_forward_order(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Every weight layer's output on ``x``, dropout off and batch norm on batch statistics."""
    out = []
    handles = [
        m.register_forward_hook(lambda mod, i, o: out.append(o))
        for m in net.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    net.eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.train()
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return out


NETS = {
    "relu-mlp": lambda: (mlp((64,), 10, nn.ReLU, hidden=[128, 128, 128]), (64,)),
    "tanh-mlp": lambda: (mlp((64,), 10, nn.Tanh, hidden=[128, 128, 128]), (64,)),
    "sigmoid-mlp": lambda: (mlp((64,), 10, nn.Sigmoid, hidden=[128, 128], dropout=0.3), (64,)),
    "relu-cnn-bn": lambda: (cnn((1, 16, 16), 10, nn.ReLU, batch_norm=True), (1, 16, 16)),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_lsuv_gives_every_layer_unit_output_variance(name):
    net, shape = NETS[name]()
    apply(get_initializer("lsuv"), net, seed=0)
    x = torch.randn(500, *shape, generator=torch.Generator().manual_seed(1)) * 3 + 1
    records = lsuv(net, x, tol=0.05, max_iter=10)
    assert net.training  # the mode it was in (measuring switched dropout and batch norm)
    outputs = outputs_in_forward_order(net, x)
    assert len(records) == len(outputs)
    for record, out in zip(records, outputs, strict=True):
        assert abs(out.var().item() - 1) < 0.05, record
        assert record["iterations"] <= 10
    assert any(r["iterations"] > 0 for r in records)  # orthonormal alone was not unit variance


def test_lsuv_leaves_batch_norm_statistics_and_modes_alone():
    net, shape = NETS["relu-cnn-bn"]()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    lsuv(net, torch.randn(64, *shape))
    after = net.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert all(m.training for m in net.modules())


class Backwards(nn.Module):
    """Registers ``b`` before ``a`` but calls ``a`` first."""

    def __init__(self):
        super().__init__()
        self.b = nn.Linear(32, 10)
        self.a = nn.Linear(16, 32)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def test_forward_order_is_the_order_of_calls_not_of_registration():
    net = Backwards()
    assert [m for m in net.modules() if isinstance(m, nn.Linear)] == [net.b, net.a]
    assert forward_order(net, torch.randn(8, 16)) == [net.a, net.b]
    records = lsuv(net, torch.randn(256, 16) * 5)
    # labelled as the init plan labels them: Linear(in→out)
    assert [r["layer"] for r in records] == ["Linear(16→32)", "Linear(32→10)"]
    out = outputs_in_forward_order(net, torch.randn(256, 16) * 5)
    assert [o.shape[1] for o in out] == [32, 10]


@pytest.mark.parametrize("name", ["relu-mlp", "tanh-mlp"])
def test_within_layer_units_start_at_mean_0_variance_1(name):
    net, shape = NETS[name]()
    apply(get_initializer("data_dependent"), net, seed=0)
    x = torch.rand(400, *shape) * 4
    within_layer(net, x)
    for out in outputs_in_forward_order(net, x):
        torch.testing.assert_close(out.mean(0), torch.zeros(out.shape[1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(out.std(0), torch.ones(out.shape[1]), atol=1e-4, rtol=0)


def test_within_layer_under_batch_norm_only_scales():
    net = mlp((64,), 10, nn.ReLU, hidden=[128, 128], batch_norm=True)  # hidden layers: no bias
    apply(get_initializer("data_dependent"), net, seed=0)
    x = torch.rand(400, 64) * 4
    within_layer(net, x)
    outputs = outputs_in_forward_order(net, x)
    for out in outputs:  # unit variance everywhere; the logits layer (with a bias) also mean 0
        torch.testing.assert_close(out.std(0), torch.ones(out.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(outputs[-1].mean(0), torch.zeros(10), atol=1e-4, rtol=0)
    build(make_cfg(*QUICK, "init=data_dependent", "model.batch_norm=true"))  # sweepable


@pytest.mark.parametrize("key,value", [("tol", 0), ("max_iter", 0), ("batch_size", -1)])
def test_lsuv_bad_values(key, value):
    with pytest.raises(ConfigError) as err:
        get_initializer("lsuv", **{key: value})
    assert err.value.key == key


def test_a_run_records_the_calibration(tmp_path):
    overrides = [*QUICK, "init=lsuv", "init.batch_size=200", "activation=tanh", "model=deep_mlp"]
    record = run(make_cfg(*overrides), tmp_path)
    assert record["status"] == "completed" and record["metrics"]["test/acc"] > 0.8
    saved = json.loads((tmp_path / "init_plan.json").read_text())
    assert [r["order"] for r in saved["calibration"]] == list(range(1, 12))  # 10 hidden + logits
    assert all(abs(r["variance_after"] - 1) < 0.1 for r in saved["calibration"])
    assert saved["calibration_seconds"] > 0


def test_probe_calibrates_on_its_batch():
    from test_probe import probe_cfg

    from initlab.probe import probe

    rows = probe(probe_cfg("experiment=cs231n_probe", "init=lsuv"))
    # every tanh layer sees unit-variance pre-activations: std(tanh(N(0,1))) ≈ 0.628, level
    assert [round(r["std"], 2) for r in rows[:10]] == [0.63] * 10


def test_activation_is_unused_by_lsuv():
    # Saturating activations are handled by measuring, not by a gain: same records either way.
    a, _ = NETS["tanh-mlp"]()
    b = mlp((64,), 10, get_activation("sigmoid").make, hidden=[128, 128, 128])
    assert len(forward_order(a, torch.randn(4, 64))) == len(forward_order(b, torch.randn(4, 64)))


@pytest.mark.parametrize("normalize,visible", [("standardize", "gaussian"), ("none", "bernoulli")])
def test_dbn_reconstruction_error_falls_and_the_net_beats_chance(tmp_path, normalize, visible):
    overrides = [
        *QUICK,
        "init=dbn",
        "activation=sigmoid",
        "init.epochs_per_layer=4",
        f"dataset.normalize={normalize}",
        "trainer.max_epochs=5",  # sigmoid units fine-tune slowly: 200 steps
    ]
    record = run(make_cfg(*overrides), tmp_path)
    assert record["metrics"]["test/acc"] > 0.2  # chance is 0.1
    saved = json.loads((tmp_path / "init_plan.json").read_text())
    layers = saved["calibration"]
    assert [r["order"] for r in layers] == [1, 2]  # the two hidden layers; the logits are not
    assert layers[0]["visible"] == visible and layers[1]["visible"] == "bernoulli"
    for r in layers:
        errors = r["reconstruction_error"]
        assert len(errors) == 4 and errors[-1] < errors[0]


def test_dbn_is_seeded():
    from initlab.initializers.calibration import calibrate

    x = torch.rand(300, 64)
    nets = [mlp((64,), 10, nn.Sigmoid, hidden=[32]) for _ in range(2)]
    init = get_initializer("dbn", epochs_per_layer=2)
    for net in nets:
        apply(init, net, seed=0)
        calibrate(init, net, x, seed=5)
    assert torch.equal(nets[0][1].weight, nets[1][1].weight)


def test_dbn_refuses_a_cnn():
    with pytest.raises(ConfigError, match="model=mlp") as err:
        build(make_cfg(*QUICK, "init=dbn", "model=cnn"))
    assert err.value.key == "init.name"


def test_calibration_runs_once_not_on_test_or_resume(tmp_path, monkeypatch):
    import pytorch_lightning as pl

    from initlab.initializers import calibration as calibrate_module
    from initlab.training.init_module import InitModule

    calls = []
    original = calibrate_module.CALIBRATIONS["lsuv"]
    monkeypatch.setitem(
        calibrate_module.CALIBRATIONS, "lsuv", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    spec = build(make_cfg(*QUICK, "init=lsuv"))

    def fit(ckpt_path=None):
        module = InitModule(spec.make_net(), spec.initializer, spec.seed, spec.optimizer)
        trainer = pl.Trainer(
            max_epochs=1,
            logger=False,
            enable_progress_bar=False,
            default_root_dir=tmp_path,
            num_sanity_val_steps=0,
        )
        trainer.ckpt_path = ckpt_path
        trainer.fit(module, datamodule=spec.datamodule)
        return module, trainer

    module, trainer = fit()
    assert len(calls) == 1 and module.calibration
    trainer.test(module, datamodule=spec.datamodule, verbose=False)
    assert len(calls) == 1  # not again for test
    (checkpoint,) = tmp_path.glob("checkpoints/*.ckpt")
    resumed, _ = fit(str(checkpoint))
    assert len(calls) == 1 and resumed.calibration == []  # the checkpoint's weights are kept
