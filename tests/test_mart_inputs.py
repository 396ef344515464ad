"""Computing again only what of the marts changed inputs (pipelines.marts.kept): the days of
``marts.costs``; the periods of ``marts.dora_metrics`` are read back whole here too
(``tests/test_dora_periods.py`` pins the periods' rules).

Pinned down here, on a copy of the small world's warehouse: the second of two runs over the
same staging computes no day of ``marts.costs`` (and the marts come out identical, which
``test_pipeline_marts`` checks); a changed cost row in the window has its day computed again,
and only it; a change to the catalog the mart reads (a service's team, a team's name) has
every day computed again; a window that takes in another cost row computes that row's day; a
cost row outside the window changes nothing; a mart written without its days' digests, or
whose table lost its contract shape, is computed whole. After each run the table holds exactly
the rows a whole computation gives.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pytest
from marts_harness import Built
from polars.testing import assert_frame_equal

from models.mart_reads import table
from models.marts import DAYS_READ_APART, MartOptions, build_marts
from pipelines.marts import kept, warehouse
from pipelines.marts.code import costs_code, dora_code, walk_code
from pipelines.marts.kept import CostDays, previous_cost_days, previous_marts
from pipelines.marts.warehouse import build_from_staging, read_staging, reader_aside, write_marts

KEY = ["date", "service", "team", "currency"]


def counts(built: Built, result_index: int, mart: str) -> dict[str, int]:
    """The counts in a run's materialisation of ``marts.<mart>``."""
    [event] = [
        event
        for event in built.results[result_index].get_asset_materialization_events()
        if event.asset_key is not None and event.asset_key.path == ["marts", mart]
    ]
    values = event.materialization.metadata
    return {name: value.value for name, value in values.items() if isinstance(value.value, int)}


def test_the_second_run_over_the_same_staging_computes_no_cost_day(small_marts: Built) -> None:
    first, second = counts(small_marts, 0, "costs"), counts(small_marts, 1, "costs")
    assert first["days_computed"] == first["days"] > 0
    assert (second["days_computed"], second["days"]) == (0, first["days"])
    assert second["rows"] == first["rows"] > 0
    assert small_marts.digests[0]["costs"] == small_marts.digests[1]["costs"]


def test_the_second_run_over_the_same_staging_reads_every_dora_period_back(
    small_marts: Built,
) -> None:
    first, second = (
        counts(small_marts, 0, "dora_metrics"),
        counts(small_marts, 1, "dora_metrics"),
    )
    assert first["periods_recomputed"] == first["periods"] > 0
    assert (second["periods_recomputed"], second["periods"]) == (0, first["periods"])
    assert small_marts.digests[0]["dora_metrics"] == small_marts.digests[1]["dora_metrics"]


def window(conn: duckdb.DuckDBPyConnection) -> MartOptions:
    """A run's options whose window ends at the latest cost row's start (so leaves it out)."""
    [(latest,)] = conn.execute("SELECT max(charge_period_start) FROM staging.cost_rows").fetchall()
    return MartOptions(history_start=datetime(2000, 1, 1, tzinfo=UTC), as_of=latest)


def run(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> CostDays:
    """A marts run's handling of ``marts.costs`` for ``options``: the days it found, and the
    mart written (its computed days only, when the table allowed)."""
    days = previous_cost_days(conn, options)
    frames = build_marts(read_staging(conn), options, cost_days=days.computed)
    write_marts(conn, {"costs": frames["costs"]}, costs=days)
    return days


def assert_whole(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> None:
    """``marts.costs`` holds exactly what computing it whole for ``options`` gives."""
    whole = build_marts(read_staging(conn), options)["costs"]
    held = conn.sql("SELECT * FROM marts.costs").pl()
    assert_frame_equal(held.sort(KEY, nulls_last=False), whole.sort(KEY, nulls_last=False))


def every_day(days: CostDays) -> list[date]:
    assert days.digests is not None
    return days.digests.get_column("day").to_list()


def recorded(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> CostDays:
    """``marts.costs`` written for ``options`` with its days' digests: a run after it over the
    same staging computes no day."""
    days = run(conn, options)
    assert previous_cost_days(conn, options).computed == []
    return days


def first_row_day(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> date:
    [(start,)] = conn.execute(
        "SELECT charge_period_start FROM staging.cost_rows WHERE rowid = "
        "(SELECT min(rowid) FROM staging.cost_rows WHERE charge_period_start < $end)",
        {"end": options.as_of},
    ).fetchall()
    return start.astimezone(UTC).date()


def test_a_changed_cost_row_has_its_day_computed_again_and_only_it(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    small_warehouse.execute(
        "UPDATE staging.cost_rows SET effective_cost = effective_cost + 1 WHERE rowid = "
        "(SELECT min(rowid) FROM staging.cost_rows WHERE charge_period_start < $end)",
        {"end": options.as_of},
    )
    assert run(small_warehouse, options).computed == [first_row_day(small_warehouse, options)]
    assert_whole(small_warehouse, options)


CATALOG_CHANGES = {
    "a service's team": (
        "UPDATE staging.services SET team = 'group:default/elsewhere' "
        "WHERE service = (SELECT min(service) FROM staging.services)"
    ),
    "a team's name": (
        "UPDATE staging.teams SET name = 'Renamed' "
        "WHERE team = (SELECT min(team) FROM staging.teams)"
    ),
}


@pytest.mark.parametrize("change", CATALOG_CHANGES)
def test_a_changed_catalog_has_every_cost_day_computed_again(
    small_warehouse: duckdb.DuckDBPyConnection, change: str
) -> None:
    options = window(small_warehouse)
    before = recorded(small_warehouse, options)
    small_warehouse.execute(CATALOG_CHANGES[change])
    days = run(small_warehouse, options)
    assert days.computed is None  # every day, read and written whole
    assert days.digests is not None and before.digests is not None
    assert every_day(days) == every_day(before)
    assert days.digests.join(before.digests, on="digest").is_empty()
    assert_whole(small_warehouse, options)


def test_a_window_taking_in_another_cost_row_computes_its_day(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    later = MartOptions(
        history_start=options.history_start, as_of=options.as_of + timedelta(seconds=1)
    )
    assert run(small_warehouse, later).computed == [options.as_of.astimezone(UTC).date()]
    assert_whole(small_warehouse, later)


def test_a_day_leaving_the_window_leaves_the_costs_mart(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    first = every_day(recorded(small_warehouse, options))[0]
    start = datetime.combine(first + timedelta(days=1), datetime.min.time(), UTC)
    later = MartOptions(history_start=start, as_of=options.as_of)
    assert run(small_warehouse, later).computed == []
    assert_whole(small_warehouse, later)
    dates = small_warehouse.sql("SELECT DISTINCT date FROM marts.costs").pl()
    assert first not in dates.get_column("date").to_list()


def test_a_cost_row_outside_the_window_computes_no_day(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    small_warehouse.execute(
        "UPDATE staging.cost_rows SET effective_cost = effective_cost + 1 "
        "WHERE charge_period_start >= $end",
        {"end": options.as_of},
    )
    assert previous_cost_days(small_warehouse, options).computed == []


def test_a_costs_mart_written_without_its_days_digests_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    frame = small_warehouse.sql("SELECT * FROM marts.costs").pl()
    write_marts(small_warehouse, {"costs": frame})
    assert previous_cost_days(small_warehouse, options).computed is None


def test_a_costs_table_out_of_its_contract_shape_is_computed_whole(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    small_warehouse.execute("ALTER TABLE marts.costs ADD COLUMN extra INTEGER")
    assert previous_cost_days(small_warehouse, options).computed is None
    run(small_warehouse, options)
    assert_whole(small_warehouse, options)


def test_build_marts_computes_the_costs_of_the_days_asked_for(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    whole = build_marts(read_staging(small_warehouse), options)["costs"]
    days = whole.get_column("date").unique().sort().to_list()
    asked = [days[0], days[len(days) // 2]]
    some = build_marts(read_staging(small_warehouse), options, cost_days=asked)["costs"]
    assert_frame_equal(some, whole.filter(pl.col("date").is_in(asked)))
    none = build_marts(read_staging(small_warehouse), options, cost_days=[])["costs"]
    assert none.is_empty() and none.schema == whole.schema
    many = days[: DAYS_READ_APART + 1]  # read whole, the other days left out
    more = build_marts(read_staging(small_warehouse), options, cost_days=many)["costs"]
    assert_frame_equal(more, whole.filter(pl.col("date").is_in(many)))


def test_the_marts_computed_beside_the_rest_are_those_computed_in_turn(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """The marts that need neither the deployments nor the changes, read and computed in a
    thread of their own on a second connection (``reader_aside``), are the same as when
    computed in turn; an error there reaches the caller, and the second connection closes."""
    options = window(small_warehouse)
    in_turn = build_marts(read_staging(small_warehouse), options)
    with reader_aside(small_warehouse, True) as aside:
        beside = build_marts(read_staging(small_warehouse, keep_cache=True), options, aside=aside)
    assert beside.keys() == in_turn.keys()
    for name, frame in in_turn.items():
        assert_frame_equal(beside[name], frame, check_exact=True)

    def failing(query: str, /, **frames: pl.DataFrame) -> pl.DataFrame:
        if "catalog_links" in query:
            raise RuntimeError("the links failed")
        return read_staging(small_warehouse.cursor(), keep_cache=True)(query, **frames)

    with pytest.raises(RuntimeError, match="the links failed"):
        build_marts(read_staging(small_warehouse, keep_cache=True), options, aside=failing)
    with reader_aside(small_warehouse, True) as aside:
        assert aside is not None
    with pytest.raises(duckdb.ConnectionException):
        aside(table("services"))


def test_a_continued_run_never_lowers_the_memory_limit_under_its_second_reader(
    small_warehouse: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run continuing the previous one reads with a second reader beside the rest
    (``reader_aside``); letting the cache go lowers the database's memory limit for a moment,
    which fails the second reader's query under way (an intermittent marts step error). So
    nothing of such a run lets it go: not its reads, not the deployments' keeper."""
    released: list[duckdb.DuckDBPyConnection] = []
    monkeypatch.setattr(kept, "release_cache", released.append)
    monkeypatch.setattr(warehouse, "release_cache", released.append)
    options = window(small_warehouse)
    whole = previous_marts(small_warehouse, options)
    assert not whole.continued  # the stored change rows are of another window
    built = build_from_staging(small_warehouse, whole, options)
    assert len(released) > 1  # each read and the keeper's store let it go
    built.write(small_warehouse, built.marts)
    released.clear()
    previous = previous_marts(small_warehouse, options)
    assert previous.continued
    build_from_staging(small_warehouse, previous, options)
    assert previous.deployments_keeper.computed is not None  # the keeper did store
    assert released == []


def test_the_code_fingerprints_are_the_same_in_another_process() -> None:
    # Each run is a process of its own: a fingerprint holding anything of one process (an
    # address in memory) would have every run compute everything again.
    here = [costs_code(), dora_code(), walk_code()]
    script = (
        "from pipelines.marts.code import costs_code, dora_code, walk_code; "
        "print(costs_code(), dora_code(), walk_code())"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == here
