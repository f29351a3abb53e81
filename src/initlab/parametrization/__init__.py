"""Parametrizations: how each layer's initial scale and learning rate follow the network's
width (the ``parametrization`` config group).

Modules:

- ``widths``: which dimensions of each parameter are widths, read from the model built at two
  widths, and each one's multiplier against the base width;
- ``mup``: the maximal update parametrization's rules: each parameter's role and its
  multipliers of initial std, learning rate and weight decay;
- ``attention``: μP's attention logits, 1/d instead of 1/√d where the head dimension grows;
- ``parametrized``: a parametrization bound to one model: the plan it applies and the
  optimizer's parameter groups;
- ``options``: the group's registry, ``sp`` and ``mup``, and their checks.

May import: runtime, config, models, initializers.
"""

from initlab.parametrization.options import PARAMETRIZATIONS
from initlab.parametrization.parametrized import Parametrized, optimizer_params

__all__ = ["PARAMETRIZATIONS", "Parametrized", "optimizer_params"]
