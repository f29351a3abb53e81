"""initlab: a PyTorch Lightning + Hydra template for studying weight initialization.

The command line (``python train.py init=he activation=relu``) is the main way in. From Python (a
notebook, a script), the names below are the stable surface: they keep their names and
signatures, and check what the command line checks, raising the same
:class:`~initlab.config.errors.ConfigError` (naming the key and the value) before any compute
or any folder. Everything else is importable from its subpackage but may change.

Example::

    import initlab

    cfg = initlab.compose("init=he", "activation=relu", "dataset=digits")
    record = initlab.run(cfg, "logs/notebook/he")  # metrics.json's record
    init = initlab.get_initializer("orthogonal", gain=2.0)
    layers = initlab.apply(init, my_net, seed=0)  # the plan it filled, per layer

``import initlab`` is light: each name is imported from its subpackage when first used. The
entry points are modules: ``initlab.probe`` (its ``probe(cfg)``), ``initlab.report``,
``initlab.reproduce``, ``initlab.list`` (what exists, from ``initlab.inventory``).
"""

from __future__ import annotations

import importlib

# name → the module that defines it
_STABLE = {
    "compose": "initlab.config.hydra_conf",
    "ConfigError": "initlab.config.errors",
    "build": "initlab.training.spec",
    "RunSpec": "initlab.training.spec",
    "run": "initlab.training.run",
    "InitModule": "initlab.training.init_module",
    "status_of": "initlab.training.record",
    "get_initializer": "initlab.initializers.initializer",
    "Initializer": "initlab.initializers.initializer",
    "plan": "initlab.initializers.plan",
    "apply": "initlab.initializers.fill",
    "variance_scaling": "initlab.initializers.rules",
    "Fans": "initlab.initializers.fans",
    "Draw": "initlab.initializers.fans",
    "INITIALIZERS": "initlab.initializers.catalog",
    "ACTIVATIONS": "initlab.models.activations",
    "MODELS": "initlab.models.builders",
    "DATASETS": "initlab.data.datasets",
    "Diagnostics": "initlab.diagnostics.callback",
}

__all__ = sorted(_STABLE)


def __getattr__(name: str):
    if name not in _STABLE:
        raise AttributeError(f"initlab has no attribute {name!r}")
    return getattr(importlib.import_module(_STABLE[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_STABLE})
