"""Dagster resources: configuration only.

`PavedResource` reads :class:`models.settings.Settings` when a run starts (never at import
time), so the environment and `.env` decide, and tokens never enter Dagster's run config,
event log or UI. `warehouse()` opens the one DuckDB file the pipeline writes; the assets that
write it share the ``duckdb_writer`` pool (see dagster.yaml), so one writer runs at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import httpx

from connectors.http import DEFAULT_TIMEOUT
from models.settings import Settings
from pipelines.ingest import Window, history_start, no_wait
from pipelines.raw import open_warehouse

WRITER_POOL = "duckdb_writer"


class PavedResource(dg.ConfigurableResource):
    """Paved's settings. ``home`` overrides PAVED_HOME (tests point it at a tmp folder).

    ``window_from``/``window_to`` (ISO dates, from `paved materialize --from/--to`) bound the
    collection window of a re-backfill. ``wait`` False makes the clients count their retry and
    rate-limit waits without sleeping them (tests, and replays against the sandbox).
    ``http_timeout_s`` replaces the clients' timeouts (tests of slow responses shorten it).
    """

    home: str | None = None
    window_from: str | None = None
    window_to: str | None = None
    wait: bool = True
    http_timeout_s: float | None = None

    def settings(self) -> Settings:
        settings = Settings()
        if self.home:
            settings = settings.model_copy(update={"home": Path(self.home)})
        return settings

    def window(self, settings: Settings, conn: duckdb.DuckDBPyConnection) -> Window:
        """The run's collection window, from the history's start in the warehouse ``conn``
        (:func:`pipelines.ingest.history_start`) unless ``window_from`` says otherwise."""
        start = date.fromisoformat(self.window_from) if self.window_from else None
        end = date.fromisoformat(self.window_to) if self.window_to else None
        return Window.of(history_start(conn, settings), start, end)

    def sleeper(self) -> Callable[[float], None]:
        return time.sleep if self.wait else no_wait

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.http_timeout_s) if self.http_timeout_s else DEFAULT_TIMEOUT

    @contextmanager
    def warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = open_warehouse(self.settings().warehouse_path)
        try:
            yield conn
        finally:
            conn.close()
