"""Every registered model builder keeps the builder contract on every dataset's input shape: it
builds on the meta device, returns logits of the right shape, leaves no parameter uncovered and
gives each nonlinearity its own activation module, or refuses a shape it cannot take by name."""

from __future__ import annotations

import pytest
import torch

from initlab.config.errors import ConfigError
from initlab.data import DATASETS
from initlab.diagnostics.sites import sites
from initlab.initializers import coverage
from initlab.models.activations import get_activation
from initlab.models.builders import MODELS

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
    # every layer but the last is read after an activation module of its own, but a layer no
    # activation follows, whose own output is read: a recurrent layer (its nonlinearity is
    # inside it; at its last block), and in a transformer the layers that write to the
    # residual stream (the patch and position embeddings, the attention, the MLP's second
    # Linear)
    reads = [site for site in found[:-1] if site.output is not None]
    own = [type(site.layer).__name__ for site in reads if site.output is site.layer]
    activations = [site.output for site in reads if site.output is not site.layer]
    assert all(isinstance(o, torch.nn.Tanh) for o in activations)
    assert len({id(o) for o in activations}) == len(activations)
    if model == "rnn":
        assert own == ["RNN"]
    elif model == "vit":
        assert own == [
            "Conv2d",
            "Embedding",
            *["Attention", "Linear"] * 6,
        ]  # initlab.models.Attention
        assert len(activations) == 6  # the MLPs' first Linear
    else:
        assert own == []
