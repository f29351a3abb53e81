"""The literature as experiments, checked against the published numbers.

``python -m initlab.reproduce [NAME ...]`` runs each named reproduction (all by default;
``--quick``: the ones that fit the test suite): its sweeps (``experiment=`` configs, through
the population launcher) or its probes (the untrained net, ``initlab.probe``, seeds 0-2), then
each of its checks (:mod:`initlab.reproductions.reproduction`). It prints a table (reproduction |
published | ours, mean ± std over seeds | verdict), writes the page and its figures (the whole set:
``docs/reproductions.md`` and ``docs/reproductions/``; a subset: under ``--out``), and exits 1
when a result leaves its band. A rerun skips the jobs that finished, so it rewrites the page
from the same results, the same.

Each reference says where its number comes from (paper table or figure, notebook output) and
the published protocol. Where the published data set needs a download (MNIST, CIFAR-10), the
reproduction runs the offline analogue and says so, and runs on the original instead whenever
its files are present (``--data``, ``--data-dir``: :func:`choose`).
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path

from hydra import compose, initialize_config_dir
from matplotlib.figure import Figure

from initlab import coord_check as coord_check_lib
from initlab import probe as probe_lib
from initlab.config.errors import ConfigError
from initlab.config.hydra_conf import CONF_DIR, register_resolvers
from initlab.data import readers
from initlab.reporting.jobs import load, scalars
from initlab.reporting.sweep import report
from initlab.reporting.sweep_figures import line_panels
from initlab.reporting.wording import heading, words
from initlab.reproductions import REPRODUCTIONS, lr_transfer, trainable_region
from initlab.reproductions.reproduction import (
    UNQUOTABLE,
    CoordCheck,
    Original,
    Reproduction,
    Sample,
    check_rows,
)
from initlab.runtime import console_noise
from initlab.runtime.markdown import markdown_table
from initlab.training import record

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "reproductions.md"
PROBE_SEEDS = (0, 1, 2)


def run_sweeps(reproduction: Reproduction, folder: Path) -> None:
    """The reproduction's commands, into one sweep folder (a rerun skips finished jobs)."""
    for overrides in reproduction.sweeps:
        command = [
            sys.executable,
            str(REPO / "train.py"),
            "-m",
            "hydra/launcher=population",
            "trainer.progress_bar=none",
            f"hydra.sweep.dir={folder}",
            *overrides,
        ]
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
            raise SystemExit(f"{reproduction.label}: the sweep failed (exit {proc.returncode})")


def _job_value(job, logged: Callable[[], dict], metric: str) -> float:
    """A metric of the job: ``val/acc`` (metrics.json), ``train/loss@499`` (the curve at step
    499), ``train/loss<=0.6`` (the first logged step at or below 0.6; inf: never). ``logged``:
    the job's TensorBoard scalars, read once."""
    if "<=" in metric:
        tag, threshold = metric.split("<=")
        curve = sorted(logged().get(tag, {}).items())
        return next((float(step) for step, v in curve if v <= float(threshold)), math.inf)
    if "@" in metric:
        tag, step = metric.split("@")
        return logged().get(tag, {}).get(int(step), float("nan"))
    return job.metric(metric)


def _sample(job) -> Sample:
    """Labels: the job's overrides, an init with parameters labelled by them,
    ``uniform(a=-0.5, b=0.5)``, and each ``init.<param>`` as given."""
    params = {k: v for k, v in job.given.items() if k.startswith("init.")}
    logged = cache(partial(scalars, job))  # the event files, read at the first curve metric
    return Sample({**job.overrides, **params}, partial(_job_value, job, logged))


def sweep_samples(folder: Path) -> list[Sample]:
    """The finished jobs of a sweep folder, completed, collapsed or diverged (a run that
    diverged or collapsed is a result: it did not train), as samples."""
    return [_sample(job) for job in load(folder) if job.status in record.FINISHED]


def against_figure(reproduction: Reproduction, samples: list[Sample]) -> Figure:
    """``metric`` against a numeric override (log scale), one line per value of another, the
    mean ± std over seeds (Deep Learning from Scratch's batch_norm_test picture); axes and
    lines named by the reproduction's ``names``."""
    metric, x, line = reproduction.against
    names = reproduction.names
    runs: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
    for s in samples:
        runs[(s.labels.get(line, ""), s.labels.get("seed", ""))][float(s.labels[x])] = s.value(
            metric
        )
    series = defaultdict(list)
    for (value, _), points in sorted(runs.items()):
        series[((), value)].append(points)
    what = names.get(x, x)
    fig = line_panels(
        series,
        f"{heading(metric)} against the {what}",
        f"{what} ({x}, log scale)" if what != x else f"{x} (log scale)",
        log=False,
        ylabel=words(metric),
        names=names,
        legend_title=names.get(line, line),
    )
    fig.axes[0].set_xscale("log")
    return fig


def slug(overrides: list[str]) -> str:
    """A probe's name for its files: the values it sets, ``experiment=`` left out."""
    return "_".join(o.split("=", 1)[1] for o in overrides if not o.startswith("experiment="))


def _labels(overrides: list[str], seed: int) -> dict[str, str]:
    labels = dict(o.split("=", 1) for o in overrides)
    return {**labels, "seed": str(seed)}


def _probe_value(rows: list[dict], metric: str) -> float:
    stat, layer = metric.split("@")
    return next((float(r[stat]) for r in rows if r["layer"] == layer), float("nan"))


def _with_theory(rows: list[dict], beside) -> list[dict]:
    """Each layer's row with the theory's comparison (``q_over_theory``, ``c_minus_theory``),
    and a row ``net`` for the Jacobian's spectrum (``jacobian_mean``, ``jacobian_variance``,
    ``jacobian_spread`` = variance/mean², ``jacobian_variance_over_theory``); unchanged where
    the theory does not describe the net (a check on them reads nan)."""
    if isinstance(beside, str):
        return rows
    by_layer = {
        layer: {"q_over_theory": qm / qp, "c_minus_theory": cm - cp}
        for layer, qm, qp, cm, cp in zip(
            beside.layers,
            beside.q_measured,
            beside.q_predicted,
            beside.c_measured,
            beside.c_predicted,
            strict=True,
        )
    }
    rows = [{**r, **by_layer.get(r["layer"], {})} for r in rows]
    if beside.jacobian and beside.jacobian_mean is not None:  # the whole net's: ``…@net``
        mean = statistics.fmean(beside.jacobian)
        variance = statistics.variance(beside.jacobian)
        rows.append(
            {
                "layer": "net",
                "jacobian_mean": mean,
                "jacobian_variance": variance,
                "jacobian_spread": variance / mean**2,  # the normalized variance
                "jacobian_variance_over_theory": variance / beside.jacobian_variance,
            }
        )
    return rows


def run_probes(reproduction: Reproduction, folder: Path) -> list[Sample]:
    """Each probe for seeds 0-2 (its table and histograms under ``folder/<slug>/seed=K``)."""
    samples = []
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for overrides in reproduction.probes:
            for seed in PROBE_SEEDS:
                cfg = compose("probe", overrides=[*overrides, f"seed={seed}"])
                rows = probe_lib.probe(cfg)
                out = folder / slug(overrides) / f"seed={seed}"
                probe_lib.write(
                    rows, out, title=probe_lib.describe(cfg), words=probe_lib.caption(cfg)
                )
                rows = [{k: v for k, v in r.items() if k != "values"} for r in rows]
                beside = probe_lib.theory(cfg)
                probe_lib.write_theory(beside, out, f"mean-field theory beside {slug(overrides)}")
                rows = _with_theory(rows, beside)
                samples.append(
                    Sample(_labels(overrides, seed), lambda m, rows=rows: _probe_value(rows, m))
                )
    return samples


def _coord_check_args(check: CoordCheck) -> list[str]:
    return [*check.overrides, "--widths", *map(str, check.widths)]


def run_coord_check(check: CoordCheck, folder: Path) -> list[Sample]:
    """μP's coordinate check into ``folder/coord_check`` (a rerun reads the one it wrote), as
    one sample per parametrization: ``logits_slope_at_step_K`` and ``steepest_slope_at_step_K``."""
    out = folder / "coord_check"
    table = out / "coord_check.csv"
    if not table.exists() and coord_check_lib.main([*_coord_check_args(check), "--out", str(out)]):
        raise SystemExit(f"the coordinate check failed: {' '.join(check.overrides)}")
    rows = coord_check_lib.read(table)
    slopes: dict[str, dict[str, float]] = defaultdict(dict)
    for s in coord_check_lib.summary(rows):
        slopes[s["parametrization"]][f"logits_slope_at_step_{s['step']}"] = s["logits_slope"]
        slopes[s["parametrization"]][f"steepest_slope_at_step_{s['step']}"] = s["steepest_slope"]
    return [
        Sample({"parametrization": p, "seed": ""}, lambda m, v=v: v.get(m, math.nan))
        for p, v in slopes.items()
    ]


# What each activation statistic is, for the layers figure's title and axis.
LAYER_STATS = {
    "mean": "mean of activations",
    "std": "std of activations",
    "saturation": "saturated fraction of units",
}


def layers_figure(
    folder: Path, stat: str, points: list[dict[str, str]], names: dict[str, str] | None = None
) -> Figure:
    """Each layer's ``activations/layerK/<stat>`` against the step (mean ± std over seeds), one
    panel per grid point (``names``: the panels' names for values). The last layer's statistics
    are the logits' (DESIGN.md §7): its legend entry says so."""
    names = names or {}
    series = defaultdict(list)
    last = 0
    for job in load(folder):
        point = next(
            (p for p in points if all(job.overrides.get(k) == v for k, v in p.items())), None
        )
        if job.status != "completed" or point is None:
            continue
        tags = [f"activations/layer{k}/{stat}" for k in range(1, 100)]
        panel = tuple(f"{k}={names.get(v, v)}" for k, v in point.items())
        for tag, values in scalars(job, tags).items():
            k = int(tag.split("/")[1].removeprefix("layer"))
            series[(panel, f"layer {k}")].append(values)
            last = max(last, k)
    what = LAYER_STATS.get(stat, stat)
    return line_panels(
        series,
        f"{what[:1].upper()}{what[1:]} in each layer during training",
        "step",
        False,
        ylabel=what,
        names={f"layer {last}": f"layer {last} (logits)"},
    )


def figures(
    reproduction: Reproduction, folder: Path, into: Path, samples: list[Sample]
) -> list[str]:
    """Draw or copy the reproduction's figures next to the page (``samples``: its results);
    return their file names."""
    names = []
    for overrides in reproduction.probes:  # each probe's histograms, seed 0
        name = f"{reproduction.label}_{slug(overrides)}.png"
        shutil.copyfile(folder / slug(overrides) / "seed=0" / "probe.png", into / name)
        names.append(name)
        beside = folder / slug(overrides) / "seed=0" / "theory.png"
        if reproduction.theory and beside.exists():  # the theory beside the probe
            name = f"{reproduction.label}_{slug(overrides)}_theory.png"
            shutil.copyfile(beside, into / name)
            names.append(name)
    if reproduction.region:
        name = f"{reproduction.label}_region.png"
        region = reproduction.region
        what = reproduction.names.get(region.x, region.x)
        trainable_region.figure(
            region,
            samples,
            f"{region.metric} after training, and the theory's deepest trainable net",
            f"{what} ({region.x})" if what != region.x else region.x,
        ).savefig(into / name)
        names.append(name)
    if reproduction.transfer:
        name = f"{reproduction.label}_transfer.png"
        transfer = reproduction.transfer
        lr_transfer.figure(
            transfer, samples, reproduction.names, f"{words(transfer.metric)} (mean over seeds)"
        ).savefig(into / name)
        names.append(name)
    if reproduction.coord_check:
        name = f"{reproduction.label}_coord_check.png"
        shutil.copyfile(folder / "coord_check" / "coord_check.png", into / name)
        names.append(name)
    if reproduction.against:
        name = f"{reproduction.label}_against.png"
        against_figure(reproduction, samples).savefig(into / name)
        names.append(name)
    for stat, points in reproduction.layers:
        name = f"{reproduction.label}_layers_{stat}.png"
        layers_figure(folder, stat, points, reproduction.names).savefig(into / name)
        names.append(name)
    if reproduction.sweeps:  # the sweep's own tables and figures, in <folder>/report
        report(folder, names=reproduction.names)
        for figure in reproduction.figures:
            name = f"{reproduction.label}_{figure}.png"
            shutil.copyfile(folder / "report" / f"{figure}.png", into / name)
            names.append(name)
    return names


def _ours(r: dict) -> str:
    if math.isnan(r["mean"]):
        return "—"
    if math.isinf(r["mean"]):
        return f"{r['mean']} (n={r['n']}: some never reached it)"
    return f"{r['mean']:.4g} ± {r['std']:.2g} (n={r['n']})"


def _band(band: tuple[float, float] | None) -> str:
    """A check's band as the verdict reads it: its ends belong to it."""
    if band is None:
        return "—"
    low, high = band
    if math.isinf(high):
        return f"≥ {low:.4g}"
    if math.isinf(low):
        return f"≤ {high:.4g}"
    return f"{low:.4g} – {high:.4g}"


def table(rows: list[dict]) -> str:
    """The results as a markdown table (the same rows give the same text)."""
    return markdown_table(
        ["reproduction", "check", "metric", "published", "band", "ours", "verdict"],
        [
            [
                r["reproduction"],
                r["check"],
                r["metric"],
                r["published"],
                _band(r["band"]),
                _ours(r),
                r["verdict"],
            ]
            for r in rows
        ],
    )


def _original_lines(original: Original | None) -> list[str]:
    """What runs instead when the published data set is present, and what it checks there."""
    if original is None:
        return []
    checks = "; ".join(f"{c.label} ({_band(c.band)})" for c in original.checks)
    cache = readers.DOWNLOAD_ROOT
    if cache.is_relative_to(Path.home()):  # the same text on any machine
        cache = Path("~") / cache.relative_to(Path.home())
    return [
        f"The original, {original.title}, runs instead of this analogue whenever "
        f"{original.dataset}'s files are present (`--data-dir {original.dataset}=DIR`, or in "
        f"{cache}, where torchvision's download puts them). Its checks: {checks}.",
        "",
    ]


def page(reproductions: list[Reproduction], rows: list[dict], shown: dict[str, list[str]]) -> str:
    """``docs/reproductions.md``: the table, then each reproduction's source, protocol, commands,
    bands and figures (``shown``: reproduction label -> figure file names)."""
    lines = [
        "# Reproductions",
        "",
        "Generated by `python -m initlab.reproduce`; each published figure against the mean "
        "over seeds measured here, and the band it must fall in.",
        "",
        table(rows),
        "",
    ]
    for rep in reproductions:
        lines += [f"## {rep.title} (`{rep.name}`)", "", f"Source: {rep.source}.", ""]
        lines += [f"Protocol: {rep.protocol}.", ""]
        lines += ["Commands:", "", "```bash"]
        lines += [f"python train.py -m {' '.join(s)}" for s in rep.sweeps]
        lines += [f"python -m initlab.probe {' '.join(p)} seed=0" for p in rep.probes]
        if rep.coord_check:
            lines += [
                f"python -m initlab.coord_check {' '.join(_coord_check_args(rep.coord_check))}"
            ]
        lines += ["```", ""]
        lines += ["Bands:", ""] + [f"- {c.label}: {c.why}." for c in rep.checks] + [""]
        lines += _original_lines(rep.original)
        lines += [f"![{name}](reproductions/{name})" for name in shown.get(rep.label, [])]
        lines += [""] + [f"{note}" for note in rep.notes] + ([""] if rep.notes else [])
    return "\n".join(lines)


def data_dirs(pairs: list[str]) -> dict[str, str]:
    """``--data-dir NAME=DIR`` values: a published data set a reproduction can run on (its
    :class:`Original`: mnist, cifar10) and an existing folder, each checked before anything
    runs."""
    names = sorted({r.original.dataset for r in REPRODUCTIONS.values() if r.original})
    dirs = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or name not in names:
            raise ConfigError(
                "--data-dir",
                pair,
                f"must be NAME=DIR, NAME one of {', '.join(names)} (the published data sets)",
            )
        if not folder or not Path(folder).expanduser().is_dir():
            raise ConfigError("--data-dir", pair, "no such folder")
        path = str(Path(folder).expanduser().resolve())  # the sweeps run from the repo
        if any(c in path for c in UNQUOTABLE):
            raise ConfigError("--data-dir", pair, "a quote, a backslash or '${' in the path")
        if readers.present(name, path) is None:  # the only source then: no fallback
            raise ConfigError(
                "--data-dir", pair, f"no complete copy there: {readers.expected(name)}"
            )
        dirs[name] = path
    return dirs


def choose(rep: Reproduction, data: str, dirs: dict[str, str]) -> Reproduction:
    """The reproduction as it runs here: on its original data set when it has one whose files
    are present (``data="auto"``) or must be (``"original"``); else as it is (the analogue).
    ``dirs``: the ``--data-dir`` folders, each checked to hold a copy."""
    if rep.original is None or data == "analogue":
        return rep
    name, folder = rep.original.dataset, dirs.get(rep.original.dataset)
    if readers.present(name, folder) is not None:
        return rep.on_original(folder)
    if data == "original":
        where = " or ".join(str(p) for p in readers.sources(name, None))
        raise ConfigError(
            "--data",
            data,
            f"{rep.name} needs {name}: none in {where} (--data-dir {name}=DIR names a folder "
            f"holding {readers.expected(name)})",
        )
    return rep


def main(argv: list[str] | None = None) -> None:
    console_noise.silence()
    register_resolvers()
    parser = argparse.ArgumentParser(
        prog="initlab-reproduce",
        description="Run the reproductions and check them against the published numbers.",
    )
    parser.add_argument("names", nargs="*", help=f"default: all ({', '.join(REPRODUCTIONS)})")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only the quick ones ("
        + ", ".join(n for n, r in REPRODUCTIONS.items() if r.quick)
        + "); the page goes to <out>/reproductions.md unless --docs names one, as for any "
        "subset",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "logs" / "reproductions",
        help="the folder the runs go in, one sweep folder per reproduction (default: %(default)s); "
        "a reproduction run again with the same --out resumes, skipping finished jobs",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help=f"the page (default: {DOCS} for all of them, else <out>/reproductions.md)",
    )
    parser.add_argument(
        "--data",
        choices=("auto", "analogue", "original"),
        default="auto",
        help="auto: each reproduction on its published data set (MNIST, CIFAR-10) when its "
        "files are present, else on its offline analogue; analogue: always the analogue; "
        "original: the published data set, an error when its files are missing",
    )
    parser.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help=f"where a published data set's files are (default: {readers.DOWNLOAD_ROOT}), e.g. "
        "mnist=~/data/mnist",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in REPRODUCTIONS]
    if unknown:
        parser.error(f"unknown reproduction {unknown[0]!r}; choose from {', '.join(REPRODUCTIONS)}")
    names = args.names or [n for n, r in REPRODUCTIONS.items() if r.quick or not args.quick]
    # docs/reproductions.md is the whole set's page: a subset's goes under --out.
    whole = set(names) == set(REPRODUCTIONS)
    docs = args.docs or (DOCS if whole else args.out / "reproductions.md")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out={str(args.out)!r}: not a folder (the runs go there)")
    if args.docs is not None and args.docs.is_dir():
        parser.error(f"--docs={str(args.docs)!r}: a folder; the page is a file, e.g. page.md")
    if args.data == "analogue" and args.data_dir:
        parser.error("--data analogue runs no published data set: --data-dir would go unused")
    try:  # every choice before anything runs: a bad --data-dir loses no compute
        dirs = data_dirs(args.data_dir)
        chosen = [choose(REPRODUCTIONS[n], args.data, dirs) for n in names]
    except ConfigError as err:
        parser.error(str(err))
    into = docs.parent / "reproductions"
    into.mkdir(parents=True, exist_ok=True)
    rows, shown = [], {}
    for rep in chosen:
        start = time.perf_counter()
        folder = args.out / rep.label
        run_sweeps(rep, folder)
        samples = run_probes(rep, folder) + (sweep_samples(folder) if rep.sweeps else [])
        if rep.region:  # each column's deepest trained net, for the checks
            samples += trainable_region.samples(rep.region, samples)
        if rep.transfer:  # each width's best learning rate, for the checks
            samples += lr_transfer.samples(rep.transfer, samples)
        if rep.coord_check:
            samples += run_coord_check(rep.coord_check, folder)
        rows += check_rows(rep, samples)
        shown[rep.label] = figures(rep, folder, into, samples)
        print(f"{rep.label}: {time.perf_counter() - start:.0f} s", flush=True)
    print(table(rows))
    docs.write_text(page(chosen, rows, shown) + "\n")
    print(f"page: {docs}")
    if any(r["verdict"] not in ("matches", "reported") for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
