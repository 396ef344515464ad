"""The service index the other raw assets map their records with, read from the raw catalog."""

from __future__ import annotations

import json

import duckdb

from models.catalog import Component, ServiceIndex
from models.tables import has_table

ENTITIES = "backstage_entities"


def service_index(conn: duckdb.DuckDBPyConnection) -> ServiceIndex:
    """Every Component of raw.backstage_entities with its annotations (empty without a
    catalog: every record is then unmapped, and says so)."""
    if not has_table(conn, "raw", ENTITIES):
        return ServiceIndex()
    rows = conn.execute(
        f"SELECT key, payload->'metadata'->'annotations' FROM raw.{ENTITIES} "
        "WHERE key LIKE 'component:%'"
    ).fetchall()
    components = []
    for ref, text in rows:
        values = json.loads(text) if text else {}
        if not isinstance(values, dict):
            values = {}
        components.append(Component(ref, {str(k): str(v) for k, v in values.items()}))
    return ServiceIndex.build(components)
