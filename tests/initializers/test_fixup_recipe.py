"""Fixup's reference recipe (Zhang, Dauphin & Ma 2019; the authors' code): its convolutions have
no biases (its scalar biases stand in for them), and its optimizer trains every scalar and every
bias at a tenth of the base learning rate, under Adam and SGD, in a run and in a population, and
the plan says so."""

from __future__ import annotations

import json

import pytest
from conftest import QUICK, make_cfg
from torch import nn

from initlab.initializers import get_initializer
from initlab.initializers.residual_schemes import lr_multipliers
from initlab.models.builders import resnet
from initlab.models.residual_blocks import Scalar
from initlab.training.init_module import InitModule
from initlab.training.run import run
from initlab.training.spec import build

RESNET = ["model=resnet", "model.depth=8", "model.width=4", "model.norm=none"]


def fixup_net() -> nn.Module:
    return get_initializer("fixup").prepare(resnet((1, 8, 8), 10, nn.ReLU, depth=8, norm="none"))


def test_fixup_s_convolutions_have_no_biases_and_its_classifier_keeps_its_own():
    net = fixup_net()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.bias is None for m in convs)
    (classifier,) = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert classifier.bias is not None
    # without Fixup the same model's convolutions keep theirs (no normalization to replace them)
    plain = resnet((1, 8, 8), 10, nn.ReLU, depth=8, norm="none")
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))


def test_every_scalar_and_bias_of_fixup_is_slow_and_nothing_else():
    net = fixup_net()
    slow = lr_multipliers(net)
    scalars = {f"{p}.value" for p, m in net.named_modules() if isinstance(m, Scalar)}
    biases = {n for n, _ in net.named_parameters() if n.endswith(".bias")}
    assert scalars and biases
    assert set(slow) == scalars | biases and set(slow.values()) == {0.1}
    skipinit = get_initializer("skipinit").prepare(resnet((1, 8, 8), 10, nn.ReLU, depth=8))
    assert lr_multipliers(skipinit) == {}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_run_s_optimizer_trains_fixup_s_scalars_and_biases_at_a_tenth(optimizer):
    spec = build(
        make_cfg(*QUICK, *RESNET, "init=fixup", f"optimizer={optimizer}", "optimizer.lr=0.02")
    )
    net = spec.make_net()
    module = InitModule(net, spec.initializer, 0, spec.optimizer, {}, (1, 8, 8))
    opt = module.configure_optimizers()
    rates = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    slow = lr_multipliers(net)
    for name, p in net.named_parameters():
        assert rates[id(p)] == pytest.approx(0.002 if name in slow else 0.02), name
    assert len(rates) == len(list(net.parameters()))  # every parameter, once


def test_the_plan_shows_the_recipe_s_multipliers(tmp_path):
    overrides = [*QUICK, *RESNET, "init=fixup", "diagnostics.enabled=false"]
    run(make_cfg(*overrides), tmp_path, overrides)
    plan = json.loads(next(tmp_path.rglob("init_plan.json")).read_text())
    assert plan["lr_multipliers"] and set(plan["lr_multipliers"].values()) == {0.1}
    assert {s["lr_mult"] for s in plan["scalars"]} == {0.1}
    assert any(name.endswith("bias") for name in plan["lr_multipliers"])
