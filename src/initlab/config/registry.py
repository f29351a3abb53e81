"""A config group's registry: option name -> builder of plain arguments.

Each group with options chosen by name (``dataset``, ``model``, ``optimizer``, ``activation``,
``init``) keeps one; the option's YAML file in ``conf/<group>/`` carries the same name (one test
checks every group). It reads like the dict it replaces (``in``, iteration in registration
order, ``len``, ``[name]``, ``keys()``); :meth:`Registry.get` is the lookup a config goes
through, so an unknown name fails the same way in every group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, KeysView
from typing import Generic, TypeVar

from initlab.config.errors import ConfigError
from initlab.config.renamed import pointer

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    """The builders of one config group, by name, in registration order."""

    def __init__(self, group: str):
        self.group = group
        self._entries: dict[str, F] = {}

    def register(self, fn: F, name: str | None = None) -> F:
        """Add ``fn`` under ``name`` (default: its ``__name__``) and return it, so it also
        serves as a decorator (``@MODELS.register``). A duplicate name raises."""
        name = fn.__name__ if name is None else name
        if name in self._entries:
            raise KeyError(f"{self.group} {name!r} is already registered")
        self._entries[name] = fn
        return fn

    def get(self, name: str) -> F:
        """The builder registered as ``name``. Unlike ``dict.get`` it has no default: an
        unknown name raises :class:`ConfigError` with the bare key ``name``, to which the
        caller adds the group (``dataset.name``) with :meth:`ConfigError.under`."""
        if not isinstance(name, str) or name not in self._entries:
            said = pointer(self.group, name) if isinstance(name, str) else None
            raise ConfigError(
                "name",
                name,
                said or f"unknown {self.group}; choose from {', '.join(self._entries)}",
            )
        return self._entries[name]

    def __getitem__(self, name: str) -> F:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> KeysView[str]:
        return self._entries.keys()

    def __repr__(self) -> str:
        return f"Registry({self.group!r}: {', '.join(self._entries)})"
