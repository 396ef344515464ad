"""The raw layer's writer thread: batches committed in order while the next one is read.

DuckDB releases the GIL while it inserts, so a batch written on a thread of its own overlaps
with parsing and validating the next one. Each batch still commits in one transaction with the
state it covers (the caller's ``write`` does both), batches commit in the order they were handed
over, and at most ``depth`` wait in line, so memory stays bounded. The thread writes through a
cursor of the caller's connection (DuckDB's way to share a database between threads); the caller
keeps its connection for reads, which see every batch committed so far.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import duckdb

B = TypeVar("B")

# Batches waiting behind the one being written: one is enough to keep DuckDB busy.
DEPTH = 1


class Writer(Generic[B]):
    """Writes batches with ``write(cursor, batch)`` on a thread started at the first batch and
    stopped by :meth:`drain`, which waits for everything handed over and raises what failed."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        write: Callable[[duckdb.DuckDBPyConnection, B], None],
        *,
        depth: int = DEPTH,
    ) -> None:
        self._conn = conn
        self._write = write
        self._depth = depth
        self._queue: queue.Queue[B | None] = queue.Queue(depth)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, batch: B) -> None:
        """Hand a batch over; blocks while ``depth`` batches already wait."""
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="paved-raw-writer")
            self._thread.start()
        self._queue.put(batch)

    def drain(self) -> None:
        """Wait until every batch handed over is committed (or one failed: raised here)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    def _raise(self) -> None:
        # Sticky: once a batch is lost, no later batch (whose state would skip it) is written.
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        cursor = self._conn.cursor()
        try:
            while (batch := self._queue.get()) is not None:
                if self._error is None:  # after a failure, later batches are dropped
                    try:
                        self._write(cursor, batch)
                    except BaseException as exc:  # raised in the caller's thread
                        self._error = exc
        finally:
            cursor.close()
