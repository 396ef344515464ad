"""Keeping a mart whose inputs did not change (pipelines.marts.kept).

The second of two runs over the same staging also reads every period of
``marts.dora_metrics`` back (``tests/test_dora_periods.py`` pins the periods' rules).

Pinned down here, on a copy of the small world's warehouse: the second of two runs over the
same staging keeps ``marts.costs`` (and the marts come out identical, which
``test_pipeline_marts`` checks); a change to any row the mart reads (a cost row in the window, a
service's team, a team's name) or a window that takes in another cost row changes the
fingerprint, so the mart is computed again; a cost row outside the window changes nothing; a
mart written without a fingerprint, or whose table lost its contract shape, is never kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from marts_harness import Built

from models.marts import MartOptions, build_marts
from pipelines.marts.kept import mart_inputs, unchanged_marts
from pipelines.marts.warehouse import read_staging, write_marts


def test_the_second_run_over_the_same_staging_keeps_the_costs_mart(small_marts: Built) -> None:
    def kept(result_index: int) -> set[str]:
        return {
            event.asset_key.path[1]
            for event in small_marts.results[result_index].get_asset_materialization_events()
            if event.asset_key is not None and "inputs_unchanged" in event.materialization.metadata
        }

    assert kept(0) == set()
    assert kept(1) == {"costs"}
    assert small_marts.digests[0]["costs"] == small_marts.digests[1]["costs"]


def test_the_second_run_over_the_same_staging_reads_every_dora_period_back(
    small_marts: Built,
) -> None:
    def periods(result_index: int) -> tuple[int, int]:
        [event] = [
            event
            for event in small_marts.results[result_index].get_asset_materialization_events()
            if event.asset_key is not None and event.asset_key.path == ["marts", "dora_metrics"]
        ]
        metadata = event.materialization.metadata
        return int(str(metadata["periods_recomputed"].value)), int(str(metadata["periods"].value))

    recomputed, every = periods(0)
    assert recomputed == every > 0
    assert periods(1) == (0, every)
    assert small_marts.digests[0]["dora_metrics"] == small_marts.digests[1]["dora_metrics"]


def window(conn: duckdb.DuckDBPyConnection) -> MartOptions:
    """A run's options whose window ends at the latest cost row's start (so leaves it out)."""
    [(latest,)] = conn.execute("SELECT max(charge_period_start) FROM staging.cost_rows").fetchall()
    return MartOptions(history_start=datetime(2000, 1, 1, tzinfo=UTC), as_of=latest)


def recorded(conn: duckdb.DuckDBPyConnection, options: MartOptions) -> str:
    """Compute and write ``marts.costs`` for ``options`` with its fingerprint; returns it."""
    inputs = mart_inputs(conn, options)
    frames = build_marts(read_staging(conn), options)
    write_marts(conn, {"costs": frames["costs"]}, inputs=inputs)
    assert unchanged_marts(conn, mart_inputs(conn, options)) == {"costs"}
    return inputs["costs"]


CHANGES = {
    "a cost row in the window": (
        "UPDATE staging.cost_rows SET effective_cost = effective_cost + 1 WHERE rowid = "
        "(SELECT min(rowid) FROM staging.cost_rows WHERE charge_period_start < $end)"
    ),
    "a service's team": (
        "UPDATE staging.services SET team = 'group:default/elsewhere' "
        "WHERE service = (SELECT min(service) FROM staging.services)"
    ),
    "a team's name": (
        "UPDATE staging.teams SET name = 'Renamed' "
        "WHERE team = (SELECT min(team) FROM staging.teams)"
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_input_of_the_costs_mart_has_it_computed_again(
    small_warehouse: duckdb.DuckDBPyConnection, change: str
) -> None:
    options = window(small_warehouse)
    before = recorded(small_warehouse, options)
    sql = CHANGES[change]
    small_warehouse.execute(sql, {"end": options.as_of} if "$end" in sql else None)
    after = mart_inputs(small_warehouse, options)
    assert after["costs"] != before
    assert unchanged_marts(small_warehouse, after) == set()


def test_a_window_taking_in_another_cost_row_has_the_costs_mart_computed_again(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    later = MartOptions(
        history_start=options.history_start, as_of=options.as_of + timedelta(seconds=1)
    )
    assert unchanged_marts(small_warehouse, mart_inputs(small_warehouse, later)) == set()


def test_a_cost_row_outside_the_window_leaves_the_costs_mart_kept(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    before = recorded(small_warehouse, options)
    small_warehouse.execute(
        "UPDATE staging.cost_rows SET effective_cost = effective_cost + 1 "
        "WHERE charge_period_start >= $end",
        {"end": options.as_of},
    )
    assert mart_inputs(small_warehouse, options)["costs"] == before
    assert unchanged_marts(small_warehouse, mart_inputs(small_warehouse, options)) == {"costs"}


def test_a_costs_mart_written_without_its_fingerprint_is_not_kept(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    frame = small_warehouse.sql("SELECT * FROM marts.costs").pl()
    write_marts(small_warehouse, {"costs": frame})
    assert unchanged_marts(small_warehouse, mart_inputs(small_warehouse, options)) == set()


def test_a_costs_table_out_of_its_contract_shape_is_not_kept(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    recorded(small_warehouse, options)
    small_warehouse.execute("ALTER TABLE marts.costs ADD COLUMN extra INTEGER")
    assert unchanged_marts(small_warehouse, mart_inputs(small_warehouse, options)) == set()


def test_build_marts_leaves_out_a_kept_mart_and_refuses_another(
    small_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    options = window(small_warehouse)
    assert "costs" not in build_marts(read_staging(small_warehouse), options, keep={"costs"})
    with pytest.raises(ValueError, match="can be kept"):
        build_marts(read_staging(small_warehouse), options, keep={"deployments"})
