"""``python -m initlab.theory``: what mean-field theory predicts for an activation, one
``name = value`` a line, so that a script can read it.

    python -m initlab.theory --activation tanh --sigma-b2 0.05
    critical_sigma_w2 = 1.76095

    python -m initlab.theory --activation tanh --sigma-b2 0.05 --sigma-w2 1.5 --depth 20
    (also: phase, q_star, c_star, chi1, xi_q, xi_c, trainable_depth, and the Jacobian's
    spread at that depth for Gaussian and orthogonal weights)

``--plot FILE`` writes the phase diagram (:mod:`initlab.theory.phase_diagram`). A bad value
is refused before anything is computed, naming the option (exit 2).
"""

from __future__ import annotations

import argparse
import math
import sys

from initlab.config.errors import ConfigError
from initlab.models.activations import ACTIVATIONS
from initlab.theory import jacobian, phase_diagram
from initlab.theory.mean_field import MeanField, critical_sigma_w2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m initlab.theory",
        description="Mean-field signal propagation at initialization (Poole et al. 2016, "
        "Schoenholz et al. 2017, Pennington et al. 2017): the edge of chaos for a bias "
        "variance, and with --sigma-w2 the phase, fixed points, depth scales and Jacobian "
        "spread. Weights N(0, sigma_w2/fan_in), biases N(0, sigma_b2).",
    )
    parser.add_argument(
        "--activation", default="tanh", help=f"one of: {', '.join(ACTIVATIONS)} (default tanh)"
    )
    parser.add_argument("--sigma-b2", type=float, default=0.0, help="bias variance (default 0)")
    parser.add_argument("--sigma-w2", type=float, help="weight variance times fan_in")
    parser.add_argument("--depth", type=int, help="layers, for the Jacobian's spread")
    parser.add_argument("--plot", metavar="FILE", help="write the phase diagram (PNG, SVG, PDF)")
    return parser


def _check(args) -> None:
    if args.activation not in ACTIVATIONS:
        choices = ", ".join(ACTIVATIONS)
        raise ConfigError("--activation", args.activation, f"unknown; choose from {choices}")
    for key, value in (("--sigma-b2", args.sigma_b2), ("--sigma-w2", args.sigma_w2)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(key, value, "must be a finite number ≥ 0")
    if args.depth is not None and args.depth < 1:
        raise ConfigError("--depth", args.depth, "must be a whole number ≥ 1")
    if args.depth is not None and args.sigma_w2 is None:
        raise ConfigError("--depth", args.depth, "needs --sigma-w2")


def lines(args) -> list[str]:
    out = [f"critical_sigma_w2 = {critical_sigma_w2(args.activation, args.sigma_b2):.6g}"]
    if args.sigma_w2 is None:
        return out
    field = MeanField(args.activation, args.sigma_w2, args.sigma_b2)
    out += field.point().lines()
    if args.depth is not None:
        out.append(f"depth = {args.depth}")
        for weights in jacobian.WEIGHT_VARIANCE:
            spread = jacobian.moments(field, args.depth, weights)
            out.append(f"jacobian_mean_{weights} = {spread.mean:.6g}")
            out.append(f"jacobian_variance_{weights} = {spread.variance:.6g}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _check(args)
    except ConfigError as error:
        print(f"python -m initlab.theory: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines(args)))
    if args.plot:
        print(f"phase_diagram = {phase_diagram.save(args.activation, args.plot)}")
    return 0
