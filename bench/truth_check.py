"""A world's marts against the sandbox's ground truth, value by value, at any scale.

    python -m bench.truth_check WORLD WAREHOUSE [--argocd-stride DAYS] [--home DIR]

The full-pipeline tests compare six marts (deployments, changes, incidents, monthly
dora_metrics, satisfaction, costs) with :func:`sandbox.truth.compute_truth` on the small and
demo worlds; this runs the same comparison where the tests cannot afford to: ``WAREHOUSE`` is
a raw warehouse of ``WORLD`` loaded by :mod:`bench.rawload` (its cache, with its Argo CD
stride), copied into ``--home`` (a scratch folder), its staging and marts built by ``paved
materialize`` as the bench's rebuild builds them (the marts' clock: the day before the
world's), and the truth computed with the Argo CD polls the loader made (every ``stride``-th
daily 06:00 poll, and the raw run's own at the world's clock). The enterprise world: about
4 minutes for the truth (9 GB), 1 for the marts, 1 for the comparison. Prints each mart's
rows and mismatches, and the first of them; exits 1 when any.

A raw warehouse loaded before commit 2c460ce (the first GitHub read of a repository skipped the
pushes before its oldest merged pull request's commits) lacks 40 commits of the enterprise
world's first days: the comparison then reports their 40 change rows missing, and the
deployments and monthly rows that follow from them. Load it again (``python -m bench.rawload``
into another path) for a clean comparison; the bench's timings do not depend on those rows.

The comparison helpers are the tests' (``tests/marts_harness.py`` imports them from here).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from models.schema import MARTS

if TYPE_CHECKING:
    from sandbox.truth import Truth

REL = 1e-9
"""Relative tolerance of a float compared with the truth's (sums in another order); none near
zero: a change of exactly 0 must be 0."""

COMPARED = ("deployments", "changes", "incidents", "dora_metrics", "satisfaction", "costs")
"""The published tables compared value by value with the ground truth."""
MONTH_COLUMNS = [
    c for c in MARTS["dora_metrics"] if c not in ("grain", "period_start", "scope", "scope_id")
]
SATISFACTION_COLUMNS = [
    c for c in MARTS["satisfaction"] if c not in ("quarter", "scope", "scope_id", "question_key")
]
COST_COLUMNS = ["effective_cost", "billed_cost"]


def read_mart(home: Path, table: str) -> pl.DataFrame:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.sql(f"SELECT * FROM marts.{table}").pl()


def same(expected: object, got: object) -> bool:
    if isinstance(expected, float) or isinstance(got, float):
        if expected is None or got is None:
            return expected is None and got is None
        assert isinstance(expected, int | float) and isinstance(got, int | float)
        return math.isclose(expected, got, rel_tol=REL)
    return expected == got


def mismatches(
    expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]], columns: list[str]
) -> list[str]:
    problems = []
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or extra:
        problems.append(f"missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)})")
    for key in sorted(set(expected) & set(got)):
        for column in columns:
            e, g = expected[key][column], got[key][column]
            if not same(e, g):
                problems.append(f"{key} {column}: expected {e!r}, got {g!r}")
    return problems


def by_key(frame: pl.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in frame.iter_rows(named=True)}


def truth_rows(items: list[Any], key: str, columns: list[str]) -> dict[str, dict[str, Any]]:
    return {getattr(i, key): {c: getattr(i, c) for c in columns} for i in items}


def joined(keys: tuple[str, ...], row: Any) -> str:
    get = row.__getitem__ if isinstance(row, dict) else row.__getattribute__
    return "|".join(str(get(k)) for k in keys)


def expected_and_got(
    mart: str, home: Path, truth: Truth
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], list[str]]:
    """One published table and the truth's rows for it, keyed alike, and the columns to
    compare (monthly rows only for dora_metrics: the truth is monthly)."""
    if mart in ("deployments", "changes", "incidents"):
        key = {"deployments": "deployment_id", "changes": "change_id", "incidents": "incident_id"}[
            mart
        ]
        columns = [c for c in MARTS[mart] if c != key]
        rows = getattr(truth, mart)
        return truth_rows(rows, key, columns), by_key(read_mart(home, mart), key), columns
    frame = read_mart(home, mart)
    if mart == "dora_metrics":
        keys: tuple[str, ...] = ("scope", "scope_id", "period_start")
        frame = frame.filter(pl.col("grain") == "month")
        items: list[Any] = [*truth.service_months, *truth.team_months, *truth.org_months]
        columns = MONTH_COLUMNS
    elif mart == "satisfaction":
        keys, items, columns = (
            ("quarter", "scope", "scope_id", "question_key"),
            truth.satisfaction,
            SATISFACTION_COLUMNS,
        )
    else:
        keys, items, columns = ("date", "service", "team", "currency"), truth.costs, COST_COLUMNS
    got = {joined(keys, r): r for r in frame.iter_rows(named=True)}
    expected = {joined(keys, i): {c: getattr(i, c) for c in columns} for i in items}
    return expected, got, columns


def materialize_marts(world_dir: Path, warehouse: Path, home: Path) -> None:
    """``warehouse`` copied into ``home``, and its staging and marts built as the rebuild
    builds them, against the world served on loopback."""
    from bench.measures.common import served
    from bench.measures.pipeline import STAGE_AND_MARTS, home_with_raw, paved_materialize

    home_with_raw(home, warehouse)
    with served(world_dir) as servers:
        os.environ.update(servers.env)
        until = (servers.now - timedelta(days=1)).date()
        paved_materialize("--select", STAGE_AND_MARTS, "--to", until.isoformat())


def truth_of(world_dir: Path, stride: int) -> Truth:
    """The world's truth as the loader's Argo CD polls saw it (:func:`bench.rawload.
    argocd_polls`), plus the raw run's own poll at the world's clock."""
    from bench.rawload import argocd_polls
    from sandbox.truth import compute_truth
    from sandbox.world.store import World

    world = World(world_dir)
    polls = argocd_polls(date.fromisoformat(world.meta["history_start"]), world, stride)
    return compute_truth(world, poll_times=[*polls, world.now])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.truth_check", description=__doc__)
    parser.add_argument("world", type=Path, help="the sandbox world's folder")
    parser.add_argument("warehouse", type=Path, help="its raw warehouse (bench.rawload's)")
    parser.add_argument("--argocd-stride", type=int, default=1, help="the loader's, in days")
    parser.add_argument("--home", type=Path, default=Path("truth-check"), help="scratch folder")
    args = parser.parse_args(argv)
    materialize_marts(args.world, args.warehouse, args.home)
    truth = truth_of(args.world, args.argocd_stride)
    failed = False
    for mart in COMPARED:
        expected, got, columns = expected_and_got(mart, args.home, truth)
        problems = mismatches(expected, got, columns)
        failed = failed or bool(problems)
        print(
            f"{mart}: {len(expected):,} rows expected, {len(got):,} published, "
            f"{len(problems):,} mismatches",
            flush=True,
        )
        for problem in problems[:10]:
            print(f"    {problem[:240]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
