"""``layerK`` is the K-th weight layer the forward pass reaches, the same in the init plan, the
diagnostics and the calibrations, whatever order the model registered its modules in."""

from __future__ import annotations

import pytest
import torch
from conftest import make_cfg
from torch import nn

from initlab.diagnostics.callback import sites
from initlab.initializers import apply, get_initializer, plan
from initlab.initializers.calibration import forward_order as calibration_order
from initlab.initializers.forward_order import forward_order, trace
from initlab.models.activations import get_activation
from initlab.training.spec import build


class ShortcutFirst(nn.Module):
    """A residual block and a head, registered head, shortcut, branch: the reverse of the order
    the input meets them (branch b1 → b2, then the shortcut, then the head)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 10)
        self.shortcut = nn.Linear(8, 16)
        self.b1 = nn.Linear(8, 32)
        self.act1 = nn.ReLU()
        self.b2 = nn.Linear(32, 16)
        self.norm = nn.BatchNorm1d(16)
        self.act2 = nn.ReLU()
        self.unused = nn.Linear(3, 3)  # never called: numbered after the reached layers

    def forward(self, x):  # x: (B, 8)
        h = self.act1(self.b1(x))
        y = self.act2(self.norm(self.b2(h) + self.shortcut(x)))
        return self.head(y)


FORWARD = ["b1", "b2", "shortcut", "head", "unused"]


def test_forward_order_not_registration_order():
    net = ShortcutFirst()
    assert [p for p, m in net.named_modules() if isinstance(m, nn.Linear)] == [
        "head",
        "shortcut",
        "b1",
        "b2",
        "unused",
    ]
    assert [p for p, _ in forward_order(net, (8,))] == FORWARD
    assert [m for _, m in forward_order(net, (8,))] == [getattr(net, p) for p in FORWARD]


def test_plan_diagnostics_and_calibration_agree_on_layer_k():
    net = ShortcutFirst()
    rows = plan(get_initializer("he"), net, (8,))
    assert [(r.layer, r.module) for r in rows] == [
        (f"layer{k}", p) for k, p in enumerate(FORWARD, 1)
    ]
    assert [r.fan_in for r in rows] == [8, 32, 8, 16, 3]
    found = sites(net, get_activation("relu"), (8,))
    assert [(s.name, s.layer) for s in found] == [
        (f"layer{k}", getattr(net, p)) for k, p in enumerate(FORWARD, 1)
    ]
    # layer1's activation is act1; layer2 (b2) meets the shortcut before any activation, so its
    # own output stands in; the shortcut's is act2 (after the norm); the head's: the logits.
    assert [s.output for s in found] == [net.act1, net.b2, net.act2, net.head, net.unused]
    x = torch.randn(4, 8)
    assert calibration_order(net, x) == [getattr(net, p) for p in FORWARD]


def test_apply_fills_in_forward_order_from_one_generator():
    # layer1 (b1) takes the generator's first draws, wherever it is registered.
    net = ShortcutFirst()
    apply(get_initializer("lecun"), net, seed=3, in_shape=(8,))
    first = torch.empty(32, 8)
    nn.init.normal_(first, 0, 1 / 8**0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(net.b1.weight, first)


def test_the_trace_leaves_the_net_untouched():
    net = ShortcutFirst().train()
    net.norm.running_mean.fill_(0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    hooked = []
    net.b1.register_forward_hook(lambda m, i, o: hooked.append(o))
    run = trace(net, (8,))
    assert [p for p, _ in run.layers] == FORWARD
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert net.training and net.norm.training
    assert torch.equal(torch.get_rng_state(), rng)
    assert hooked == []  # the net's own hooks did not fire on the shadow


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=mlp"],
        ["model=deep_mlp", "model.depth=5", "model.batch_norm=true", "model.dropout=0.2"],
        ["model=cnn", "model.batch_norm=true"],
    ],
)
def test_the_models_here_are_numbered_as_before(overrides):
    # DESIGN §7 stays as it is for the existing models: registration order is forward order.
    spec = build(make_cfg("dataset=digits", *overrides))
    net = spec.make_net()
    in_shape = spec.datamodule.dataset.in_shape
    registered = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert [m for _, m in forward_order(net, in_shape)] == registered
    by_trace = sites(net, spec.activation, in_shape)
    by_registration = sites(net, spec.activation)
    assert [(s.name, s.layer, s.output) for s in by_trace] == [
        (s.name, s.layer, s.output) for s in by_registration
    ]
