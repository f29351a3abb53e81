"""What exists, read from where it is defined: the registries (initializers, activations, models,
parametrizations, datasets), ``conf/`` (launchers, experiments) and the reproductions.
``python -m initlab.list`` prints it; the pages in ``docs/reference/`` are generated from it, so
each fact is written once (a test regenerates them and compares).

Each item is an :class:`Item`: how to choose it on the command line (``init=he``), one line saying
what it is (the first sentence of its docstring, or of its YAML file's comment), where it is
defined, and the columns of its reference table.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from initlab.config.hydra_conf import CONF_DIR
from initlab.data import DATASETS
from initlab.initializers import INITIALIZERS
from initlab.initializers.initializer import SHARED_KEYS
from initlab.models.activations import ACTIVATIONS
from initlab.models.builders import MODELS
from initlab.parametrization import PARAMETRIZATIONS
from initlab.parametrization.widths import WIDTH_KEYS
from initlab.reproductions import REPRODUCTIONS


@dataclass(frozen=True)
class Item:
    choose: str  # as typed on the command line: init=he, hydra/launcher=joblib, …
    summary: str  # one line: the formula or the purpose
    source: str  # where it is defined
    details: str = ""  # the reference page's longer description, where there is one
    columns: dict[str, str] = field(default_factory=dict)  # the reference table's other cells


def _paragraph(text: str | None) -> str:
    """The first paragraph of a docstring or comment, on one line."""
    first = (text or "").strip().split("\n\n")[0]
    return " ".join(first.split())


ABBREVIATIONS = (" al", "e.g", "i.e", " cf", " vs", " ch", " Fig", " eq")


def _sentence(text: str) -> str:
    """The first sentence of ``text`` (up to a full stop followed by a space, outside
    parentheses and quotes), or all of it."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch != "." or depth or text[i + 1 : i + 2] not in (" ", ""):
            continue
        if not text[:i].endswith(ABBREVIATIONS):
            return text[: i + 1]
    return text


def _rst(text: str) -> str:
    """reStructuredText roles and literals as plain text: ``x`` → x, :func:`~.a.b` → b."""
    text = re.sub(r":\w+:`~?\.?([^`]*)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return text.replace("``", "")


def _params(fn: Callable, skip: int = 0) -> str:
    """``name=default`` for each keyword of ``fn`` (after its first ``skip`` arguments)."""
    shown = []
    for p in list(inspect.signature(fn).parameters.values())[skip:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        shown.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(shown) or "—"


def _source(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _comment(path: Path) -> str:
    """The first paragraph of a YAML file's leading comment (``# @package`` lines left out)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("@package"):
            continue
        if not text:
            if lines:
                break
            continue
        lines.append(text)
    return " ".join(lines)


def inits() -> list[Item]:
    items = []
    for name in INITIALIZERS:
        fn = INITIALIZERS[name]
        about = _rst(_paragraph(fn.__doc__))
        items.append(
            Item(f"init={name}", _sentence(about), _source(fn), about, {"parameters": _params(fn)})
        )
    return items


def activations() -> list[Item]:
    items = []
    for name in ACTIVATIONS:
        act = ACTIVATIONS[name]()
        try:
            torch_gain = f"{torch.nn.init.calculate_gain(name):.4g}"
        except ValueError:  # torch has no gain for it
            torch_gain = "—"
        items.append(
            Item(
                f"activation={name}",
                f"gain {act.gain:.4g}; saturated when {act.saturation}",
                _source(ACTIVATIONS[name]),
                columns={
                    "gain (auto)": f"{act.gain:.4g}",
                    "torch's calculate_gain": torch_gain,
                    "saturated when": act.saturation,
                    "parameters": _params(ACTIVATIONS[name]),
                },
            )
        )
    return items


def models() -> list[Item]:
    items = []
    for name in MODELS:
        fn = MODELS[name]
        about = _rst(_paragraph(fn.__doc__))
        choose = f"model={name}"
        if name == "custom":
            choose += " model._target_=<your class>"
        items.append(
            Item(choose, _sentence(about), _source(fn), about, {"parameters": _params(fn, 3)})
        )
    return items


def parametrizations() -> list[Item]:
    items = []
    for name in PARAMETRIZATIONS:
        fn = PARAMETRIZATIONS[name]
        about = _rst(_paragraph(fn.__doc__))
        items.append(
            Item(
                f"parametrization={name}",
                _sentence(about),
                _source(fn),
                about,
                {"parameters": _params(fn)},
            )
        )
    return items


def datasets() -> list[Item]:
    items = []
    for name in DATASETS:
        fn = DATASETS[name]
        conf = CONF_DIR / "dataset" / f"{name}.yaml"
        items.append(
            Item(
                f"dataset={name}",
                _sentence(_rst(_paragraph(fn.__doc__))),
                _source(fn),
                columns={"sources": _comment(conf), "parameters": _params(fn)},
            )
        )
    return items


def launchers() -> list[Item]:
    items = [
        Item(
            "hydra/launcher=basic",
            "Hydra's own: the jobs one after another, in this process (the default).",
            "hydra-core",
        )
    ]
    for path in sorted((CONF_DIR / "hydra" / "launcher").glob("*.yaml")):
        about = _comment(path)
        example = re.search(r"python train\.py -m .*", path.read_text())
        items.append(
            Item(
                f"hydra/launcher={path.stem}",
                _sentence(about),
                str(path.relative_to(CONF_DIR.parent)),
                columns={"example": example.group(0).rstrip(" \\") if example else "—"},
            )
        )
    return items


def _experiments_of(rep) -> list[str]:
    """The experiments a reproduction's sweeps and probes compose."""
    found = []
    for overrides in [*rep.sweeps, *rep.probes]:
        for o in overrides:
            if o.startswith("experiment=") and o.split("=", 1)[1] not in found:
                found.append(o.split("=", 1)[1])
    return found


def experiments() -> list[Item]:
    used: dict[str, list[str]] = {}
    for rep in REPRODUCTIONS.values():
        for exp in _experiments_of(rep):
            used.setdefault(exp, []).append(rep.name)
    items = []
    for path in sorted((CONF_DIR / "experiment").glob("*.yaml")):
        reps = used.get(path.stem, [])
        items.append(
            Item(
                f"experiment={path.stem}",
                _sentence(_comment(path)),
                str(path.relative_to(CONF_DIR.parent)),
                columns={"reproduction": ", ".join(reps) or "—"},
            )
        )
    return items


def _defined_in(rep) -> str:
    """The reproductions module whose ``REPRODUCTIONS`` holds ``rep``."""
    for name, module in sorted(sys.modules.items()):
        if name.startswith("initlab.reproductions.") and rep in getattr(
            module, "REPRODUCTIONS", ()
        ):
            return name
    return "initlab.reproductions"


def reproductions() -> list[Item]:
    return [
        Item(
            f"initlab-reproduce {rep.name}",
            rep.title,
            _defined_in(rep),
            columns={
                "experiments": ", ".join(_experiments_of(rep)) or "—",
                "quick": "yes" if rep.quick else "no",
            },
        )
        for rep in REPRODUCTIONS.values()
    ]


KINDS: dict[str, Callable[[], list[Item]]] = {
    "inits": inits,
    "activations": activations,
    "models": models,
    "parametrizations": parametrizations,
    "datasets": datasets,
    "launchers": launchers,
    "experiments": experiments,
    "reproductions": reproductions,
}

TITLES = {
    "inits": "Initializers",
    "activations": "Activations",
    "models": "Models",
    "parametrizations": "Parametrizations",
    "datasets": "Datasets",
    "launchers": "Launchers",
    "experiments": "Experiments",
    "reproductions": "Reproductions",
}

INTROS = {
    "inits": "Every initializer, `init=<name>`: its formula and paper (its docstring's first "
    "sentence; the rest is in the source it names) and its parameters at their defaults. "
    "Every init also takes "
    + ", ".join(f"`{k}`" for k in SHARED_KEYS)
    + " (`conf/init/*.yaml`). `gain: auto` is the activation's gain below.",
    "activations": "Every activation, `activation=<name>`: the gain `gain: auto` gives "
    "(1/√E[f(x)²] for x ~ N(0, 1), by quadrature), torch's `calculate_gain` where torch has "
    "one, and when a unit counts as saturated (`activations/layerK/saturation`; x is the "
    "activation's input, a its output).",
    "models": "Every model, `model=<name>`: its builder's parameters (after the input shape, "
    "the number of classes and the activation) at their defaults.",
    "parametrizations": "How each layer's initial scale and learning rate follow the width, "
    "`parametrization=<name>` (the rules: [the guide](../parametrization.md)). The built-in "
    "models' width keys: "
    + ", ".join(f"{m}: `{', '.join(k)}`" for m, k in WIDTH_KEYS.items())
    + "; `model=rnn` is refused.",
    "datasets": "Every dataset, `dataset=<name>`, and where its files come from.",
    "launchers": "How a sweep (`python train.py -m …`) runs its jobs: `hydra/launcher=<name>`.",
    "experiments": "Overlays that set several groups at once, `experiment=<name>`, and the "
    "reproduction that uses each.",
    "reproductions": "The published results initlab checks itself against: "
    "`initlab-reproduce <name>` (or `python -m initlab.reproduce <name>`); the results are "
    "in [the reproductions page](../reproductions.md).",
}


COLUMNS_ONLY = {"activations"}  # the summary line says what the columns say


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def page(kind: str) -> str:
    """The reference page of ``kind``, as markdown."""
    items = KINDS[kind]()
    extra = list(items[0].columns) if items and items[0].columns else []
    what = [] if kind in COLUMNS_ONLY else ["what"]
    header = ["choose", *what, *extra, "defined in"]
    lines = [
        f"# {TITLES[kind]}",
        "",
        "<!-- generated by `python -m initlab.list --docs docs/reference`: edit the source "
        "it names, not this page -->",
        "",
        INTROS[kind],
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for item in items:
        about = [] if kind in COLUMNS_ONLY else [item.details or item.summary]
        cells = [f"`{item.choose}`", *about, *(item.columns.get(c, "") for c in extra)]
        cells.append(f"`{item.source}`")
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
