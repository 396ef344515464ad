"""The run log the dashboard's Data quality page reads ($PAVED_HOME/published/runs.json).

Pinned down here: before any run it reads as an empty frame with the documented columns and
types; runs come back newest first, one entry per run id (a run recorded twice keeps its last
record); it keeps only the newest runs; messages are one line, shortened, and never carry a
secret the writer knew nor a token-shaped string; a reader looping while writers rewrite the
log never fails and never sees a partial file; no temporary file is left behind.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import models.runlog
from models.runlog import RunEntry, recent_runs, record_run, record_run_failure, runs_path

T0 = datetime(2026, 9, 30, 6, 0, tzinfo=UTC)
COLUMNS = {
    "run_id": pl.String(),
    "job": pl.String(),
    "status": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "failed_step": pl.String(),
    "message": pl.String(),
}


def entry(n: int, status: str = "SUCCESS", **changes: object) -> RunEntry:
    values: dict[str, object] = {
        "run_id": f"run-{n}",
        "job": "daily_refresh",
        "status": status,
        "started_at": T0 + timedelta(days=n),
        "finished_at": T0 + timedelta(days=n, seconds=42),
    }
    return RunEntry(**{**values, **changes})  # type: ignore[arg-type]


def test_before_any_run_the_log_is_an_empty_frame_with_the_documented_columns(tmp_path: Path):
    frame = recent_runs(tmp_path)
    assert frame.is_empty()
    assert dict(frame.schema) == COLUMNS


def test_runs_come_back_newest_first_one_entry_per_run(tmp_path: Path):
    record_run(tmp_path, entry(1))
    record_run(tmp_path, entry(3))
    record_run(tmp_path, entry(2))
    record_run_failure(
        tmp_path,
        run_id="run-3",
        job="daily_refresh",
        started_at=T0 + timedelta(days=3),
        finished_at=T0 + timedelta(days=3, seconds=9),
        failed_step="marts/dora_metrics",
        message="check rates_in_range failed: 2 row(s) outside [0, 1]",
    )
    frame = recent_runs(tmp_path)
    assert dict(frame.schema) == COLUMNS
    expected = pl.DataFrame(
        {
            "run_id": ["run-3", "run-2", "run-1"],
            "job": ["daily_refresh"] * 3,
            "status": ["FAILURE", "SUCCESS", "SUCCESS"],
            "started_at": [T0 + timedelta(days=n) for n in (3, 2, 1)],
            "finished_at": [
                T0 + timedelta(days=3, seconds=9),
                T0 + timedelta(days=2, seconds=42),
                T0 + timedelta(days=1, seconds=42),
            ],
            "failed_step": ["marts/dora_metrics", None, None],
            "message": ["check rates_in_range failed: 2 row(s) outside [0, 1]", None, None],
        },
        schema=COLUMNS,
    )
    assert frame.equals(expected)
    assert recent_runs(tmp_path, limit=1)["run_id"].to_list() == ["run-3"]


def test_only_the_newest_runs_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(models.runlog, "KEEP", 3)
    for n in range(6):
        record_run(tmp_path, entry(n))
    assert recent_runs(tmp_path)["run_id"].to_list() == ["run-5", "run-4", "run-3"]


@pytest.mark.parametrize(
    ("message", "secrets", "expected"),
    [
        (
            "401 from https://api.github.com with my-github-secret-1",
            ["my-github-secret-1"],
            "401 from https://api.github.com with [redacted]",
        ),
        ("Authorization: Bearer abc.def-ghi_jkl", [], "Authorization: Bearer [redacted]"),
        ("url?token=s3cr3t&page=2 salt=pepper", [], "url?token=[redacted]&page=2 salt=[redacted]"),
        ("leaked ghp_" + "a" * 36 + " here", [], "leaked [redacted] here"),
        ("first line\n  second   line", [], "first line second line"),
        ("GITHUB_TOKEN was rejected: check the token scopes", [], None),
    ],
)
def test_messages_are_one_line_and_never_carry_a_secret(
    tmp_path: Path, message: str, secrets: list[str], expected: str | None
):
    record_run(
        tmp_path, entry(1, "FAILURE", message=message, failed_step="raw/github"), secrets=secrets
    )
    stored = recent_runs(tmp_path)["message"].to_list()
    assert stored == [expected or message]
    raw = runs_path(tmp_path).read_text()
    assert all(secret not in raw for secret in secrets)


def test_a_long_message_is_shortened(tmp_path: Path):
    record_run(tmp_path, entry(1, "FAILURE", message="x" * 1000))
    (message,) = recent_runs(tmp_path)["message"].to_list()
    assert len(message) == models.runlog.MESSAGE_CHARS and message.endswith("…")


def test_a_reader_never_sees_a_partial_log_while_writers_rewrite_it(tmp_path: Path):
    record_run(tmp_path, entry(0))
    errors: list[BaseException] = []

    def write(first: int) -> None:
        try:
            for n in range(first, first + 40):
                record_run(tmp_path, entry(n, message="m" * 200))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(k * 100,)) for k in (1, 2)]
    for writer in writers:
        writer.start()
    reads = 0
    while any(w.is_alive() for w in writers) or not reads:
        # Straight from the file, as any reader would: always whole JSON.
        value = json.loads(runs_path(tmp_path).read_text())
        assert isinstance(value, list) and value
        reads += 1
    for writer in writers:
        writer.join()
    assert not errors
    # Both writers' entries are there: the lock kept either from losing the other's.
    assert recent_runs(tmp_path, limit=500).height == 81
    assert sorted(p.name for p in runs_path(tmp_path).parent.iterdir()) == [
        ".runs.lock",
        "runs.json",
    ]
