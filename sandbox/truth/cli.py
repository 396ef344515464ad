"""``python -m sandbox truth``: build (or reuse) a world and write its ground truth as CSV."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sandbox.scales import SCALES
from sandbox.truth.compute import compute_truth
from sandbox.truth.export import write_truth
from sandbox.world.store import World


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox truth",
        description="Compute the sandbox world's ground truth (METRICS.md) and write CSV files.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="where worlds are cached (default: $PAVED_SANDBOX_DIR, else $PAVED_HOME/sandbox)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    parser.add_argument(
        "--now",
        default=None,
        help="the clock, e.g. 2026-10-05T00:00:00Z (default: the world's end)",
    )
    parser.add_argument("--window-hours", type=float, default=24.0)
    parser.add_argument("--min-group", type=int, default=5)
    return parser


def main_truth(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``truth`` subcommand; returns the process exit code."""
    args = _parser().parse_args(argv)
    from sandbox.world.build import build_world  # pulls in the generators: only when run

    try:
        world = World(build_world(args.scale, seed=args.seed, root=args.root))
        if args.now:
            moment = datetime.fromisoformat(args.now)
            world.set_now(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        started = time.perf_counter()
        truth = compute_truth(world, window_hours=args.window_hours, min_group=args.min_group)
        elapsed = time.perf_counter() - started
        written = write_truth(truth, args.out)
    except (ValueError, FileNotFoundError) as error:
        print(f"truth: {error}", file=sys.stderr)
        return 2
    print(
        f"truth of {world.path.name} at {world.now_ts} in {elapsed:.1f} s: "
        f"{len(truth.deployments)} deployments ({truth.unresolved_deployments} unresolved), "
        f"{len(truth.changes)} changes, {len(truth.incidents)} incidents; "
        f"{len(written)} files in {args.out}"
    )
    return 0
