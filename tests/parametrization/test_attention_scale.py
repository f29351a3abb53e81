"""μP's attention logits: q·k / d instead of q·k / √d (Tensor Programs V, §J; ``mup``'s
README: "replace 1/sqrt(d) with 1/d"), times √d_base so that at the base width μP is SP. Only
where the head dimension d grows with the width; a layer that cannot take the scale is refused
by name."""

from __future__ import annotations

import math
import sys
import textwrap

import pytest
import torch
from conftest import make_cfg

from initlab.config.errors import ConfigError
from initlab.initializers import apply
from initlab.models import Attention
from initlab.training.spec import build

VIT = ["dataset=digits", "model=vit", "model.depth=1", "model.heads=4"]


def vit_spec(*overrides: str):
    return build(make_cfg(*VIT, *overrides))


def attentions(net) -> dict[str, Attention]:
    return {n: m for n, m in net.named_modules() if isinstance(m, torch.nn.MultiheadAttention)}


def by_hand(m: torch.nn.MultiheadAttention, x: torch.Tensor, scale: float) -> torch.Tensor:
    """softmax(q kᵀ · scale) v per head, then the output projection, written out."""
    w, b = m.in_proj_weight.chunk(3), m.in_proj_bias.chunk(3)
    q, k, v = (x @ w[i].T + b[i] for i in range(3))
    heads = [t.unflatten(-1, (m.num_heads, m.head_dim)).transpose(1, 2) for t in (q, k, v)]
    weights = torch.softmax(heads[0] @ heads[1].transpose(-1, -2) * scale, dim=-1)
    out = (weights @ heads[2]).transpose(1, 2).flatten(2)
    return out @ m.out_proj.weight.T + m.out_proj.bias


@pytest.mark.parametrize("parametrization", ["sp", "mup"])
def test_the_logits_scale_is_one_over_d_under_mup(parametrization):
    """Width 64, 4 heads: d = 16; base width 16: d_base = 4. SP: 1/√16; μP: √4/16."""
    mup = ["parametrization=mup", "parametrization.base_width=16"]
    spec = vit_spec("model.width=64", *(mup if parametrization == "mup" else []))
    net = spec.make_net()
    apply(spec.initializer, net, 0, spec.datamodule.dataset.in_shape)
    (m,) = attentions(net).values()
    expected = 1 / math.sqrt(16) if parametrization == "sp" else math.sqrt(4) / 16
    x = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = m(x, x, x, need_weights=False)[0]
        assert torch.allclose(got, by_hand(m, x, expected), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(got, by_hand(m, x, 2 * expected), rtol=1e-3, atol=1e-4)
    if parametrization == "mup":
        record = spec.parametrization.record()
        assert record["attention_logit_scales"] == {"2.branch.1.attn": expected}


def test_at_the_base_width_a_mup_vit_is_sp_bit_for_bit():
    sp = vit_spec("model.width=32")
    mup = vit_spec("model.width=32", "parametrization=mup", "parametrization.base_width=32")
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    outs = []
    for s in (sp, mup):
        net = s.make_net()
        apply(s.initializer, net, 3, s.datamodule.dataset.in_shape)
        outs.append(net(x))
    assert torch.equal(outs[0], outs[1])
    assert mup.parametrization.record()["attention_logit_scales"] == {}


def test_a_population_stacks_a_mup_vit():
    """The scaled attention trains under vmap (the population launcher's stacked forward)."""
    from initlab.population.stack import unbatchable

    spec = vit_spec("model.width=32", "parametrization=mup", "parametrization.base_width=8")
    net = spec.make_net()
    assert next(iter(attentions(net).values())).logit_scale == pytest.approx(
        math.sqrt(2) / 8
    )  # d 8, d_base 2
    assert unbatchable(net, spec.datamodule.dataset.in_shape) is None


NETS = textwrap.dedent(
    """
    from math import prod

    from torch import nn

    from initlab.models import Attention


    class Tokens(nn.Module):
        def __init__(self, in_shape, num_classes, activation, width=16, heads=2, grow="dim",
                     layer="torch"):
            super().__init__()
            heads = heads if grow == "dim" else width // 4  # "heads": d stays 4
            make = nn.MultiheadAttention if layer == "torch" else Attention
            self.embed = nn.Linear(in_shape[-1], width)
            extra = {"add_bias_kv": True} if layer == "initlab-kv" else {}
            self.attn = make(width, heads, batch_first=True, **extra)
            self.head = nn.Linear(width, num_classes)

        def forward(self, x):
            h = self.embed(x.flatten(1, -2))
            return self.head(self.attn(h, h, h, need_weights=False)[0].mean(1))
    """
)


@pytest.fixture
def my_nets(tmp_path, monkeypatch):
    (tmp_path / "attention_nets.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("attention_nets", None)


def custom(*overrides: str):
    return build(
        make_cfg(
            "dataset=digits",
            "model=custom",
            "model._target_=attention_nets.Tokens",
            "+model.width=32",
            "parametrization=mup",
            "parametrization.width_key=width",
            "parametrization.base_width=8",
            *overrides,
        )
    )


@pytest.mark.parametrize(
    "layer,said",
    [("torch", "initlab.models.Attention"), ("initlab-kv", "add_bias_kv")],
)
def test_an_attention_whose_head_dim_grows_and_cannot_scale_is_refused_by_name(
    my_nets, layer, said
):
    with pytest.raises(ConfigError) as err:
        custom(f"+model.layer={layer}")
    assert err.value.key == "parametrization.name" and err.value.value == "mup"
    assert "attn" in err.value.reason and said in err.value.reason


def test_a_custom_model_takes_the_scale_through_initlabs_attention(my_nets):
    spec = custom("+model.layer=initlab")
    assert spec.parametrization.record()["attention_logit_scales"] == {
        "attn": pytest.approx(math.sqrt(4) / 16)  # d 32/2 = 16, d_base 8/2 = 4
    }
    assert spec.make_net().attn.logit_scale == pytest.approx(math.sqrt(4) / 16)


def test_more_heads_of_a_fixed_dimension_keep_the_torch_layer(my_nets):
    """Width grows through the number of heads: d fixed, 1/√d is already μP's."""
    spec = custom("+model.grow=heads")
    assert spec.parametrization.record()["attention_logit_scales"] == {}


@pytest.mark.parametrize(
    "layer,call",
    [
        (dict(batch_first=True), dict(need_weights=False)),
        (dict(batch_first=True), dict()),  # torch's default: the weights averaged over heads
        (dict(batch_first=False), dict(average_attn_weights=False)),
        (dict(batch_first=True, kdim=6, vdim=5, bias=False), dict()),
    ],
    ids=["no-weights", "weights", "time-first", "kdim-vdim-no-bias"],
)
def test_a_scale_of_one_over_root_d_is_torchs_own_attention(layer, call):
    """The scaled path, at torch's own scale, gives torch's outputs and weights."""
    torch.manual_seed(0)
    m = Attention(8, 2, **layer).eval()
    g = torch.Generator().manual_seed(1)
    batch = (3, 4) if layer["batch_first"] else (4, 3)
    q = torch.randn(*batch, 8, generator=g)
    k = torch.randn(*batch, layer.get("kdim", 8), generator=g)
    v = torch.randn(*batch, layer.get("vdim", 8), generator=g)
    with torch.no_grad():
        theirs = m(q, k, v, **call)
        m.logit_scale = m.head_dim**-0.5
        ours = m(q, k, v, **call)
    assert torch.allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-6)
    if theirs[1] is None:
        assert ours[1] is None
    else:
        assert ours[1].shape == theirs[1].shape
        assert torch.allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-6)


def test_masks_and_torchs_extra_keys_are_refused():
    m = Attention(8, 2, batch_first=True)
    m.logit_scale = 0.1
    x = torch.randn(1, 3, 8)
    with pytest.raises(ValueError, match="takes no masks"):
        m(x, x, x, is_causal=True, attn_mask=torch.ones(3, 3).triu(1).bool())
    assert Attention(8, 2, add_bias_kv=True).unscalable() is not None
    assert m.unscalable() is None
