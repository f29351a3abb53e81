"""The error a bad config raises (naming the key and the value), and the unknown-key check."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence


class ConfigError(ValueError):
    """A config value that cannot work, raised before any data is read.

    ``key`` is a dotted path such as ``init.std``; builders raise with the bare parameter name
    and the caller adds the group with :meth:`under`.
    """

    def __init__(self, key: str, value, reason: str):
        self.key, self.value, self.reason = key, value, reason
        super().__init__(f"{key}={value!r}: {reason}")

    def under(self, group: str) -> ConfigError:
        return type(self)(f"{group}.{self.key}", self.value, self.reason)


class NotApplicable(ConfigError):
    """A valid initializer that does not apply to the chosen model (IRNN on a model without a
    recurrent layer, Fixup on a normalized one). A single run refuses it like any bad value; a
    sweep over every initializer skips such jobs and lists them (a grid over ``init='glob(*)'``
    is expected to meet some)."""


class UnknownKey(ConfigError):
    """A key the option does not take (a typo, or a key of another option of the group)."""


def number(key: str, value, *, positive: bool = False) -> float:
    """``value`` as a float if it is a finite number (and > 0 with ``positive``), else a
    ConfigError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(key, value, "must be a finite number")
    if positive and value <= 0:
        raise ConfigError(key, value, "must be > 0")
    return float(value)


def choice(key: str, value, choices) -> str:
    """``value`` if it is one of ``choices``; else a :class:`ConfigError` naming ``key``."""
    if value not in choices:
        raise ConfigError(key, value, f"must be one of {', '.join(choices)}")
    return value


def positive_int(key: str, value) -> int:
    """``value`` if it is an integer ≥ 1, else a ConfigError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, value, "must be a positive integer")
    return value


def integer(key: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` if it is an integer (not a bool, not a float such as 1.5) within [``low``,
    ``high``] (either bound optional), else a ConfigError naming ``key``."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return value
    if low is not None and high is not None:
        reason = f"must be an integer in [{low}, {high}]"
    elif low is not None:
        reason = f"must be an integer ≥ {low}"
    elif high is not None:
        reason = f"must be an integer ≤ {high}"
    else:
        reason = "must be an integer"
    raise ConfigError(key, value, reason)


def call_with(fn: Callable, params: dict, *args, also: Sequence[str] = ()):
    """``fn(*args, **params)``, first checking that every key of ``params`` is a parameter of
    ``fn``: a typo becomes a ConfigError listing the accepted keys, not a TypeError. ``also``:
    the group's keys its caller took out of ``params`` first (listed among the accepted)."""
    accepted = [*list(inspect.signature(fn).parameters)[len(args) :], *also]
    for key, value in params.items():
        if key not in accepted:
            raise UnknownKey(key, value, f"unknown key (accepted: {', '.join(accepted) or 'none'})")
    return fn(*args, **params)
