"""The raw layer as Dagster assets, against the sandbox servers on loopback.

Pinned down here: materialising every raw asset loads every source and accounts for every
record (fetched = loaded + rejected + unmapped); a second run changes nothing and asks only
conditional or minimal questions; a re-backfill is idempotent; a day later, an incremental run
ends where a fresh full run would; a run killed mid-pagination resumes to the warehouse an
uninterrupted run builds; 5xx bursts, 429s, cut bodies, duplicates and offset drift change
nothing, malformed items are rejected with their reasons; rare Argo CD polling records a gap
and fails the check with its guidance, daily polling records exactly the gaps the sandbox's
ground truth predicts; no token and no respondent email reaches the warehouse; surveys without
PAVED_SURVEY_SALT fail naming it; an unconfigured source is skipped and recorded; and
`paved materialize` exits 0, 1 or 2 with one line. Clients never sleep (``wait=False``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import duckdb
import pytest
from pydantic import AliasChoices

import connectors.github
import pipelines.ingest
import pipelines.pagerduty.ingest
import pipelines.run
from connectors.pagerduty import PagerDutyClient
from models.respondents import respondent_hash
from models.settings import Settings
from pipelines.cli import main
from pipelines.definitions import CHECKS, RAW_ASSETS
from pipelines.demo import daily_polls, replay_argocd
from pipelines.ingest import parse_iso
from pipelines.raw import Ingestion
from pipelines.resources import PavedResource
from pipelines.run import QUIET, selection
from sandbox.servers import SURVEY_SALT, Sandbox
from sandbox.truth import compute_truth
from sandbox.world.store import World

# Most tests read the sandbox's last four weeks: every behaviour shows, at a fraction of the
# requests of its whole history.
RECENT = "2026-09-03"
SOURCES = {
    "backstage",
    "github",
    "argocd",
    "pagerduty",
    "typeform",
    "googleforms",
    "focus",
    "opencost",
}
BOOKKEEPING = {"ingest_runs", "rejected", "state", "argocd_gaps"}
SURVEY_TABLES = ("typeform_responses", "googleforms_responses")
SANDBOX_DOMAIN = "@paved-sandbox.example"


# -- helpers -------------------------------------------------------------------------------------
def contract_variables() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.append(str(alias.choices[0]))
    return names


def point_at(sandbox: Sandbox, mp: pytest.MonkeyPatch, history_start: str | None) -> None:
    for name in contract_variables():
        mp.delenv(name, raising=False)
    for name, value in sandbox.env().items():
        mp.setenv(name, value)
    if history_start:
        mp.setenv("PAVED_HISTORY_START", history_start)


def materialize(home: Path, select: str | None = None, **paved: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*RAW_ASSETS, *CHECKS],
        selection=selection(select),
        resources={"paved": PavedResource(home=str(home), wait=False, **paved)},
        raise_on_error=False,
        run_config=QUIET,
    )


def warehouse(home: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)


def object_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchall()
    return sorted(name for (name,) in rows if name not in BOOKKEEPING)


def digests(home: Path) -> dict[str, str]:
    """A content hash of each raw table (not extracted_at nor run_id), and of raw.state."""
    with warehouse(home) as conn:
        out = {}
        for table in object_tables(conn):
            rows = conn.execute(
                f"SELECT key, scope, payload::VARCHAR, unmapped_reason FROM raw.{table} "
                "ORDER BY key"
            ).fetchall()
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        state = conn.execute(
            "SELECT source, scope, name, value::VARCHAR FROM raw.state ORDER BY ALL"
        ).fetchall()
        out["state"] = hashlib.sha256(repr(state).encode()).hexdigest()
    return out


def keys(home: Path, table: str) -> set[str]:
    with warehouse(home) as conn:
        return {key for (key,) in conn.execute(f"SELECT key FROM raw.{table}").fetchall()}


def runs(home: Path, run_id: str) -> dict[str, dict[str, Any]]:
    with warehouse(home) as conn:
        cursor = conn.execute("SELECT * FROM raw.ingest_runs WHERE run_id = ?", [run_id])
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def assert_accounted(home: Path, run_id: str) -> dict[str, dict[str, Any]]:
    recorded = runs(home, run_id)
    for source, row in recorded.items():
        assert row["fetched"] == row["loaded"] + row["rejected"] + row["unmapped"], source
    return recorded


def requests_by(sandbox: Sandbox) -> dict[str, list[str]]:
    return {name: [target for _, target in reqs] for name, reqs in sandbox.requests().items()}


def reset_requests(sandbox: Sandbox) -> None:
    for server in sandbox.servers.values():
        server.reset_requests()


def query(target: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(target).query)


# -- one full history, read three times ------------------------------------------------------------
@dataclass
class FullHistory:
    sandbox: Sandbox
    home: Path
    results: list[dg.ExecuteInProcessResult]
    digests: list[dict[str, str]]
    requests: list[dict[str, list[str]]]


@pytest.fixture(scope="module")
def full(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullHistory]:
    """The small world's whole history loaded, loaded again, then re-backfilled for July."""
    home = tmp_path_factory.mktemp("full")
    with Sandbox(World(small_world)) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_at(sandbox, mp, None)
        state = FullHistory(sandbox, home, [], [], [])
        for paved in ({}, {}, {"window_from": "2026-07-01", "window_to": "2026-07-31"}):
            reset_requests(sandbox)
            state.results.append(materialize(home, **paved))
            state.digests.append(digests(home))
            state.requests.append(requests_by(sandbox))
        yield state


def test_materializing_every_raw_asset_accounts_for_every_record(full: FullHistory) -> None:
    first = full.results[0]
    assert first.success
    recorded = assert_accounted(full.home, first.run_id)
    assert set(recorded) == SOURCES
    for source, row in recorded.items():
        assert row["fetched"] > 0 and row["loaded"] > 0, source
        assert row["notes"] is not None and "not configured" not in row["notes"]
    # Every incident created since PAVED_HISTORY_START is there, mapped or kept as unmapped.
    world = full.sandbox.world
    (expected,) = world.query(
        "SELECT count(*) FROM pd_incidents WHERE created_at >= ? AND created_at <= ?",
        (world.meta["history_start"], world.now_ts),
    )[0]
    assert len(keys(full.home, "pagerduty_incidents")) == expected
    # What no component claims is kept, with the reason.
    with warehouse(full.home) as conn:
        for table in ("argocd_applications", "argocd_history", "pagerduty_incidents"):
            reasons = conn.execute(
                f"SELECT DISTINCT unmapped_reason FROM raw.{table} "
                "WHERE unmapped_reason IS NOT NULL"
            ).fetchall()
            assert reasons and all("catalog component" in r for (r,) in reasons), table
    metadata = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in first.get_asset_materialization_events()
        if event.asset_key is not None
    }
    for asset in ("raw/github", "raw/pagerduty", "raw/typeform"):
        names = set(metadata[asset])
        assert {"fetched", "loaded", "rejected", "unmapped", "requests", "not_modified"} <= names
        assert {"retries", "waited_s", "window"} <= names


def test_a_second_run_changes_nothing_and_asks_only_conditional_or_minimal_questions(
    full: FullHistory,
) -> None:
    second = full.results[1]
    assert second.success
    assert full.digests[1] == full.digests[0]
    recorded = assert_accounted(full.home, second.run_id)
    # GitHub: four conditional requests per repository, every one a free 304.
    repos = len({k.split(":")[0] for k in keys(full.home, "github_repositories")})
    github = recorded["github"]
    assert github["requests"] == github["not_modified"] == 4 * repos
    assert github["fetched"] == 0
    asked = full.requests[1]
    # The repository, the branch's newest commit, the first page (10) of the pull requests
    # and of the deployments.
    first_pages = {"commits": ["1"], "pulls": ["10"], "deployments": ["10"]}
    for target in asked["github"]:
        kind = urlsplit(target).path.rsplit("/", 1)[1]
        assert target.count("/") == 3 or query(target).get("per_page") == first_pages[kind]
    # Argo CD and Typeform: one request each; files unchanged are not read again.
    assert len(asked["argocd"]) == 1 and len(asked["typeform"]) == 1
    assert recorded["focus"]["fetched"] == recorded["googleforms"]["fetched"] == 0
    # PagerDuty: the open incidents, one by one, then incidents created since the watermark.
    with warehouse(full.home) as conn:
        newest = conn.execute(
            "SELECT max(payload->>'created_at') FROM raw.pagerduty_incidents"
        ).fetchall()[0][0]
    listings = [t for t in asked["pagerduty"] if urlsplit(t).path == "/incidents"]
    since = datetime.fromisoformat(query(listings[0])["since"][0].replace("Z", "+00:00"))
    assert since == datetime.fromisoformat(newest)
    singles = [t for t in asked["pagerduty"] if urlsplit(t).path != "/incidents"]
    assert len(singles) == len(set(singles))


def test_a_re_backfill_of_a_window_is_idempotent(full: FullHistory) -> None:
    backfill = full.results[2]
    assert backfill.success
    assert full.digests[2] == full.digests[0]
    commits = [t for t in full.requests[2]["github"] if urlsplit(t).path.endswith("/commits")]
    # It really read July again, up to the end of --to.
    assert any(query(t).get("since") == ["2026-07-01T00:00:00Z"] for t in commits)
    assert any(query(t).get("until") == ["2026-08-01T00:00:00Z"] for t in commits)


def test_no_token_and_no_respondent_email_reaches_the_warehouse(full: FullHistory) -> None:
    tokens = list(full.sandbox.tokens.values())
    with warehouse(full.home) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON')"
        ).fetchall()
        for schema, table, column in columns:
            text = f"CAST({column} AS VARCHAR)"
            for token in tokens:
                (found,) = conn.execute(
                    f"SELECT count(*) FROM {schema}.{table} WHERE contains({text}, ?)", [token]
                ).fetchall()[0]
                assert found == 0, f"a token in {schema}.{table}.{column}"
            if table in SURVEY_TABLES or table == "rejected":
                condition = (
                    "" if table != "rejected" else " AND source IN ('typeform', 'googleforms')"
                )
                (found,) = conn.execute(
                    f"SELECT count(*) FROM {schema}.{table} WHERE contains({text}, ?){condition}",
                    [SANDBOX_DOMAIN],
                ).fetchall()[0]
                assert found == 0, f"a respondent email in {schema}.{table}.{column}"
        # The emails are there as keyed hashes, the same ones the catalog's users hash to.
        hashed = conn.execute(
            "SELECT payload::VARCHAR FROM raw.typeform_responses UNION ALL "
            "SELECT payload::VARCHAR FROM raw.googleforms_responses"
        ).fetchall()
    text = " ".join(payload for (payload,) in hashed)
    (email,) = full.sandbox.world.query(
        "SELECT email FROM survey_truth WHERE email LIKE ? LIMIT 1", (f"%{SANDBOX_DOMAIN}",)
    )[0]
    assert respondent_hash(email, SURVEY_SALT) in text


# -- incremental runs ----------------------------------------------------------------------------
@pytest.fixture
def recent(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    point_at(sandbox, monkeypatch, RECENT)
    return sandbox


INCREMENTAL_TABLES = (
    "github_commits",
    "github_pulls",
    "github_pull_commits",
    "github_deployments",
    "github_deployment_statuses",
    "pagerduty_incidents",
    "typeform_responses",
    "argocd_history",
)


def test_an_incremental_run_a_day_later_picks_up_exactly_what_is_new(
    recent: Sandbox, tmp_path: Path
) -> None:
    home = tmp_path / "incremental"
    assert materialize(home).success
    before = {table: keys(home, table) for table in INCREMENTAL_TABLES}
    then = recent.now
    recent.advance(days=1)
    assert materialize(home).success
    fresh = tmp_path / "fresh"
    assert materialize(fresh).success
    for table in INCREMENTAL_TABLES:
        if table == "argocd_history":
            # Accumulated: what rotated out of Argo CD's history since is kept.
            assert keys(home, table) == before[table] | keys(fresh, table)
        else:
            assert keys(home, table) == keys(fresh, table), table
    new = {table: keys(home, table) - before[table] for table in INCREMENTAL_TABLES}
    world = recent.world
    incidents = {
        incident
        for (incident,) in world.query(
            "SELECT id FROM pd_incidents WHERE created_at > ? AND created_at <= ?",
            (then.strftime("%Y-%m-%dT%H:%M:%SZ"), world.now_ts),
        )
    }
    assert new["pagerduty_incidents"] == incidents
    assert new["github_commits"], "a day of the sandbox has commits"
    # A new commit is one committed since, or one a pull request merged since brought along.
    stamp = then.strftime("%Y-%m-%dT%H:%M:%SZ")
    with warehouse(home) as conn:
        merged_branches = {
            key.split(":")[1]
            for (key,) in conn.execute(
                "SELECT c.key FROM raw.github_pull_commits c JOIN raw.github_pulls p "
                "ON p.key = split_part(c.key, ':', 1) WHERE p.payload->>'merged_at' > ?",
                [stamp],
            ).fetchall()
        }
        dated = dict(
            conn.execute(
                "SELECT key, payload->'commit'->'committer'->>'date' FROM raw.github_commits"
            ).fetchall()
        )
    for key in new["github_commits"]:
        assert dated[key] > stamp or key.split(":")[1] in merged_branches, key
    assert_merged_at_watermark_recorded(home)


def assert_merged_at_watermark_recorded(home: Path) -> None:
    """Each repository's ``pulls_merged_at_watermark`` (which spares the next read a lookup
    of each pull request listed again at the watermark) names exactly its pull requests
    stored as merged and updated at its ``pulls_updated_after``."""
    with warehouse(home) as conn:
        state = conn.execute(
            "SELECT scope, name, value FROM raw.state WHERE source = 'github' "
            "AND name IN ('pulls_updated_after', 'pulls_merged_at_watermark')"
        ).fetchall()
        stored = conn.execute(
            "SELECT scope, key, (payload->>'updated_at')::TIMESTAMPTZ FROM raw.github_pulls "
            "WHERE payload->>'merged_at' IS NOT NULL"
        ).fetchall()
    values = {(scope, name): json.loads(value) for scope, name, value in state}
    watermarks = {
        scope: parse_iso(value)
        for (scope, name), value in values.items()
        if name == "pulls_updated_after"
    }
    assert watermarks, "the sandbox's repositories have pull requests"
    at_watermark = {scope: set() for scope in watermarks}
    for scope, key, updated_at in stored:
        if updated_at == watermarks.get(scope):
            at_watermark[scope].add(key)
    recorded = {
        scope: set(values.get((scope, "pulls_merged_at_watermark"), ())) for scope in watermarks
    }
    assert recorded == at_watermark
    assert any(recorded.values())


def test_a_run_killed_mid_pagination_resumes_to_the_warehouse_an_uninterrupted_run_builds(
    recent: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = tmp_path / "clean"
    assert materialize(clean).success
    # Small batches, so a kill leaves some batches committed and one half read.
    monkeypatch.setattr(pipelines.ingest, "Ingestion", SmallBatches)
    kill_after = {"github": 700, "pagerduty": 7, "argocd": 60, "typeform": 3, "opencost": 90}
    killed = tmp_path / "killed"
    with monkeypatch.context() as m:
        m.setattr(Ingestion, "add", killing(Ingestion.add, kill_after))
        first = materialize(killed)
    assert not first.success
    failed = {e.step_key for e in first.get_step_failure_events()}
    assert {f"raw__{source}" for source in kill_after} <= failed
    with warehouse(killed) as conn:
        partial = conn.execute("SELECT count(*) FROM raw.github_commits").fetchall()[0][0]
    assert partial > 0  # some batches committed before the kill
    assert materialize(killed).success
    assert digests(killed) == digests(clean)


class SmallBatches(Ingestion):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, batch_size=97, **kwargs)


class Killed(Exception):
    """Stands for the process being killed: nothing after it runs."""


def killing(add: Any, after: dict[str, int]) -> Any:
    seen: dict[str, int] = {}

    def add_then_die(self: Ingestion, *args: Any, **kwargs: Any) -> None:
        seen[self.source] = seen.get(self.source, 0) + 1
        if seen[self.source] == after.get(self.source):
            raise Killed(f"killed while loading {self.source}")
        add(self, *args, **kwargs)

    return add_then_die


# -- faults --------------------------------------------------------------------------------------
@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 20 commits and 5 incidents, so a few weeks of the sandbox span many pages."""
    monkeypatch.setattr(connectors.github, "PER_PAGE", 20)
    monkeypatch.setattr(pipelines.pagerduty.ingest, "PagerDutyClient", FivePerPage)


class FivePerPage(PagerDutyClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, page_size=5, **kwargs)


def test_5xx_429_cut_bodies_duplicates_and_offset_drift_leave_the_clean_tables(
    recent: Sandbox, tmp_path: Path, small_pages: None
) -> None:
    clean = tmp_path / "clean"
    assert materialize(clean).success
    for name, server in recent.servers.items():
        faults = server.faults
        faults.seed = 11
        faults.error_rate = 0.1
        faults.burst_429 = 3
        faults.truncate_rate = 0.05
        faults.duplicate_rate = 0.2
        if name == "pagerduty":
            faults.offset_drift = 0.5
        if name == "github":
            faults.exhaust = 1
    faulty = tmp_path / "faulty"
    result = materialize(faulty)
    assert result.success
    assert digests(faulty) == digests(clean)
    recorded = assert_accounted(faulty, result.run_id)
    assert sum(row["retries"] for row in recorded.values()) > 10
    injected = sum((s.faults.injected for s in recent.servers.values()), start=Counter())
    for kind in ("error", "burst_429", "truncate", "duplicate", "offset_drift", "exhaust"):
        assert injected[kind] > 0, kind


def test_malformed_items_are_rejected_with_their_reasons_and_the_rest_loads(
    recent: Sandbox, tmp_path: Path, small_pages: None
) -> None:
    clean = tmp_path / "clean"
    assert materialize(clean).success
    for name, server in recent.servers.items():
        server.faults.seed = 5
        # One item of a page in ten (GitHub), of every page elsewhere.
        server.faults.malformed_rate = 0.1 if name == "github" else 1.0
    faulty = tmp_path / "faulty"
    result = materialize(faulty)
    assert result.success
    recorded = assert_accounted(faulty, result.run_id)
    with warehouse(faulty) as conn:
        rejected = conn.execute(
            "SELECT source, object, key, reason FROM raw.rejected WHERE run_id = ?",
            [result.run_id],
        ).fetchall()
        tables = object_tables(conn)
    assert rejected and all(reason for *_, reason in rejected)
    by_source = {source for source, *_ in rejected}
    assert {"github", "pagerduty", "argocd"} <= by_source
    for source in by_source:
        assert recorded[source]["rejected"] == sum(1 for s, *_ in rejected if s == source)
    for table in tables:
        assert keys(faulty, table) <= keys(clean, table), table


# -- Argo CD history -----------------------------------------------------------------------------
def test_rare_argocd_polling_records_a_gap_and_fails_the_check_with_guidance(
    recent: Sandbox, tmp_path: Path
) -> None:
    end = recent.now
    recent.world.set_now(end - timedelta(weeks=6))
    assert materialize(tmp_path, "raw/catalog,raw/argocd").success
    recent.world.set_now(end)
    result = materialize(tmp_path, "raw/argocd")
    assert not result.success
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert len(evaluations) == 1 and not evaluations[0].passed
    message = evaluations[0].description or ""
    assert "poll Argo CD more often or raise spec.revisionHistoryLimit" in message
    with warehouse(tmp_path) as conn:
        gaps = conn.execute("SELECT app, missing, run_id FROM raw.argocd_gaps").fetchall()
    assert gaps and all(run_id == result.run_id and missing > 0 for _, missing, run_id in gaps)


def test_daily_polling_records_exactly_the_gaps_the_ground_truth_predicts(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(sandbox, monkeypatch, None)
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    world = sandbox.world
    now = world.now
    polls = daily_polls(date.fromisoformat(world.meta["history_start"]), now)
    replay = replay_argocd(
        Settings(), polls=polls, now=now, set_clock=world.set_now, say=lambda _: None
    )
    assert replay.polls == len(polls)
    truth = compute_truth(world, poll_times=polls)
    expected = {app.uid for app in truth.apps if app.gap}
    with warehouse(tmp_path) as conn:
        recorded = {uid for (uid,) in conn.execute("SELECT uid FROM raw.argocd_gaps").fetchall()}
        limits = conn.execute(
            "SELECT DISTINCT payload->'spec'->>'revisionHistoryLimit' FROM "
            "raw.argocd_applications WHERE key IN (SELECT uid FROM raw.argocd_gaps)"
        ).fetchall()
    assert recorded == expected
    # Only the app whose limit is below its busiest day loses history at daily polling.
    assert expected and limits == [("3",)]


# -- configuration -------------------------------------------------------------------------------
def test_surveys_without_the_salt_fail_naming_it_and_store_nothing(
    recent: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAVED_SURVEY_SALT")
    result = materialize(tmp_path, "raw/catalog,raw/typeform,raw/googleforms")
    assert not result.success
    errors = [e.step_failure_data.error for e in result.get_step_failure_events()]
    messages = [(error.cause or error).message for error in errors if error is not None]
    assert len(messages) == 2
    assert all("PAVED_SURVEY_SALT" in m.splitlines()[0] for m in messages)
    with warehouse(tmp_path) as conn:
        assert not {"typeform_responses", "googleforms_responses"} & set(object_tables(conn))


def test_an_unconfigured_source_is_skipped_and_recorded_as_such(
    recent: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ARGOCD_URL", "PAGERDUTY_TOKEN", "OPENCOST_URL", "PAVED_COST_PATH"):
        monkeypatch.delenv(name)
    result = materialize(tmp_path, "raw/catalog,raw/argocd,raw/pagerduty,raw/opencost,raw/focus")
    assert result.success
    recorded = runs(tmp_path, result.run_id)
    assert recorded["argocd"]["notes"] == "not configured: set ARGOCD_URL"
    assert recorded["pagerduty"]["notes"] == "not configured: set PAGERDUTY_TOKEN"
    assert recorded["focus"]["fetched"] == 0
    with warehouse(tmp_path) as conn:
        assert object_tables(conn) == ["backstage_entities"]
    notes = {
        e.asset_key.to_user_string(): e.materialization.metadata["notes"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key is not None
    }
    assert notes["raw/opencost"] == "not configured: set OPENCOST_URL"


# -- the command line ----------------------------------------------------------------------------
def paved(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in contract_variables()}
    return subprocess.run(
        [sys.executable, "-c", "from pipelines.cli import main; main()", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def paved_here(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`paved ARGS` in this process (the environment is the test's): exit code and stderr."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["paved", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
    code = exit_.value.code
    return code if isinstance(code, int) else 0, capsys.readouterr().err


def test_paved_materialize_succeeds_with_exit_code_0_and_progress_lines(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = {**sandbox.env(), "PAVED_HISTORY_START": RECENT, "PAVED_HOME": str(tmp_path / "home")}
    ok = paved(["materialize", "--select", "raw/catalog,raw/pagerduty"], env, tmp_path)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stderr.splitlines()
    assert any(line.strip().startswith("raw/pagerduty") and "fetched" in line for line in lines)
    assert "succeeded" in lines[-1]
    # The run is recorded on Paved's own Dagster instance, under PAVED_HOME.
    assert list((tmp_path / "home" / "dagster").glob("**/runs.db"))


def test_paved_materialize_failures_are_one_line_with_exit_code_1_or_2(
    recent: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("PAVED_HOME", str(tmp_path))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "0" * 36)
    code, err = paved_here(["materialize", "--select", "raw/catalog,raw/github"], capsys)
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("paved: error: raw/github failed: ") and "GITHUB_TOKEN" in last
    assert "Traceback" not in err
    assert all(token not in err for token in recent.tokens.values())
    for args, expected in (
        (["--select", "raw/nope"], "no asset named raw/nope"),
        (["--select", "key:raw/a* and"], "invalid selection"),
        (["--from", "2026-13-01"], "--from takes a date"),
        (["--from", "2026-09-10", "--to", "2026-09-01"], "is before --from"),
    ):
        code, err = paved_here(["materialize", *args], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert lines[0].startswith("paved: error:") and expected in lines[0]


@pytest.mark.timeout(90)
def test_a_killed_paved_materialize_does_not_leave_the_next_run_waiting_for_its_slot(
    recent: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed while it holds the DuckDB writer pool's slot: the next run marks it failed,
    frees the slot and runs (without a daemon, nobody else would)."""
    home = tmp_path / "home"
    env = {**recent.env(), "PAVED_HISTORY_START": RECENT, "PAVED_HOME": str(home)}
    base = {k: v for k, v in os.environ.items() if k not in contract_variables()}
    process = subprocess.Popen(
        [sys.executable, "-c", "from pipelines.cli import main; main()", "materialize"],
        env={**base, **env},
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert process.stderr is not None
    for line in process.stderr:  # raw/catalog done: the next asset holds the slot
        if line.strip().startswith("raw/catalog"):
            break
    process.kill()
    process.wait()
    monkeypatch.setenv("PAVED_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    outcome = pipelines.run.materialize(Settings(), select="raw/catalog,raw/pagerduty", wait=False)
    assert outcome.success
    with dg.DagsterInstance.get() as instance:
        statuses = {run.run_id: run.status for run in instance.get_runs()}
    assert statuses[outcome.run_id] == dg.DagsterRunStatus.SUCCESS
    assert dg.DagsterRunStatus.FAILURE in statuses.values()


def test_the_warehouse_draws_no_progress_bar_into_a_runs_log(tmp_path: Path) -> None:
    # DuckDB draws one on stdout for any query over 2 s, terminal or not, in a process of its
    # own (`paved materialize` from cron); under pytest's captured output it never does, so
    # the warehouse is opened in a child process, its output a pipe as in a scheduled run.
    script = (
        "import sys; from pathlib import Path; from pipelines.raw import open_warehouse; "
        "conn = open_warehouse(Path(sys.argv[1])); "
        "print(conn.execute(\"SELECT current_setting('enable_progress_bar')\").fetchall()[0][0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "w.duckdb")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.stdout.strip() == "False"
