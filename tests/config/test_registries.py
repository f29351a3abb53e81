"""Every config group chosen by name: its YAML options are exactly its registry's names, and an
unknown name is refused the same way in each (DESIGN.md, Contracts 2)."""

from __future__ import annotations

import pytest
import yaml
from conftest import make_cfg

from initlab.config.errors import ConfigError
from initlab.config.hydra_conf import CONF_DIR
from initlab.config.registry import Registry
from initlab.data import DATASETS
from initlab.initializers import INITIALIZERS
from initlab.models.activations import ACTIVATIONS
from initlab.models.builders import MODELS
from initlab.parametrization import PARAMETRIZATIONS
from initlab.training.optimizers import OPTIMIZERS
from initlab.training.spec import build

REGISTRIES = {
    "init": INITIALIZERS,
    "activation": ACTIVATIONS,
    "dataset": DATASETS,
    "model": MODELS,
    "optimizer": OPTIMIZERS,
    "parametrization": PARAMETRIZATIONS,
}


@pytest.mark.parametrize("group", REGISTRIES)
def test_yaml_options_are_the_registry(group):
    files = sorted((CONF_DIR / group).glob("*.yaml"))
    for path in files:  # the file name is the option's name
        assert yaml.safe_load(path.read_text())["name"] == path.stem, path
    assert {p.stem for p in files} == set(REGISTRIES[group])


@pytest.mark.parametrize("group", REGISTRIES)
def test_unknown_name_is_refused_alike_in_every_group(group):
    with pytest.raises(ConfigError) as err:
        build(make_cfg(f"{group}.name=nope"))
    assert err.value.key == f"{group}.name" and err.value.value == "nope"
    assert str(err.value).startswith(f"{group}.name='nope': unknown ")
    assert err.value.reason.endswith("; choose from " + ", ".join(REGISTRIES[group]))


def test_a_duplicate_name_is_refused():
    registry = Registry("model")
    registry.register(print, name="net")
    with pytest.raises(KeyError, match="model 'net' is already registered"):
        registry.register(len, name="net")
