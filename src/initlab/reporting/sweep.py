"""Report: turn a sweep folder into the comparison a researcher would publish.

``python -m initlab.report logs/multiruns/<sweep>`` (or ``initlab-report``) reads every job
folder's ``metrics.json``, ``.hydra/overrides.yaml`` and TensorBoard events (through
TensorBoard's own ``EventAccumulator``) and writes into ``<sweep>/report/``:

- ``summary.csv`` / ``summary.md``: one row per grid point (the varied overrides but ``seed``),
  test and validation accuracy and loss as mean ± std over the completed seeds, with n, the
  diverged / failed / missing counts and the mean fit time; best test accuracy first;
- ``heatmap_test_acc.png`` (and loss): the grid's two main axes (init × activation when both
  vary), one panel per value of the other axes, diverged cells marked; a grid with one varied
  axis gets ``ranked_test_acc.png`` (and loss) instead, its values as bars, best first;
- an initializer whose parameters were set (``init=uniform init.a=-0.5 init.b=0.5``) is one
  value of the ``init`` axis, ``uniform(a=-0.5, b=0.5)``, not axes of its own;
- ``curves_<tag>.png``: validation and training curves against step, one line per init, one
  panel per activation (per combination of the other axes), mean and a ±1 std band over seeds;
- ``depth_<stat>.png``: step-0 activation std and gradient norm against depth (diagnostics tags);
- ``report.md``: the sweep's command, what it kept constant, the table and the figures;
- with ``--at TAG[:STEPS]`` (e.g. ``--at train/loss:9,49,99 --at val/acc``):
  ``at_<tag>.md``, the tag's mean ± std over the completed seeds at each of those steps (every
  step all of them logged, without ``STEPS``: for ``val/acc``, each epoch's end), per grid point.

Jobs without a ``metrics.json`` (still running, killed) and failed ones are counted and listed,
never averaged; a diverged job's null metrics never enter a mean.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.runtime.markdown import markdown_table
from initlab.training import record

METRICS = ("test/acc", "test/loss", "val/acc", "val/loss")
CURVES = ("val/acc", "val/loss", "train/loss", "train/acc")
DEPTH = {"activation_std": "activations/layer{}/std", "gradient_norm": "gradients/layer{}/norm"}
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


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(jobs: Sequence[Job], varied: Sequence[str]) -> list[dict]:
    """One row per grid point: the axes' values, n completed, the metrics' mean and std over
    the completed jobs (sample std, n − 1), the counts per status, the mean fit seconds."""
    rows = []
    for point, members in _groups(jobs, varied).items():
        done = [j for j in members if j.status == "completed"]
        row = dict(zip(varied, point, strict=True))
        row["n"] = len(done)
        for metric in METRICS:
            row[f"{metric} mean"], row[f"{metric} std"] = _mean_std(
                [j.metric(metric) for j in done]
            )
        row["diverged"] = sum(j.status == "diverged" for j in members)
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


def _cell(row: dict, metric: str) -> str:
    """ "mean ± std" over the completed seeds; the mean alone for one; "—" for none."""
    mean, std = row[f"{metric} mean"], row[f"{metric} std"]
    if not math.isfinite(mean):
        return "—"
    if row["n"] < 2:
        return _number(mean)
    return f"{mean:.3g} ± {std:.3g}" if abs(mean) >= 100 else f"{mean:.3f} ± {std:.3f}"


def markdown(rows: list[dict], varied: Sequence[str]) -> str:
    head = [*varied, *METRICS, "n", "diverged", "failed", "missing", "fit s"]
    cells = (
        [row[k] for k in varied]
        + [_cell(row, m) for m in METRICS]
        + [row["n"], row["diverged"], row["failed"], row["missing"], _seconds(row["fit s"])]
        for row in rows
    )
    return markdown_table(head, cells)


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# ----------------------------------------------------------------------------------------------
# Figures.


def _layout(varied: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """(the axis down the rows / along the lines, the axis across / per panel, the rest)."""
    first = varied[0] if varied else None
    second = varied[1] if len(varied) > 1 else None
    return first, second, list(varied[2:])


def _values(rows: list[dict], key: str | None) -> list[str]:
    return sorted({r.get(key, "") for r in rows}) if key else [""]


def ranked(rows: list[dict], axis: str, metric: str) -> Figure:
    """A grid with one varied axis: ``metric`` per value as bars, best first, ± std over seeds;
    values where every run diverged or none finished are listed as such."""
    lower_is_better = metric.endswith("loss")
    done = [r for r in rows if math.isfinite(r[f"{metric} mean"])]
    done.sort(key=lambda r: r[f"{metric} mean"], reverse=not lower_is_better)
    rest = [r for r in rows if not math.isfinite(r[f"{metric} mean"])]
    labels = [r[axis] for r in done] + [r[axis] for r in rest]
    fig = Figure(figsize=(6.4, 0.3 * len(labels) + 1.2), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(labels))
    means = [r[f"{metric} mean"] for r in done]
    stds = [r[f"{metric} std"] for r in done]
    colors = colormaps["viridis"](np.linspace(0.85, 0.2, max(1, len(done))))
    ax.barh(y[: len(done)], means, xerr=stds, color=colors, capsize=2)
    for i, r in enumerate(done):
        note = _cell(r, metric) + (" (some seeds diverged)" if r["diverged"] else "")
        ax.text(means[i], i, f" {note}", va="center", fontsize=7)
    for i, r in enumerate(rest, start=len(done)):
        ax.text(0, i, " diverged" if r["diverged"] else " no result", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()  # the best on top
    if lower_is_better and done and min(means) > 0 and max(means) / min(means) > 100:
        ax.set_xscale("log")  # a diverging init's loss would flatten everyone else's
    ax.set_xlabel(metric, fontsize=8)
    ax.set_ylabel(axis, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.margins(x=0.25)
    fig.suptitle(f"{metric} by {axis}, best first (mean ± std over seeds)", fontsize=9)
    fig.set_layout_engine("constrained")
    return fig


def heatmap(rows: list[dict], varied: Sequence[str], metric: str) -> Figure:
    """``metric`` means on the grid's two main axes, one panel per value of the others; cells
    where every run diverged say "diverged", cells with no result "—"."""
    rows_axis, cols_axis, rest = _layout(varied)
    ys, xs = _values(rows, rows_axis), _values(rows, cols_axis)
    panels = sorted({tuple(r[k] for k in rest) for r in rows})
    fig = Figure(figsize=(1.1 * len(xs) * len(panels) + 2.5, 0.35 * len(ys) + 1.4), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        grid = np.full((len(ys), len(xs)), np.nan)
        notes = np.full((len(ys), len(xs)), "—", dtype=object)
        for r in rows:
            if tuple(r[k] for k in rest) != panel:
                continue
            i, j = ys.index(r.get(rows_axis, "")), xs.index(r.get(cols_axis, ""))
            grid[i, j] = r[f"{metric} mean"]
            if math.isfinite(grid[i, j]):
                notes[i, j] = f"{grid[i, j]:.2f}" + ("*" if r["diverged"] else "")
            elif r["diverged"]:
                notes[i, j] = "diverged"
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        middle = np.nanmean(grid) if np.isfinite(grid).any() else 0.0
        for (i, j), note in np.ndenumerate(notes):
            dark = not np.isfinite(grid[i, j]) or grid[i, j] < middle  # viridis: dark below
            ax.text(j, i, note, ha="center", va="center", fontsize=7, color="w" if dark else "k")
        ax.set_xticks(range(len(xs)), xs, fontsize=7, rotation=30)
        ax.set_yticks(range(len(ys)), ys, fontsize=7)
        ax.set_xlabel(cols_axis or "", fontsize=8)
        ax.set_ylabel(rows_axis or "", fontsize=8)
        ax.set_title(", ".join(f"{k}={v}" for k, v in zip(rest, panel, strict=True)), fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    fig.suptitle(f"{metric} (mean over seeds; * some seeds diverged)", fontsize=9)
    fig.set_layout_engine("constrained")
    return fig


def scalars(job: Job, tags: Sequence[str] | None = None) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} from the job's event files (the tags it has; None: every tag)."""
    acc = EventAccumulator(
        str(job.folder), size_guidance={"scalars": 0, "histograms": 1, "images": 1}
    )
    acc.Reload()
    have = set(acc.Tags()["scalars"])
    wanted = have if tags is None else [t for t in tags if t in have]
    return {t: {e.step: e.value for e in acc.Scalars(t)} for t in wanted}


def _band(series: list[dict[int, float]]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Steps every series has, with the mean and std over the series (NaN-safe)."""
    steps = sorted(set.intersection(*(set(s) for s in series)))
    values = np.array([[s[t] for t in steps] for s in series], dtype=float)
    values[~np.isfinite(values)] = np.nan
    with warnings.catch_warnings():  # a step where every run is NaN stays NaN: a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        return steps, np.nanmean(values, axis=0), np.nanstd(values, axis=0)


def line_panels(
    series: dict[tuple[tuple, str], list[dict[int, float]]], title: str, xlabel: str, log: bool
) -> Figure:
    """One panel per panel key, one line (mean, ±1 std band) per line key."""
    panels = sorted({panel for panel, _ in series})
    lines = sorted({line for _, line in series})
    # tab10's ten distinct colours, eleven markers and four dash patterns: no two of the first
    # 110 lines look alike (tab20 pairs a light and a dark shade of each colour: neighbours in
    # the sorted order, such as default and lecun, were near twins), and a line keeps its look
    # in every panel.
    colors, markers = colormaps["tab10"].colors, "osD^vP*Xh<>"
    look = {
        line: (colors[i % 10], ("-", "--", ":", "-.")[i // 10 % 4], markers[i % len(markers)])
        for i, line in enumerate(lines)
    }
    fig = Figure(figsize=(3.6 * len(panels) + 2.4, 3.2), dpi=100)  # + the legend's column
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for (p, line), runs in sorted(series.items()):
            if p != panel or not runs:
                continue
            steps, mean, std = _band(runs)
            if not steps:
                continue
            color, dashes, marker = look[line]
            ax.plot(
                steps, mean, dashes, color=color, label=line, linewidth=1.2, marker=marker, ms=3
            )
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2, color=color)
        ax.set_title(", ".join(panel), fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if log:
            ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    fig.set_layout_engine("constrained")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=6, ncols=1 + len(lines) // 16)
    fig.suptitle(title, fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------
# The command.


def event_figures(jobs: Sequence[Job], varied: Sequence[str]) -> dict[str, Figure]:
    """The curves and depth figures, from the finished jobs' TensorBoard events: one line per
    value of the first varied axis (init), one panel per combination of the others."""
    line_axis, _, _ = _layout(varied)

    def keys(job: Job) -> tuple[tuple, str]:
        panel = tuple(f"{k}={job.overrides.get(k, '')}" for k in varied if k != line_axis)
        return panel, job.overrides.get(line_axis, "") if line_axis else "all"

    layers = range(1, 100)
    depth_tags = [pattern.format(k) for pattern in DEPTH.values() for k in layers]
    curves: dict[str, dict] = {tag: defaultdict(list) for tag in CURVES}
    depth: dict[str, dict] = {stat: defaultdict(list) for stat in DEPTH}
    for job in jobs:
        if job.status not in record.FINISHED:
            continue
        logged = scalars(job, [*CURVES, *depth_tags])
        for tag in CURVES:
            if tag in logged:
                curves[tag][keys(job)].append(logged[tag])
        for stat, pattern in DEPTH.items():  # {layer: value at step 0}
            at_0 = {
                k: logged[pattern.format(k)].get(0) for k in layers if pattern.format(k) in logged
            }
            if at_0 and None not in at_0.values():
                depth[stat][keys(job)].append(at_0)

    figures = {}
    for tag, series in curves.items():
        if series:
            log = "loss" in tag  # a diverging init's loss would flatten everyone else's
            title = f"{tag} (mean ± std over seeds)"
            figures[f"curves_{tag.replace('/', '_')}"] = line_panels(series, title, "step", log)
    for stat, series in depth.items():
        if series:
            title = f"step-0 {stat.replace('_', ' ')} against depth (mean ± std over seeds)"
            figures[f"depth_{stat}"] = line_panels(series, title, "layer", True)
    return figures


def _seconds(value: float) -> str:
    """Seconds to one decimal, or a dash where no job has a fit time."""
    return "—" if math.isnan(value) else f"{value:.1f}"


def _groups(jobs: Sequence[Job], varied: Sequence[str]) -> dict[tuple, list[Job]]:
    groups: dict[tuple, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[tuple(job.overrides.get(k, "") for k in varied)].append(job)
    return groups


def at_steps(
    jobs: Sequence[Job], varied: Sequence[str], tag: str, steps: Sequence[int] | None = None
) -> str:
    """A markdown table: per grid point, ``tag``'s mean ± std over the completed seeds at each
    of ``steps`` (``None``: the steps every completed job logged), and n."""
    rows = []
    for point, members in _groups(jobs, varied).items():
        series = [scalars(j, [tag]).get(tag, {}) for j in members if j.status == "completed"]
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
                    "—" if not v else _cell({"m mean": m, "m std": sd, "n": len(v)}, "m")
                    for v, (m, sd) in ((values[t], _mean_std(values[t])) for t in steps)
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


def report(
    sweep: Path, at: Sequence[tuple[str, Sequence[int] | None]] = ()
) -> tuple[list[dict], list[str], dict, list[Job]]:
    """Write ``<sweep>/report/`` (module docstring); return (rows, varied axes, constant
    overrides, jobs)."""
    sweep = Path(sweep)
    jobs = load(sweep)
    if not jobs:
        raise SystemExit(f"initlab-report: no job folders (with .hydra/overrides.yaml) in {sweep}")
    if all((job.folder / "probe.csv").exists() for job in jobs):
        raise SystemExit(
            f"initlab-report: {sweep} is a probe sweep: no training to report; each job's "
            "probe.md and probe.png hold its layers' statistics"
        )
    varied, constant = axes(jobs)
    rows = summarize(jobs, varied)
    out = sweep / "report"
    out.mkdir(exist_ok=True)
    write_csv(rows, out / "summary.csv")
    table = markdown(rows, varied)
    (out / "summary.md").write_text(table + "\n")
    if len(varied) == 1:  # one axis: a ranking; two: a heatmap; more: heatmaps in panels
        figures = {f"ranked_{m.replace('/', '_')}": ranked(rows, varied[0], m) for m in METRICS[:2]}
    else:
        figures = {f"heatmap_{m.replace('/', '_')}": heatmap(rows, varied, m) for m in METRICS[:2]}
    figures.update(event_figures(jobs, varied))
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png")

    command = " ".join(_sweep_overrides(sweep))
    counts = ", ".join(
        f"{n} {status}" for status, n in sorted(Counter(j.status for j in jobs).items())
    )
    held = ", ".join(f"`{k}={v}`" for k, v in constant.items()) or "nothing"
    lines = [f"# Sweep report: {sweep.name}", ""]
    lines += [f"`python train.py -m {command}`", ""] if command else []
    lines += [f"{len(jobs)} jobs: {counts}. Constant: {held}.", "", table, ""]
    left_out = [j for j in jobs if j.status not in record.FINISHED]
    if left_out:
        lines += ["Left out (no result to average):", ""]
        lines += [f"- {j.status}: `{j.folder.name}`" for j in left_out] + [""]
    for tag, steps in at:
        name = f"at_{tag.replace('/', '_')}"
        (out / f"{name}.md").write_text(at_steps(jobs, varied, tag, steps) + "\n")
        lines += [f"`{tag}` at each step: [{name}.md]({name}.md)", ""]
    lines += [f"![{name}]({name}.png)\n" for name in figures]
    (out / "report.md").write_text("\n".join(lines))
    return rows, varied, constant, jobs


def _sweep_overrides(sweep: Path) -> list[str]:
    """The sweep's command-line overrides, from the ``multirun.yaml`` Hydra saves."""
    try:
        saved = yaml.safe_load((sweep / "multirun.yaml").read_text())
        return list(saved["hydra"]["overrides"]["task"])
    except (FileNotFoundError, KeyError, TypeError):
        return []


def _print(rows: list[dict], varied: Sequence[str], table: str) -> None:
    if not sys.stdout.isatty():
        print(table)
        return
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(*varied, *METRICS, "n", "div", "fail", "miss", "fit s")
    for row in rows:
        rich_table.add_row(
            *(row[k] for k in varied),
            *(_cell(row, m) for m in METRICS),
            *(str(row[k]) for k in ("n", "diverged", "failed", "missing")),
            _seconds(row["fit s"]),
        )
    Console().print(rich_table)


def _tag_steps(text: str) -> tuple[str, list[int] | None]:
    tag, _, steps = text.partition(":")
    try:
        return tag, [int(t) for t in steps.split(",")] if steps else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: steps must be integers separated by commas, e.g. train/loss:9,49,99"
        ) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="initlab-report", description="Tables and figures from a sweep folder."
    )
    parser.add_argument("sweep", type=Path, help="e.g. logs/multiruns/2026-11-22_12-00-00_000000")
    parser.add_argument(
        "--at",
        action="append",
        default=[],
        type=_tag_steps,
        metavar="TAG[:STEPS]",
        help="a table of TAG (e.g. train/loss) at STEPS (e.g. 9,49,99; default: every step "
        "all seeds logged), mean ± std over seeds; repeatable",
    )
    args = parser.parse_args(argv)
    rows, varied, _, jobs = report(args.sweep, args.at)
    _print(rows, varied, markdown(rows, varied))
    for tag, _ in args.at:
        print((args.sweep / "report" / f"at_{tag.replace('/', '_')}.md").read_text())
    left_out = [j for j in jobs if j.status not in record.FINISHED]
    if left_out:
        print(
            f"left out {len(left_out)} jobs without a result: "
            + ", ".join(f"{j.folder.name} ({j.status})" for j in left_out[:10])
        )
    print(f"report: {args.sweep / 'report' / 'report.md'}")


if __name__ == "__main__":
    main()
