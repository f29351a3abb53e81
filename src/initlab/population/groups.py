"""Which jobs of a sweep train together: the members of a population differ only in member keys.

The member keys are ``seed``, everything under ``init`` (the initializer's name and its
parameters) and ``optimizer.lr``: a member's seed gives its initial weights, its data split and
order and its dropout masks, its initializer its weights, and its learning rate the size of its
steps (Adam and SGD act on each entry alone, so a member's step is its own whatever the others')
— all of which a population holds per member. Any other
difference (activation, model, dataset, optimizer, epochs, …) makes another computation and so
another population. So does a difference in the net's structure that an initializer makes (Fixup
adds scalars), and a different resume step (members are stacked at one step).

A job trains alone, as an ordinary run, with a line saying why, when its net cannot be stacked
with exactly its sequential results (:func:`~initlab.population.stack.unbatchable`), or when its
trainer computes in another precision than float32 (autocast under vmap is not checked against
the sequential run).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from initlab.population.stack import unbatchable
from initlab.training.lifecycle import resume_point, run_config
from initlab.training.spec import build

MEMBER_KEYS = ("seed", "init", "optimizer.lr")
PRECISIONS = ("32-true", "32", 32)


@dataclass
class Population:
    """Jobs (indices into the sweep's list) that train together; ``alone``: why a population of
    one trains as an ordinary run (None: it simply has one member)."""

    jobs: list[int] = field(default_factory=list)
    alone: str | None = None

    @property
    def name(self) -> str:
        return f"p{'-'.join(map(str, self.jobs[:1]))}x{len(self.jobs)}"


def task_config(cfg: DictConfig) -> DictConfig:
    """A job's config without Hydra's node (what the run receives)."""
    return OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])


def shared(task: dict) -> dict:
    """``task`` without its member keys (``optimizer.lr`` a key of a block)."""
    left = copy.deepcopy(task)
    for key in MEMBER_KEYS:
        *path, leaf = key.split(".")
        node = left
        for part in path:
            node = node.get(part) or {}
        node.pop(leaf, None)
    return left


def _key(task: dict, structure: list, step: int | None) -> str:
    text = json.dumps([shared(task), structure, step], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def _structure(net: torch.nn.Module) -> list:
    """What two members' nets must share to be stacked: module types, tensor names and shapes."""
    return [
        [(path, type(m).__name__) for path, m in net.named_modules()],
        [(k, list(v.shape), str(v.dtype)) for k, v in net.state_dict().items()],
    ]


def plan(configs: list[DictConfig], folders: list[Path], max_members: int) -> list[Population]:
    """The sweep's jobs (their composed configs, with ``hydra``, and their folders) as
    populations of at most ``max_members``, in the order of their first job."""
    groups: dict[str, Population] = {}
    alone: list[Population] = []
    reasons: dict[str, str | None] = {}  # by structure: the check once per kind of net
    for i, (cfg, folder) in enumerate(zip(configs, folders, strict=True)):
        task = task_config(cfg)
        spec = build(task)
        with torch.device("meta"):
            net = spec.make_net()
        structure = _structure(net)
        seen = json.dumps([structure, spec.trainer, spec.datamodule.dataset.in_shape], default=str)
        if seen not in reasons:
            reasons[seen] = _why_alone(spec, net)
        reason = reasons[seen]
        if reason is not None:
            alone.append(Population([i], reason))
            continue
        resolved = run_config(task)
        checkpoint, step = resume_point(folder, resolved)
        key = _key(resolved, structure, step if checkpoint else None)
        groups.setdefault(key, Population()).jobs.append(i)
    populations = []
    for group in groups.values():
        for start in range(0, len(group.jobs), max_members):
            populations.append(Population(group.jobs[start : start + max_members]))
    return sorted(populations + alone, key=lambda p: p.jobs[0])


def balance(populations: list[Population], workers: int) -> list[Population]:
    """``populations`` split so that ``workers`` side by side end together: with P populations
    of two members or more, P > workers and P not a multiple of it, each such population is split
    into workers / gcd(P, workers) parts of nearly equal size (lcm(P, workers) populations in
    all), as long as every part keeps two members. Three populations of 26 on two workers
    otherwise train as 26 + 26 members on one and 26 on the other; split, 39 on each."""
    stacked = [p for p in populations if len(p.jobs) > 1]
    count = len(stacked)
    if count <= workers or count % workers == 0:
        return populations
    parts = workers // math.gcd(count, workers)
    if min(len(p.jobs) for p in stacked) < 2 * parts:
        return populations
    split = []
    for p in populations:
        if len(p.jobs) < 2:
            split.append(p)
            continue
        bounds = [round(k * len(p.jobs) / parts) for k in range(parts + 1)]
        split += [Population(p.jobs[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    return split


def split_note(populations: list[Population], split: list[Population], workers: int) -> str:
    """What :func:`balance` did, in a line ('' where it split nothing)."""
    if len(split) == len(populations):
        return ""
    stacked = sum(len(p.jobs) > 1 for p in populations)
    parts = len(split) - len(populations) + stacked
    return f"{stacked} populations split into {parts}, so that the {workers} workers end together"


def _why_alone(spec, net) -> str | None:
    precision = spec.trainer.get("precision", "32-true")
    if precision not in PRECISIONS:
        return f"trainer.precision={precision}: a population trains in float32 only"
    reason = unbatchable(net, spec.datamodule.dataset.in_shape)
    return None if reason is None else f"its model cannot be stacked ({reason})"
