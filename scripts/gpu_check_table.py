"""The GPU check's table (scripts/gpu_check.sh), from the folder it wrote: one row per check
that finished; a check that did not finish (killed by a time limit, failed) is named as such,
so a cut-off run still reports what it measured.

    python scripts/gpu_check_table.py OUT [gpu|cpu]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

CHECKS = [
    ("single", "trainer={accel}, one run, 1 epoch"),
    ("gpus", "hydra/launcher=gpus, 3 jobs, 1 epoch"),
    ("population", "hydra/launcher=population, the grid"),
    ("sequential", "jobs of the grid, one after another"),
]


def row(out: Path, name: str) -> tuple[int, str, float] | None:
    """(jobs, statuses, wall seconds) of a finished check, None for one that did not finish."""
    timing = out / f"{name}.seconds"
    if not timing.exists():
        return None
    start, end = map(float, timing.read_text().split())
    records = [json.loads(p.read_text()) for p in (out / name).glob("**/metrics.json")]
    statuses = Counter(r["status"] for r in records)
    status = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    return len(records), status, end - start


def main(argv: list[str]) -> None:
    out, accel = Path(argv[0]), argv[1] if len(argv) > 1 else "gpu"
    rates = {}
    print("| check | jobs | statuses | wall s | jobs/s |")
    print("|---|---|---|---|---|")
    for name, what in CHECKS:
        what = what.format(accel=accel)
        result = row(out, name)
        if result is None:
            print(f"| {what} | – | did not finish | – | – |")
            continue
        jobs, status, wall = result
        rates[name] = jobs / wall
        print(f"| {what} | {jobs} | {status} | {wall:.1f} | {jobs / wall:.3f} |")
    if "population" in rates and "sequential" in rates:
        speedup = rates["population"] / rates["sequential"]
        print(f"population throughput / sequential: {speedup:.1f}x (target >= 20x on a GPU)")
    if "population" in rates:
        wall = row(out, "population")[2]
        print(f"population grid wall: {wall:.1f} s (target <= 120 s on a GPU)")


if __name__ == "__main__":
    main(sys.argv[1:])
