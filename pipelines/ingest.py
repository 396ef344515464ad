"""One shape for every raw asset: open the run, ingest one source, record and report it.

An ingestion function (``pipelines/<source>/ingest.py``) is a plain function of a
:class:`SourceRun` and an :class:`~pipelines.raw.Ingestion`; it knows nothing of Dagster, so
the asset, the `paved demo` replay and the tests call the same code. :func:`ingest_source`
wraps it: a source that is not configured is recorded as such and succeeds; the counts and
the requests it took go to ``raw.ingest_runs``, the asset's metadata and one progress line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypedDict, TypeVar

import duckdb
import httpx

from connectors.http import DEFAULT_TIMEOUT, BaseClient, RequestStats
from models.settings import Settings
from models.tables import has_table
from pipelines.raw import Counts, Ingestion, ensure_raw_schema, read_state

# `paved materialize` prints this logger's lines on stderr: one per asset and check.
progress = logging.getLogger("paved.progress")

C = TypeVar("C", bound=BaseClient)


class ClientOptions(TypedDict):
    """What every client of a run is built with."""

    sleep: Callable[[float], None]
    transport: httpx.BaseTransport | None
    timeout: httpx.Timeout


class ConfigurationError(Exception):
    """A source is configured in a way Paved must refuse (one line, names the variable)."""


class PartialFailure(Exception):
    """Part of a source could not be read; the rest is committed and the run is recorded
    before this is raised (the asset fails, naming what to fix)."""


def no_wait(seconds: float) -> None:
    """A sleep that returns at once: waits are still counted in the clients' stats."""


HISTORY_START = ("paved", "", "history_start")
"""Where ``raw.state`` keeps the first day of the warehouse's history (:func:`history_start`)."""


def history_start(conn: duckdb.DuckDBPyConnection, settings: Settings) -> date:
    """The first day of the warehouse's history, where a source without a watermark starts
    collecting and the marts begin: PAVED_HISTORY_START if set; else the day the warehouse's
    first run started from (365 days before it, :meth:`Settings.collection_start`), kept in
    ``raw.state`` by that run. So a schedule without the variable keeps every day it collected,
    instead of a window that drops its oldest day each run (docs/deploy.md)."""
    ensure_raw_schema(conn)
    conn.execute(
        "INSERT INTO raw.state VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [*HISTORY_START, json.dumps(settings.collection_start().isoformat()), datetime.now(UTC)],
    )
    if settings.history_start is not None:
        return settings.history_start
    return date.fromisoformat(read_state(conn, *HISTORY_START))


def history_note(settings: Settings) -> str:
    """Where the warehouse's history starts, in words (``paved doctor``): PAVED_HISTORY_START,
    the start its first run kept (:func:`history_start`), or where a first run would start.
    Read without writing: the warehouse is opened read-only, and a run holding it is said."""
    if settings.history_start is not None:
        return f"from {settings.history_start} (PAVED_HISTORY_START)"
    first = f"a first run collects from {settings.collection_start()} (365 days back), kept after"
    path = settings.warehouse_path
    if not path.exists():
        return f"no warehouse yet: {first}"
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            kept = read_state(conn, *HISTORY_START) if has_table(conn, "raw", "state") else None
    except duckdb.IOException:
        return "not known now: a run holds the warehouse"
    except duckdb.Error as error:
        return f"not known now: the warehouse could not be read ({type(error).__name__})"
    if kept is None:
        return f"none kept yet: {first}"
    return f"from {kept} (kept since the warehouse's first run)"


@dataclass(frozen=True)
class Window:
    """The collection window of a run.

    ``start`` is where a source without a watermark begins (the history's start,
    :func:`history_start`, or --from);
    ``end`` is exclusive (the day after --to), None for "up to now". A re-backfill (--from
    given) starts every time-filtered listing at ``start`` instead of at its watermark;
    watermarks then only move forward, and rows are replaced by natural key.
    """

    start: datetime
    end: datetime | None = None
    backfill: bool = False

    @classmethod
    def of(cls, history: date, start: date | None = None, end: date | None = None) -> Window:
        """The window of a run from the history's first day ``history`` (:func:`history_start`),
        or of a re-backfill from ``start``, up to the day ``end`` (included) or now."""
        return cls(
            start=_midnight(start or history),
            end=_midnight(end + timedelta(days=1)) if end else None,
            backfill=start is not None,
        )

    def since(self, watermark: datetime | None) -> datetime:
        """Where a listing starts: the watermark, unless this is a backfill or there is none."""
        if self.backfill or watermark is None:
            return self.start
        return max(watermark, self.start)

    def until(self) -> datetime:
        return self.end or datetime.now(UTC)

    def describe(self) -> str:
        end = iso(self.end) if self.end else "now"
        kind = "backfill " if self.backfill else ""
        return f"{kind}{iso(self.start)} .. {end}"


@dataclass
class SourceRun:
    """What an ingestion function gets: settings, the warehouse, the run and its window, and
    how its clients wait (``no_wait`` in tests and replays: waits counted, never slept)."""

    settings: Settings
    conn: duckdb.DuckDBPyConnection
    run_id: str
    window: Window
    sleep: Callable[[float], None] = time.sleep
    # One transport for every client of a replay: building one costs ~20 ms (TLS context).
    transport: httpx.BaseTransport | None = None
    clients: list[BaseClient] = field(default_factory=list)
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    def options(self) -> ClientOptions:
        """What every client of this run is built with: how it waits, its transport and
        its timeouts."""
        return {"sleep": self.sleep, "transport": self.transport, "timeout": self.timeout}

    def client(self, client: C) -> C:
        """Track a client so its requests, 304s, retries and waits are reported."""
        self.clients.append(client)
        return client

    def stats(self) -> dict[str, float | int]:
        total = RequestStats()
        for client in self.clients:
            s = client.stats
            total.requests += s.requests
            total.not_modified += s.not_modified
            total.retries += s.retries
            total.waited_s += s.waited_s
            total.rate_limited += s.rate_limited
        return total.as_metadata()


Body = Callable[[SourceRun, Ingestion], None]


@dataclass
class Summary:
    """One source's run, as recorded in raw.ingest_runs and shown to the user."""

    label: str
    counts: Counts
    stats: dict[str, float | int]
    window: str
    notes: list[str]
    elapsed_s: float

    def metadata(self) -> dict[str, Any]:
        c = self.counts
        return {
            "fetched": c.fetched,
            "loaded": c.loaded,
            "rejected": c.rejected,
            "unmapped": c.unmapped,
            **{name: self.stats.get(name, 0) for name in STAT_NAMES},
            "window": self.window,
            "notes": "; ".join(self.notes) or "-",
            "elapsed_s": round(self.elapsed_s, 2),
        }

    def line(self) -> str:
        c, s = self.counts, self.stats
        if self.notes and self.notes[0].startswith("not configured"):
            return f"{self.label:<16} skipped: {self.notes[0]}"
        text = (
            f"{self.label:<16} {c.fetched:>7} fetched  {c.loaded:>7} loaded  {c.rejected:>4} "
            f"rejected  {c.unmapped:>5} unmapped  {s.get('requests', 0):>6} requests "
            f"({s.get('not_modified', 0)} not modified, {s.get('retries', 0)} retries)  "
            f"{self.elapsed_s:.1f} s"
        )
        return text + (f"  [{'; '.join(self.notes)}]" if self.notes else "")


STAT_NAMES = ("requests", "not_modified", "retries", "waited_s", "rate_limited")


def ingest_source(
    source: str, run: SourceRun, body: Body, *, missing: str = "", label: str = ""
) -> Summary:
    """Run ``body`` for ``source`` (or record it as not configured, when ``missing`` says what
    to set), record the run in raw.ingest_runs and log one progress line, which names the
    asset (``label``, by default ``raw/<source>``)."""
    label = label or f"raw/{source}"
    started = time.perf_counter()
    ing = Ingestion(run.conn, source, run.run_id)
    if missing:
        ing.notes.append(f"not configured: {missing}")
    else:
        try:
            body(run, ing)
        except Exception as exc:
            if isinstance(exc, PartialFailure):
                ing.notes.append(f"failed: {one_line(exc)}")
                ing.finish(run.stats())
            else:
                with suppress(Exception):  # the error that ended the run is the one to report
                    ing.abandon()
            progress.error(
                "%-16s failed after %.1f s: %s",
                label,
                time.perf_counter() - started,
                one_line(exc),
            )
            raise
    stats = run.stats()
    counts = ing.finish(stats)
    summary = Summary(
        label, counts, stats, run.window.describe(), ing.notes, time.perf_counter() - started
    )
    progress.info("%s", summary.line())
    return summary


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: object) -> datetime | None:
    """A watermark read back from raw.state (None stays None)."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def advanced(watermark: datetime | None, seen: datetime, window: Window) -> datetime | None:
    """The watermark after a record dated ``seen``: never past the end of the run's window. A
    record dated in the future (a clock gone wrong, or a hostile source) would otherwise hide
    every record before its date from the runs after."""
    return later(watermark, min(seen, window.until()))


def later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, clock_time(0), UTC)


def secret(value: Any) -> str | None:
    """The plain value of an optional SecretStr, for a client's constructor only."""
    return value.get_secret_value() if value is not None else None
