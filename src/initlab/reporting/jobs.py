"""A sweep folder's jobs, as the report reads them: each job folder's overrides (an init with
parameters set labelled by them), record, status and TensorBoard scalars; the grid's axes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.training import record

# Axes that group the lines and the panels, when the sweep varies them.
LINE_AXIS, PANEL_AXIS = "init", "activation"


@dataclass
class Job:
    folder: Path
    overrides: dict[str, str]  # "key" -> "value", from .hydra/overrides.yaml ("+" dropped),
    # an init with parameters set labelled by them: "init" -> "uniform(a=-0.5, b=0.5)"
    record: dict | None  # metrics.json; None when there is none (yet) or it is damaged
    status: (
        str  # initlab.training.record.status_of: completed, diverged, failed, running, killed, …
    )
    given: dict[str, str] = field(default_factory=dict)  # the overrides as given: "init.a" -> …

    def metric(self, name: str) -> float:
        value = (self.record or {}).get("metrics", {}).get(name)
        return float("nan") if value is None else float(value)


def load(sweep: Path) -> list[Job]:
    """Every job folder of ``sweep`` (one holding ``.hydra/overrides.yaml``)."""
    jobs = []
    for path in sorted(Path(sweep).glob("*/.hydra/overrides.yaml")):
        folder = path.parent.parent
        pairs = (item.split("=", 1) for item in yaml.safe_load(path.read_text()) or [])
        given = {key.lstrip("+~"): value for key, value in pairs}
        overrides = _init_label(given, folder)
        jobs.append(Job(folder, overrides, record.read(folder), record.status_of(folder), given))
    return jobs


def _init_label(overrides: dict[str, str], folder: Path) -> dict[str, str]:
    """An initializer with parameters set on the command line is one series, labelled by them:
    ``init=uniform init.a=-0.5 init.b=0.5`` -> ``init=uniform(a=-0.5, b=0.5)`` (not an ``init.a``
    and an ``init.b`` axis, empty for every other init)."""
    params = {k.removeprefix("init."): v for k, v in overrides.items() if k.startswith("init.")}
    if not params:
        return overrides
    kept = {k: v for k, v in overrides.items() if not k.startswith("init.")}
    name = kept.get("init") or _configured(folder, "init", "name") or "init"
    kept["init"] = f"{name}({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})"
    return kept


def _configured(folder: Path, *keys: str) -> str | None:
    """A value of the job's composed config (``.hydra/config.yaml``), or None."""
    try:
        node = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
        for key in keys:
            node = node[key]
        return str(node)
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None


def axes(jobs: Sequence[Job]) -> tuple[list[str], dict[str, str]]:
    """(the overrides whose values differ between jobs, seed left out: the grid's axes; the
    overrides every job shares, with their value). ``init`` and ``activation`` come first."""
    keys = sorted({k for job in jobs for k in job.overrides})
    values = {k: {job.overrides.get(k, "") for job in jobs} for k in keys}
    varied = [k for k in keys if len(values[k]) > 1 and k != "seed"]
    varied.sort(key=lambda k: (k != LINE_AXIS, k != PANEL_AXIS, k))
    constant = {k: next(iter(v)) for k, v in values.items() if len(v) == 1}
    return varied, constant


def scalars(job: Job, tags: Sequence[str] | None = None) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} from the job's event files (the tags it has; None: every tag)."""
    acc = EventAccumulator(
        str(job.folder), size_guidance={"scalars": 0, "histograms": 1, "images": 1}
    )
    acc.Reload()
    have = set(acc.Tags()["scalars"])
    wanted = have if tags is None else [t for t in tags if t in have]
    return {t: {e.step: e.value for e in acc.Scalars(t)} for t in wanted}


def groups(jobs: Sequence[Job], varied: Sequence[str]) -> dict[tuple, list[Job]]:
    groups: dict[tuple, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[tuple(job.overrides.get(k, "") for k in varied)].append(job)
    return groups
