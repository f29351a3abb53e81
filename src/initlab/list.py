"""``python -m initlab.list [KIND ...]`` (or ``initlab-list``), KIND one of inits, activations,
models, parametrizations, datasets, launchers, experiments, reproductions: what exists, one line
per item — how to choose it, as typed on the command line, what it is, and where it is defined
(:mod:`initlab.inventory`). ``--docs DIR`` writes the reference pages instead
(``docs/reference/``).
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path

from initlab import inventory

# the reference page of each kind, under --docs
PAGES = {kind: f"{'initializers' if kind == 'inits' else kind}.md" for kind in inventory.KINDS}


def lines(kind: str, width: int) -> list[str]:
    """``kind``'s items: the choice, then its summary and source, wrapped to ``width``."""
    items = inventory.KINDS[kind]()
    pad = max(len(item.choose) for item in items) + 2
    shown = []
    for item in items:
        text = f"{item.summary} [{item.source}]"
        wrapped = textwrap.wrap(text, max(40, width - pad)) or [""]
        shown.append(item.choose.ljust(pad) + wrapped[0])
        shown += [" " * pad + rest for rest in wrapped[1:]]
    return shown


def write_docs(folder: Path) -> list[Path]:
    """Every kind's reference page in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, name in PAGES.items():
        (folder / name).write_text(inventory.page(kind))
        written.append(folder / name)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="initlab-list",
        description="List what exists: each item as you choose it on the command line, what "
        "it is and where it is defined.",
    )
    parser.add_argument(
        "kinds",
        nargs="*",
        metavar="KIND",
        help=f"what to list (default: all): {', '.join(inventory.KINDS)}",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        metavar="DIR",
        help="write the reference pages (markdown) into DIR instead, e.g. docs/reference",
    )
    args = parser.parse_args(argv)
    unknown = [k for k in args.kinds if k not in inventory.KINDS]
    if unknown:
        parser.error(f"unknown kind {unknown[0]!r}; choose from {', '.join(inventory.KINDS)}")
    if args.docs is not None:
        if args.docs.exists() and not args.docs.is_dir():
            parser.error(f"--docs={str(args.docs)!r}: not a folder")
        for path in write_docs(args.docs):
            print(f"wrote {path}")
        return
    width = shutil.get_terminal_size((100, 24)).columns
    kinds = args.kinds or list(inventory.KINDS)
    for n, kind in enumerate(kinds):
        if len(kinds) > 1:
            print(("\n" if n else "") + f"{inventory.TITLES[kind]}:")
        print("\n".join(lines(kind, width)))


if __name__ == "__main__":
    main()
