"""Options that were renamed: the old name is refused with a pointer to the new one, on the
command line (:func:`check_overrides`, before Hydra would fail to find the file) and from Python
(:meth:`~initlab.config.registry.Registry.get`).
"""

from __future__ import annotations

import sys

from hydra.core.override_parser.overrides_parser import OverridesParser

# group -> old name -> (new name, why)
RENAMED: dict[str, dict[str, tuple[str, str]]] = {
    "init": {
        "zero": (
            "zero_hadamard",
            "ZerO (Zhao et al., 2022), renamed so it cannot be mistaken for init=zeros, "
            "all-zero weights",
        ),
    },
}


def pointer(group: str, name: str) -> str | None:
    """What to write instead of ``group=name``, if it was renamed."""
    if name not in RENAMED.get(group, {}):
        return None
    new, why = RENAMED[group][name]
    return f"renamed {group}={new}: {why}"


def check_overrides(args: list[str]) -> None:
    """Exit 2 with one line if a command-line override chooses a renamed option (also within
    a sweep, ``init=he,zero``). Arguments Hydra cannot parse are left to Hydra."""
    candidates = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except Exception:  # Hydra reports its own syntax errors
        return
    for o in overrides:
        group = o.key_or_group.lstrip("+~")
        if group not in RENAMED:
            continue
        try:
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]
        except Exception:  # a glob or a range: matched against the files, which are renamed
            continue
        for value in values:
            said = pointer(group, str(value))
            if said is not None:
                print(f"initlab: invalid config: {group}={value}: {said}", file=sys.stderr)
                sys.exit(2)
