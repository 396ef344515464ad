"""Build a sandbox world: seed and scale in, the same world folder out, cached.

The world folder holds ``world.sqlite`` (see :mod:`sandbox.world.schema`), the exported files
(catalog YAML, Google Forms CSV, FOCUS CSV/Parquet) and ``manifest.json`` with row counts.
It is built in a temporary folder and renamed into place, so a half-built world is never used.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sandbox.scales import DEFAULT_END, SCALES
from sandbox.world import schema
from sandbox.world.catalog import build_catalog, catalog_rows, write_catalog_files
from sandbox.world.delivery import DAY, generate_delivery, ts

# Bump when the generator changes what it produces: cached worlds of older versions rebuild.
GENERATOR_VERSION = 2
SURVEY_TIMEZONE = "Europe/Berlin"
Progress = Callable[[str], None]


def default_root() -> Path:
    """Where worlds are cached: $PAVED_SANDBOX_DIR, else $PAVED_HOME/sandbox."""
    explicit = os.environ.get("PAVED_SANDBOX_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("PAVED_HOME", ".paved")) / "sandbox"


def print_progress(message: str) -> None:
    print(f"[sandbox] {message}", file=sys.stderr, flush=True)


class Writer:
    """Appends rows to the world database with one prepared INSERT per table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.counts: dict[str, int] = {}
        self._sql: dict[str, str] = {}
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            n = len(conn.execute(f"PRAGMA table_info({table})").fetchall())
            self._sql[table] = f"INSERT INTO {table} VALUES ({', '.join('?' * n)})"

    def __call__(self, table: str, rows: list[tuple]) -> None:
        if rows:
            self.conn.executemany(self._sql[table], rows)
            self.counts[table] = self.counts.get(table, 0) + len(rows)


def world_dir(scale: str, seed: int, root: Path | None = None) -> Path:
    return (root or default_root()) / f"{scale}-seed{seed}-v{GENERATOR_VERSION}"


def build_world(
    scale: str,
    *,
    seed: int = 7,
    root: Path | None = None,
    progress: Progress | None = print_progress,
    end: datetime = DEFAULT_END,
    force: bool = False,
) -> Path:
    """The folder of the world for (scale, seed), building it first if it is not cached."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    target = world_dir(scale, seed, root)
    if (target / "manifest.json").exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    started = time.perf_counter()
    manifest = _generate(scale, seed, tmp, progress or (lambda _m: None), end)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    if progress:
        seconds = time.perf_counter() - started
        progress(
            f"{scale} world ready in {seconds:.1f} s, {manifest['bytes'] / 1e6:.0f} MB: {target}"
        )
    return target


def _generate(
    scale_name: str, seed: int, folder: Path, progress: Progress, end_at: datetime
) -> dict:
    # Imported here: the survey and cost generators pull in pyarrow, which a server-only
    # process does not need.
    from sandbox.world.costs import generate_costs
    from sandbox.world.surveys import generate_surveys

    scale = SCALES[scale_name]
    end = int(end_at.timestamp())
    start = end - scale.days * DAY
    horizon = end + scale.future_days * DAY
    conn = sqlite3.connect(folder / "world.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.executescript(schema.DDL)
    conn.execute("BEGIN")
    write = Writer(conn)
    rng = random.Random(f"{seed}:catalog")
    cat = build_catalog(scale, rng)
    history_start = (end_at - timedelta(days=scale.days)).date().isoformat()
    write(
        "meta",
        sorted(
            {
                "seed": str(seed),
                "scale": scale_name,
                "org": cat.org,
                "start": ts(start),
                "end": ts(end),
                "horizon": ts(horizon),
                "history_start": history_start,
                "cfr_window_hours": "24",
                "survey_timezone": SURVEY_TIMEZONE,
                "generator_version": str(GENERATOR_VERSION),
            }.items()
        ),
    )
    for table, rows in catalog_rows(cat).items():
        write(table, rows)
    files = [(p, "catalog") for p in write_catalog_files(cat, folder)]
    progress(f"{scale_name}: catalog of {len(cat.teams)} teams, {len(cat.services)} services")

    last_report = [time.perf_counter()]

    def delivery_progress(done: int, total: int) -> None:
        if time.perf_counter() - last_report[0] > 5 or done == total:
            last_report[0] = time.perf_counter()
            progress(
                f"{scale_name}: delivery history {done}/{total} services, "
                f"{write.counts.get('commits', 0):,} commits"
            )

    generate_delivery(
        cat, scale, seed=seed, start=start, horizon=horizon, write=write, progress=delivery_progress
    )
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    progress(f"{scale_name}: surveys")
    files += generate_surveys(
        cat,
        scale,
        seed=seed,
        start=start,
        end=end,
        horizon=horizon,
        timezone=SURVEY_TIMEZONE,
        root=folder,
        write=write,
    )
    progress(f"{scale_name}: costs")
    files += generate_costs(
        cat, scale, seed=seed, start=start, end=end, horizon=horizon, root=folder, write=write
    )
    write("files", sorted(files))
    conn.execute("COMMIT")
    progress(f"{scale_name}: indexing")
    conn.executescript(schema.INDEXES)
    conn.execute("ANALYZE")
    conn.close()
    sizes = {p.name: p.stat().st_size for p in [folder / "world.sqlite"]}
    return {
        "scale": scale_name,
        "seed": seed,
        "rows": dict(sorted(write.counts.items())),
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()),
        "database_bytes": sizes,
    }
