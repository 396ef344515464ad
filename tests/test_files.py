"""File sources are read again only when a file changed: its size and time first, then its hash.

Pinned down here, on a real warehouse: a file whose size and modification time are those
recorded is not even hashed; one touched but the same is hashed, not read, and its new time
recorded (so the next run does not hash it); one with new content is read; a backfill reads
every file.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

import pipelines.files as files
from models.settings import Settings
from pipelines.files import changed_files, mark_read
from pipelines.ingest import SourceRun, Window
from pipelines.raw import Ingestion, open_warehouse


def _run(tmp_path: Path, *, backfill: bool = False) -> list[str]:
    """One run over the folder's files: the names it reads (and marks read)."""
    conn = open_warehouse(tmp_path / "w.duckdb")
    settings = Settings(home=tmp_path)
    # A start given (--from) is a backfill.
    window = Window.of(settings.collection_start(), date(2026, 1, 1) if backfill else None)
    run = SourceRun(settings, conn, "r1", window)
    read = []
    with Ingestion(conn, "focus", "r1") as ing:
        for path, version in changed_files(run, ing, sorted((tmp_path / "files").iterdir())):
            read.append(path.name)
            mark_read(ing, path, version)
    conn.close()
    return read


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "files").mkdir()
    for name in ("a.csv", "b.csv"):
        (tmp_path / "files" / name).write_text(f"{name}\n1\n")
    return tmp_path / "files"


def test_an_unchanged_file_is_neither_read_nor_hashed(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run(tmp_path) == ["a.csv", "b.csv"]
    hashed: list[str] = []
    real = files.sha256
    monkeypatch.setattr(files, "sha256", lambda path: hashed.append(path.name) or real(path))
    assert _run(tmp_path) == []
    assert hashed == []


def test_a_touched_file_is_hashed_once_and_read_only_if_its_content_changed(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(tmp_path)
    a, b = folder / "a.csv", folder / "b.csv"
    later = a.stat().st_mtime_ns + 10**9
    os.utime(a, ns=(later, later))  # touched, same content
    b.write_text("b.csv\n2\n")  # same size, new content
    os.utime(b, ns=(later, later))
    hashed: list[str] = []
    real = files.sha256
    monkeypatch.setattr(files, "sha256", lambda path: hashed.append(path.name) or real(path))
    assert _run(tmp_path) == ["b.csv"]
    assert hashed == ["a.csv", "b.csv"]
    hashed.clear()
    assert _run(tmp_path) == []
    assert hashed == []  # a.csv's new time was recorded with its unchanged hash


def test_a_backfill_reads_every_file(tmp_path: Path, folder: Path) -> None:
    _run(tmp_path)
    assert _run(tmp_path, backfill=True) == ["a.csv", "b.csv"]
