"""Every registered model builder keeps the builder contract on every dataset's input shape: it
builds on the meta device, returns logits of the right shape, leaves no parameter uncovered and
gives each nonlinearity its own activation module, or refuses a shape it cannot take by name."""

from __future__ import annotations

import pytest
import torch

from initlab import coverage
from initlab.activations import get_activation
from initlab.data import DATASETS
from initlab.errors import ConfigError
from initlab.models import MODELS
from initlab.sites import sites

BUILDERS = [name for name in MODELS if name != "custom"]  # custom: the user's class


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("model", BUILDERS)
def test_the_builder_contract(model, dataset):
    data = DATASETS.get(dataset)()  # shapes only: nothing is read
    activation = get_activation("tanh")
    try:
        with torch.device("meta"):
            net = MODELS.get(model)(data.in_shape, data.num_classes, activation.make)
    except ConfigError as err:  # a shape it cannot take (cnn on flat features), by name
        assert str(list(data.in_shape)) in str(err)
        return
    logits = net(torch.empty(2, *data.in_shape, device="meta"))
    assert logits.shape == (2, data.num_classes)
    assert coverage.uncovered(net) == []
    found = sites(net, activation, data.in_shape)
    assert len(found) >= 2
    # every layer but the last is read after an activation module of its own, but a recurrent
    # layer, whose nonlinearity is inside it (its output is read at its last block)
    outputs = [site.output for site in found[:-1] if site.output is not None]
    activations = [o for o in outputs if not isinstance(o, torch.nn.RNNBase)]
    assert all(isinstance(o, torch.nn.Tanh) for o in activations)
    assert len({id(o) for o in activations}) == len(activations)
