"""A sweep folder's jobs, as the report reads them: each job folder's overrides (an init with
parameters set labelled by them), record, status and TensorBoard scalars; the grid's axes; a
folder that is not a sweep (missing, a single run, probes mixed with training runs) refused with
what it is."""

from __future__ import annotations

import re
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


class ReportRefused(ValueError):
    """What the report refuses: a folder it cannot read as a sweep of training runs (the message
    says what the folder is and which folder to give instead), a tag no job logged."""


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


def is_probe(job: Job) -> bool:
    """A job of ``initlab.probe``: its table, or (a probe that failed before writing it) its
    config's ``probe`` block."""
    return (job.folder / "probe.csv").exists() or _configured(job.folder, "probe") is not None


def load_sweep(sweep: Path) -> list[Job]:
    """:func:`load`, or :class:`ReportRefused` for a folder that is not a sweep of training runs:
    missing, a single run (or one job of a sweep), no job folders, probes only, or probes and
    training runs mixed (the probes' overrides would become axes of the training grid: two
    commands that shared a ``hydra.sweep.dir``, which the report cannot take apart for you)."""
    sweep = Path(sweep)
    if not sweep.exists():
        raise ReportRefused(f"{sweep}: no such folder")
    if not sweep.is_dir():
        raise ReportRefused(f"{sweep}: a file, not a folder; give a sweep's folder")
    jobs = load(sweep)
    if not jobs and (sweep / ".hydra" / "overrides.yaml").exists():
        multirun = _configured(sweep, "hydra", "mode", file="hydra.yaml") == "MULTIRUN"
        if multirun or (sweep.resolve().parent / "multirun.yaml").exists():
            raise ReportRefused(
                f"{sweep} is one job of the sweep {sweep.parent}: report the sweep, "
                f"initlab-report {sweep.parent}"
            )
        raise ReportRefused(
            f"{sweep} is a single run, not a sweep: its results are in "
            f"{sweep / record.FILE}; the report compares the jobs of a sweep (python train.py "
            "-m ...): give the sweep's folder, e.g. logs/multiruns/<time stamp>"
        )
    if not jobs:
        below = sorted({p.parents[2] for p in sweep.glob("*/*/.hydra/overrides.yaml")})
        if below:
            plural = "s" if len(below) > 1 else ""
            raise ReportRefused(
                f"{sweep} holds no job folders but {len(below)} sweep folder{plural} (e.g. "
                f"{below[0]}): give {'one of them' if plural else 'that folder'}"
            )
        raise ReportRefused(
            f"{sweep} holds no job folders (subfolders with .hydra/overrides.yaml); give a "
            "sweep's folder, e.g. logs/multiruns/<time stamp>"
        )
    probes = [job for job in jobs if is_probe(job)]
    if len(probes) == len(jobs):
        raise ReportRefused(
            f"{sweep} is a probe sweep: no training to report; each job's probe.md and "
            "probe.png hold its layers' statistics"
        )
    if probes:
        trained = [job for job in jobs if not is_probe(job)]
        raise ReportRefused(
            f"{sweep} mixes {_runs(len(probes), 'probe')} (e.g. {probes[0].folder.name}) and "
            f"{_runs(len(trained), 'training')} (e.g. {trained[0].folder.name}): the report "
            "compares training runs; move the probe runs into a folder of their own (each "
            "holds its probe.md and probe.png) and report the rest"
        )
    return jobs


def _runs(n: int, kind: str) -> str:
    return f"{n} {kind} run{'' if n == 1 else 's'}"


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


def _configured(folder: Path, *keys: str, file: str = "config.yaml") -> str | None:
    """A value of the job's composed config (``.hydra/config.yaml``; ``file="hydra.yaml"``:
    Hydra's own), or None."""
    try:
        node = yaml.safe_load((folder / ".hydra" / file).read_text())
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


def logged_tags(jobs: Sequence[Job]) -> set[str]:
    """The scalar tags the completed jobs logged."""
    tags = set()
    for job in jobs:
        if job.status in record.TRAINED:
            acc = EventAccumulator(str(job.folder), size_guidance={"scalars": 1})
            acc.Reload()
            tags.update(acc.Tags()["scalars"])
    return tags


def folded(tags: set[str]) -> list[str]:
    """``tags`` sorted, each ``layerK`` family as one entry: ``activations/layerK/std (K =
    1-6)``."""
    layers: dict[str, list[int]] = defaultdict(list)
    plain = []
    for tag in tags:
        match = re.fullmatch(r"(.*)/layer(\d+)/(.*)", tag)
        if match:
            layers[f"{match[1]}/layerK/{match[3]}"].append(int(match[2]))
        else:
            plain.append(tag)
    return sorted(plain + [f"{t} (K = {min(ks)}-{max(ks)})" for t, ks in layers.items()])


def groups(jobs: Sequence[Job], varied: Sequence[str]) -> dict[tuple, list[Job]]:
    groups: dict[tuple, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[tuple(job.overrides.get(k, "") for k in varied)].append(job)
    return groups
