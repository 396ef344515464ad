"""The sandbox's ground truth follows METRICS.md on the small world, and stays reproducible.

Pinned here: change failure rate never above 1 and every failure has a reason; incidents are
attributed only within the window (an incident the generator caused 26 h+ after its deployment
is not blamed on it); rollbacks really go back in history; rare Argo CD polling loses history and
flags a gap; the first observed deployment's changes are excluded from lead time; empty months
are zero-filled with NULL medians; the lone suppressed survey team drags the next smallest one
with it; untagged cost stays unallocated and currencies are never summed; the same world gives
byte-identical CSV files. Where the world alone cannot show a rule, a tiny hand-made input does.
"""

from __future__ import annotations

import json
import re
from collections import deque
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.truth import Truth, compute_truth, main_truth, write_truth
from sandbox.truth.costs import daily_costs
from sandbox.truth.deployments import (
    Deployment,
    HistoryEntry,
    collapse_self_heal,
    default_poll_times,
    observe_history,
)
from sandbox.truth.failures import attribute_incidents
from sandbox.truth.incidents import Incident
from sandbox.truth.surveys import suppressed_teams
from sandbox.world.store import World, from_ts

WINDOW = timedelta(hours=24)


@pytest.fixture(scope="session")
def truth(small_world: Path) -> Truth:
    return compute_truth(World(small_world))


def _history_start(world: World) -> datetime:
    return datetime.combine(date.fromisoformat(world.meta["history_start"]), time(0), UTC)


def _weekly_polls(world: World) -> list[datetime]:
    daily = default_poll_times(_history_start(world).date(), world.now)
    return [*daily[:-1:7], world.now]


@pytest.fixture(scope="session")
def parents(small_world: Path) -> dict[str, list[str]]:
    """Every commit's parents, straight from the commits table."""
    rows = World(small_world).query("SELECT sha, parents_json FROM commits")
    return {sha: json.loads(p) for sha, p in rows}


def _ancestors(parents: dict[str, list[str]], sha: str) -> set[str]:
    """A deliberately naive walk (no pruning): the commit and everything behind it."""
    seen, queue = {sha}, deque([sha])
    while queue:
        for parent in parents.get(queue.popleft(), []):
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return seen


def _caused_finish(world: World, key: str) -> datetime | None:
    """When the deployment an incident's ``caused_by`` names finished (world truth)."""
    source, rest = key.split(":", 1)
    owner, number = rest.rsplit(":", 1)
    if source == "argocd":
        rows = world.query(
            "SELECT deployed_at FROM argo_history WHERE app_uid = ? AND id = ?",
            (owner, int(number)),
        )
    else:
        rows = world.query(
            "SELECT MAX(created_at) FROM gh_deployment_statuses WHERE deployment_id = ?",
            (int(number),),
        )
    return from_ts(rows[0][0]) if rows and rows[0][0] else None


# -- change failure rate ---------------------------------------------------------------------


def test_change_failure_rate_is_never_above_one(truth: Truth) -> None:
    rows = truth.service_months + truth.team_months + truth.org_months
    rates = [r.change_failure_rate for r in rows if r.change_failure_rate is not None]
    assert rates and max(rates) <= 1
    assert all(r.failed_deployments <= r.deployments for r in rows)
    assert sum(r.failed_deployments for r in truth.org_months) == sum(
        d.is_failed for d in truth.deployments
    )


def test_every_failed_deployment_has_a_reason(truth: Truth) -> None:
    failed = [d for d in truth.deployments if d.is_failed]
    assert failed
    assert {d.failure_reason for d in failed} <= {"incident", "rollback", "revert"}
    assert all(d.failure_reason is None for d in truth.deployments if not d.is_failed)
    for dep in failed:
        if dep.failure_reason == "incident":
            assert dep.incident_ids
        else:
            assert not dep.incident_ids and dep.recovery_s is not None and dep.recovery_s > 0


def test_incident_caused_after_the_window_is_not_attributed_to_its_deployment(
    small_world: Path, truth: Truth
) -> None:
    world = World(small_world)
    by_id = {i.incident_id: i for i in truth.incidents}
    finishes = {d.deployment_id: d.finished_at for d in truth.deployments}
    late = []
    for iid, caused_by, created in world.query(
        "SELECT id, caused_by, created_at FROM pd_incidents WHERE caused_by IS NOT NULL"
    ):
        finished = _caused_finish(world, caused_by)
        if iid in by_id and finished and from_ts(created) - finished >= timedelta(hours=26):
            late.append((by_id[iid], caused_by))
    assert late, "the small world should hold incidents noticed after the window"
    for incident, caused_by in late:
        assert incident.deployment_id != caused_by
        before = [
            d
            for d in truth.deployments
            if d.service == incident.service and d.finished_at <= incident.created_at
        ]
        latest = max(before, key=lambda d: d.order) if before else None
        if latest is None or incident.created_at - latest.finished_at > WINDOW:
            assert incident.deployment_id is None
        else:  # a later deployment finished within the window: it takes the blame
            assert incident.deployment_id == latest.deployment_id
            assert incident.created_at - finishes[latest.deployment_id] <= WINDOW


@pytest.mark.parametrize(
    ("hours_after", "attributed"),
    [(0, True), (23.99, True), (24, True), (24.01, False), (26, False), (-1, False)],
)
def test_incident_is_attributed_only_within_the_window(
    hours_after: float, attributed: bool
) -> None:
    finished = datetime(2026, 7, 1, 12, tzinfo=UTC)
    dep = Deployment(
        "argocd:u:1", "component:default/s", None, "s-prod", "argocd", "abc", finished, finished
    )
    created = finished + timedelta(hours=hours_after)
    incident = Incident(
        "Q1",
        "component:default/s",
        None,
        "pagerduty",
        "t",
        "high",
        "resolved",
        created,
        created + timedelta(hours=1),
        3600,
        "P1",
        False,
    )
    attribute_incidents([incident], [dep], WINDOW)
    assert (incident.deployment_id == dep.deployment_id) is attributed
    assert dep.incident_ids == (["Q1"] if attributed else [])


def test_incident_within_the_window_is_attributed_to_the_latest_deployment(truth: Truth) -> None:
    attributed = [i for i in truth.incidents if i.deployment_id is not None]
    assert attributed
    deps = {d.deployment_id: d for d in truth.deployments}
    for incident in attributed:
        dep = deps[str(incident.deployment_id)]
        assert dep.service == incident.service
        assert timedelta(0) <= incident.created_at - dep.finished_at <= WINDOW
        later = [
            d
            for d in truth.deployments
            if d.service == dep.service
            and dep.order < d.order
            and d.finished_at <= incident.created_at
        ]
        assert not later, f"{incident.incident_id} skipped a later deployment"


# -- rollbacks, changes, months --------------------------------------------------------------


def test_every_rollback_revision_is_a_strict_ancestor_of_the_previous_one(
    small_world: Path, truth: Truth, parents: dict[str, list[str]]
) -> None:
    world = World(small_world)
    rollbacks = [d for d in truth.deployments if d.is_rollback]
    assert rollbacks
    for dep in rollbacks:
        previous = [
            d
            for d in truth.deployments
            if d.service == dep.service and d.environment == dep.environment and d.order < dep.order
        ][-1]
        assert dep.revision and previous.revision and dep.revision != previous.revision
        assert dep.revision in _ancestors(parents, previous.revision)
    # Every rollback the generator made by hand (initiated by a user) that the truth kept
    # with a resolved revision is recognised as one.
    manual = {
        f"argocd:{uid}:{hid}"
        for uid, hid in world.query(
            "SELECT app_uid, id FROM argo_history WHERE initiated_by_json LIKE '%username%'"
        )
    }
    kept = [d for d in truth.deployments if d.deployment_id in manual and d.revision]
    assert kept and all(d.is_rollback for d in kept)


def test_change_is_deployed_by_the_first_deployment_whose_revision_contains_it(
    truth: Truth, parents: dict[str, list[str]]
) -> None:
    shipped: dict[str, list[tuple[str, set[str]]]] = {}  # service -> deployments in order
    for dep in sorted(truth.deployments, key=lambda d: d.order):
        if dep.revision:
            shipped.setdefault(dep.service, []).append(
                (dep.deployment_id, _ancestors(parents, dep.revision))
            )
    assert shipped
    for change in truth.changes:
        first = next(
            (
                dep_id
                for dep_id, behind in shipped.get(change.service, [])
                if change.commit_sha in behind
            ),
            None,
        )
        assert change.deployment_id == first, change.change_id
    assert any(c.deployment_id is None for c in truth.changes), "some changes are not shipped"


def test_changes_of_the_first_observed_deployment_are_excluded(truth: Truth) -> None:
    firsts = {d.service: d for d in truth.deployments if d.first_observed}
    services = {d.service for d in truth.deployments}
    assert set(firsts) == services
    for dep in firsts.values():
        assert (
            min((d for d in truth.deployments if d.service == dep.service), key=lambda d: d.order)
            is dep
        )
    excluded = [c for c in truth.changes if c.excluded_reason == "first_observed_deployment"]
    assert excluded
    first_ids = {d.deployment_id for d in firsts.values()}
    assert all(c.deployment_id in first_ids for c in excluded)
    assert not [c for c in truth.changes if c.deployment_id in first_ids and not c.excluded_reason]
    counted = sum(r.changes for r in truth.org_months)
    assert counted == sum(c.counts_for_lead_time for c in truth.changes)


def test_empty_months_are_zero_filled_with_null_medians(truth: Truth) -> None:
    months = sorted({r.period_start for r in truth.org_months})
    assert months[0] == truth.history_start.date().replace(day=1)
    assert months[-1] == truth.now.date().replace(day=1)
    for service in truth.spine.services:
        assert [r.period_start for r in truth.service_months if r.scope_id == service] == months
    empty = [r for r in truth.service_months if r.deployments == 0]
    assert empty, "some service-months (e.g. now's month) have no deployment"
    for row in empty:
        assert row.deploys_per_day == 0.0 and row.deployment_days == 0
        assert row.change_failure_rate is None and row.rework_rate is None
    for row in truth.service_months + truth.org_months:
        if row.changes == 0:
            assert row.lead_time_p50_s is None and row.lead_time_p90_s is None
        if row.incidents == 0:
            assert row.mttr_p50_s is None and row.mttr_mean_s is None


@pytest.mark.parametrize(
    ("revisions", "kept"),
    [
        (["a", "a", "b", "b", "b", "a"], [1, 3, 6]),  # re-syncs fold into the first entry
        (["a", "b", "a"], [1, 2, 3]),  # going back is a new deployment
        ([("1.4.2", "m1"), ("1.4.2", "m1"), ("1.4.2", "m2")], [1, 3]),  # multi-source lists
    ],
)
def test_consecutive_syncs_of_one_revision_are_one_deployment(
    revisions: list[str | tuple[str, str]], kept: list[int]
) -> None:
    at = datetime(2026, 7, 1, tzinfo=UTC)
    entries = [
        HistoryEntry(
            i,
            r if isinstance(r, str) else None,
            None if isinstance(r, str) else tuple(r),
            None,
            None,
            at,
            at,
        )
        for i, r in enumerate(revisions, start=1)
    ]
    assert [e.id for e in collapse_self_heal(entries)] == kept


def test_deployed_revision_is_the_app_commit_or_a_unique_image_tag_else_unresolved(
    small_world: Path, truth: Truth
) -> None:
    world = World(small_world)
    kinds = set()
    for dep in (d for d in truth.deployments if d.source == "argocd"):
        _, uid, hid = dep.deployment_id.split(":")
        revision, source, sources = world.query(
            "SELECT revision, source_json, sources_json FROM argo_history "
            "WHERE app_uid = ? AND id = ?",
            (uid, int(hid)),
        )[0]
        text = json.dumps([json.loads(source)] if source else json.loads(sources))
        tag = re.search(r'(?:images": \["[^"]*:|"image.tag", "value": ")([^"]+)"', text)
        if tag is None:  # the app's own repository
            kinds.add("app")
            assert dep.revision == revision
        elif re.fullmatch(r"[0-9a-f]{7,40}", tag.group(1)):
            kinds.add("tag")
            assert dep.revision is not None and dep.revision.startswith(tag.group(1))
            assert len(dep.revision) == 40
        else:
            kinds.add("unresolved")
            assert dep.revision is None
    assert kinds == {"app", "tag", "unresolved"}


def test_github_deployments_are_production_successes_only(small_world: Path, truth: Truth) -> None:
    world = World(small_world)
    github = [d for d in truth.deployments if d.source == "github"]
    assert github
    for dep in github:
        assert dep.environment.lower() in ("production", "prod")
        number = int(dep.deployment_id.rsplit(":", 1)[1])
        state, at = world.query(
            "SELECT state, created_at FROM gh_deployment_statuses WHERE deployment_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT 1",
            (number,),
        )[0]
        assert state == "success" and from_ts(at) == dep.finished_at
    assert world.query(
        "SELECT COUNT(*) FROM gh_deployments WHERE environment NOT IN ('production', 'prod')"
    )[0][0], "the world has staging deployments to filter out"


def test_rework_covers_rollbacks_and_revert_shipments(truth: Truth) -> None:
    assert all(d.is_rework for d in truth.deployments if d.is_rollback)
    reasons = {d.rework_reason for d in truth.deployments if d.is_rework}
    assert reasons <= {"rollback", "revert", "incident_open"} and "incident_open" in reasons
    assert sum(r.rework_deployments for r in truth.org_months) == sum(
        d.is_rework for d in truth.deployments
    )


# -- Argo CD polling -------------------------------------------------------------------------


def test_rare_polling_loses_history_and_flags_a_gap(small_world: Path, truth: Truth) -> None:
    world = World(small_world)
    weekly = compute_truth(world, poll_times=_weekly_polls(world))
    daily_app = next(a for a in truth.apps if a.production and a.history_limit == 3)
    weekly_app = next(a for a in weekly.apps if a.uid == daily_app.uid)
    assert weekly_app.gap and weekly_app.lost_history > 0
    assert daily_app.lost_history < weekly_app.lost_history
    assert sum(a.lost_history for a in truth.apps) < sum(a.lost_history for a in weekly.apps)

    def deployments_of(t: Truth) -> int:
        return sum(1 for d in t.deployments if d.service == daily_app.service)

    assert deployments_of(weekly) < deployments_of(truth)


def _entries(*deployed_days: int) -> list[HistoryEntry]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        HistoryEntry(
            i, f"r{i}", None, None, None, base + timedelta(days=d), base + timedelta(days=d)
        )
        for i, d in enumerate(deployed_days, start=1)
    ]


@pytest.mark.parametrize(
    ("poll_days", "deleted_day", "seen", "gap"),
    [
        ((0, 1, 2, 3, 4, 5, 6, 7), None, {1, 2, 3, 4, 5, 6, 7, 8}, False),  # every day: all
        ((7,), None, {6, 7, 8}, False),  # one late poll: the last three, no earlier poll
        ((3, 7), None, {2, 3, 4, 6, 7, 8}, True),  # 5 fell between polls: a gap
        ((3, 7), 5, {2, 3, 4}, False),  # the app was deleted before the second poll
    ],
)
def test_a_poll_sees_only_the_last_history_entries_of_an_existing_app(
    poll_days: tuple[int, ...], deleted_day: int | None, seen: set[int], gap: bool
) -> None:
    base = datetime(2026, 1, 1, 12, tzinfo=UTC)
    observed, has_gap, _ = observe_history(
        _entries(0, 1, 2, 3, 4, 5, 6, 7),
        limit=3,
        created_at=base - timedelta(days=30),
        deleted_at=None if deleted_day is None else base + timedelta(days=deleted_day),
        polls=[base + timedelta(days=d) for d in poll_days],
    )
    assert (observed, has_gap) == (seen, gap)


# -- incidents and the clock -----------------------------------------------------------------


def test_an_incident_resolved_after_the_clock_is_open_and_untimed(
    small_world: Path, truth: Truth
) -> None:
    failed = next(
        d
        for d in truth.deployments
        if d.failure_reason == "incident" and d.recovered_at and d.recovered_at < truth.now
    )
    assert failed.recovered_at is not None
    world = World(small_world)
    world.set_now(failed.recovered_at - timedelta(seconds=1))
    earlier = compute_truth(world)
    again = next(d for d in earlier.deployments if d.deployment_id == failed.deployment_id)
    assert again.is_failed and again.recovery_s is None and again.recovered_at is None
    open_ones = [i for i in earlier.incidents if i.incident_id in again.incident_ids]
    assert any(i.status != "resolved" and i.time_to_restore_s is None for i in open_ones)


# -- surveys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("respondents", "suppressed"),
    [
        ({"a": 3, "b": 6, "c": 6, "d": 9}, {"a", "b"}),  # tie on 6: by name
        ({"a": 3, "b": 4, "c": 9}, {"a", "b"}),  # two below: nothing to add
        ({"a": 5, "b": 7}, set()),
        ({"a": 2}, {"a"}),  # no other team to add
    ],
)
def test_a_lone_suppressed_team_takes_the_next_smallest_with_it(
    respondents: dict[str, int], suppressed: set[str]
) -> None:
    assert suppressed_teams(respondents, 5) == suppressed


def test_survey_cells_of_the_world_never_leave_one_team_suppressed(truth: Truth) -> None:
    quarters = sorted({r.quarter for r in truth.satisfaction})
    assert quarters
    dragged = 0
    for quarter in quarters:
        cells = {
            r.scope_id: r for r in truth.satisfaction if r.quarter == quarter and r.scope == "team"
        }
        hidden = [c for c in cells.values() if c.suppressed]
        assert len(hidden) != 1 or len(cells) == 1
        dragged += sum(1 for c in hidden if c.respondents >= 5)
    assert dragged, "the tiny team should drag a bigger one into suppression at least once"
    for row in truth.satisfaction:
        if row.suppressed:
            assert row.mean_score is None and row.enps is None and row.delta_prev is None


# -- cost ------------------------------------------------------------------------------------


def _focus_row(day: int, tags: str | None, currency: str = "USD", amount: str = "1.10") -> dict:
    return {
        "ChargePeriodStart": f"2026-07-{day:02d}T00:00:00Z",
        "Tags": tags,
        "BillingCurrency": currency,
        "EffectiveCost": amount,
        "BilledCost": amount,
    }


def test_untagged_cost_stays_unallocated(truth: Truth) -> None:
    service = sorted(truth.spine.services)[0]
    name = truth.spine.services[service].name
    team = truth.spine.services[service].team
    team_name = team.rsplit("/", 1)[1] if team else ""
    rows = [
        _focus_row(1, None),
        _focus_row(1, "{}"),
        _focus_row(1, json.dumps({"env": "prod"})),
        _focus_row(1, json.dumps({"service": "no-such-service"})),
        _focus_row(2, json.dumps({"team": team_name})),
        _focus_row(3, json.dumps({"service": "no-such-service", "app": name, "team": "x"})),
    ]
    start, end = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    got = [
        (r.date.day, r.service, r.team, r.effective_cost)
        for r in daily_costs(rows, truth.spine, tag_keys=("service", "app"), start=start, end=end)
    ]
    assert got == [
        (1, None, None, Decimal("4.40")),
        (2, None, team, Decimal("1.10")),
        (3, service, team, Decimal("1.10")),
    ]
    assert any(r.service is None and r.team is None for r in truth.costs)


def test_currencies_are_never_summed(truth: Truth) -> None:
    tags = json.dumps({"app": truth.spine.services[sorted(truth.spine.services)[0]].name})
    rows = [_focus_row(5, tags, "USD", "2.50"), _focus_row(5, tags, "EUR", "3.25")]
    start, end = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    got = daily_costs(rows, truth.spine, tag_keys=("app",), start=start, end=end)
    assert sorted((r.currency, r.effective_cost) for r in got) == [
        ("EUR", Decimal("3.25")),
        ("USD", Decimal("2.50")),
    ]
    assert {r.currency for r in truth.costs} == {"EUR", "USD"}
    keys = [(r.date, r.service, r.team, r.currency) for r in truth.costs]
    assert len(keys) == len(set(keys))
    assert {c.currency for c in truth.cost_per_deployment} <= {"EUR", "USD"}


# -- reproducibility and the command ---------------------------------------------------------


def test_output_is_deterministic(small_world: Path, truth: Truth, tmp_path: Path) -> None:
    first = write_truth(truth, tmp_path / "a")
    second = write_truth(compute_truth(World(small_world)), tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_main_truth_writes_every_csv_file(small_world: Path, tmp_path: Path) -> None:
    seed = World(small_world).seed
    code = main_truth(
        [
            "--scale",
            "small",
            "--seed",
            str(seed),
            "--root",
            str(small_world.parent),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "deployments.csv",
        "changes.csv",
        "incidents.csv",
        "service_months.csv",
        "org_months.csv",
        "satisfaction.csv",
        "costs.csv",
    } <= names
    header = (tmp_path / "deployments.csv").read_text().splitlines()[0]
    assert header.startswith("deployment_id,service,team,environment,source,revision")
