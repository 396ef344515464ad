"""Dagster resources: configuration only.

`PavedResource` reads :class:`models.settings.Settings` when a run starts (never at import
time), so the environment and `.env` decide, and tokens never enter Dagster's run config,
event log or UI. `warehouse()` opens the one DuckDB file the pipeline writes; the assets that
write it share the ``duckdb_writer`` pool (see dagster.yaml), so one writer runs at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from models.settings import Settings

WRITER_POOL = "duckdb_writer"


class PavedResource(dg.ConfigurableResource):
    """Paved's settings. ``home`` overrides PAVED_HOME (tests point it at a tmp folder)."""

    home: str | None = None

    def settings(self) -> Settings:
        settings = Settings()
        if self.home:
            settings = settings.model_copy(update={"home": Path(self.home)})
        return settings

    @contextmanager
    def warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.settings().warehouse_path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(path))
        try:
            yield conn
        finally:
            conn.close()
