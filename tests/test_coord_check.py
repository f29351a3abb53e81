"""The coordinate check (``python -m initlab.coord_check``): under SP with Adam the logits of a
wider net grow after one step, under μP they do not (Yang et al., 2021, Figure 5); at step 0
μP's logits shrink as 1/√m, as its output layer's initial std (base std / m against SP's
base std / √m) says."""

from __future__ import annotations

import csv

import pytest
import torch

from initlab import coord_check

RUN = ["dataset=digits", "init=he", "model.hidden=[64,64,64]", "optimizer.lr=0.01"]
WIDTHS = [32, 64, 128, 256, 512]


@pytest.fixture(scope="module")
def rows():
    return coord_check.measure([*RUN, "parametrization.base_width=32"], WIDTHS, steps=3, seeds=2)


def test_sp_grows_with_width_and_mup_does_not(rows):
    found = {(s["parametrization"], s["step"]): s for s in coord_check.summary(rows)}
    assert found[("sp", 0)]["logits_slope"] == pytest.approx(0, abs=0.1)
    assert found[("mup", 0)]["logits_slope"] == pytest.approx(-0.5, abs=0.1)
    for step in (1, 2):
        sp, mup = found[("sp", step)], found[("mup", step)]
        assert sp["logits_slope"] > 0.75  # SP's logits at width 512 ≥ 8× width 32's
        assert abs(mup["steepest_slope"]) < 0.45  # μP: every layer within ~3× over 16× width
        assert sp["logits_slope"] > 2 * abs(mup["steepest_slope"])


def test_the_command_writes_the_table_and_the_figure(tmp_path, capsys):
    out = tmp_path / "cc"
    argv = [*RUN, "--widths", "32", "64", "--steps", "2", "--seeds", "1", "--out", str(out)]
    assert coord_check.main(argv) == 0
    with open(out / "coord_check.csv") as f:
        written = list(csv.DictReader(f))
    # 2 parametrizations × 2 widths × 1 seed × 2 steps × 4 layers
    assert len(written) == 32 and set(written[0]) == set(coord_check.COLUMNS)
    assert (out / "coord_check.png").stat().st_size > 10_000
    said = capsys.readouterr().out
    assert "logits slope" in said and "μP" in said


@pytest.mark.parametrize(
    "argv,said",
    [
        (["parametrization=mup"], "runs both sp and mup"),
        (["--widths", "64"], "two or more"),
        (["--steps", "0"], "--steps=0"),
        (["model=rnn"], "parametrization.name='mup': model=rnn"),
        (["model=custom"], "parametrization.width_key"),
        (["model=nope"], "model/nope"),
    ],
)
def test_bad_input_is_refused_before_any_compute_and_any_folder(tmp_path, capsys, argv, said):
    assert coord_check.main([*argv, "--out", str(tmp_path / "cc")]) == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "cc").exists()


VIT = ["dataset=digits", "model=vit", "model.depth=1", "model.heads=2", "activation=gelu"]


def vit_slopes() -> dict[tuple[str, int], float]:
    """The slope of the attention logits (``layer6.scores``) per (parametrization, step)."""
    rows = coord_check.measure(
        [*VIT, "optimizer.lr=0.01", "parametrization.base_width=32"],
        [32, 64, 128, 256],
        steps=4,
        seeds=3,
    )
    return {
        key[:2]: coord_check.slope(*curve)
        for key, curve in coord_check.curves(rows).items()
        if key[2] == "layer6.scores"
    }


def test_a_vits_attention_logits_grow_under_sp_and_not_under_mup():
    """Width 32 to 256, 2 heads: the head dimension grows 8×. SP's 1/√d lets the logits grow
    with it once Adam has correlated q and k; μP's 1/d starts them at 1/√m of the base's and
    they do not grow (Tensor Programs V, §4)."""
    found = vit_slopes()
    assert found[("mup", 0)] == pytest.approx(-0.5, abs=0.1)  # q·k ~ √d at init, over d
    for step in (1, 2, 3):
        assert found[("sp", step)] > 0.75
        assert found[("mup", step)] < 0.05


def test_mups_attention_without_one_over_d_would_grow(monkeypatch):
    """The same check with μP's other rules and SP's 1/√d attention: its logits grow, by the
    √d the 1/d rule takes back."""
    import initlab.parametrization.options as options

    monkeypatch.setattr(options, "logit_scales", lambda *_: {})
    found = vit_slopes()
    assert all(found[("mup", step)] > 0.1 for step in (1, 2, 3))


def test_a_deep_nets_figure_has_a_depth_bar_instead_of_a_legend():
    rows = [
        dict(parametrization=p, width=w, seed=0, step=s, layer=layer, mean_abs=1.0 + w / 64)
        for p in ("sp", "mup")
        for w in (32, 64)
        for s in (0, 1)
        for layer in [f"layer{k}" for k in range(1, 15)] + ["layer3.scores"]
    ]
    fig = coord_check.figure(rows)
    assert len(fig.axes) == 2 * 2 + 1 and not fig.legends  # the panels and the bar
    assert "attention" in fig.axes[-1].get_ylabel()
    dashed = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_label() == "layer3 attention logits"
    few = coord_check.figure([r for r in rows if r["layer"] in ("layer1", "layer2")])
    assert len(few.axes) == 4 and [t.get_text() for t in few.legends[0].get_texts()] == [
        "layer1",
        "layer2",
    ]


@pytest.mark.parametrize(
    "layer", [dict(batch_first=True), dict(batch_first=False, kdim=6, vdim=5, bias=False)]
)
def test_the_attention_logits_are_the_ones_torch_softmaxes(layer):
    """softmax of what the check records is the attention weights torch's layer returns."""
    torch.manual_seed(0)
    m = torch.nn.MultiheadAttention(8, 2, **layer)
    batch = (3, 4) if layer["batch_first"] else (4, 3)
    q = torch.randn(*batch, 8)
    k = torch.randn(*batch, layer.get("kdim", 8))
    v = torch.randn(*batch, layer.get("vdim", 8))
    _, weights = m(q, k, v, average_attn_weights=False)
    scores = coord_check._scores(m, *coord_check._query_key((q,), {"key": k, "value": v}))
    assert torch.allclose(torch.softmax(scores, dim=-1), weights, rtol=1e-5, atol=1e-6)
