"""The raw warehouse of a sandbox world, loaded faster than the pipeline's first run, and cached.

    python -m bench.rawload WORLD WAREHOUSE [--argocd-stride DAYS]

What the pipeline's first run (``paved demo``, the ``first_run`` measurement) writes into the
raw layer, by the same code: Argo CD replayed as a schedule would have polled it
(:func:`pipelines.demo.replay_argocd`, the catalog first), then ``paved materialize
--select group:raw`` through Dagster, every source through its real connector and
:class:`pipelines.raw.Ingestion` (keys, scopes, unmapped reasons, rejections, state rows,
``raw.ingest_runs``), against the sandbox servers on loopback. Two things differ, both for
speed, both reported:

- GitHub's requests go to the sandbox server object in this process instead of over HTTP, and
  each pull request's commits come from one query per repository (:mod:`bench.inprocess`):
  same payloads, same request counts, no socket. At the enterprise scale a million
  per-pull-request listings otherwise cost ~1.8 ms each.
- Argo CD is polled every ``--argocd-stride`` days instead of daily. Argo CD shows only the
  last ``revisionHistoryLimit`` syncs of an app (3 to 20 in the sandbox, while a busy app syncs
  up to 8 times a day), so no stride above one day keeps every entry of every app, and failed
  syncs show only until the next sync: a stride of N days keeps fewer history entries (more
  gaps recorded) and sees fewer failed operations than the daily replay. A daily poll of the
  enterprise world's 2,813 apps costs 6 to 11 s, 1,095 of them two to three hours; every 7
  days (158 polls, 16 minutes) keeps ~98 % of the history entries the daily replay keeps
  there, but only 81 % in the demo world, whose apps sync more often against smaller limits
  (10 % fewer deployments in its marts), which is why the bench polls daily below the
  enterprise scale. Stride 1 (the default) is the daily replay itself; the fidelity test
  (tests/test_bench_rawload.py) checks that the marts built from this warehouse then equal
  those of the real first run.

What remains is the real ingestion's own cost per record (validation, links dropped, DuckDB
upserts): the enterprise world's GitHub history (about 11 million commits, pull requests and
their commits) and its 3.3 GB of FOCUS cost files take the better part of an hour or more.

Loading is not measured (ingestion is, by the ``ingest_*`` measurements); the harness reports
its time as a note. The warehouse is written to a scratch folder beside ``WAREHOUSE`` and
renamed into place when complete, so a cache entry is never half written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the harness imports this module for cache_path: it stays light
    from sandbox.world.store import World

# Part of the cache key: bump it when what the loader writes changes.
LOADER_VERSION = 1
RAW = "group:raw"


def cache_path(cache: Path, world: Path, stride: int) -> Path:
    """Where the loaded warehouse of ``world`` is cached: keyed by the world (scale, seed,
    generator version), the loader's version and the Argo CD stride."""
    name = f"{world.name}-raw-loader{LOADER_VERSION}-argocd{stride}d"
    return cache / "raw" / name / "warehouse.duckdb"


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in os.environ for the block, the previous environment restored after."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def argocd_polls(history_start: date, world: World, stride: int) -> list[Any]:
    """Every ``stride``-th daily 06:00 poll from ``history_start``, and the last one."""
    from pipelines.demo import daily_polls

    daily = daily_polls(history_start, world.now)
    polls = daily[::stride]
    if daily and polls[-1] != daily[-1]:
        polls.append(daily[-1])
    return polls


def load(world_dir: Path, home: Path, *, stride: int = 1, resume: bool = False) -> dict[str, Any]:
    """Fill ``home``'s warehouse with the raw layer of the world (see the module docstring);
    returns what the load did (seconds per step, polls, history entries, gaps, requests).

    ``resume``: ``home`` is a failed load's; its Argo CD replay is done and the raw assets
    carry on from the state they committed (the pipeline's own resumption)."""
    from bench.inprocess import github_in_process
    from models.settings import Settings
    from pipelines.cli import run_materialize
    from pipelines.demo import replay_argocd
    from sandbox.servers import Sandbox
    from sandbox.servers.github import GitHubServer
    from sandbox.world.store import World

    world = World(world_dir)
    now = world.now
    history_start = date.fromisoformat(world.meta["history_start"])
    started = time.perf_counter()
    with Sandbox(world) as sandbox:
        # As `paved demo` does: room for the whole history in one read.
        sandbox.servers["github"].rate_limit = 10**12  # type: ignore[attr-defined]
        with environment({**sandbox.env(), "PAVED_HOME": str(home)}):
            settings = Settings()
            polls = [] if resume else argocd_polls(history_start, world, stride)
            replay = replay_argocd(settings, polls=polls, now=now, set_clock=world.set_now, say=say)
            argocd_s = time.perf_counter() - started
            github = sandbox.servers["github"]
            assert isinstance(github, GitHubServer)
            with github_in_process(github) as clients:
                run_materialize(settings, select=RAW, window_to=(now - timedelta(days=1)).date())
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "argocd_replay_s": round(argocd_s, 1),
        "argocd_stride_days": stride,
        "argocd_polls": replay.polls,
        "argocd_history_entries": replay.history_entries,
        "argocd_gaps": replay.gaps,
        "github_requests": sum(c.stats.requests for c in clients),
        "loader_version": LOADER_VERSION,
        "world": world_dir.name,
    }


def load_into(
    world_dir: Path, warehouse: Path, *, stride: int, resume: Path | None = None
) -> dict[str, Any]:
    """:func:`load` in a scratch home beside ``warehouse``, then the file renamed into place.
    A load that fails leaves its home where it is (an enterprise load is an hour of work: what
    loaded can be inspected, or completed with ``--resume``), never in place of
    ``warehouse``."""
    scratch = resume or warehouse.parent / f".loading-{os.getpid()}"
    if resume is None:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
    try:
        report = load(world_dir, scratch, stride=stride, resume=resume is not None)
    except BaseException:
        say(f"the load failed; what it loaded is kept in {scratch}")
        raise
    os.replace(scratch / "warehouse.duckdb", warehouse)
    shutil.rmtree(scratch, ignore_errors=True)
    return report


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rawload", description=__doc__)
    parser.add_argument("world", type=Path)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--argocd-stride", type=int, default=1, metavar="DAYS")
    parser.add_argument(
        "--resume", type=Path, default=None, metavar="HOME", help="a failed load's home to complete"
    )
    args = parser.parse_args(argv)
    if args.argocd_stride < 1:
        parser.error("--argocd-stride must be at least 1")
    args.warehouse.parent.mkdir(parents=True, exist_ok=True)
    resume = args.resume.resolve() if args.resume else None
    report = load_into(
        args.world.resolve(), args.warehouse.resolve(), stride=args.argocd_stride, resume=resume
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
