"""The ``init`` config group's registry: every initializer by name. Each is registered where it
is defined (``@register`` on the function, presets included: each is a function of its own whose
signature holds its defaults); importing :mod:`initlab.initializers` loads them all."""

from __future__ import annotations

from collections.abc import Callable

from initlab.config.registry import Registry

INITIALIZERS: Registry[Callable] = Registry("init")
register = INITIALIZERS.register
