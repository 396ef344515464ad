"""``marts.dora_metrics`` computed again only for the periods whose inputs changed
(models.metrics.dora: period_digests, dora_metrics_reusing; pipelines.marts.kept).

Pinned down here: a period computed alone gives exactly its rows of the whole mart (to the last
bit); a period's digest moves with any row it counts and with nothing else; stored rows of an
unchanged period are read back (a marker planted in them survives) while a changed period is
computed; a change of scopes or code, or stored rows missing one, has every period computed;
only the recomputed periods are written to the table, unless it does not hold what was read.
``test_pipeline_daily`` checks that a daily run's marts equal a full rebuild's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import polars as pl
import pytest
from test_metrics_rules import (
    SERVICES,
    SHOP,
    START,
    dep,
    mart_changes,
    mart_incidents,
    scored_deployments,
    t,
)

from models.metrics.dora import StoredPeriods, dora_metrics, dora_metrics_reusing, period_digests
from models.schema import create_table_sql
from pipelines.marts.kept import write_changed_periods
from pipelines.marts.warehouse import write_marts

AS_OF = t("2024-03-20 12:00")
CLOCK: dict[str, Any] = {"history_start": START, "as_of": AS_OF}


def deployments(extra: int = 0) -> pl.DataFrame:
    # Five deployments in the week of 8 January: 5 / 7 is not 5 * (1 / 7) in floating point.
    rows = [dep(f"argocd:u1:{i}", f"2024-01-{9 + i // 3:02d} 1{i}:00") for i in range(5)]
    rows += [dep("argocd:u1:late", "2024-03-12 10:00")]
    rows += [dep(f"argocd:u1:x{i}", "2024-03-19 09:00") for i in range(extra)]
    return scored_deployments(rows)


def changes(lead_hours: float = 5) -> pl.DataFrame:
    return mart_changes(
        [
            {
                "change_id": "c1",
                "service": SHOP,
                "deployed_at": t("2024-01-10 10:00"),
                "lead_time_s": lead_hours * 3600,
            },
            {
                "change_id": "x1",
                "service": SHOP,
                "deployed_at": t("2024-02-14 10:00"),
                "lead_time_s": lead_hours * 3600,
                "excluded_reason": "first_observed",
            },
        ]
    )


def inputs(
    deps: pl.DataFrame | None = None, chg: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return (
        deployments() if deps is None else deps,
        changes() if chg is None else chg,
        mart_incidents([]),
        SERVICES,
    )


def stored(
    frames: tuple[pl.DataFrame, ...], context: str = "code", marker: int | None = None
) -> StoredPeriods:
    """What a run over ``frames`` would have stored; ``marker`` is planted as the org's
    incident count of every stored row, to see which rows come back."""
    rows = dora_metrics(*frames, **CLOCK)
    if marker is not None:
        rows = rows.with_columns(
            incidents=pl.when(pl.col("scope") == "org")
            .then(marker)
            .otherwise(pl.col("incidents"))
            .cast(pl.Int64)
        )
    digests = period_digests(*frames, **CLOCK, context=context)
    return StoredPeriods(
        context, digests, lambda periods: rows.join(periods, on=["grain", "period_start"])
    )


def marked(frame: pl.DataFrame, marker: int) -> set[tuple[str, date]]:
    return set(
        frame.filter((pl.col("scope") == "org") & (pl.col("incidents") == marker))
        .select("grain", "period_start")
        .rows()
    )


def test_a_period_computed_alone_gives_its_rows_of_the_whole_mart_to_the_bit() -> None:
    whole = dora_metrics(*inputs(), **CLOCK)
    alone = dora_metrics(*inputs(), **CLOCK, periods={"week": [date(2024, 1, 8)]})
    expected = whole.filter(
        (pl.col("grain") == "week") & (pl.col("period_start") == date(2024, 1, 8))
    )
    assert alone.height == 6  # 3 services + 2 teams + the org
    assert alone.equals(expected)
    org = alone.filter(pl.col("scope") == "org")
    assert org.get_column("deploys_per_day").to_list() == [5 / 7]


def test_a_period_digest_moves_with_the_rows_it_counts_and_nothing_else() -> None:
    before = period_digests(*inputs(), **CLOCK)
    assert before.group_by("grain").len().sort("grain").rows() == [
        ("month", 3),
        ("quarter", 1),
        ("week", 12),
    ]
    after = period_digests(*inputs(chg=changes(lead_hours=6)), **CLOCK)
    moved = after.join(before, on=["grain", "period_start", "digest"], how="anti")
    # c1 counts in the week of 8 January, January and Q1; x1 is excluded, so counts nowhere.
    assert set(moved.select("grain", "period_start").rows()) == {
        ("week", date(2024, 1, 8)),
        ("month", date(2024, 1, 1)),
        ("quarter", date(2024, 1, 1)),
    }
    assert period_digests(*inputs(), **CLOCK).equals(before)
    other = period_digests(*inputs(), **CLOCK, context="other code")
    assert other.join(before, on="digest", how="semi").is_empty()


def test_unchanged_periods_are_read_back_and_changed_ones_computed() -> None:
    yesterday = inputs()
    today = inputs(deps=deployments(extra=3))  # three more in the week of 18 March
    found, digests = dora_metrics_reusing(*today, **CLOCK, stored=stored(yesterday, marker=999))
    changed = {
        ("week", date(2024, 3, 18)),
        ("month", date(2024, 3, 1)),
        ("quarter", date(2024, 1, 1)),
    }
    assert set(digests.filter("recomputed").select("grain", "period_start").rows()) == changed
    assert marked(found, 999) == set(digests.select("grain", "period_start").rows()) - changed
    whole = dora_metrics(*today, **CLOCK)
    fresh = pl.struct("grain", "period_start").is_in(
        pl.DataFrame(sorted(changed), schema=["grain", "period_start"], orient="row")
        .select(pl.struct("grain", "period_start"))
        .to_series()
        .implode()
    )
    assert found.filter(fresh).equals(whole.filter(fresh))
    assert found.select("grain", "period_start", "scope", "scope_id").equals(
        whole.select("grain", "period_start", "scope", "scope_id")
    )
    assert digests.drop("recomputed").equals(period_digests(*today, **CLOCK, context="code"))


def test_nothing_changed_reads_every_period_back() -> None:
    frames = inputs()
    found, digests = dora_metrics_reusing(*frames, **CLOCK, stored=stored(frames))
    assert not digests.get_column("recomputed").any()
    assert found.equals(dora_metrics(*frames, **CLOCK))


@pytest.mark.parametrize("what", ["a service's team", "the code", "a stored row missing"])
def test_other_scopes_other_code_or_missing_rows_compute_every_period(what: str) -> None:
    frames = inputs()
    previous = stored(frames, marker=999)
    if what == "a service's team":
        services = SERVICES.with_columns(
            team=pl.when(pl.col("service") == SHOP)
            .then(pl.lit("group:default/x"))
            .otherwise("team")
        )
        frames = (*frames[:3], services)
    elif what == "the code":
        previous = StoredPeriods("new code", previous.digests, previous.rows)
    else:
        rows = previous.rows
        previous = StoredPeriods(previous.context, previous.digests, lambda p: rows(p).slice(1))
    found, digests = dora_metrics_reusing(*frames, **CLOCK, stored=previous)
    assert digests.get_column("recomputed").all()
    assert marked(found, 999) == set()
    assert found.equals(dora_metrics(*frames, **CLOCK))


def test_no_stored_periods_computes_every_period() -> None:
    found, digests = dora_metrics_reusing(*inputs(), **CLOCK, stored=None)
    assert digests.get_column("recomputed").all()
    assert found.equals(dora_metrics(*inputs(), **CLOCK))


def table_rows(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return (
        conn.sql("SELECT * FROM marts.dora_metrics")
        .pl()
        .sort("grain", "scope", "scope_id", "period_start")
    )


@pytest.mark.parametrize("stored_rows", ["as read back", "one missing"])
def test_only_the_recomputed_periods_are_written(stored_rows: str) -> None:
    yesterday, today = inputs(), inputs(deps=deployments(extra=3))
    previous = stored(yesterday, marker=999)  # the table holds the marked rows
    found, digests = dora_metrics_reusing(*today, **CLOCK, stored=previous)
    with duckdb.connect() as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute(create_table_sql("dora_metrics"))
        held = dora_metrics(*yesterday, **CLOCK).with_columns(
            incidents=pl.when(pl.col("scope") == "org")
            .then(999)
            .otherwise(pl.col("incidents"))
            .cast(pl.Int64)
        )
        if stored_rows == "one missing":
            held = held.slice(1)
        conn.register("held", held.to_arrow())
        conn.execute("INSERT INTO marts.dora_metrics SELECT * FROM held")
        written = write_changed_periods(conn, found, digests)
        assert written == (stored_rows == "as read back")  # else the whole table is written
        if written:
            assert table_rows(conn).equals(found.sort("grain", "scope", "scope_id", "period_start"))
        write_marts(conn, {"dora_metrics": found}, periods=digests)
        assert table_rows(conn).equals(found.sort("grain", "scope", "scope_id", "period_start"))
        # The marker the frame read back stays either way; the table is the frame's rows.
        assert marked(table_rows(conn), 999) == marked(found, 999) != set()
