"""Read access to a built world, and its clock.

A :class:`World` is shared by every sandbox server thread: each thread gets its own read-only
SQLite connection, and all of them see one clock, so advancing it moves every API at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_ts(moment: datetime) -> str:
    """The world's timestamp text for an aware datetime."""
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def from_ts(text: str) -> datetime:
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)


class World:
    """A built world folder (``world.sqlite`` plus exported files) seen at a moving clock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db_path = self.path / "world.sqlite"
        if not self.db_path.exists():
            raise FileNotFoundError(f"no sandbox world at {self.path} (build it first)")
        self._local = threading.local()
        self._lock = threading.Lock()
        self.meta: dict[str, str] = dict(self.query("SELECT key, value FROM meta"))
        self._now = from_ts(self.meta["end"])

    # -- clock -------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    @property
    def now_ts(self) -> str:
        return to_ts(self.now)

    def set_now(self, moment: datetime) -> None:
        horizon = from_ts(self.meta["horizon"])
        if moment > horizon:
            raise ValueError(f"the world was generated up to {self.meta['horizon']} only")
        with self._lock:
            self._now = moment

    def advance(self, *, days: float = 1.0) -> datetime:
        """Move the clock forward: new records appear, open incidents may resolve."""
        self.set_now(self.now + timedelta(days=days))
        return self.now

    # -- data --------------------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False
            )
            self._local.conn = conn
        return conn

    def query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        return self.connection().execute(sql, params).fetchall()

    def rows(self, sql: str, params: tuple | list = ()) -> Iterator[dict]:
        """Stream rows as dicts (column name -> value), never the whole result at once."""
        cursor = self.connection().execute(sql, params)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def files(self, kind: str) -> list[Path]:
        return [
            self.path / p
            for (p,) in self.query("SELECT path FROM files WHERE kind = ? ORDER BY path", (kind,))
        ]

    @property
    def scale(self) -> str:
        return self.meta["scale"]

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])


@contextmanager
def open_world(path: Path) -> Iterator[World]:
    world = World(path)
    yield world


def loads(text: str | None) -> object:
    """JSON column helper: NULL stays None."""
    return None if text is None else json.loads(text)
