"""model=custom: a model class from the user's own package runs without editing initlab, and is
validated like the built-in models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO, make_cfg

from initlab.config.errors import ConfigError
from initlab.training.spec import build

# What a user writes in their own package: a class called like initlab's builders.
MY_NETS = textwrap.dedent(
    """
    from math import prod

    import torch
    from torch import nn


    class TinyNet(nn.Module):
        def __init__(self, in_shape, num_classes, activation, width=16):
            super().__init__()
            self.body = nn.Sequential(
                nn.Flatten(), nn.Linear(prod(in_shape), width), activation()
            )
            self.head = nn.Linear(width, num_classes)

        def forward(self, x):
            return self.head(self.body(x))


    class WithAScale(TinyNet):
        def __init__(self, in_shape, num_classes, activation):
            super().__init__(in_shape, num_classes, activation)
            self.scale = nn.Parameter(torch.ones(()))  # a learnable scalar no rule sets

        def forward(self, x):
            return super().forward(x) * self.scale


    class Broken(nn.Module):
        def __init__(self, in_shape, num_classes, activation):
            super().__init__()
            raise RuntimeError("my bug")


    class OnlyWide(TinyNet):
        def __init__(self, in_shape, num_classes, activation, width=128):
            if width < 100:
                raise ValueError("my nets are wide")
            super().__init__(in_shape, num_classes, activation, width)


    class Lazy(nn.Module):
        def __init__(self, in_shape, num_classes, activation):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

        def forward(self, x):
            return self.net(x)
    """
)


@pytest.fixture
def my_package(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(MY_NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_class_is_built_with_its_own_keys(my_package):
    spec = build(
        make_cfg(
            "dataset=digits", "model=custom", "model._target_=my_nets.TinyNet", "+model.width=8"
        )
    )
    net = spec.make_net()
    assert type(net).__name__ == "TinyNet" and net.head.in_features == 8


@pytest.mark.parametrize(
    "overrides, key, reason",
    [
        (["model._target_=no_such_pkg.Net"], "model._target_", "cannot import it"),
        (
            ["model._target_=my_nets.TinyNet", "+model.depth=3"],
            "model.depth",
            "unknown key (accepted: width)",
        ),
        (
            ["model._target_=my_nets.WithAScale"],
            "init.uncovered",
            "no initializer rule sets scale (WithAScale",
        ),
        (["model._target_=my_nets.Lazy"], "model.name", "LazyLinear at net.1 has no shape"),
        # the user's code fails: their exception, under their key (not "a bug in initlab")
        (
            ["model._target_=my_nets.Broken"],
            "model._target_",
            "building it with (in_shape, num_classes, activation) raised RuntimeError: my bug",
        ),
        (["model._target_=builtins.print"], "model._target_", "returned NoneType, not a torch"),
        (["model._target_=torch.nn.Linear"], "model._target_", "raised TypeError"),
    ],
)
def test_it_is_validated_like_the_built_in_models(my_package, overrides, key, reason):
    with pytest.raises(ConfigError) as info:
        build(make_cfg("dataset=digits", "model=custom", *overrides))
    assert info.value.key == key and reason in info.value.reason


def test_the_default_target_is_initlabs_mlp():
    net = build(make_cfg("dataset=digits", "model=custom")).make_net()
    assert [type(m).__name__ for m in net][:2] == ["Flatten", "Linear"]


@pytest.mark.slow
def test_a_custom_model_runs_end_to_end_on_digits(my_package, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            "model=custom",
            "model._target_=my_nets.TinyNet",
            "+model.width=32",
            "dataset=digits",
            "trainer.max_epochs=2",
            "trainer.progress_bar=none",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(my_package)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["metrics"]["test/acc"] > 0.8
    plan = json.loads((run_dir / "init_plan.json").read_text())
    assert [(r["layer"], r["module"]) for r in plan["layers"]] == [
        ("layer1", "body.1"),
        ("layer2", "head"),
    ]


def test_mup_reads_a_custom_models_layers_from_its_width_key(my_package):
    mup = ["parametrization=mup", "parametrization.width_key=width", "parametrization.base_width=8"]
    spec = build(
        make_cfg(
            "dataset=digits",
            "model=custom",
            "model._target_=my_nets.TinyNet",
            "+model.width=32",
            *mup,
        )
    )
    roles = {n: (s.role, s.width_mult) for n, s in spec.parametrization.scales.items()}
    assert roles["body.1.weight"] == ("input", 4.0) and roles["head.weight"] == ("output", 4.0)


def test_a_custom_model_that_fails_at_the_base_width_is_refused_as_the_width_key(my_package):
    """Its error, whatever its type, named as the width key with the width it failed at."""
    with pytest.raises(ConfigError) as err:
        build(
            make_cfg(
                "dataset=digits",
                "model=custom",
                "model._target_=my_nets.OnlyWide",
                "parametrization=mup",
                "parametrization.width_key=width",
            )
        )
    assert err.value.key == "parametrization.width_key"
    assert "at width 64, building the model raised ValueError: my nets are wide" in str(err.value)
