"""Weight initializers: one registry, one variance-scaling function, a few structural methods.

An initializer is described in steps so that a bad config fails before any compute:

1. ``get_initializer(name)(**params)`` checks the scalar parameters and returns an
   :class:`Initializer` — a *rule* ``Fans -> Draw`` for weights plus a bias setting
   (:mod:`.initializer`; the rules in :mod:`.rules`, :mod:`.structural` and :mod:`.calibrated`,
   each registered by name where it is defined, :mod:`.catalog`).
2. :func:`plan` walks the model's weight blocks (:mod:`initlab.initializers.weight_blocks`: every
   layer type, fused tensors split per gate or projection) in forward order, reads each
   block's fans from its layer and turns the rule into a :class:`Draw` per block. Impossible
   combinations (``sparse`` with ``k`` > fan_in) raise here. This works on a model built on
   the ``meta`` device, so validation costs nothing (:mod:`.plan`).
3. :func:`apply` fills the tensors from one ``torch.Generator`` seeded by ``seed`` (:mod:`.fill`).

Modules:

- ``fans``: a weight block's :class:`Fans` and the :class:`Draw` a rule answers with;
- ``weight_blocks``: every layer type as weight blocks, with fans from the layer's metadata;
- ``forward_order``: the weight layers in the order the forward pass reaches them (``layerK``);
- ``catalog``: the ``init`` registry, where each rule is registered by name;
- ``rules``: the variance-scaling family and the other closed-form draws;
- ``structural``: orthogonal, identity, sparse, recurrent matrices;
- ``mean_field_rule``: ``init=mean_field``, weights σ_w²/fan_in and biases N(0, σ_b²);
- ``residual_schemes``: zero-γ, Fixup, SkipInit, ZerO, GPT-2, T-Fixup: residual branches;
- ``calibrated``: the data-dependent entries (LSUV, DBN, data-dependent);
- ``calibration``: their measuring on a training batch;
- ``initializer``: :class:`Initializer`, a rule plus a bias setting, built from a config;
- ``plan``: the rule turned into one draw per block, checked on a ``meta``-device model;
- ``coverage``: every parameter set by a rule that knows its layer, or listed;
- ``fill``: the tensors filled from one seeded generator.

May import: runtime, config, models.
"""

from initlab.initializers.calibrated import Calibrated, Calibration
from initlab.initializers.catalog import INITIALIZERS, register
from initlab.initializers.fans import Draw, Fans, Rule
from initlab.initializers.fill import FILLS, apply
from initlab.initializers.initializer import RECURRENT, Initializer, get_initializer
from initlab.initializers.plan import LayerPlan, layer_kind, plan, plan_records, plan_table
from initlab.initializers.rules import TRUNCATED_STD, variance_scaling
from initlab.initializers.structural import zero_matrix

__all__ = [
    "FILLS",
    "INITIALIZERS",
    "RECURRENT",
    "TRUNCATED_STD",
    "Calibrated",
    "Calibration",
    "Draw",
    "Fans",
    "Initializer",
    "LayerPlan",
    "Rule",
    "apply",
    "get_initializer",
    "layer_kind",
    "plan",
    "plan_records",
    "plan_table",
    "register",
    "variance_scaling",
    "zero_matrix",
]
