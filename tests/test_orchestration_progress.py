"""`paved materialize`'s progress lines from Dagster's events, and its one-line failures.

Pinned down here, on a real Dagster run of small assets with the progress logger: a step that
writes no line of its own gets one when it ends, with its tables, their rows and its elapsed
time; a step that wrote its own line gets no second one; a step that fails gets "failed after";
and the run's failures read as one line each: a failed blocking check with its own
description, a failed asset with its error's first line.
"""

from __future__ import annotations

import logging
import re

import dagster as dg
import pytest

from pipelines.ingest import progress
from pipelines.progress import progress_logger
from pipelines.run_log import failures_of


@dg.multi_asset(specs=[dg.AssetSpec(["layer", "a"]), dg.AssetSpec(["layer", "b"])])
def layer():
    yield dg.MaterializeResult(asset_key=["layer", "a"], metadata={"rows": 1200})
    yield dg.MaterializeResult(asset_key=["layer", "b"], metadata={"rows": 34})


@dg.asset(key=["raw", "talkative"])
def talkative() -> dg.MaterializeResult:
    progress.info("%-16s 7 fetched  7 loaded", "raw/talkative")
    return dg.MaterializeResult(metadata={"rows": 7})


@dg.asset(key=["raw", "broken"])
def broken() -> None:
    raise RuntimeError("the source said no\nand a second line")


@dg.asset_check(asset=talkative, blocking=True)
def always_wrong() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="3 rows out of range\nmore detail")


def run(*nodes: dg.AssetsDefinition | dg.AssetChecksDefinition) -> dg.ExecuteInProcessResult:
    job = dg.define_asset_job("progress_test")
    definitions = dg.Definitions(
        assets=[n for n in nodes if not isinstance(n, dg.AssetChecksDefinition)],
        asset_checks=[n for n in nodes if isinstance(n, dg.AssetChecksDefinition)],
        jobs=[job],
        loggers={"progress": progress_logger},
    )
    return definitions.resolve_job_def("progress_test").execute_in_process(
        raise_on_error=False, run_config={"loggers": {"progress": {}}}
    )


@pytest.fixture
def lines(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=progress.name)
    monkeypatch.setattr(progress, "propagate", True)  # into caplog, as in any program
    return caplog


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == progress.name]


def test_a_step_without_its_own_line_gets_one_with_tables_rows_and_time(lines):
    assert run(layer, talkative).success
    got = progress_lines(lines)
    assert "raw/talkative    7 fetched  7 loaded" in got
    (line,) = [g for g in got if g.startswith("layer")]
    assert re.fullmatch(r"layer {11} 2 table\(s\)  1,234 rows  \d+\.\d s", line), line
    assert sum(g.startswith("raw/talkative") for g in got) == 1


def test_a_failed_step_says_so_and_the_run_reads_one_line_per_failure(lines):
    result = run(layer, talkative, broken, always_wrong)
    assert not result.success
    got = progress_lines(lines)
    assert any(re.fullmatch(r"raw/broken {7}failed after \d+\.\d s", g) for g in got), got
    failures = {f.line for f in failures_of(result.all_events)}
    assert failures == {
        "check always_wrong failed: 3 rows out of range",
        "raw/broken failed: the source said no",
    }
