"""`paved materialize` that kills itself with SIGKILL at a chosen point, for the crash tests.

    PAVED_CRASH_AT=build:17 python tests/crash_run.py materialize --to 2026-09-29

Crash points are counted by progress, never by the clock: each statement an ingestion runs on
the warehouse (``ingest``), each statement that writes staging and marts (``build``), and each
step of a publish (``publish``: every statement on the new snapshot, and before and after each
of its file operations). At the Nth point of the named phase the process sends itself SIGKILL,
which nothing can catch or clean up after: what a power cut or the OOM killer does.

Without PAVED_CRASH_AT the points are only counted (tests use that, in process, to learn how
many points each phase has).
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

PHASES = ("ingest", "build", "publish")
Setter = Callable[[object, str, object], None]


class Points:
    """Counts the crash points of each phase; kills the process at ``kill_at``."""

    def __init__(self, kill_at: tuple[str, int] | None = None) -> None:
        self.kill_at = kill_at
        self.counts: Counter[str] = Counter()

    def step(self, phase: str) -> None:
        self.counts[phase] += 1
        if self.kill_at == (phase, self.counts[phase]):
            os.kill(os.getpid(), signal.SIGKILL)


class Counted:
    """A DuckDB connection whose every ``execute`` is a crash point first."""

    def __init__(self, conn: Any, points: Points, phase: str) -> None:
        self._conn, self._points, self._phase = conn, points, phase

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._points.step(self._phase)
        return self._conn.execute(*args, **kwargs)

    def cursor(self) -> Counted:
        # Ingestion writes its batches through a cursor, on a thread of its own.
        return Counted(self._conn.cursor(), self._points, self._phase)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def install(points: Points, setattr_: Setter = setattr) -> None:
    """Wrap the pipeline's writes so each is a crash point (``setattr_``: a monkeypatch's, to
    undo it after an in-process run)."""
    import duckdb

    import pipelines.publish as publish
    from pipelines.raw import Ingestion

    # By path: the package `pipelines.marts` exports a list named `assets` too.
    marts = importlib.import_module("pipelines.marts.assets")

    post_init = Ingestion.__post_init__

    def counted_post_init(self: Ingestion) -> None:
        self.conn = Counted(self.conn, points, "ingest")  # type: ignore[assignment]
        post_init(self)

    setattr_(Ingestion, "__post_init__", counted_post_init)

    def writing(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(conn: Any, *args: Any, **kwargs: Any) -> Any:
            result = function(Counted(conn, points, "build"), *args, **kwargs)
            points.step("build")  # after its COMMIT
            return result

        return wrapper

    setattr_(marts, "write_staging", writing(marts.write_staging))
    # The marts asset writes through Built.write, which calls the warehouse module's.
    warehouse = importlib.import_module("pipelines.marts.warehouse")
    setattr_(warehouse, "write_marts", writing(warehouse.write_marts))

    def stepping(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            points.step("publish")
            result = function(*args, **kwargs)
            points.step("publish")
            return result

        return wrapper

    for name in ("build_snapshot", "validate_snapshot", "_fsync", "write_json_atomically"):
        setattr_(publish, name, stepping(getattr(publish, name)))
    # The snapshot's own statements: publish.py reaches duckdb.connect through its module.
    module = SimpleNamespace(
        **{name: getattr(duckdb, name) for name in dir(duckdb) if not name.startswith("__")}
    )
    module.connect = lambda *a, **k: Counted(duckdb.connect(*a, **k), points, "publish")
    setattr_(publish, "duckdb", module)


def kill_point() -> tuple[str, int] | None:
    value = os.environ.get("PAVED_CRASH_AT", "")
    if not value:
        return None
    phase, _, number = value.partition(":")
    if phase not in PHASES or not number.isdigit():
        raise SystemExit(f"PAVED_CRASH_AT={value!r}: expected PHASE:N, PHASE one of {PHASES}")
    return phase, int(number)


if __name__ == "__main__":
    from pipelines.cli import main

    install(Points(kill_point()))
    main()
