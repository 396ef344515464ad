"""Cost rows from FOCUS exports (``raw.focus_rows``), amounts exact."""

from __future__ import annotations

import duckdb

from models.metrics.frames import COST_ROWS, empty
from models.staging.common import ROW_KEY, Query, Table, TextFields, raw_tables


def stage_costs(conn: duckdb.DuckDBPyConnection) -> Table:
    """One row per FOCUS row: ``tags`` the ``Tags`` object as JSON text (exports write it as
    a JSON string, Parquet as a map), amounts as exact decimals (a JSON number by its
    shortest repr; an empty amount is 0).

    OpenCost allocations stay in raw: they allocate the same cluster spend the cloud bill
    (FOCUS) already holds, so adding them would count it twice.
    """
    if "focus_rows" not in raw_tables(conn):
        return empty(COST_ROWS)

    def amount(text: str) -> str:
        value = f"nullif(trim({text}), '')"
        return f"coalesce({value}::DECIMAL(38, 10), 0::DECIMAL(38, 10))"

    # Tags as text either way: a JSON string (exports) unescaped, a map (Parquet) as JSON text.
    f = TextFields(
        "f",
        {
            "start": "ChargePeriodStart",
            "tags": "Tags",
            "currency": "BillingCurrency",
            "effective": "EffectiveCost",
            "billed": "BilledCost",
        },
    )
    return Query.shaped(
        f"""
        SELECT 'focus' AS source, {f["start"]}::TIMESTAMPTZ AS charge_period_start,
               nullif({f["tags"]}, '') AS tags, {f["currency"]} AS billing_currency,
               {amount(f["effective"])} AS effective_cost,
               {amount(f["billed"])} AS billed_cost, key_hash AS {ROW_KEY}
        FROM (SELECT key_hash, {f.extract()} FROM raw.focus_rows)
        """,
        COST_ROWS,
        rows_of="focus_rows",
    )
