"""Markdown tables, for TensorBoard's text plugin, the probe and the sweep report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def cell(value) -> str:
    """Floats to 4 significant digits, None as an empty cell, anything else as it prints."""
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A header of ``columns`` and one line per row of cell values."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
