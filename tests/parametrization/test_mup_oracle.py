"""initlab's μP against Microsoft's ``mup`` package (Yang et al., 2021), the reference
implementation, for the MLP and the ViT at the base width and at 4× and 16× it: the same initial
scale of every parameter and the same learning rate and weight decay for Adam and SGD.

One documented difference: ``mup`` puts the output layer's multiplier c = output_mult/m in the
forward pass (``MuReadout`` multiplies its input by it); initlab puts it in the weight. The same
training, for Adam and SGD: the weight c times larger, its learning rate × c (Adam) or × c²
(SGD), its L2 ÷ c². So for the output weight the test compares initlab's numbers with mup's
times those factors (:mod:`initlab.parametrization.mup`).
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import make_cfg
from torch import nn

from initlab.initializers import apply, plan
from initlab.training.spec import build

mup = pytest.importorskip("mup")  # a dev dependency (pyproject's dev extra): never skipped in CI

MODELS = {  # the model, its width key, the base width
    "mlp": (["model=mlp", "dataset=digits"], lambda w: [f"model.hidden=[{w},{w}]"], 32),
    "vit": (
        ["model=vit", "model.depth=1", "model.heads=4", "dataset=digits"],
        lambda w: [f"model.width={w}"],
        16,
    ),
}
MULTS = (1, 4, 16)


def _built(model: str, width: int, *overrides: str):
    fixed, at, base = MODELS[model]
    if "parametrization=mup" in overrides:
        overrides = (*overrides, f"parametrization.base_width={base}")
    cfg = make_cfg(*fixed, *at(width), *overrides)
    spec = build(cfg)
    net = spec.make_net()
    apply(spec.initializer, net, 0, spec.datamodule.dataset.in_shape)
    return spec, net


def _readout(net: nn.Module, classes: int) -> str:
    (name,) = [
        n for n, m in net.named_modules() if isinstance(m, nn.Linear) and m.out_features == classes
    ]
    return name


def _with_mu_readout(net: nn.Module, name: str, output_mult: float) -> nn.Module:
    """``net`` with its output Linear replaced by mup's ``MuReadout`` holding the same tensors."""
    net = copy.deepcopy(net)
    old = net.get_submodule(name)
    new = mup.MuReadout(old.in_features, old.out_features, output_mult=output_mult)
    new.load_state_dict(old.state_dict())
    parent, _, child = name.rpartition(".")
    setattr(net.get_submodule(parent), child, new)
    return net


def _mup_net(model: str, width: int, output_mult: float = 1.0):
    """The SP net (torch's default draws, initlab's init=default) made μP by ``mup``'s
    ``set_base_shapes``, with the base and delta models at the base width and twice it."""
    _, _, base = MODELS[model]
    spec, sp_net = _built(model, width, "init=default")
    classes = spec.datamodule.dataset.num_classes
    name = _readout(sp_net, classes)
    shapes = [
        _with_mu_readout(_built(model, w, "init=default")[1], name, 1) for w in (base, 2 * base)
    ]
    net = _with_mu_readout(sp_net, name, output_mult)
    mup.set_base_shapes(net, shapes[0], delta=shapes[1])
    return sp_net, net, name


def _ratio(a: torch.Tensor, b: torch.Tensor) -> float:
    """The one number r with a = r·b (entries where b is 0 excluded); 0 for a tensor of zeros."""
    nonzero = b != 0
    if not nonzero.any():
        assert not a.any()
        return 0.0
    r = a[nonzero] / b[nonzero]
    torch.testing.assert_close(r, torch.full_like(r, r.median().item()), rtol=1e-5, atol=0)
    return r.median().item()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mult", MULTS)
@pytest.mark.parametrize("output_mult", [1.0, 2.0])
def test_the_initial_scales_are_mups(model, mult, output_mult):
    """Each parameter of initlab's μP net, drawn from the same seed as the SP net, is the SP
    tensor times the factor mup's ``set_base_shapes`` multiplies the same tensor by."""
    width = MODELS[model][2] * mult
    sp_net, mup_net, readout = _mup_net(model, width, output_mult)
    _, ours = _built(
        model,
        width,
        "init=default",
        "parametrization=mup",
        f"parametrization.output_mult={output_mult}",
    )
    sp, theirs, mine = (dict(n.named_parameters()) for n in (sp_net, mup_net, ours))
    checked = 0
    for name, p in sp.items():
        expected = _ratio(theirs[name].detach(), p.detach())
        if name == f"{readout}.weight":  # mup's forward multiplies it by output_mult / m
            expected *= output_mult / mult
        assert _ratio(mine[name].detach(), p.detach()) == pytest.approx(expected, rel=1e-5), name
        checked += expected not in (0.0, 1.0)
    if mult == 1 and output_mult == 1:
        assert checked == 0  # at the base width μP is SP
    else:
        assert checked >= (1 if mult == 1 else 2)  # the output layer; the biases


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mult", MULTS)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_learning_rates_and_weight_decays_are_mups(model, mult, optimizer):
    width = MODELS[model][2] * mult
    output_mult = 2.0
    _, mup_net, readout = _mup_net(model, width, output_mult)
    lr, wd = 0.01, 1e-4
    made = (mup.MuAdam if optimizer == "adam" else mup.MuSGD)(
        mup_net.parameters(), lr=lr, weight_decay=wd
    )
    theirs = {id(p): (g["lr"], g["weight_decay"]) for g in made.param_groups for p in g["params"]}
    spec, ours = _built(
        model,
        width,
        "init=default",
        "parametrization=mup",
        f"parametrization.output_mult={output_mult}",
        f"optimizer={optimizer}",
        f"optimizer.lr={lr}",
        f"optimizer.weight_decay={wd}",
    )
    groups = spec.parametrization.param_groups(ours.named_parameters())
    mine = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    c = output_mult / mult
    moved = 0
    for (name, p), q in zip(ours.named_parameters(), mup_net.parameters(), strict=True):
        their_lr, their_wd = theirs[id(q)]
        if name == f"{readout}.weight":  # the multiplier moved into the weight
            their_lr *= c if optimizer == "adam" else c * c
            their_wd /= c * c
        assert mine[id(p)] == pytest.approx((their_lr, their_wd), rel=1e-12), name
        moved += their_lr != lr
    assert moved >= (1 if mult == 1 else 2)  # the output layer; and the hidden ones


@pytest.mark.parametrize(
    "init,theirs",
    [
        ("init=normal", lambda t: mup.init.normal_(t, 0, 1)),
        ("init=he", lambda t: mup.init.kaiming_normal_(t, nonlinearity="relu")),
        ("init=xavier", lambda t: mup.init.xavier_uniform_(t)),
    ],
)
@pytest.mark.parametrize("mult", [4, 16])
def test_any_iid_init_scales_as_mups_own_initializers(init, theirs, mult):
    """mup's replacements of torch.nn.init (``mup.init``) after ``set_base_shapes``: what they
    draw each weight with is what initlab's μP plans for it (He's hidden layers as SP; N(0, 1)'s
    shrink by √m; the output layer at the base scale, times mup's forward multiplier 1/m)."""
    model = "mlp"
    width = MODELS[model][2] * mult
    _, mup_net, readout = _mup_net(model, width)
    spec, _ = _built(model, width, init, "parametrization=mup")
    with torch.device("meta"):
        planned = plan(spec.initializer, spec.make_net(), spec.datamodule.dataset.in_shape)
    rows = {f"{r.module}.{r.block.tensor}": r.weight for r in planned}
    for name, p in mup_net.named_parameters():
        if not name.endswith("weight"):
            continue
        torch.manual_seed(0)
        with torch.no_grad():
            theirs(p)  # the parameter itself: its infshape is what mup reads
        torch.manual_seed(0)
        unit = (
            torch.empty_like(p).normal_()
            if rows[name].method == "normal"
            else torch.empty_like(p).uniform_(-1, 1)
        )
        scale = _ratio(p.data, unit)
        if name == f"{readout}.weight":
            scale /= mult
        ours = rows[name].std if rows[name].method == "normal" else rows[name].high
        assert ours == pytest.approx(scale, rel=1e-5), name
