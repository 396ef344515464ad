"""The quarterly report as a Dagster asset: one partition per calendar quarter writes the org's
report under $PAVED_HOME/reports/<quarter>/; a run without a partition (the daily refresh)
passes over it; after a quarter closes, the automation condition asks for the closed quarter's
partition once the published snapshot has been refreshed, and only once."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from report_harness import copy_home, expected

from pipelines.definitions import defs
from pipelines.publish_assets import PUBLISHED_KEY
from pipelines.report_assets import QUARTERLY_FRESHNESS, REPORT_KEY, quarterly_report
from pipelines.resources import PavedResource
from pipelines.run import QUIET


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def run(home: Path, partition: str | None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [quarterly_report],
        partition_key=partition,
        resources={"paved": PavedResource(home=str(home))},
        run_config=QUIET,
    )


def test_a_quarter_partition_writes_the_org_report_of_that_quarter(
    small_published: Path, tmp_path: Path
):
    home = copy_home(small_published, tmp_path / "home")
    marts = expected(home)
    result = run(home, marts.start.isoformat())
    assert result.success
    [materialization] = result.asset_materializations_for_node("reports__quarterly")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["quarter"] == marts.quarter and meta["has_data"] is True
    folder = home / "reports" / marts.quarter
    assert meta["folder"] == str(folder) and meta["files"] == len(list(folder.iterdir()))
    assert {"report.pdf", "report.html", "report.xlsx", "summary.csv"} <= {
        p.name for p in folder.iterdir()
    }


def test_a_run_without_a_partition_writes_nothing(small_published: Path, tmp_path: Path):
    home = copy_home(small_published, tmp_path / "home")
    result = run(home, None)
    assert result.success
    assert not result.asset_materializations_for_node("reports__quarterly")
    assert not (home / "reports").exists()


def test_after_a_quarter_closes_the_report_runs_once_the_snapshot_is_refreshed():
    @dg.asset(key=PUBLISHED_KEY)
    def published() -> None:
        return None

    graph = dg.Definitions(
        assets=[published, quarterly_report], resources={"paved": PavedResource()}
    )
    with dg.DagsterInstance.ephemeral() as instance:  # disposed here, not by a later GC
        now = datetime.now(UTC)
        closed = datetime(now.year, 3 * ((now.month - 1) // 3) + 1, 1, tzinfo=UTC)
        last_quarter = (closed - timedelta(days=1)).replace(day=1)
        last_quarter = last_quarter.replace(month=3 * ((last_quarter.month - 1) // 3) + 1)
        cursor = None

        def requested(when: datetime) -> set[str]:
            nonlocal cursor
            result = dg.evaluate_automation_conditions(
                defs=graph, instance=instance, evaluation_time=when, cursor=cursor
            )
            cursor = result.cursor
            return (
                set(result.get_requested_partitions(REPORT_KEY))
                if result.total_requested
                else set()
            )

        assert requested(closed - timedelta(hours=1)) == set()
        assert requested(closed + timedelta(minutes=1)) == set()  # not published since it closed
        assert dg.materialize([published], instance=instance, selection=[PUBLISHED_KEY]).success
        assert requested(now + timedelta(minutes=1)) == {last_quarter.date().isoformat()}
        assert requested(now + timedelta(minutes=2)) == set()  # once per quarter


def test_the_code_location_runs_it_with_its_own_sensor_and_a_quarterly_freshness():
    graph = defs.resolve_asset_graph()
    node = graph.get(REPORT_KEY)
    assert node.freshness_policy == QUARTERLY_FRESHNESS
    assert PUBLISHED_KEY in node.parent_keys
    sensors = {s.name: s for s in defs.sensors or []}
    sensor = sensors["quarterly_report_automation"]
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
