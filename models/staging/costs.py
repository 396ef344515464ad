"""Cost rows from FOCUS exports (``raw.focus_rows``), amounts exact."""

from __future__ import annotations

import json

import duckdb

from models.metrics.frames import COST_ROWS, empty
from models.staging.common import ROW_KEY, Query, Table, raw_tables


def stage_costs(conn: duckdb.DuckDBPyConnection) -> Table:
    """One row per FOCUS row: ``tags`` the ``Tags`` object as JSON text (exports write it as
    a JSON string, Parquet as a map), amounts as exact decimals (a JSON number by its
    shortest repr; an empty amount is 0).

    OpenCost allocations stay in raw: they allocate the same cluster spend the cloud bill
    (FOCUS) already holds, so adding them would count it twice.
    """
    if "focus_rows" not in raw_tables(conn):
        return empty(COST_ROWS)

    def amount(name: str) -> str:
        text = f"nullif(trim(f.{name}), '')"
        return f"coalesce({text}::DECIMAL(38, 10), 0::DECIMAL(38, 10))"

    shape = json.dumps(
        {
            "ChargePeriodStart": "VARCHAR",
            # Text either way: a JSON string (exports) unescaped, a map (Parquet) as JSON text;
            # one parse, where JSON then ->>'$' parsed the string a second time.
            "Tags": "VARCHAR",
            "BillingCurrency": "VARCHAR",
            "EffectiveCost": "VARCHAR",
            "BilledCost": "VARCHAR",
        }
    )
    return Query.shaped(
        f"""
        SELECT 'focus' AS source, f.ChargePeriodStart::TIMESTAMPTZ AS charge_period_start,
               nullif(f.Tags, '') AS tags,
               f.BillingCurrency AS billing_currency,
               {amount("EffectiveCost")} AS effective_cost,
               {amount("BilledCost")} AS billed_cost, key_hash AS {ROW_KEY}
        FROM (SELECT key_hash, json_transform(payload, '{shape}') AS f FROM raw.focus_rows)
        """,
        COST_ROWS,
        rows_of="focus_rows",
    )
