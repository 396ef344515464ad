"""Data access for the dashboard: reads only the published snapshot, read-only, cached by its
version (the file's modification time), so a new snapshot shows up without a restart."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st


@dataclass(frozen=True)
class Snapshot:
    path: Path
    published_at: datetime
    tables: pl.DataFrame


def published_path() -> Path:
    return Path(os.environ.get("PAVED_HOME", ".paved")) / "published" / "paved.duckdb"


def published_snapshot() -> Snapshot | None:
    path = published_path()
    if not path.exists():
        return None
    return _load(str(path), path.stat().st_mtime_ns)


@st.cache_data(show_spinner=False)
def _load(path: str, version: int) -> Snapshot:
    with duckdb.connect(path, read_only=True) as conn:
        tables = conn.sql(
            "SELECT table_schema AS schema, table_name AS table, estimated_size AS rows "
            "FROM duckdb_tables() ORDER BY 1, 2"
        ).pl()
    return Snapshot(Path(path), datetime.fromtimestamp(version / 1e9, UTC), tables)
