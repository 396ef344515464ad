"""Costs: FOCUS files (PAVED_COST_PATH) and OpenCost allocations (OPENCOST_URL).

- ``raw.focus_rows``: key = the connector's row identity hash (a restated row replaces the
  old one), scope = the file name; files already read with the same content are skipped.
- ``raw.opencost_allocations``: key ``<step start>:<aggregate key>``, scope = the aggregate key.
  Read a chunk of days at a time from the watermark (``day_since``: the last day that had data,
  read again because it may have been in progress), advanced with each chunk.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from connectors.focus import read_focus_file
from connectors.items import Item
from connectors.opencost import OpenCostClient, step_start
from pipelines.files import changed_files, mark_read, matching_files
from pipelines.ingest import SourceRun
from pipelines.raw import Ingestion, read_state

FOCUS = "focus"
OPENCOST = "opencost"
CHUNK_DAYS = 7


def ingest_focus(run: SourceRun, ing: Ingestion) -> None:
    assert run.settings.cost_path is not None
    paths = matching_files(run.settings.cost_path)
    if not paths:
        ing.notes.append("no FOCUS file matches PAVED_COST_PATH")
        return
    for path, version in changed_files(run, ing, paths):
        for record in read_focus_file(path):
            ing.add("rows", record, scope=path.name)
        mark_read(ing, path, version)


def ingest_opencost(run: SourceRun, ing: Ingestion) -> None:
    settings = run.settings
    assert settings.opencost_url is not None
    window = run.window
    stored = read_state(run.conn, OPENCOST, "", "day_since")
    watermark = date.fromisoformat(stored) if isinstance(stored, str) else None
    first = window.start.date()
    if watermark is not None and not window.backfill:
        first = max(first, watermark)
    end = window.end.date() if window.end else datetime.now(UTC).date() + timedelta(days=1)
    client = run.client(OpenCostClient(settings.opencost_url, **run.options()))
    with client:
        day = first
        while day < end:
            chunk_end = min(day + timedelta(days=CHUNK_DAYS), end)
            latest: date | None = None
            for record in client.list_allocations(start=day, end=chunk_end, chunk_days=CHUNK_DAYS):
                if isinstance(record, Item):
                    step = step_start(record.model)
                    ing.add("allocations", record, scope=record.key.removeprefix(step + ":"))
                    started = date.fromisoformat(step[:10])
                    latest = started if latest is None else max(latest, started)
                else:
                    ing.add("allocations", record)
            if latest is not None and (watermark is None or latest > watermark):
                watermark = latest
                ing.set_state("", "day_since", latest.isoformat())
            day = chunk_end
