"""A sweep's dry run (``-m … dry_run=true``): after the sweeper's checks (every job composed and
validated, refused and duplicate jobs listed), what the launcher would do with the jobs that are
left — which run, which are already finished or being written, how the launcher groups them
(populations, GPUs, SLURM array tasks) and the folder each would write — and nothing written.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from initlab.population import groups, workers


def describe_sweep(
    config: DictConfig,
    jobs: list[list[str]],
    configs: list[DictConfig],
    folders: list[Path],
    done: list[bool],
    busy: list[bool],
) -> str:
    """The sweep's jobs, one line each, under how the launcher would run them."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    todo = [i for i in range(len(jobs)) if not done[i] and not busy[i]]
    launcher = OmegaConf.select(config, "hydra.runtime.choices.hydra/launcher", default="basic")
    lines = [
        "dry run: every job's config is valid; nothing was run or written.",
        f"sweep folder: {sweep_dir}",
        f"{len(jobs)} jobs: {len(todo)} would run, {sum(done)} already finished, "
        f"{sum(busy)} being written by another process",
        f"launcher: {launcher}: {_how(launcher, config.hydra.launcher)}",
    ]
    for i in range(len(jobs)):
        if done[i] or busy[i]:
            lines.append(f"  {'finished' if done[i] else 'busy'}: {folders[i].name}")
    if launcher == "population" and todo:
        lines += _populations(config, configs, folders, todo)
    else:
        lines += [f"  {folders[i].name}" for i in todo]
    return "\n".join(lines)


def _how(launcher: str, settings: DictConfig) -> str:
    """One line: how ``launcher`` runs the jobs."""
    if launcher == "basic":
        return "one job after another, in this process"
    if launcher == "population":
        return (
            f"jobs that differ only in {', '.join(groups.MEMBER_KEYS)} train together as one "
            "stacked model, "
            f"at most {settings.max_members} members a population"
        )
    if launcher == "gpus":
        return f"one job per GPU, {settings.n_jobs} at a time"
    if launcher.startswith("submitit"):
        return (
            f"one SLURM array task per job (partition {settings.partition or 'default'}, "
            f"{settings.timeout_min} min, {settings.array_parallelism} at a time)"
        )
    if "n_jobs" in settings:
        return f"parallel jobs on this machine, n_jobs={settings.n_jobs}"
    return f"{settings.get('_target_')}"


def _populations(config, configs, folders, todo) -> list[str]:
    """The population launcher's grouping of the jobs that would run (its own plan)."""
    populations = groups.plan(
        [configs[i] for i in todo], [folders[i] for i in todo], config.hydra.launcher.max_members
    )
    sizes = sorted((len(p.jobs) for p in populations), reverse=True)
    lines = [
        f"{len(populations)} population{'s' if len(populations) > 1 else ''} "
        f"(members: {', '.join(map(str, sizes))})"
    ]
    schedule = workers.schedule(
        populations, [configs[i] for i in todo], config.hydra.launcher.n_jobs
    )
    if schedule.plan.workers > 1:
        lines.append(f"{schedule.plan}; the most work first")
        if schedule.split:
            lines.append(schedule.split)
    elif sum(len(p.jobs) > 1 for p in populations) > 1:
        lines.append("one after another, in this process")
    for p in schedule.populations:
        members = [folders[todo[j]].name for j in p.jobs]
        if len(members) == 1 and p.alone:
            lines.append(f"  alone ({p.alone}): {members[0]}")
            continue
        lines.append(f"  population {p.name} ({len(members)} members):")
        lines += [f"    {m}" for m in members]
    return lines
