"""The coordinate check (``python -m initlab.coord_check``): under SP with Adam the logits of a
wider net grow after one step, under μP they do not (Yang et al., 2021, Figure 5); at step 0
μP's logits shrink as 1/√m, as its output layer's initial std (base std / m against SP's
base std / √m) says."""

from __future__ import annotations

import csv

import pytest

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
