"""Dagster's SQLite event log with its connections kept open (the event log storage the
project's `dagster.yaml` names).

Dagster's own `SqliteEventLogStorage` builds a new SQLAlchemy engine for every connection and
disposes of it after one use: each event stored (a run of the staging and marts steps stores
125: materialisations, their planned events, outputs, checks, step starts) opens the run's
SQLite file and the index's, parses their schemas, compiles its statements again, and closes
them, which in WAL mode checkpoints the log. That is about 10 ms an event, over a second of
each daily run whatever the data's size. This storage keeps one engine per file, for the few
files a process is using (the index and the latest runs'), each holding one connection
open: the same events, the same files, the same transactions, in about a third of the time
(`bench/results/rebuild-profile.md`).

The files stay where Dagster's default storage keeps them (`$DAGSTER_HOME/history/runs`), so
an instance's history carries over either way.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.instance.ref import _event_logs_directory
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# Engines kept per process: the index, and the runs being written or read. One evicted is
# disposed of (its connection closed); a later use opens it again.
KEPT_FILES = 8

_LIVE: weakref.WeakSet[KeptConnectionsEventLogStorage] = weakref.WeakSet()


def default_base_dir() -> str:
    """Where Dagster's default storage keeps the event logs of the instance in DAGSTER_HOME
    (Dagster's own rule for it)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise dg.DagsterInvariantViolationError(
            "DAGSTER_HOME is not set: the event log storage keeps its files under it "
            "(or give it `base_dir` in dagster.yaml)"
        )
    return _event_logs_directory(home)


class KeptConnectionsEventLogStorage(SqliteEventLogStorage):
    """:class:`SqliteEventLogStorage` with one engine per SQLite file kept for the
    ``KEPT_FILES`` files used last, each with one connection kept open
    (``check_same_thread`` off: the storage's lock already lets one thread at a time use
    it, as it does the parent's connections)."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir or default_base_dir(), inst_data)
        _LIVE.add(self)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # pyright: ignore[reportIncompatibleMethodOverride]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> KeptConnectionsEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """One transaction on ``shard``'s file, as the parent's, on its kept connection."""
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=2,
                connect_args={
                    "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                    "check_same_thread": False,
                },
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine  # the latest used last
        while len(self._engines) > KEPT_FILES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    def _let_go(self, *, close: bool = True) -> None:
        for engine in self._engines.values():
            engine.dispose(close=close)
        self._engines.clear()

    def wipe(self) -> None:
        # The run files are deleted: no connection may stay open on one.
        with self._db_lock:
            self._let_go()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            self._let_go()


def _after_fork_in_child() -> None:
    # A forked child must not use its parent's SQLite connections (nor close them).
    for storage in list(_LIVE):
        storage._let_go(close=False)  # this module's own storage


os.register_at_fork(after_in_child=_after_fork_in_child)
