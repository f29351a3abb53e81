"""The report's tables: one row per grid point (the metrics' mean ± std over the completed
seeds, the status counts, the fit time), as markdown and CSV; a tag at chosen steps."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from initlab.reporting.jobs import Job, groups, scalars
from initlab.runtime.markdown import markdown_table
from initlab.training import record

METRICS = ("test/acc", "test/loss", "val/acc", "val/loss")


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


COUNTS = ("diverged", "collapsed", "failed", "missing")  # runs per ending, beside n


def summarize(jobs: Sequence[Job], varied: Sequence[str]) -> list[dict]:
    """One row per grid point: the axes' values, n trained (completed or collapsed: a dead net's
    chance accuracy is its result), the metrics' mean and std over them (sample std, n − 1),
    the counts per status, the mean fit seconds."""
    rows = []
    for point, members in groups(jobs, varied).items():
        done = [j for j in members if j.status in record.TRAINED]
        row = dict(zip(varied, point, strict=True))
        row["n"] = len(done)
        for metric in METRICS:
            row[f"{metric} mean"], row[f"{metric} std"] = mean_std([j.metric(metric) for j in done])
        row["diverged"] = sum(j.status == "diverged" for j in members)
        row["collapsed"] = sum(j.status == "collapsed" for j in members)
        row["failed"] = sum(j.status == "failed" for j in members)
        # no result (yet): never started, still running, killed, or a damaged record
        row["missing"] = sum(j.status not in (*record.FINISHED, "failed") for j in members)
        fits = [
            j.record["fit_seconds"] for j in members if j.record and j.record.get("fit_seconds")
        ]
        row["fit s"] = statistics.fmean(fits) if fits else float("nan")
        rows.append(row)
    rows.sort(key=lambda r: -r["test/acc mean"] if math.isfinite(r["test/acc mean"]) else math.inf)
    return rows


def _number(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 100 else f"{x:.3g}"


def cell(row: dict, metric: str) -> str:
    """ "mean ± std" over the completed seeds; the mean alone for one; "—" for none."""
    mean, std = row[f"{metric} mean"], row[f"{metric} std"]
    if not math.isfinite(mean):
        return "—"
    if row["n"] < 2:
        return _number(mean)
    return f"{mean:.3g} ± {std:.3g}" if abs(mean) >= 100 else f"{mean:.3f} ± {std:.3f}"


def markdown(rows: list[dict], varied: Sequence[str]) -> str:
    head = [*varied, *METRICS, "n", *COUNTS, "fit s"]
    cells = (
        [row[k] for k in varied]
        + [cell(row, m) for m in METRICS]
        + [row["n"], *(row[k] for k in COUNTS), seconds(row["fit s"])]
        for row in rows
    )
    return markdown_table(head, cells)


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def seconds(value: float) -> str:
    """Seconds to one decimal, or a dash where no job has a fit time."""
    return "—" if math.isnan(value) else f"{value:.1f}"


def at_steps(
    jobs: Sequence[Job], varied: Sequence[str], tag: str, steps: Sequence[int] | None = None
) -> str:
    """A markdown table: per grid point, ``tag``'s mean ± std over the seeds that trained
    (completed or collapsed) at each of ``steps`` (``None``: the steps every one of them
    logged), and n."""
    rows = []
    for point, members in groups(jobs, varied).items():
        series = [scalars(j, [tag]).get(tag, {}) for j in members if j.status in record.TRAINED]
        rows.append((point, series))
    if steps is None:
        logged = [set(s) for _, series in rows for s in series]
        steps = sorted(set.intersection(*logged)) if logged else []
    cells = []
    for point, series in rows:
        values = {t: [s[t] for s in series if t in s and math.isfinite(s[t])] for t in steps}
        cells.append(
            [
                *point,
                *(
                    "—" if not v else cell({"m mean": m, "m std": sd, "n": len(v)}, "m")
                    for v, (m, sd) in ((values[t], mean_std(values[t])) for t in steps)
                ),
                len(series),
            ]
        )
    table = markdown_table([*varied, *(f"{tag} @ {t}" for t in steps), "n"], cells)
    logged = sorted({t for _, series in rows for s in series for t in s})
    missing = [t for t in steps if t not in logged]
    if missing:  # a step no job logged: say where the tag is, not only dashes
        shown = ", ".join(map(str, logged[:5])) + (", …" if len(logged) > 5 else "")
        table += (
            f"\n\nNo completed job logged {tag} at step {', '.join(map(str, missing))}; "
            f"it is logged at steps {shown or 'none'}."
        )
    return table
