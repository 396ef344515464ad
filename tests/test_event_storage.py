"""The instance's event log (pipelines/event_storage.py): Dagster's SQLite event log with its
connections kept open.

Pinned down here: the project's instance uses it, with its files where Dagster's default
storage keeps them, so Dagster's own storage reads what it wrote (and the other way round); it
keeps a bounded number of files open, however many runs it touches; threads storing events
together lose none; wiping the instance leaves no connection on a deleted file; a forked child
opens connections of its own rather than using its parent's.
"""

from __future__ import annotations

import multiprocessing
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from models.settings import Settings
from pipelines.event_storage import KEPT_FILES, KeptConnectionsEventLogStorage
from pipelines.instance import prepare_dagster_home


@dg.asset
def numbers() -> list[int]:
    return [1, 2, 3]


@dg.asset
def total(numbers: list[int]) -> int:
    return sum(numbers)


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """The project's instance, prepared as the CLI prepares it, in a home of its own."""
    monkeypatch.setenv("PAVED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # restored after (prepare exports it)
    prepare_dagster_home(Settings())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dg.DagsterInstance.get() as opened:
            yield opened


def materialized(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([numbers, total], instance=instance)
    assert result.success
    return result.run_id


def a_log(run_id: str, message: str) -> dg.EventLogEntry:
    return dg.EventLogEntry(
        error_info=None,
        level="INFO",
        user_message=message,
        run_id=run_id,
        timestamp=0.0,
    )


def test_the_instance_stores_its_events_where_dagsters_own_storage_reads_them(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.event_log_storage
    assert isinstance(storage, KeptConnectionsEventLogStorage)
    home = Path(instance.root_directory)
    run_id = materialized(instance)
    assert (home / "history" / "runs" / f"{run_id}.db").is_file()
    dagsters = SqliteEventLogStorage(str(home / "history" / "runs"))
    try:
        ours = [e.dagster_event_type for e in storage.get_logs_for_run(run_id)]
        theirs = [e.dagster_event_type for e in dagsters.get_logs_for_run(run_id)]
        assert ours == theirs
        assert dg.DagsterEventType.ASSET_MATERIALIZATION in ours
        # The cross-run index too: the latest materialisation of each asset.
        for key in (dg.AssetKey("numbers"), dg.AssetKey("total")):
            [record] = dagsters.get_asset_records([key])
            assert record.asset_entry.last_materialization_record is not None
            assert record.asset_entry.last_materialization_record.run_id == run_id
        # And ours reads what Dagster's writes.
        dagsters.store_event(a_log(run_id, "written by Dagster's own storage"))
        messages = [e.user_message for e in storage.get_logs_for_run(run_id)]
        assert messages[-1] == "written by Dagster's own storage"
    finally:
        dagsters.dispose()


def test_it_keeps_a_bounded_number_of_files_open(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage
    assert isinstance(storage, KeptConnectionsEventLogStorage)
    runs = [f"run-{n}" for n in range(KEPT_FILES + 3)]
    for run_id in runs:
        storage.store_event(a_log(run_id, "hello"))
    assert len(storage._engines) == KEPT_FILES
    # The first runs' files were let go of, and are opened again when read.
    assert [e.user_message for e in storage.get_logs_for_run(runs[0])] == ["hello"]


def test_threads_storing_events_together_lose_none(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage

    def store(thread: int) -> None:
        for n in range(25):
            storage.store_event(a_log("shared", f"{thread}-{n}"))

    threads = [threading.Thread(target=store, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = {e.user_message for e in storage.get_logs_for_run("shared")}
    assert stored == {f"{t}-{n}" for t in range(4) for n in range(25)}


def test_wiping_the_instance_leaves_no_connection_on_a_deleted_file(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.event_log_storage
    run_id = materialized(instance)
    storage.wipe()
    assert storage.get_logs_for_run(run_id) == []
    storage.store_event(a_log(run_id, "after the wipe"))  # a new file, not the deleted one
    path = Path(instance.root_directory) / "history" / "runs" / f"{run_id}.db"
    dagsters = SqliteEventLogStorage(str(path.parent))
    try:
        assert [e.user_message for e in dagsters.get_logs_for_run(run_id)] == ["after the wipe"]
    finally:
        dagsters.dispose()


def _store_in_child(storage: KeptConnectionsEventLogStorage) -> None:
    # SQLite's connections must not cross a fork: the child holds none of its parent's.
    if storage._engines:
        raise SystemExit(3)
    storage.store_event(a_log("forked", "from the child"))


def test_a_forked_child_stores_through_connections_of_its_own(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.event_log_storage
    assert isinstance(storage, KeptConnectionsEventLogStorage)
    storage.store_event(a_log("forked", "from the parent"))  # a connection the child inherits
    child = multiprocessing.get_context("fork").Process(target=_store_in_child, args=(storage,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    storage.store_event(a_log("forked", "from the parent again"))
    messages = [e.user_message for e in storage.get_logs_for_run("forked")]
    assert messages == ["from the parent", "from the child", "from the parent again"]
