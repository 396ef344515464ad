"""File sources (survey CSV exports, FOCUS cost files): read a file again only if it changed.

Each file's content hash is ``raw.state`` (source, file path, ``sha256``), set after its last
row, so it commits with the rows: an unchanged file costs a hash, not a parse, and a file
re-delivered with new content is read again (rows are replaced by key).
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterator
from pathlib import Path

from pipelines.ingest import SourceRun
from pipelines.raw import Ingestion, read_state

CHUNK = 1 << 20


def matching_files(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def changed_files(run: SourceRun, ing: Ingestion, paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """(path, hash) of each file not read before with this content (all of them in a
    backfill); the caller loads its rows, then calls :func:`mark_read`."""
    unchanged = 0
    for path in paths:
        digest = sha256(path)
        if (
            not run.window.backfill
            and read_state(run.conn, ing.source, str(path), "sha256") == digest
        ):
            unchanged += 1
            continue
        yield path, digest
    if unchanged:
        ing.notes.append(f"{unchanged} unchanged file(s) skipped")


def mark_read(ing: Ingestion, path: Path, digest: str) -> None:
    ing.set_state(str(path), "sha256", digest)
