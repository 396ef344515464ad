"""docs/metrics.md's SQL reproduces marts.dora_metrics, so the page cannot drift from the marts.

Pinned down here: every ```sql block of the page's "Reproducing a number from the marts"
section runs as written against the published file of the `small` world (``pipelines.publish``
over the session's marts), through ``paved sql``'s guard and in a plain read-only session whose
time zone is not UTC, with the same rows; it gives a ``month`` column plus columns named like
``marts.dora_metrics`` ones; each value equals the org's monthly value there (quantiles and
rates to a relative 1e-9); the months a block leaves out are the empty ones; and together the
blocks cover every metric column of the mart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from marts_harness import Built

from bench.truth_check import same
from models.schema import MARTS
from models.sqlguard import run_query
from pipelines.publish import publish

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
SECTION = "### Reproducing a number from the marts"
KEYS = ("grain", "period_start", "scope", "scope_id")
METRIC_COLUMNS = [c for c in MARTS["dora_metrics"] if c not in KEYS]
# What an empty month holds in marts.dora_metrics (rule 23): counts 0, deploys_per_day 0.0.
EMPTY = {"deploys_per_day": 0.0}


def sql_blocks() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    assert SECTION in text, f"{DOCS.name} lost its section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sql\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


BLOCKS = sql_blocks()


@pytest.fixture(scope="module")
def published(small_marts: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("published") / "paved.duckdb"
    publish(small_marts.home / "warehouse.duckdb", target)
    return target


def run(path: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        conn.execute("SET TimeZone = 'America/Los_Angeles'")  # the SQL must not depend on it
        cursor = conn.execute(sql)
        return [d[0] for d in cursor.description or []], cursor.fetchall()


def org_months(path: Path) -> dict[Any, dict[str, Any]]:
    columns, rows = run(
        path,
        "SELECT * FROM marts.dora_metrics WHERE grain = 'month' AND scope = 'org' "
        "ORDER BY period_start",
    )
    return {
        row[columns.index("period_start")]: dict(zip(columns, row, strict=True)) for row in rows
    }


def test_the_docs_have_sql_for_every_monthly_metric() -> None:
    named: set[str] = set()
    for block in BLOCKS:
        named |= set(re.findall(r"\bAS (\w+)", block))
    assert len(BLOCKS) >= 4
    assert set(METRIC_COLUMNS) <= named, sorted(set(METRIC_COLUMNS) - named)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_the_docs_sql_reproduces_the_org_monthly_dora_metrics(published: Path, block: str) -> None:
    guarded = run_query(published, block, limit=10_000)  # as `paved sql` runs it
    columns, rows = run(published, block)
    assert (guarded.columns, guarded.rows) == (columns, rows) and not guarded.truncated
    assert columns[0] == "month"
    metrics = columns[1:]
    assert metrics and set(metrics) <= set(METRIC_COLUMNS), metrics
    expected = org_months(published)
    assert rows, "the query returned nothing"
    problems = []
    seen = set()
    for row in rows:
        month, values = row[0], dict(zip(columns, row, strict=True))
        seen.add(month)
        if month not in expected:
            problems.append(f"{month}: not a month of marts.dora_metrics")
            continue
        for column in metrics:
            if not same(expected[month][column], values[column]):
                problems.append(
                    f"{month} {column}: marts {expected[month][column]!r}, docs {values[column]!r}"
                )
    for month, mart in expected.items():
        if month in seen:
            continue
        for column in metrics:  # a month the query leaves out is an empty month
            empty = EMPTY.get(column, 0 if MARTS["dora_metrics"][column] == "BIGINT" else None)
            if mart[column] != empty:
                problems.append(f"{month} {column}: marts {mart[column]!r}, docs no row")
    assert problems == []
