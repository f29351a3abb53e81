"""What the report's figures say: each logged quantity in words with its unit, the number of
seeds behind a point, and an order that sorts the numbers in names by value."""

from __future__ import annotations

import re
from collections.abc import Iterable

# What each logged quantity is, in words, with its unit: axis labels; titles take the words
# before the bracket.
WORDS = {
    "train/loss": "training loss (cross-entropy)",
    "train/acc": "training accuracy (fraction correct)",
    "val/loss": "validation loss (cross-entropy)",
    "val/acc": "validation accuracy (fraction correct)",
    "test/loss": "test loss (cross-entropy)",
    "test/acc": "test accuracy (fraction correct)",
    "activation_std": "std of activations",
    "gradient_norm": "weight-gradient norm (L2)",
}
TEXT, SMALL = 9, 8  # font sizes (points) that read at README width


def words(tag: str) -> str:
    """``val/acc`` -> ``validation accuracy (fraction correct)``; a tag it does not know as is."""
    return WORDS.get(tag, tag)


def heading(tag: str) -> str:
    """``val/acc`` -> ``Validation accuracy``: the words, without the unit, capitalised."""
    text = words(tag).split(" (")[0]
    return text[:1].upper() + text[1:]


def seeds(counts: Iterable[int], spread: str = "mean ± std") -> str:
    """The number of seeds behind each point, for a title: ``mean ± std over n=3 seeds``,
    ``mean ± std over n=2-3 seeds`` where points differ, ``n=1 seed`` (no spread to show)."""
    counts = sorted({n for n in counts if n > 0})
    if not counts:
        return "no completed run"
    if counts[-1] == 1:
        return "n=1 seed"
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{spread} over n={n} seeds"


def natural(text) -> tuple:
    """A sort key that orders the numbers in a text by value: depth 8 before depth 32, layer 2
    before layer 10, lr 0.1 before 1 (a tuple of texts: each one's key in turn)."""
    if isinstance(text, tuple):
        return tuple(natural(t) for t in text)
    parts = re.split(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)", str(text))
    return tuple((1, float(p), "") if i % 2 else (0, 0.0, p) for i, p in enumerate(parts) if p)
