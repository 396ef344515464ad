"""The published schema keeps CONTRACT.md's names: every table and key column the contract
lists exists in models.schema, in the contract's order, and each table can be created."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from models.schema import MARTS, create_table_sql

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "spec" / "CONTRACT.md"


def contract_tables() -> dict[str, list[str]]:
    if not CONTRACT.exists():
        pytest.skip(f"the shared spec is not beside the project ({CONTRACT})")
    tables: dict[str, list[str]] = {}
    for line in CONTRACT.read_text().splitlines():
        match = re.match(r"\| `marts\.(\w+)` \| [^|]+ \| (.+) \|$", line)
        if match:
            keys = re.sub(r"\([^)]*\)", "", match.group(2))  # drop "(`pr`/`push`)" notes
            tables[match.group(1)] = re.findall(r"`(\w+)`", keys)
    return tables


# Tables Paved publishes beyond the contract's (CONTRACT.md: additions are welcome).
ADDITIONS = {
    "environments",
    "service_links",
    "team_maturity",
    "rejected_records",
    "survey_choices",
}


def test_every_contract_table_and_key_column_is_published_in_order() -> None:
    tables = contract_tables()
    assert set(MARTS) == set(tables) | ADDITIONS
    for table, columns in tables.items():
        ours = list(MARTS[table])
        assert ours[: len(columns)] == columns, table


@pytest.mark.parametrize("table", sorted(MARTS))
def test_each_mart_table_can_be_created(table: str) -> None:
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA marts")
    conn.execute(create_table_sql(table))
    names = [row[0] for row in conn.execute(f"DESCRIBE marts.{table}").fetchall()]
    assert names == list(MARTS[table])
