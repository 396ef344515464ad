"""The run log: the latest pipeline runs, for the dashboard's Data quality page.

The dashboard reads only what is published, so the outcome of each run (the daily schedule's,
a retry's, a `paved materialize`) is kept next to the snapshot, in
``$PAVED_HOME/published/runs.json``: one entry per Dagster run, the newest
:data:`KEEP` runs. The file is replaced atomically (written aside, fsynced, renamed), so a
reader never sees half of it and never waits on a lock; writers (the daemon's sensors and the
command line) take an advisory lock on a separate file so two of them cannot lose each other's
entry. Recording a run twice (its sensor and its command line both saw it) keeps one entry.

Messages are one line, shortened, and scrubbed of the secrets the writer knows and of
anything shaped like a token, so the log can be shown to anyone who can see the dashboard.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

RUNS_JSON = "runs.json"
LOCK = ".runs.lock"
TEMP_PREFIX = ".runs-"  # not publish's ".paved-": its sweep must not take a run log write
KEEP = 200
MESSAGE_CHARS = 300
REDACTED = "[redacted]"
# Never shown even when the writer was not told the secret: GitHub tokens (ghp_, gho_, ghs_,
# github_pat_), and whatever follows "Bearer " or a credential's "name=".
TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")
CREDENTIALS = re.compile(
    r"(?i)\b(bearer\s+|(?:token|password|secret|api_key|apikey|salt)=)[^\s&;,]+"
)
SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "job": pl.String(),
    "status": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "failed_step": pl.String(),
    "message": pl.String(),
}


@dataclass(frozen=True)
class RunEntry:
    """One run: ``status`` is Dagster's (``SUCCESS``, ``FAILURE``, ``CANCELED``);
    ``failed_step`` the asset or check that failed first, ``message`` what it said."""

    run_id: str
    job: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    failed_step: str | None = None
    message: str | None = None


def runs_path(paved_home: Path) -> Path:
    return paved_home / "published" / RUNS_JSON


def record_run(paved_home: Path, entry: RunEntry, *, secrets: Iterable[str] = ()) -> None:
    """Add (or replace, by run id) one run in the log, newest first, keeping :data:`KEEP`."""
    clean = scrubbed(entry, secrets)
    path = runs_path(paved_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _writer_lock(path.parent):
        entries = [e for e in _read(path) if e.get("run_id") != clean.run_id]
        entries.append(_to_json(clean))
        entries.sort(key=lambda e: e.get("started_at") or e.get("finished_at") or "", reverse=True)
        _write_atomically(path, entries[:KEEP])


def record_run_failure(
    paved_home: Path,
    *,
    run_id: str,
    job: str,
    started_at: datetime | None,
    finished_at: datetime | None,
    failed_step: str | None,
    message: str | None,
    secrets: Iterable[str] = (),
) -> None:
    """Record a failed run (a shorthand for :func:`record_run` with status ``FAILURE``)."""
    entry = RunEntry(run_id, job, "FAILURE", started_at, finished_at, failed_step, message)
    record_run(paved_home, entry, secrets=secrets)


def recent_runs(paved_home: Path, limit: int = 50) -> pl.DataFrame:
    """The latest runs, newest first: run_id, job, status, started_at, finished_at (UTC),
    failed_step, message. Empty (with those columns) before any run was recorded."""
    rows = _read(runs_path(paved_home))[:limit]
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in SCHEMA},
        schema={name: pl.String() for name in SCHEMA},
    )
    return frame.with_columns(
        pl.col(name).str.to_datetime(time_zone="UTC", time_unit="us")
        for name in ("started_at", "finished_at")
    ).cast(SCHEMA)  # type: ignore[arg-type]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` on one line, without the given secrets nor token-shaped strings, shortened."""
    line = " ".join(text.split())
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        line = line.replace(secret, REDACTED)
    line = TOKEN_SHAPES.sub(REDACTED, line)
    line = CREDENTIALS.sub(lambda m: m.group(1) + REDACTED, line)
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def scrubbed(entry: RunEntry, secrets: Iterable[str] = ()) -> RunEntry:
    secrets = list(secrets)
    message = redact(entry.message, secrets) if entry.message else entry.message
    step = redact(entry.failed_step, secrets) if entry.failed_step else entry.failed_step
    return RunEntry(
        entry.run_id,
        entry.job,
        entry.status,
        entry.started_at,
        entry.finished_at,
        step,
        message,
    )


def _to_json(entry: RunEntry) -> dict[str, str | None]:
    out = asdict(entry)
    for name in ("started_at", "finished_at"):
        moment = out[name]
        out[name] = moment.astimezone(UTC).isoformat() if moment else None
    return out


def _read(path: Path) -> list[dict[str, str | None]]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []  # only a hand-edited file can be broken: writers replace it whole
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


@contextlib.contextmanager
def _writer_lock(folder: Path) -> Iterator[None]:
    with (folder / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, value: object) -> None:
    temp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}.json")
    try:
        with temp.open("w", encoding="utf-8") as handle:
            json.dump(value, handle, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
