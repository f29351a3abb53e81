"""initlab's configs that live in Python, in Hydra's config store: ``init_defaults/<name>``, each
initializer's keys at their defaults (:func:`initlab.initializers.initializer.config_node`), which
``conf/init/<name>.yaml`` starts from. Hydra imports every module of the ``hydra_plugins``
namespace before it composes, in every process that composes (``train.py``, the probe, a test's or
a notebook's ``compose``), so the store is filled before any ``init`` is read."""

from hydra.core.config_store import ConfigStore

from initlab.initializers import INITIALIZERS
from initlab.initializers.initializer import config_node

for _name in INITIALIZERS:
    ConfigStore.instance().store(group="init_defaults", name=_name, node=config_node(_name))
