"""Where a rebuild of staging and marts spends its time: each piece of work, and Dagster's share.

    python -m bench.profile WORLD WAREHOUSE

``WAREHOUSE`` holds the raw layer of the sandbox world ``WORLD`` (the first run's, or
``python -m bench.rawload``'s); it is copied, never written. Two passes, each over a copy:

1. the code the staging and marts assets run, called in their order outside Dagster, each
   phase timed; inside ``staged``, ``write_staging`` and ``build_marts``, every function they
   call directly, by its cumulative time under cProfile (which inflates Python-heavy
   functions somewhat);
2. the rebuild as the ``rebuild`` measurement runs it (Dagster, in process, on the home's
   existing instance), split by the run's event log into the time before its first step, each
   step, and the rest.

A step's time in pass 2 minus its work in pass 1 is Dagster's bookkeeping for it (events
stored one by one in SQLite); the time outside the steps is the run's own (creating it,
its event shard, the planned events).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.measures.pipeline import (
    STAGE_AND_MARTS,
    existing_instance,
    paved_home,
    run_split,
    without_staging,
)
from sandbox.world.store import World


class Phases:
    """Wall time of named phases, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def callees(stats: pstats.Stats, parent: Callable[..., Any]) -> dict[str, float]:
    """Cumulative seconds of each function of ours that ``parent`` called directly."""
    code = parent.__code__
    key = (code.co_filename, code.co_firstlineno, code.co_name)
    stats.calc_callees()
    out: dict[str, float] = {}
    for (filename, _, name), timing in stats.all_callees.get(key, {}).items():  # type: ignore[attr-defined]
        if "/models/" in filename:
            out[name] = out.get(name, 0.0) + timing[3]
    return dict(sorted(out.items(), key=lambda item: -item[1]))


def work(home: Path, until: date) -> tuple[Phases, dict[str, dict[str, float]]]:
    """Pass 1: the layers' code outside Dagster, over ``home``'s warehouse, as the assets run
    it: staging built and written table by table (the big tables by DuckDB, straight from raw),
    then the marts built over the staging reader (each read inside ``build_marts``)."""
    from models.marts import build_marts
    from models.settings import Settings
    from models.staging import staged
    from pipelines.marts.assets import _salt, mart_options
    from pipelines.marts.kept import previous_marts
    from pipelines.marts.warehouse import (
        build_from_staging,
        data_quality,
        rejected_records,
        write_staging,
    )
    from pipelines.raw import open_warehouse
    from pipelines.resources import PavedResource

    settings = Settings()
    paved = PavedResource(home=str(home), window_to=until.isoformat())
    phase, profile = Phases(), cProfile.Profile()
    with phase("open the warehouse"):
        conn = open_warehouse(settings.warehouse_path)
    with phase("staging (build and write each table)"):
        profile.enable()
        tables = staged(conn, salt=_salt(settings), survey_timezone=settings.survey_timezone)
        write_staging(conn, tables)
        profile.disable()
    with phase("build_marts (staging reads and metric functions)"):
        options = mart_options(paved, settings, conn)
        previous = previous_marts(conn, options)
        profile.enable()
        built = build_from_staging(conn, previous, options)
        profile.disable()
    with phase("data_quality + rejected_records"):
        built.marts["data_quality"] = data_quality(conn, dropped_links=built.dropped)
        built.marts["rejected_records"] = rejected_records(conn, secrets=settings.secrets())
    with phase("write marts"):
        built.write(conn, built.marts)
    conn.close()
    stats = pstats.Stats(profile)
    return phase, {
        "staging": callees(stats, staged) | callees(stats, write_staging),
        "build_marts": callees(stats, build_marts),
    }


def through_dagster(until: date) -> tuple[float, dict[str, float]]:
    """Pass 2: the ``rebuild`` measurement's run; its wall time and its split."""
    from models.settings import Settings
    from pipelines.run import materialize

    settings = Settings()
    existing_instance(settings)
    started_at, started = time.time(), time.perf_counter()
    outcome = materialize(settings, select=STAGE_AND_MARTS, window_to=until)
    total = time.perf_counter() - started
    if not outcome.success:
        raise RuntimeError(f"the rebuild failed: {outcome.reason}")
    split = run_split(outcome.run_id, started_at, total)
    return total, split


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def show(title: str, seconds: dict[str, float], total: float | None = None) -> None:
    print(f"\n{title}")
    for name, value in seconds.items():
        print(f"  {value:8.3f} s  {name}")
    if total is not None:
        print(f"  {total:8.3f} s  total")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("world", type=Path)
    parser.add_argument("warehouse", type=Path)
    args = parser.parse_args(argv)
    world = World(args.world.resolve())
    until = (world.now - timedelta(days=1)).date()
    with tempfile.TemporaryDirectory(prefix="paved-profile-") as scratch:
        homes = [Path(scratch) / "work", Path(scratch) / "dagster"]
        for home in homes:
            home.mkdir()
            shutil.copyfile(args.warehouse, home / "warehouse.duckdb")
            without_staging(home / "warehouse.duckdb")  # a rebuild: all of staging whole
        with paved_home(homes[0], world):
            phases, inner = work(homes[0], until)
        peak_work = peak_rss_mb()
        with paved_home(homes[1], world):
            total, split = through_dagster(until)
    show("Pass 1: the layers' work, outside Dagster", phases.seconds, sum(phases.seconds.values()))
    for parent, functions in inner.items():
        show(f"  inside {parent} (cumulative, under cProfile)", functions)
    show("Pass 2: the rebuild through Dagster", split, total)
    dagster_share = total - sum(phases.seconds.values())
    print(f"\nDagster's share: {dagster_share:.3f} s of {total:.3f} s")
    print(f"Peak RSS: {peak_work:,.0f} MB after pass 1, {peak_rss_mb():,.0f} MB after pass 2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
