"""Which dimensions are widths, read from the model built at the base width and twice it, and
the role each parameter takes from them (:mod:`initlab.parametrization.widths`, ``.mup``)."""

from __future__ import annotations

import pytest
from conftest import make_cfg

from initlab.config.errors import ConfigError, NotApplicable
from initlab.training.spec import build


def roles(*overrides: str) -> dict[str, tuple[str, float]]:
    spec = build(make_cfg("dataset=digits", "parametrization=mup", *overrides))
    return {n: (s.role, s.width_mult) for n, s in spec.parametrization.scales.items()}


def test_an_mlps_input_hidden_and_output_layers():
    found = roles("model.hidden=[256,128]", "parametrization.base_width=32")
    assert found == {
        "1.weight": ("input", 8.0),  # 64 pixels → 256: only its fan-out grows
        "1.bias": ("vector", 8.0),
        "3.weight": ("hidden", 8.0),  # 256 → 128: m is its fan-in's, 256/32
        "3.bias": ("vector", 4.0),
        "5.weight": ("output", 4.0),  # 128 → 10 classes
        "5.bias": ("fixed", 1.0),
    }


def test_a_resnets_convolutions_norms_and_classifier():
    found = roles("model=resnet", "model.depth=8", "model.width=32", "parametrization.base_width=8")
    assert found["0.weight"] == ("input", 4.0)  # the stem: 1 channel in, width out
    convs = [n for n, (r, _) in found.items() if r == "hidden"]
    assert len(convs) >= 6 and all(found[n][1] == 4.0 for n in convs)
    norms = [n for n in found if found[n][0] == "vector"]
    assert norms and all(found[n][1] == 4.0 for n in norms)  # γ and β of every batch norm
    (head,) = [n for n, (r, _) in found.items() if r == "output"]
    assert head.endswith(".weight") and found[head.replace("weight", "bias")][0] == "fixed"


def test_a_vits_patches_positions_attention_and_head():
    found = roles("model=vit", "model.depth=1", "model.width=64", "parametrization.base_width=16")
    assert found["0.proj.weight"] == ("input", 4.0)  # patch pixels → width
    assert found["1.table.weight"] == ("input", 4.0)  # a row per token: an index in, a vector out
    attention = [n for n in found if "attn.in_proj_weight" in n or "out_proj.weight" in n]
    assert len(attention) == 2 and all(found[n] == ("hidden", 4.0) for n in attention)
    assert [r for r, _ in found.values()].count("output") == 1


def test_a_custom_model_names_its_width_key():
    with pytest.raises(ConfigError) as err:
        roles("model=custom", "+model.hidden=[128]")
    assert err.value.key == "parametrization.width_key" and "model=custom" in err.value.reason
    found = roles(
        "model=custom",
        "+model.hidden=[128]",
        "parametrization.width_key=hidden",
        "parametrization.base_width=32",
    )
    assert found["3.weight"] == ("output", 4.0)


@pytest.mark.parametrize(
    "overrides,key,said",
    [
        (["parametrization.width_key=depth"], "parametrization.width_key", "depth=64: unknown key"),
        (
            ["model=deep_mlp", "parametrization.width_key=depth"],
            "parametrization.width_key",
            "changes which parameters",
        ),
        (
            ["parametrization.width_key=dropout"],
            "parametrization.width_key",
            "at width 64, dropout=64: must be",
        ),
        (["parametrization.base_width=0"], "parametrization.base_width", "positive integer"),
        (["parametrization.output_mult=-1"], "parametrization.output_mult", "> 0"),
        (["parametrization.readout_zero=maybe"], "parametrization.readout_zero", "true or false"),
        (["+parametrization.base=8"], "parametrization.base", "unknown key"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(overrides, key, said):
    with pytest.raises(ConfigError) as err:
        roles(*overrides)
    assert err.value.key == key and said in str(err.value)


@pytest.mark.parametrize(
    "overrides,said",
    [
        (["model=rnn"], "model=rnn: a recurrent matrix"),
        (["init=orthogonal"], "init=orthogonal draws orthogonal matrices"),
        (["init=identity"], "init=identity draws identity matrices"),
        (["init=lsuv"], "init=lsuv rescales every layer on data"),
    ],
)
def test_what_mup_does_not_define_is_refused_by_name(overrides, said):
    """Refused as not applicable: a sweep over every init or model skips and lists them."""
    with pytest.raises(NotApplicable) as err:
        roles(*overrides)
    assert err.value.key == "parametrization.name" and said in err.value.reason
