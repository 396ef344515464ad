"""A daily run leaves the staging and marts that a full rebuild over the same raw data gives.

Pinned down here: on the small world, after a first run (raw, staging, marts) and one day of
the world's clock, the daily run (the new day's ingestion, then staging and marts, with
whatever it skips or reuses from the previous run) leaves every staging table and every mart
with exactly the content (hash of its sorted rows) that staging and marts built from scratch
give over the raw layer that run left. The day really brings new data, so a run that kept
yesterday's tables would fail; and the daily run continues yesterday's first-ship walk
(models.metrics.walk) rather than walking every deployment again, computes only the change
rows the day's new rows can touch (pipelines.marts.change_delta), only the production
deployments finished since yesterday's clock (models.metrics.deployments_continued), and only
the failure flags of the last days' deployments (models.metrics.failures_continued).
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
from marts_harness import LAYERS, marts_digest, materialize, raw_served

from models.staging import STAGING_TABLES

DAILY = dg.AssetSelection.groups("raw", "staging", "marts")


def staging_digest(home: Path) -> dict[str, str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        return {
            table: hashlib.sha256(
                repr(
                    conn.execute(f"SELECT * FROM staging.{table} ORDER BY ALL").fetchall()
                ).encode()
            ).hexdigest()
            for table in STAGING_TABLES
        }


def mart_metadata(result: dg.ExecuteInProcessResult, mart: str) -> dict[str, object]:
    """What the run's ``marts.<mart>`` materialisation carries."""
    [event] = [
        event
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None and event.asset_key.path == ["marts", mart]
    ]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def test_a_daily_run_gives_the_staging_and_marts_of_a_full_rebuild(
    small_world: Path, tmp_path: Path
) -> None:
    home, scratch = tmp_path / "daily", tmp_path / "rebuilt"
    with raw_served(small_world, home) as (sandbox, to):
        assert materialize(home, LAYERS, window_to=to).success
        yesterday = (staging_digest(home), marts_digest(home))
        sandbox.advance(days=1)
        to = (sandbox.world.now.date() - timedelta(days=1)).isoformat()
        daily = materialize(home, DAILY, window_to=to)
        assert daily.success
        after_daily = (staging_digest(home), marts_digest(home))

        scratch.mkdir()
        shutil.copyfile(home / "warehouse.duckdb", scratch / "warehouse.duckdb")
        with duckdb.connect(str(scratch / "warehouse.duckdb")) as conn:
            conn.execute("DROP SCHEMA staging CASCADE")
            conn.execute("DROP SCHEMA marts CASCADE")
        assert materialize(scratch, LAYERS, window_to=to).success
        rebuilt = (staging_digest(scratch), marts_digest(scratch))

    deployments, changes = mart_metadata(daily, "deployments"), mart_metadata(daily, "changes")
    walked = int(str(deployments["deployments_walked"]))
    assert 0 < walked < int(str(deployments["rows"])), "the walk went on from yesterday's"
    assert "computed_whole" not in deployments, deployments
    appended = int(str(deployments["rows_computed"]))
    assert 0 < appended < int(str(deployments["rows"])), "the day's deployments were appended"
    flagged = int(str(deployments["flags_computed"]))
    assert 0 < flagged < int(str(deployments["rows"])), "the last days' flags were computed"
    assert "computed_whole" not in changes, changes
    computed = int(str(changes["rows_computed"]))
    assert 0 < computed < int(str(changes["rows"])), "the changes were computed by delta"
    changed = {t for t in STAGING_TABLES if after_daily[0][t] != yesterday[0][t]}
    assert {"commits", "pull_requests", "argocd_history"} <= changed, "the day brings new data"
    assert after_daily[1]["changes"] != yesterday[1]["changes"]
    assert after_daily[0] == rebuilt[0]
    assert after_daily[1] == rebuilt[1]
