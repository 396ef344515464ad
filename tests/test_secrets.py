"""Secrets: no token and no salt reaches anything a person or a reader can see.

Pinned down here: `paved materialize` (the in-process path of the command, on Paved's own
Dagster instance) run once against sandbox servers injecting every fault (5xx, 429, quota
exhaustion, cut, reset and malformed bodies), then once with a wrong GitHub token so a source
fails with its error message; then every log record (any logger, any level, with its
traceback), every Dagster event of both runs (metadata values, check results and errors
included), the failures `paved materialize` reports, every text column of the warehouse and
of the published snapshot, the quarterly report's HTML and CSV, and every byte of every file
under PAVED_HOME (Dagster's storage, the run log, the warehouse) are searched for each
sandbox token, the wrong token and PAVED_SURVEY_SALT: none appears.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from reliability_harness import pointed_at, published_path, warehouse_path

import pipelines.run
from models.report import build_report, write_report
from models.settings import Settings
from sandbox.servers import SURVEY_SALT, Sandbox
from sandbox.world.store import World

SCRIPT = ["error", "burst_429", "exhaust", "truncate", "reset", "malformed_page"]
WRONG_TOKEN = "ghp_" + "0123456789abcdef" * 2 + "dead"


class Everything(logging.Handler):
    """Every record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Seen:
    secrets: list[str]
    home: Path
    outcomes: list[pipelines.run.Outcome] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    report: list[Path] = field(default_factory=list)


@pytest.fixture(scope="module")
def seen(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
    root = tmp_path_factory.mktemp("secrets")
    home = root / "home"
    handler = Everything()
    logger = logging.getLogger()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with Sandbox(World(small_world)) as sandbox, pointed_at(sandbox, home) as to:
            result = Seen([*sandbox.tokens.values(), SURVEY_SALT, WRONG_TOKEN], home)
            for server in sandbox.servers.values():
                server.faults.script = list(SCRIPT)
            day = date.fromisoformat(to)
            result.outcomes.append(pipelines.run.materialize(Settings(), window_to=day, wait=False))
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("GITHUB_TOKEN", WRONG_TOKEN)
                result.outcomes.append(
                    pipelines.run.materialize(Settings(), window_to=day, wait=False)
                )
            with dg.DagsterInstance.get() as instance:
                for outcome in result.outcomes:
                    result.events += [
                        dg.serialize_value(e) for e in instance.all_logs(outcome.run_id)
                    ]
            report = build_report(published_path(home), "2026-Q3")
            result.report = list(write_report(report, ["html", "csv"], root / "report"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    result.logs = handler.lines
    yield result


def leaks(secrets: list[str], texts: list[str]) -> list[str]:
    return [
        f"{secret[:6]}… in {text[:120]!r}" for text in texts for secret in secrets if secret in text
    ]


def test_the_faulty_run_succeeded_and_the_wrong_token_failed_naming_its_variable(seen: Seen):
    first, second = seen.outcomes
    assert first.success, first.failures
    assert not second.success
    assert any("GITHUB_TOKEN" in line for line in second.failures), second.failures


def test_no_secret_in_any_log_record(seen: Seen) -> None:
    assert len(seen.logs) > 20
    assert any("retrying" in line for line in seen.logs)  # the faults were logged
    assert not leaks(seen.secrets, seen.logs)


def test_no_secret_in_any_dagster_event_nor_reported_failure(seen: Seen) -> None:
    assert any("ASSET_MATERIALIZATION" in event for event in seen.events)
    assert any("STEP_FAILURE" in event for event in seen.events)
    failures = [line for outcome in seen.outcomes for line in outcome.failures]
    assert not leaks(seen.secrets, seen.events + failures)


@pytest.mark.parametrize("database", [warehouse_path, published_path])
def test_no_secret_in_any_table(seen: Seen, database) -> None:
    found = []
    with duckdb.connect(str(database(seen.home)), read_only=True) as conn:
        columns = conn.execute(
            "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
            "WHERE data_type IN ('VARCHAR', 'JSON') OR data_type LIKE '%[]'"
        ).fetchall()
        assert columns
        # One scan per column, every secret at once.
        condition = " OR ".join(["contains(text, ?)"] * len(seen.secrets))
        for schema, table, column in columns:
            (count,) = conn.execute(
                f'SELECT count(*) FROM (SELECT "{column}"::VARCHAR AS text '
                f"FROM {schema}.{table}) WHERE {condition}",
                seen.secrets,
            ).fetchall()[0]
            if count:
                found.append(f"{schema}.{table}.{column}")
    assert not found


def test_no_secret_in_the_report(seen: Seen) -> None:
    assert seen.report
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in seen.report]
    assert not leaks(seen.secrets, texts)


def test_no_secret_in_any_file_under_paved_home(seen: Seen) -> None:
    files = [path for path in seen.home.rglob("*") if path.is_file()]
    assert any(path.name == "runs.json" for path in files)
    found = []
    for path in files:
        data = path.read_bytes()
        found += [str(path.relative_to(seen.home)) for s in seen.secrets if s.encode() in data]
    assert not found
