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

A path that is not a sweep of training runs (missing, a single run or one job of a sweep, a
folder without job folders, a probe sweep, probes mixed with training runs) and an ``--at`` tag
no completed job logged are refused before anything is written: one line saying what the path
is and what to give instead, exit 2 (as argparse's own errors).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml

from initlab.reporting.jobs import Job, ReportRefused, axes, folded, load_sweep, logged_tags
from initlab.reporting.sweep_figures import event_figures, heatmap, ranked
from initlab.reporting.tables import (
    COUNTS,
    METRICS,
    at_steps,
    cell,
    markdown,
    seconds,
    summarize,
    write_csv,
)
from initlab.training import record


def report(
    sweep: Path,
    at: Sequence[tuple[str, Sequence[int] | None]] = (),
    names: dict[str, str] | None = None,
) -> tuple[list[dict], list[str], dict, list[Job]]:
    """Write ``<sweep>/report/`` (module docstring); return (rows, varied axes, constant
    overrides, jobs). ``names``: the figures' names for values (a reproduction's, as its
    captions call them: lecun -> "Xavier √(1/n) (lecun)"). A folder that is not a sweep of
    training runs, or an ``at`` tag no completed job logged, raises
    :class:`~initlab.reporting.jobs.ReportRefused` before anything is written."""
    sweep = Path(sweep)
    jobs = load_sweep(sweep)
    if at:  # an unknown tag refused before anything is written
        have = logged_tags(jobs)
        for tag, _ in at:
            if tag not in have:
                raise ReportRefused(
                    f"--at {tag}: no completed job logged this tag; they logged "
                    + (", ".join(folded(have)) or "nothing")
                )
    varied, constant = axes(jobs)
    rows = summarize(jobs, varied)
    out = sweep / "report"
    out.mkdir(exist_ok=True)
    write_csv(rows, out / "summary.csv")
    table = markdown(rows, varied)
    (out / "summary.md").write_text(table + "\n")
    if len(varied) == 1:  # one axis: a ranking; two: a heatmap; more: heatmaps in panels
        figures = {
            f"ranked_{m.replace('/', '_')}": ranked(rows, varied[0], m, names) for m in METRICS[:2]
        }
    else:
        figures = {
            f"heatmap_{m.replace('/', '_')}": heatmap(rows, varied, m, names) for m in METRICS[:2]
        }
    figures.update(event_figures(jobs, varied, names))
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

    rich_table = Table(*varied, *METRICS, "n", "div", "coll", "fail", "miss", "fit s")
    for row in rows:
        rich_table.add_row(
            *(row[k] for k in varied),
            *(cell(row, m) for m in METRICS),
            *(str(row[k]) for k in ("n", *COUNTS)),
            seconds(row["fit s"]),
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
    try:
        rows, varied, _, jobs = report(args.sweep, args.at)
    except ReportRefused as err:  # bad input: one line and exit 2, as argparse's own errors
        print(f"initlab-report: {err}", file=sys.stderr)
        raise SystemExit(2) from None
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
