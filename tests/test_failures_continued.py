"""The failure, recovery and rework flags continued from the previous run's
(models.metrics.failures_continued) are exactly those computed whole.

Each test runs day after day over a small history (two services, deployments in two
environments with rollbacks, reverts of 7 to 40 hex digits, incidents resolved days later or
never), stores what each day leaves as the pipeline does (pipelines.marts.warehouse.write_marts
into a real DuckDB), and checks the continued flags, incidents and ``marts.deployments`` against
the whole computation's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_metrics_rules import CART, SERVICES, SHOP, commit_rows, dep, incident, make, sha

from models.metrics import deployed_at_by_ancestry, first_observed, flag_rollbacks, to_mart
from models.metrics import frames as F
from models.metrics.deployments import ORDER, order_keys
from models.metrics.failures import FAR_FUTURE
from models.metrics.failures_continued import Flagged, StoredFlags, flag_deployments
from pipelines.marts.kept import stored_flags
from pipelines.marts.warehouse import write_marts

FIRST_DAY = datetime(2024, 1, 3, tzinfo=UTC)
REPOS = {SHOP: "Acme/Shop", CART: "acme/cart"}
WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class History:
    """Everything that happened, and when it arrived (a deployment when it finished; an
    incident when it was created, its resolution when it was resolved)."""

    deployments: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    commits: pl.DataFrame


def history(seed: int, days: int = 7) -> History:
    """A random history of ``days`` days from :data:`FIRST_DAY`."""
    rng = random.Random(seed)
    commits: list[dict[str, Any]] = []
    for service, repo in REPOS.items():
        labels = [f"{service}-{i}" for i in range(80)]
        messages = {}
        for i in range(6, 80, 5):
            target = sha(labels[rng.randrange(i)])[: rng.choice([7, 12, 40])]
            messages[labels[i]] = f"Revert\n\nThis reverts commit {target}."
        graph = {label: ([labels[i - 1]] if i else []) for i, label in enumerate(labels)}
        commits += commit_rows(repo, graph, messages=messages)
    deployments, incidents = [], []
    tip = dict.fromkeys(REPOS, 0)
    for day in range(days):
        midnight = FIRST_DAY + timedelta(days=day)
        for service in REPOS:
            for _ in range(rng.randint(0, 4)):
                at = midnight + timedelta(minutes=rng.randrange(24 * 60))
                if tip[service] > 2 and rng.random() < 0.2:
                    revision = tip[service] - rng.randint(1, 2)  # a rollback, mostly
                else:
                    tip[service] = revision = min(tip[service] + rng.randint(0, 3), 79)
                number = len(deployments) + 1
                deployments.append(
                    dep(
                        f"argocd:{service[-4:]}:{number}",
                        f"{at:%Y-%m-%d %H:%M}",
                        f"{service}-{revision}",
                        service=service,
                        environment=rng.choice(["prod", "prod-eu"]),
                    )
                )
            for _ in range(rng.randint(0, 2)):
                created = midnight + timedelta(minutes=rng.randrange(24 * 60))
                lasts = rng.choice([None, 0.3, 2.0, 30.0, 70.0])
                resolved = created + timedelta(hours=lasts) if lasts is not None else None
                incidents.append(
                    incident(
                        f"P{len(incidents) + 1}",
                        f"{created:%Y-%m-%d %H:%M}",
                        f"{resolved:%Y-%m-%d %H:%M}" if resolved else None,
                        service=service,
                    )
                )
    return History(deployments, incidents, make(F.COMMITS, commits))


@dataclass(frozen=True)
class Day:
    """A run's inputs to the flags, as of a clock."""

    deployments: pl.DataFrame
    incidents: pl.DataFrame
    shipped: pl.DataFrame
    commits: pl.DataFrame
    clock: datetime


def as_of(world: History, clock: datetime, seed: int = 0) -> Day:
    """What a run at ``clock`` sees: the deployments finished and incidents created by then
    (those resolved later still open), the deployments numbered in deployment order
    (:data:`models.metrics.deployments.ORDER`) and then shuffled, as the walk leaves them."""
    finished = [d for d in world.deployments if d["finished_at"] <= clock]
    deployments = first_observed(order_keys(make(F.DEPLOYMENTS, finished)).with_row_index(ORDER))
    deployments = flag_rollbacks(deployments, world.commits, SERVICES)
    shipped = deployed_at_by_ancestry(deployments, world.commits, SERVICES)
    deployments = deployments.sample(fraction=1.0, shuffle=True, seed=seed)
    seen = []
    for row in world.incidents:
        if row["created_at"] > clock:
            continue
        if row["resolved_at"] is not None and row["resolved_at"] > clock:
            row = {**row, "resolved_at": None, "status": "triggered"}
        seen.append(row)
    return Day(deployments, make(F.INCIDENTS, seen), shipped, world.commits, clock)


def flagged(day: Day, stored: StoredFlags | None, walked_since: datetime | None) -> Flagged:
    return flag_deployments(
        day.deployments,
        day.incidents,
        day.shipped,
        day.commits,
        SERVICES,
        window_hours=WINDOW.total_seconds() / 3600,
        stored=stored,
        walked_since=walked_since,
    )


def incidents_mart(incidents: pl.DataFrame) -> pl.DataFrame:
    teams = SERVICES.select("service", "team")
    return to_mart(incidents.join(teams, on="service", how="left"), "incidents")


def store(conn: duckdb.DuckDBPyConnection, found: Flagged) -> None:
    """Write the marts the flags feed and what they leave, as the pipeline does."""
    marts = {
        "deployments": to_mart(found.deployments, "deployments"),
        "incidents": incidents_mart(found.incidents),
    }
    write_marts(conn, marts, flagged=found)


def table(conn: duckdb.DuckDBPyConnection, name: str, key: str) -> pl.DataFrame:
    return conn.sql(f"SELECT * FROM marts.{name} ORDER BY {key}").pl()


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn


def new_since(before: Day | None, day: Day) -> datetime | None:
    """The first finish among the deployments ``day`` has and ``before`` had not: where a
    continued walk starts."""
    if before is None:
        return None
    known = before.deployments.get_column("deployment_id").implode()
    fresh = day.deployments.filter(~pl.col("deployment_id").is_in(known))
    return fresh.get_column("finished_at").min()  # type: ignore[return-value]


def run(conn: duckdb.DuckDBPyConnection, day: Day, walked_since: datetime | None) -> Flagged:
    """One run's flags, continued from what ``conn`` holds, checked against the whole
    computation's, and stored."""
    stored, _ = stored_flags(conn)
    found = flagged(day, stored, walked_since)
    whole = flagged(day, None, None)
    assert whole.since is None
    assert_frame_equal(found.deployments, whole.deployments)
    assert_frame_equal(found.incidents, whole.incidents)
    store(conn, found)
    assert_frame_equal(
        table(conn, "deployments", "deployment_id"),
        to_mart(whole.deployments, "deployments").sort("deployment_id"),
    )
    assert_frame_equal(
        table(conn, "incidents", "incident_id"),
        incidents_mart(whole.incidents).sort("incident_id"),
    )
    return found


@pytest.mark.parametrize("seed", range(6))
def test_day_after_day_the_continued_flags_are_the_whole_ones(
    conn: duckdb.DuckDBPyConnection, seed: int
) -> None:
    world = history(seed)
    before, continued = None, 0
    for n in range(1, 8):
        day = as_of(world, FIRST_DAY + timedelta(days=n, hours=6), seed=n)
        found = run(conn, day, new_since(before, day))
        if n > 1:
            continued += found.since is not None
        before = day
    assert continued >= 3, "most days continue the day before's flags"


def two_days(world: History) -> tuple[Day, Day]:
    """The runs of the mornings of the sixth and seventh days."""
    clock = FIRST_DAY + timedelta(days=5, hours=6)
    return as_of(world, clock), as_of(world, clock + timedelta(days=1), seed=1)


def at(day: int, hour: int) -> str:
    return f"{FIRST_DAY + timedelta(days=day, hours=hour):%Y-%m-%d %H:%M}"


def test_an_incident_resolved_days_later_computes_from_a_window_before_its_creation(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    world = history(1)
    k, old = next(
        (k, row)
        for k, row in enumerate(world.incidents)
        if row["created_at"] >= FIRST_DAY + timedelta(days=3)
    )
    # Open on the sixth morning, resolved that noon.
    world.incidents[k] = {**old, "resolved_at": FIRST_DAY + timedelta(days=5, hours=12)}
    yesterday, today = two_days(world)
    run(conn, yesterday, None)
    found = run(conn, today, new_since(yesterday, today))
    assert found.since is not None
    assert found.since <= old["created_at"] - WINDOW


def test_a_rollback_the_next_evening_fails_the_last_deployment_of_the_morning_before(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    world = history(2)
    world.deployments.extend(
        [
            dep("argocd:shop:900", at(5, 2), f"{SHOP}-78", service=SHOP, environment="canary"),
            dep("argocd:shop:901", at(5, 4), f"{SHOP}-79", service=SHOP, environment="canary"),
            dep("argocd:shop:902", at(5, 22), f"{SHOP}-78", service=SHOP, environment="canary"),
        ]
    )
    yesterday, today = two_days(world)
    run(conn, yesterday, None)
    found = run(conn, today, new_since(yesterday, today))
    assert found.since is not None
    row = found.deployments.filter(pl.col("deployment_id") == "argocd:shop:901").row(0, named=True)
    assert (row["failure_reason"], row["recovery_deployment_id"]) == ("rollback", "argocd:shop:902")


def reverted(message: str = f"Revert\n\nThis reverts commit {sha('s3')}.") -> History:
    """One service's line of commits s0..s7, s5 (``message``) reverting s3, deployed so that
    the deployment that ships s5 finishes 10 h after the one that ships s3."""
    labels = [f"s{i}" for i in range(8)]
    graph = {label: ([labels[i - 1]] if i else []) for i, label in enumerate(labels)}
    commits = make(F.COMMITS, commit_rows(REPOS[SHOP], graph, messages={"s5": message}))
    deployments = [
        dep("argocd:shop:1", at(0, 1), "s1", service=SHOP),
        dep("argocd:shop:2", at(1, 10), "s3", service=SHOP),  # ships s2 and s3
        dep("argocd:shop:3", at(1, 20), "s5", service=SHOP),  # reverts s3: 2 failed
        dep("argocd:shop:4", at(5, 12), "s6", service=SHOP),
        dep("argocd:shop:5", at(6, 1), "s7", service=SHOP),
    ]
    return History(deployments, [], commits)


def failed(found: Flagged) -> list[str]:
    return found.deployments.filter("is_failed").get_column("deployment_id").sort().to_list()


def test_first_shipments_the_walk_moved_compute_from_the_first_deployment_it_walked(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    yesterday, today = two_days(reverted())
    assert failed(run(conn, yesterday, None)) == ["argocd:shop:2"]
    # Today's walk gives s2 and s3 to the first deployment (a whole walk over a graph that
    # gained an ancestor): the revert now names a commit shipped 43 h before it, so neither
    # deployment failed.
    first = today.deployments.filter(pl.col("deployment_id") == "argocd:shop:1").row(0, named=True)
    moved = pl.col("sha").is_in([sha("s2"), sha("s3")])
    shipped = today.shipped.with_columns(
        deployment_id=pl.when(moved)
        .then(pl.lit(first["deployment_id"]))
        .otherwise("deployment_id"),
        finished_at=pl.when(moved).then(pl.lit(first["finished_at"])).otherwise("finished_at"),
    )
    today = Day(today.deployments, today.incidents, shipped, today.commits, today.clock)
    stored, _ = stored_flags(conn)
    found = flagged(today, stored, first["finished_at"])
    assert_frame_equal(found.deployments, flagged(today, None, None).deployments)
    assert failed(found) == []
    # Had the walk walked the new deployment only, the stored flag of 2 would have stayed.
    unwalked = flagged(today, stored, new_since(yesterday, today))
    assert unwalked.since is not None
    assert failed(unwalked) == ["argocd:shop:2"]


def test_a_revert_message_staged_again_otherwise_computes_from_its_deployment(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    yesterday, _ = two_days(reverted())
    assert failed(run(conn, yesterday, None)) == ["argocd:shop:2"]
    # Staging now reads s5's message otherwise (it names no commit): nothing else changed.
    _, today = two_days(reverted("Revert the last change"))
    found = run(conn, today, new_since(yesterday, today))
    assert failed(found) == []


def test_nothing_new_computes_no_flags(conn: duckdb.DuckDBPyConnection) -> None:
    day = as_of(history(4), FIRST_DAY + timedelta(days=5))
    run(conn, day, None)
    found = run(conn, day, None)
    assert found.since == FAR_FUTURE
    assert found.computed.is_empty()


@pytest.mark.parametrize(
    "what",
    ["no digests", "a stored flag of no deployment", "a deployment stored twice", "attribution"],
)
def test_without_what_the_stored_flags_need_they_are_computed_whole(
    conn: duckdb.DuckDBPyConnection, what: str
) -> None:
    yesterday, today = two_days(history(5))
    run(conn, yesterday, None)
    if what == "no digests":
        conn.execute("DELETE FROM staging.paved_flag_days")
    elif what == "a stored flag of no deployment":
        conn.execute(
            "INSERT INTO staging.paved_flags SELECT 'argocd:gone:1', TIMESTAMPTZ '2024-01-01 "
            "00:00:00+00', 'rollback', true, NULL, NULL, NULL, NULL, false"
        )
    elif what == "a deployment stored twice":
        conn.execute(
            "INSERT INTO staging.paved_flags "
            "SELECT * FROM staging.paved_flags ORDER BY finished_at LIMIT 1"
        )
    else:
        conn.execute("DELETE FROM marts.incidents WHERE created_at < TIMESTAMPTZ '2024-01-04'")
    found = run(conn, today, new_since(yesterday, today))
    assert found.since is None


def test_another_window_or_code_computes_whole(conn: duckdb.DuckDBPyConnection) -> None:
    yesterday, today = two_days(history(6))
    run(conn, yesterday, None)
    stored, _ = stored_flags(conn)
    walked = new_since(yesterday, today)
    assert flagged(today, stored, walked).since is not None
    other = StoredFlags("other code", stored.digests, stored.flags, stored.attributed, stored.keep)
    assert flagged(today, other, walked).since is None
    wider = flag_deployments(
        today.deployments,
        today.incidents,
        today.shipped,
        today.commits,
        SERVICES,
        window_hours=48,
        stored=stored,
        walked_since=walked,
    )
    assert wider.since is None
