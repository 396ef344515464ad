"""Staging: the raw layer conformed to the frames the metric functions take.

Pure transforms of a DuckDB connection holding the ``raw`` schema into polars frames of the
shapes in :mod:`models.metrics.frames`. Heavy tables (commits, Argo CD history) are parsed by
DuckDB in one pass per table (JSON parsed once); the small ones (catalog, surveys) in Python.
Nothing is written here: the pipeline writes the tables to the ``staging`` schema (the big
ones, described by a :class:`Query`, by DuckDB itself, straight from the raw tables).
"""

from models.staging.build import STAGING_TABLES, Staging, stage, staged
from models.staging.common import Query, Table

__all__ = ["STAGING_TABLES", "Query", "Staging", "Table", "stage", "staged"]
