"""The activation probe: the published activation statistics (cs231n lecture 6; Deep Learning
from Scratch §6.2.2), its files, its command line and its config checks."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
from conftest import REPO
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from initlab.config.errors import ConfigError
from initlab.config.hydra_conf import CONF_DIR
from initlab.initializers import apply
from initlab.probe import (
    COLUMNS,
    ValidateProbeBeforeRun,
    caption,
    probe,
    theory,
    write,
    write_theory,
)
from initlab.training.spec import build

CS231N = ["experiment=cs231n_probe"]  # 10 tanh layers × 500, 1000 × 500 inputs, W = 0.01·randn
DLFS = ["experiment=dlfs_histograms"]  # 5 sigmoid layers × 100, 1000 × 100 inputs, W = randn


def probe_cfg(*overrides: str):
    """The config `python -m initlab.probe <overrides>` would run (without Hydra's own node)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("probe", overrides=list(overrides))


def hidden_stds(rows: list[dict]) -> list[float]:
    return [row["std"] for row in rows[:-1]]  # the last row is the logits layer


# Published hidden-layer stds {layer: std}, with relative tolerances for layer 1 and deeper.
#
# Why these tolerances. Sampling is not the issue: 1000 × width values per layer estimate a std
# to ~0.1%. The weight draw is: each layer multiplies the activations' scale by a random factor,
# and the published numbers are one draw each. Over seeds 0..29 the relative spread (sd) was
#   cs231n tanh 0.01·randn  0.2% at layer 1, 0.4% at layer 4 (a 500 × 500 matrix averages well)
#   cs231n tanh randn       0.03% everywhere (saturated: |a| ≈ 1 whatever the weights)
#   cs231n tanh lecun       0.1% at layer 1, 0.6% at layer 10
#   cs231n relu he          0.2% at layer 1, then ~4%·√(depth − 1): 12% at layer 10
#                           (range 0.65..1.09): ReLU halves the units, so each layer's gain
#                           varies more, and the log-scale random walk adds up with depth
#   dlfs sigmoid 0.01/lecun 1% at layer 1, 6-7% deeper (100 × 100 matrices average less)
# A difference of two independent draws (ours, the book's) has √2 times that sd; the deep
# tolerances are ~3 of those sds (dlfs: 30%), ~3 of ours for relu (35%), and the first-layer
# ones also cover the published rounding (0.21 for 0.208). Three seeds are checked, ~0.2 s each.
PUBLISHED = [
    pytest.param(
        CS231N,
        {1: 0.213, 2: 0.0476, 3: 0.0106, 4: 0.00238},
        0.02,
        0.02,
        id="cs231n-tanh-0.01randn",
    ),
    pytest.param(
        [*CS231N, "init=normal"], dict.fromkeys(range(1, 11), 0.98), 0.01, 0.01, id="cs231n-randn"
    ),
    pytest.param([*CS231N, "init=lecun"], {1: 0.628, 10: 0.23}, 0.02, 0.05, id="cs231n-tanh-lecun"),
    pytest.param(
        [*CS231N, "init=he", "activation=relu"],
        dict.fromkeys(range(1, 11), 0.82),
        0.02,
        0.35,
        id="cs231n-relu-he",
    ),
    pytest.param(
        [*DLFS, "init=small_normal"], {1: 0.025, 2: 0.012, 3: 0.011}, 0.05, 0.3, id="dlfs-0.01"
    ),
    pytest.param(
        [*DLFS, "init=lecun"],
        {1: 0.21, 2: 0.12, 3: 0.11, 4: 0.12, 5: 0.12},
        0.05,
        0.3,
        id="dlfs-lecun",
    ),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("overrides,published,first,deep", PUBLISHED)
def test_layer_stds_match_the_published_ones(overrides, published, first, deep, seed):
    stds = hidden_stds(probe(probe_cfg(*overrides, f"seed={seed}")))
    for k, std in published.items():
        assert stds[k - 1] == pytest.approx(std, rel=first if k == 1 else deep), f"layer{k}"


def test_the_published_trends():
    # cs231n, W = 0.01·randn: each tanh layer (linear near 0) scales by 0.01·√500 ≈ 0.22 → ~0.
    assert hidden_stds(probe(probe_cfg(*CS231N)))[-1] < 1e-6
    # W = randn/√fan_in: the std falls with depth, but slowly (0.628 → 0.23).
    stds = hidden_stds(probe(probe_cfg(*CS231N, "init=lecun")))
    assert all(a > b for a, b in zip(stds[:-1], stds[1:], strict=True))
    # DLFS, std 1: the sigmoids pile up at 0 and 1 (std near its maximum 0.5), in every layer.
    rows = probe(probe_cfg(*DLFS))[:-1]
    assert all(row["saturation"] > 0.35 and row["std"] > 0.4 for row in rows)
    # std 0.01: everything near 0.5, nothing saturated.
    rows = probe(probe_cfg(*DLFS, "init=small_normal"))[:-1]
    assert all(abs(row["mean"] - 0.5) < 0.01 and row["saturation"] == 0 for row in rows)


def test_tanh_saturation_randn_against_lecun():
    # W = randn: pre-activations have std √500 ≈ 22, so ~90% of the units have |tanh| > 0.99.
    rows = probe(probe_cfg(*CS231N, "init=normal"))[:-1]
    assert all(row["saturation"] > 0.85 for row in rows)
    # LeCun, layer 1: pre-activations N(0, 1), so P(|x| > atanh(0.99) = 2.647) = 0.0081.
    (first, *_) = probe(probe_cfg(*CS231N, "init=lecun"))
    assert first["saturation"] == pytest.approx(0.0081, abs=0.002)


@pytest.mark.parametrize("overrides,depth,width", [(CS231N, 10, 500), (DLFS, 5, 100)])
def test_experiments_build_the_published_nets(overrides, depth, width):
    # init=default has bias: default of its own; the experiment's bias: zeros is merged after it.
    cfg = probe_cfg(*overrides, "init=default")
    assert cfg.init.bias == "zeros"
    assert (cfg.probe.input, cfg.probe.batch_size) == ("gaussian", 1000)
    rows = probe(cfg)  # inputs (1000, width): dataset.features == width
    assert [(r["fan_in"], r["fan_out"]) for r in rows] == [(width, width)] * depth + [(width, 10)]
    assert rows[0]["values"].shape == (1000, width)
    assert rows[-1]["values"].shape == (1000, 10)


def test_inputs_are_what_the_docstring_says():
    # gaussian: randn from a generator seeded by seed + 1 (the weights use seed).
    cfg = probe_cfg("dataset=gaussian", "activation=tanh", "probe.batch_size=64", "seed=3")
    spec = build(cfg)
    net = spec.make_net()
    apply(spec.initializer, net, 3)
    x = torch.randn(64, 100, generator=torch.Generator().manual_seed(4))  # (64, features)
    with torch.no_grad():
        a = net[2](net[1](net[0](x)))  # Flatten → Linear → Tanh: (64, 256)
    (first, *_) = probe(cfg)
    assert torch.equal(first["values"], a)

    # data: the first batch_size examples of the (standardized) training split.
    cfg = probe_cfg("dataset=digits", "probe.input=data", "probe.batch_size=50")
    spec = build(cfg)
    spec.datamodule.setup("fit")
    x = spec.datamodule.splits["train"][0][:50]  # (50, 1, 8, 8)
    net = spec.make_net()
    apply(spec.initializer, net, cfg.seed)
    with torch.no_grad():
        a = net[2](net[1](net[0](x)))  # (50, 256)
    (first, *_) = probe(cfg)
    assert torch.equal(first["values"], a)
    assert first["std"] == pytest.approx(float(a.std()))


def test_files_agree_with_the_rows(tmp_path):
    rows = probe(probe_cfg(*DLFS))
    table = write(rows, tmp_path, title="DLFS", bins=10)

    with open(tmp_path / "probe.csv", newline="") as f:
        records = list(csv.DictReader(f))
    assert len(records) == len(rows) == 6
    for record, row in zip(records, rows, strict=True):
        assert tuple(record) == COLUMNS
        assert record["layer"] == row["layer"]
        assert (int(record["fan_in"]), int(record["fan_out"])) == (row["fan_in"], row["fan_out"])
        for stat in ("mean", "std", "saturation"):
            assert float(record[stat]) == row[stat]  # csv writes repr(float): exact

    assert (tmp_path / "probe.md").read_text() == f"# DLFS\n\n{table}\n"
    header, rule, *lines = table.splitlines()
    assert header == "| " + " | ".join(COLUMNS) + " |"
    for line, row in zip(lines, rows, strict=True):
        layer, fan_in, fan_out, *stats = (c.strip() for c in line.strip("|").split("|"))
        assert (layer, int(fan_in), int(fan_out)) == (row["layer"], row["fan_in"], row["fan_out"])
        for cell, stat in zip(stats, ("mean", "std", "saturation"), strict=True):
            assert float(cell) == pytest.approx(row[stat], rel=1e-3, abs=1e-12)  # 4 digits

    image = matplotlib.image.imread(tmp_path / "probe.png")  # (H, W, RGBA)
    # six panels in a grid at the README's width, tall enough to read (was a 662 × 136 strip)
    assert 700 <= image.shape[1] <= 900 and image.shape[0] >= 400


def test_the_figure_title_says_what_was_probed_in_words():
    assert caption(probe_cfg(*CS231N, "init=small_normal")) == (
        "small_normal init, tanh, deep_mlp: each layer's activations before training (1000 "
        "unit-gaussian inputs, seed 0)"
    )
    data = probe_cfg("dataset=digits", "probe.input=data", "probe.batch_size=50", "seed=3")
    assert caption(data) == (
        "default init, relu, mlp: each layer's activations before training (50 digits training "
        "examples, seed 3)"
    )


@pytest.mark.parametrize(
    "override,key,value",
    [
        ("probe.input=video", "probe.input", "'video'"),
        ("probe.batch_size=0", "probe.batch_size", "0"),
        ("probe.batch_size=1.5", "probe.batch_size", "1.5"),
        ("probe.bins=-1", "probe.bins", "-1"),
        ("+probe.batchsize=10", "probe.batchsize", "10"),
    ],
)
def test_bad_probe_value_names_key_and_value(override, key, value):
    with pytest.raises(ConfigError) as err:
        probe(probe_cfg(override))
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}={value}")


def test_data_batch_larger_than_the_training_split_is_refused():
    cfg = probe_cfg("dataset=digits", "probe.input=data", "probe.batch_size=5000")
    with pytest.raises(ConfigError, match=r"probe.batch_size=5000: must be ≤ the 1257"):
        probe(cfg)


@pytest.mark.slow
def test_command_line_writes_files_and_prints_the_table(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.probe", *DLFS, f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    written = {p.name for p in run_dir.iterdir()}
    assert {"probe.csv", "probe.md", "probe.png", "theory.md", "theory.png"} <= written
    assert "mean-field theory:\n| layer | q measured | q theory |" in proc.stdout
    _, table = (run_dir / "probe.md").read_text().split("\n\n", 1)
    assert table.strip() in proc.stdout
    assert "| layer1 | 100 | 100 |" in proc.stdout
    with open(run_dir / "probe.csv", newline="") as f:
        stds = [float(r["std"]) for r in csv.DictReader(f)]
    assert stds == pytest.approx([row["std"] for row in probe(probe_cfg(*DLFS))], rel=1e-5)


def test_bad_probe_value_exits_2_before_any_folder_is_created(tmp_path):
    # Through the console script, from another folder: the default run folder.
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "initlab-probe"), "probe.input=video"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "probe.input='video'" in proc.stderr and "gaussian, data" in proc.stderr
    assert not (tmp_path / "logs").exists()


def test_batch_norm_normalises_with_the_batch_statistics():
    # With batch norm after each layer, the scale of the weights no longer matters: every ReLU
    # sees unit-normal pre-activations, so its output std is √(1/2 − 1/(2π)) ≈ 0.584 in every
    # layer, for tiny and huge weights alike (and dropout stays off).
    expected = (0.5 - 1 / (2 * torch.pi)) ** 0.5
    for init in ("small_normal", "large_normal"):
        rows = probe(
            probe_cfg(
                *DLFS,
                "activation=relu",
                f"init={init}",
                "model.batch_norm=true",
                "model.dropout=0.5",
            )
        )
        assert hidden_stds(rows) == pytest.approx([expected] * 5, rel=0.03)


def test_a_data_batch_too_large_is_refused_before_the_folder():
    """The run-start check knows digits' training split without reading it: refused before
    Hydra makes the folder (once read, as the last test shows, only after it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose(
                "probe",
                ["dataset=digits", "probe.input=data", "probe.batch_size=5000"],
                return_hydra_config=True,
            )
    with pytest.raises(ConfigError, match=r"^probe.batch_size=5000: must be ≤ the 1257"):
        ValidateProbeBeforeRun().check(cfg)
    OmegaConf.set_struct(cfg, False)
    cfg.sed = 1  # +sed=1: a misspelled seed
    with pytest.raises(ConfigError, match="^sed=1: unknown key"):
        ValidateProbeBeforeRun().check(cfg)


@pytest.mark.slow
def test_a_probe_sweep_records_each_job_and_lists_a_bad_one_before_any(tmp_path):
    sweep = tmp_path / "sweep"

    def run(*overrides):
        return subprocess.run(
            [sys.executable, "-m", "initlab.probe", "-m", *overrides]
            + [f"hydra.sweep.dir={sweep}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    bad = run("dataset=digits", "probe.input=data", "probe.batch_size=10,100000")
    assert bad.returncode == 2 and "invalid config in 1 of 2 jobs" in bad.stderr
    assert "probe.batch_size=100000: must be ≤ the 1257" in bad.stderr and not sweep.exists()
    proc = run(*DLFS, "init=lecun,he")
    assert proc.returncode == 0, proc.stderr
    assert "sweep: 2 jobs: 2 completed (0 skipped" in proc.stdout
    records = [json.loads(f.read_text()) for f in sweep.glob("*/metrics.json")]
    assert sorted(r["init"] for r in records) == ["he", "lecun"]
    assert {r["status"] for r in records} == {"completed"}
    again = run(*DLFS, "init=lecun,he")  # finished: skipped, as a training sweep's jobs are
    assert "2 of 2 jobs already finished, skipped" in again.stdout


# --- mean-field theory beside the probe ------------------------------------------------------


def test_the_theory_beside_a_deep_tanh_mlp(tmp_path):
    cfg = probe_cfg(
        "activation=tanh",
        "init=mean_field",
        "init.sigma_w2=1.76",
        "init.sigma_b2=0.05",
        "model=deep_mlp",
    )
    c = theory(cfg)
    assert c.layers == [f"layer{k}" for k in range(1, 12)]
    # 64 inputs × 256 units a hidden layer; the logits (10 units) are left out
    for measured, predicted in zip(c.q_measured[:-1], c.q_predicted[:-1], strict=True):
        assert measured == pytest.approx(predicted, rel=0.1)
    for measured, predicted in zip(c.c_measured[:-1], c.c_predicted[:-1], strict=True):
        assert measured == pytest.approx(predicted, abs=0.06)
    assert c.c_predicted[-2] > 5 * c.c_predicted[0]  # σ_b² > 0: inputs grow alike with depth
    assert len(c.jacobian) == 4 * 256 and "∂h^10/∂h^1" in c.jacobian_note
    measured_mean = sum(c.jacobian) / len(c.jacobian)
    assert measured_mean == pytest.approx(c.jacobian_mean, rel=0.3)
    text = write_theory(c, tmp_path, "title")
    assert (tmp_path / "theory.md").read_text() == f"# title\n\n{text}\n"
    assert matplotlib.image.imread(tmp_path / "theory.png").shape[2] in (3, 4)


def test_orthogonal_weights_are_predicted_as_orthogonal():
    base = ["activation=tanh", "model=deep_mlp", "model.depth=6"]
    orthogonal = theory(probe_cfg(*base, "init=orthogonal"))
    gaussian = theory(probe_cfg(*base, "init=lecun"))
    assert "orthogonal weights" in orthogonal.jacobian_note
    assert orthogonal.jacobian_variance < gaussian.jacobian_variance


def test_no_theory_for_a_resnet_and_a_line_saying_why(tmp_path):
    said = theory(probe_cfg("model=resnet"))
    assert said.startswith("no theory for model=resnet: ")
    assert "Conv2d (convolutions" in said
    assert write_theory(said, tmp_path) == said
    assert (tmp_path / "theory.md").read_text() == said + "\n"
    assert not (tmp_path / "theory.png").exists()
    batch_norm = theory(probe_cfg("model=deep_mlp", "model.batch_norm=true"))
    assert "BatchNorm1d (normalization" in batch_norm


def test_the_jacobians_predicted_density_follows_its_histogram():
    """Free probability's density (initlab.theory.jacobian_density) against the exact Jacobian's
    squared singular values: the share of them in bins of their range, the heavy tail's
    included (most of them are below 5% of the largest)."""
    cfg = probe_cfg("experiment=pennington2017_probe", "init.weights=normal")
    c = theory(cfg)
    x, rho = (np.array(v) for v in c.jacobian_density)
    eigen = np.array(c.jacobian)
    assert x[-1] == pytest.approx(1.05 * eigen.max())
    step = x[1] - x[0]
    for low, high in ((0.05, 0.25), (0.25, 0.5), (0.5, 1.0)):
        a, b = low * eigen.max(), high * eigen.max()
        predicted = rho[(x >= a) & (x < b)].sum() * step
        measured = ((eigen >= a) & (eigen < b)).mean()
        # 28 to 130 of the 1600 values a bin: counting noise of 9% to 19%
        assert predicted == pytest.approx(measured, rel=0.35), (low, high)


def test_a_net_that_carries_no_signal_gets_its_theory_without_a_crash(tmp_path):
    """init=zeros: q^l is 0 past the first layer, each correlation 0/0 (NaN, not an error), and
    the Jacobian is 0."""
    c = theory(probe_cfg("init=zeros"))
    assert c.q_measured[1:] == [0.0] * (len(c.layers) - 1)
    assert all(math.isnan(v) for v in c.c_measured[1:])
    assert set(c.jacobian) == {0.0}
    write_theory(c, tmp_path, "zeros")
    assert matplotlib.image.imread(tmp_path / "theory.png").shape[2] in (3, 4)
