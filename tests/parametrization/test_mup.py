"""μP's rules (Tensor Programs V, Table 3, as multipliers on SP at the base width) and what a
run with ``parametrization=mup`` applies and writes."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import QUICK, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.initializers import apply, plan_table
from initlab.parametrization.mup import scale
from initlab.parametrization.widths import Dim, Shape
from initlab.training.init_module import InitModule
from initlab.training.run import run
from initlab.training.spec import build

M = 4.0  # the width multiplier of every width below
MATRIX = Shape((Dim(256, 64), Dim(256, 64)))
READOUT = Shape((Dim(10, None), Dim(256, 64)))
VECTOR = Shape((Dim(256, 64),))


@pytest.mark.parametrize(
    "role,shape,optimizer,expected",
    [  # (std, lr, weight decay) multipliers, α = 2
        ("hidden", MATRIX, "adam", (1 / math.sqrt(M), 1 / M, M)),
        ("hidden", MATRIX, "sgd", (1 / math.sqrt(M), 1.0, 1.0)),  # fan-in / fan-out = 1
        ("hidden", Shape((Dim(512, 64), Dim(256, 64))), "sgd", (0.5, 2.0, 0.5)),  # m_out 8, m 4
        ("output", READOUT, "adam", (2 / M, 2 / M, (M / 2) ** 2)),
        ("output", READOUT, "sgd", (2 / M, M * (2 / M) ** 2, 1 / (M * (2 / M) ** 2))),
        ("input", Shape((Dim(256, 64), Dim(64, None))), "adam", (1.0, 1.0, 1.0)),
        ("input", Shape((Dim(256, 64), Dim(64, None))), "sgd", (1.0, M, 1 / M)),
        ("vector", VECTOR, "adam", (1.0, 1.0, 1.0)),
        ("vector", VECTOR, "sgd", (1.0, M, 1 / M)),
        ("fixed", Shape((Dim(10, None),)), "sgd", (1.0, 1.0, 1.0)),
    ],
)
def test_the_table(role, shape, optimizer, expected):
    s = scale(role, shape, optimizer, output_mult=2.0)
    assert (s.std_mult, s.lr_mult, s.wd_mult) == pytest.approx(expected, rel=1e-12)


def spec_of(*overrides: str):
    return build(make_cfg(*QUICK, "model.hidden=[128,128]", *overrides))


def test_he_at_four_times_the_base_width():
    """He's input and hidden layers are SP's; the output layer's std is the base model's / m."""
    spec = spec_of("init=he", "parametrization=mup", "parametrization.base_width=32")
    net = spec.make_net()
    rows = apply(spec.initializer, net, 0, spec.datamodule.dataset.in_shape)
    stds = [r.weight.std for r in rows]
    assert stds == pytest.approx(
        [math.sqrt(2 / 64), math.sqrt(2 / 128), math.sqrt(2 / 32) / 4], rel=1e-12
    )
    assert [r.width_role for r in rows] == ["input", "hidden", "output"]
    assert [r.lr_mult for r in rows] == [1.0, 0.25, 0.25]
    measured = [float(p.detach().std()) for n, p in net.named_parameters() if n.endswith("weight")]
    assert measured == pytest.approx(stds, rel=0.1)  # 640 to 16 384 draws each


def test_at_the_base_width_mup_is_sp_bit_for_bit():
    sp, mup = (
        spec_of("init=xavier"),
        spec_of("init=xavier", "parametrization=mup", "parametrization.base_width=128"),
    )
    nets = [s.make_net() for s in (sp, mup)]
    for s, net in zip((sp, mup), nets, strict=True):
        apply(s.initializer, net, 3, s.datamodule.dataset.in_shape)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b)
    groups = mup.parametrization.param_groups(nets[1].named_parameters())
    assert [g["lr"] for g in groups] == [1e-3]


def test_readout_zero_starts_the_output_layer_at_zero():
    spec = spec_of("parametrization=mup", "parametrization.readout_zero=true", "init=default")
    net = spec.make_net()
    apply(spec.initializer, net, 0, spec.datamodule.dataset.in_shape)
    assert not net[5].weight.any() and not net[5].bias.any()
    assert net[3].weight.std() > 0.05 and net[3].bias.abs().max() > 0


def test_the_module_trains_each_parameter_at_its_learning_rate():
    spec = spec_of(
        "parametrization=mup",
        "parametrization.base_width=32",
        "optimizer=sgd",
        "optimizer.lr=0.1",
        "optimizer.weight_decay=0.001",
    )
    module = InitModule(
        spec.make_net(),
        spec.initializer,
        spec.seed,
        spec.optimizer,
        parametrization=spec.parametrization,
    )
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD)
    ids = {id(p): n for n, p in module.net.named_parameters()}
    got = {
        ids[id(p)]: (g["lr"], g["weight_decay"], g["momentum"])
        for g in optimizer.param_groups
        for p in g["params"]
    }
    expected = {
        "1.weight": (0.4, 0.00025, 0.9),  # input: SGD × m
        "1.bias": (0.4, 0.00025, 0.9),
        "3.weight": (0.1, 0.001, 0.9),  # hidden, square: ×1
        "3.bias": (0.4, 0.00025, 0.9),
        "5.weight": (0.1 * 4 / 16, 0.001 * 16 / 4, 0.9),  # output: × m·(1/m)²
        "5.bias": (0.1, 0.001, 0.9),
    }
    assert got.keys() == expected.keys()
    for name, numbers in expected.items():
        assert got[name] == pytest.approx(numbers, rel=1e-12), name


def test_a_run_writes_each_layers_role_multiplier_and_learning_rate(tmp_path):
    cfg = make_cfg(
        *QUICK, "model.hidden=[128,128]", "parametrization=mup", "parametrization.base_width=32"
    )
    assert run(cfg, tmp_path)["status"] == "completed"
    written = json.loads(next(tmp_path.rglob("init_plan.json")).read_text())
    assert [r["width_role"] for r in written["layers"]] == ["input", "hidden", "output"]
    assert [r["width_mult"] for r in written["layers"]] == [4.0, 4.0, 4.0]
    assert written["parametrization"]["base_width"] == 32
    assert written["parametrization"]["parameters"]["5.weight"]["std_mult"] == 0.25
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    (text,) = acc.Tensors("init/plan/text_summary")
    said = text.tensor_proto.string_val[0].decode()
    assert "parametrization mup (base width 32)" in said
    assert "| width_role | width_mult | lr_mult |" in said


def test_sp_keeps_todays_plan():
    spec = spec_of("init=he")
    assert spec.parametrization is None and spec.initializer.parametrization is None
    rows = apply(spec.initializer, spec.make_net(), 0, spec.datamodule.dataset.in_shape)
    assert "width_role" not in plan_table(rows) and "width_role" not in rows[0].row()
