"""The reproductions' checking: a band's verdict, each check read from a sweep's own results,
and the page regenerated the same from the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from initlab.reproduce import REPRODUCTIONS, page, results, table, verdict


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.5, "matches"),
        (0.4, "matches"),  # the ends belong to the band
        (0.6, "matches"),
        (0.3999, "does not match"),
        (0.6001, "does not match"),
        (float("nan"), "no result"),
    ],
)
def test_a_band_says_whether_a_result_matches(value, expected):
    assert verdict(value, (0.4, 0.6)) == expected
    assert verdict(value, None) == ("no result" if value != value else "reported")


def _job(sweep: Path, overrides: list[str], init: str, acc: float) -> None:
    folder = sweep / ",".join(sorted(overrides))
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"init": {"name": init}}))
    metrics = {"test/acc": acc, "test/loss": 1.0, "val/acc": acc, "val/loss": 1.0}
    (folder / "metrics.json").write_text(json.dumps({"status": "completed", "metrics": metrics}))


def udacity_like(sweep: Path, accs: dict[str, list[float]]) -> None:
    for init, values in accs.items():
        for seed, acc in enumerate(values):
            extra = (
                ["init=uniform", "init.a=-0.5", "init.b=0.5"] if "(" in init else [f"init={init}"]
            )
            _job(sweep, ["experiment=udacity", *extra, f"seed={seed}"], init.split("(")[0], acc)


def test_each_check_reads_its_grid_point_and_the_page_is_deterministic(tmp_path):
    rep = REPRODUCTIONS["udacity"]
    accs = {c.point["init"]: [sum(c.band) / 2] * 3 for c in rep.checks}
    accs["lecun"] = [0.80, 0.81, 0.82]  # outside its band
    udacity_like(tmp_path, accs)
    rows = results(rep, tmp_path)
    assert [r["check"] for r in rows] == [c.label for c in rep.checks]
    by_check = {r["check"]: r for r in rows}
    assert by_check["N(0, 1/n)"]["verdict"] == "does not match"
    assert by_check["N(0, 1/n)"]["mean"] == pytest.approx(0.81)
    assert by_check["N(0, 1/n)"]["std"] == pytest.approx(0.01)
    assert by_check["N(0, 1/n)"]["n"] == 3
    assert all(r["verdict"] == "matches" for r in rows if r["check"] != "N(0, 1/n)")
    assert page([rep], rows) == page([rep], [dict(r) for r in rows])
    assert "| udacity | N(0, 1/n) | val/acc | 85.2% |" in table(rows)


def test_a_missing_grid_point_is_no_result(tmp_path):
    rep = REPRODUCTIONS["udacity"]
    udacity_like(tmp_path, {"zeros": [0.1, 0.1, 0.1], "ones": [0.1, 0.1, 0.1]})
    rows = {r["check"]: r for r in results(rep, tmp_path)}
    assert rows["all zeros"]["verdict"] == "matches"
    assert rows["PyTorch default"]["verdict"] == "no result"


def test_every_reproduction_names_real_configs():
    from conftest import groups_options

    experiments = groups_options("experiment")
    for rep in REPRODUCTIONS.values():
        for overrides in rep.sweeps:
            named = [o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")]
            assert named and all(n in experiments for n in named), rep.name
        assert all(c.band is None or c.band[0] < c.band[1] for c in rep.checks)
