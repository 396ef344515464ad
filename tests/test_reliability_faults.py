"""Faults: a whole run (raw, staging, marts, publish) against sandbox servers having a bad day.

Pinned down here: with every HTTP source (GitHub, Argo CD, PagerDuty, Typeform, Backstage,
OpenCost) answering 5xx (single and in bursts), 429s with ``Retry-After``, its rate-limit
exhaustion, responses slower than the client's timeout, connections closed and reset mid-body,
malformed (cut) JSON pages, duplicate items across pages and offset drift, the run succeeds
and every published table but data_quality is identical, content hash for content hash, in the
warehouse and in the published snapshot, to a clean run's; every injected fault really
happened on every server; and data_quality says, per source, how many requests were retried,
the same number raw.ingest_runs recorded. Clients never sleep; the only real waits are the
six 0.5 s timeouts of the slow responses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from reliability_harness import (
    failed_steps,
    pointed_at,
    published_path,
    run_all,
    table_digests,
    warehouse_path,
)

import connectors.github
import pipelines.pagerduty.ingest
from connectors.pagerduty import PagerDutyClient
from sandbox.servers import Sandbox

# One of each kind that fails an attempt, in a row: 7 failures, the 8th attempt succeeds (the
# clients try 8 times), so each kind happens on every server, even one asked only once.
SCRIPT = ["error", "burst_429", "exhaust", "slow", "truncate", "reset", "malformed_page"]
# Short enough to cost little, long enough for every normal answer on a busy machine.
TIMEOUT_S = 0.5
SLOW_S = 0.8
# Faults that need pages: offset pagination (PagerDuty) drifts; page-numbered and offset
# listings (GitHub, PagerDuty) repeat an item across pages; the busy ones get a 5xx burst too,
# after a success (the scripted "" lets one request through).
PAGED = ("github", "pagerduty")
BURST = ["", "burst_5xx", "burst_5xx", "burst_5xx"]
FAULT_KINDS = [*SCRIPT, "burst_5xx", "duplicate", "offset_drift"]


class FivePerPage(PagerDutyClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, page_size=5, **kwargs)


@dataclass
class Runs:
    sandbox: Sandbox
    clean: Path
    faulty: Path
    run_id: str
    failures: list[str]


@pytest.fixture(scope="module")
def runs(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The last four weeks of the small world collected twice: cleanly, then with faults."""
    from sandbox.world.store import World

    root = tmp_path_factory.mktemp("faults")
    with Sandbox(World(small_world)) as sandbox, pytest.MonkeyPatch.context() as mp:
        # Small pages, so four weeks span many of them: duplicates and drift need pages.
        mp.setattr(connectors.github, "PER_PAGE", 20)
        mp.setattr(connectors.github, "PROBE_PER_PAGE", 5)
        mp.setattr(pipelines.pagerduty.ingest, "PagerDutyClient", FivePerPage)
        with pointed_at(sandbox, root / "clean") as to:
            clean = run_all(root / "clean", to)
            assert clean.success, failed_steps(clean)
        for name, server in sandbox.servers.items():
            faults = server.faults
            faults.seed = 3
            faults.script = [*SCRIPT, *(BURST if name in PAGED else [])]
            faults.slow_seconds, faults.slow_rate = SLOW_S, 0.0  # only the scripted one
            if name in PAGED:
                faults.duplicate_rate = 0.3
            if name == "pagerduty":
                faults.offset_drift = 0.3
                faults.duplicate_rate = 0.5
        with pointed_at(sandbox, root / "faulty") as to:
            faulty = run_all(root / "faulty", to, http_timeout_s=TIMEOUT_S)
        yield Runs(sandbox, root / "clean", root / "faulty", faulty.run_id, failed_steps(faulty))


def test_a_run_through_every_fault_succeeds(runs: Runs) -> None:
    assert not runs.failures


def test_every_fault_kind_happened_on_every_server(runs: Runs) -> None:
    for name, server in runs.sandbox.servers.items():
        injected = server.faults.injected
        assert not server.faults.script, f"{name} left faults unused: {server.faults.script}"
        kinds = [*SCRIPT, *(("burst_5xx", "duplicate") if name in PAGED else ())]
        if name == "pagerduty":
            kinds.append("offset_drift")
        missing = [kind for kind in kinds if injected[kind] < 1]
        assert not missing, f"{name}: {missing} never happened ({dict(injected)})"


def test_the_marts_equal_a_clean_runs_table_for_table(runs: Runs) -> None:
    clean = table_digests(warehouse_path(runs.clean))
    assert len(clean) >= 10
    assert table_digests(warehouse_path(runs.faulty)) == clean


def test_the_published_snapshot_equals_a_clean_runs(runs: Runs) -> None:
    clean = table_digests(published_path(runs.clean))
    assert table_digests(published_path(runs.faulty)) == clean


def data_quality(home: Path) -> dict[str, tuple[str | None, int]]:
    """source -> (notes, retries in raw.ingest_runs), for the one run of ``home``."""
    with duckdb.connect(str(warehouse_path(home)), read_only=True) as conn:
        rows = conn.execute(
            "SELECT d.source, d.notes, r.retries FROM marts.data_quality d "
            "JOIN raw.ingest_runs r USING (source, run_id)"
        ).fetchall()
    return {source: (notes, retries) for source, notes, retries in rows}


def test_data_quality_says_how_many_requests_each_source_retried(runs: Runs) -> None:
    faulty = data_quality(runs.faulty)
    http_sources = {"backstage", "github", "argocd", "pagerduty", "typeform", "opencost"}
    assert http_sources <= set(faulty)
    for source in http_sources:
        notes, retries = faulty[source]
        assert retries >= len(SCRIPT), source
        assert notes is not None and f"{retries} request(s) retried" in notes, (source, notes)
    # A clean run retried nothing and says nothing about it.
    for source, (notes, retries) in data_quality(runs.clean).items():
        assert retries == 0 and "retried" not in (notes or ""), source
