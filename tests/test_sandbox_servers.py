"""The sandbox servers speak each real protocol with its quirks, serve the world as of its
clock, and inject every fault on demand, observably.

Expectations are read from the world's SQLite truth with plain SQL, never from the servers'
code. Every request goes to 127.0.0.1; no test sleeps (time moves through the world clock).
"""

from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sandbox.servers import Faults, Sandbox
from sandbox.world.store import World, from_ts

REPO_ROOT = Path(__file__).resolve().parents[1]


# -- helpers ---------------------------------------------------------------------------------
def client(sb: Sandbox, name: str, *, timeout: float = 10.0) -> httpx.Client:
    """A client that authenticates the way the real API wants."""
    token = sb.tokens.get(name)
    headers = {}
    if name == "pagerduty":
        headers = {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
    elif name == "github":
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
    elif name != "opencost":
        headers = {"Authorization": f"Bearer {token}"}
    # Plain HTTP on loopback: verify=False skips building a TLS context (~50 ms a client).
    return httpx.Client(
        base_url=sb.servers[name].url, headers=headers, timeout=timeout, verify=False
    )


def get(sb: Sandbox, name: str, path: str, **params: Any) -> httpx.Response:
    with client(sb, name) as http:
        return http.get(path, params=params)


def links(response: httpx.Response) -> dict[str, str]:
    """The Link header as {rel: url}, in the order the server wrote the rels."""
    header = response.headers.get("link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]+)>;\s*rel="(\w+)"', header)}


def one(world: World, sql: str, params: tuple = ()) -> tuple:
    rows = world.query(sql, params)
    assert rows, f"the small world has no row for: {sql}"
    return rows[0]


def at(text: str, **delta: float) -> datetime:
    return from_ts(text) + timedelta(**delta)


# -- tokens and environment ------------------------------------------------------------------
UNAUTHORISED = {
    "github": (
        "/repos/paved-sandbox/x",
        lambda b: (
            b["message"] in ("Bad credentials", "Requires authentication")
            and "documentation_url" in b
        ),
    ),
    "argocd": ("/api/v1/applications", lambda b: b["code"] == 16 and b["error"] == b["message"]),
    "pagerduty": ("/incidents", lambda b: b["error"]["code"] == 2006),
    "typeform": ("/forms", lambda b: b["code"] == "AUTHENTICATION_FAILED"),
    "backstage": (
        "/api/catalog/entities/by-query",
        lambda b: (
            b["error"]["name"] == "AuthenticationError" and b["response"]["statusCode"] == 401
        ),
    ),
}


@pytest.mark.parametrize("api", sorted(UNAUTHORISED))
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Token token=wrong"])
def test_every_api_refuses_a_missing_or_wrong_token_in_its_own_error_shape(
    sandbox: Sandbox, api: str, authorization: str | None
) -> None:
    path, shape_ok = UNAUTHORISED[api]
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(sandbox.servers[api].url + path, headers=headers, verify=False)
    assert response.status_code == 401
    assert shape_ok(response.json())


def test_github_accepts_both_the_bearer_and_the_token_scheme(sandbox: Sandbox) -> None:
    url = sandbox.servers["github"].url + "/rate_limit"
    for scheme in ("Bearer", "token"):
        response = httpx.get(
            url, headers={"Authorization": f"{scheme} {sandbox.tokens['github']}"}, verify=False
        )
        assert response.status_code == 200


def test_opencost_needs_no_token_and_ignores_one(sandbox: Sandbox) -> None:
    url = sandbox.servers["opencost"].url + "/allocation"
    assert httpx.get(url, params={"window": "1d"}, verify=False).status_code == 200
    assert (
        httpx.get(
            url, params={"window": "1d"}, verify=False, headers={"Authorization": "Bearer anything"}
        ).status_code
        == 200
    )


def test_env_points_paved_at_every_server_and_at_the_world_files(sandbox: Sandbox) -> None:
    env = sandbox.env()
    for name, variable in [
        ("github", "GITHUB_API_URL"),
        ("argocd", "ARGOCD_URL"),
        ("pagerduty", "PAGERDUTY_API_URL"),
        ("typeform", "TYPEFORM_API_URL"),
        ("backstage", "BACKSTAGE_URL"),
        ("opencost", "OPENCOST_URL"),
    ]:
        assert env[variable] == sandbox.servers[name].url
        assert urlsplit(env[variable]).hostname == "127.0.0.1"
    for kind, variable in [("googleforms", "PAVED_SURVEY_CSV"), ("focus", "PAVED_COST_PATH")]:
        assert sorted(map(Path, glob.glob(env[variable], recursive=True))) == sandbox.world.files(
            kind
        )
    forms = [f for (f,) in sandbox.world.query("SELECT id FROM typeform_forms ORDER BY id")]
    assert env["TYPEFORM_FORM_IDS"].split(",") == forms
    assert env["PAVED_SURVEY_TIMEZONE"] == sandbox.world.meta["survey_timezone"]
    assert env["PAVED_HISTORY_START"] == sandbox.world.meta["history_start"]
    assert env["PAVED_SURVEY_SALT"]
    tokens = [
        env[v]
        for v in (
            "GITHUB_TOKEN",
            "ARGOCD_TOKEN",
            "PAGERDUTY_TOKEN",
            "TYPEFORM_TOKEN",
            "BACKSTAGE_TOKEN",
        )
    ]
    assert len(set(tokens)) == len(tokens)


def test_each_sandbox_gets_fresh_tokens_unless_given_some(small_world: Path) -> None:
    first, second = Sandbox(small_world), Sandbox(small_world, tokens={"github": "ghp_mine"})
    assert first.tokens["pagerduty"] != second.tokens["pagerduty"]
    assert second.tokens["github"] == "ghp_mine"


def test_every_request_made_is_recorded_in_order(sandbox: Sandbox) -> None:
    form = sandbox.env()["TYPEFORM_FORM_IDS"].split(",")[0]
    with client(sandbox, "typeform") as typeform:
        typeform.get(f"/forms/{form}/responses", params={"page_size": 2})
        typeform.get(f"/forms/{form}")
    assert sandbox.servers["typeform"].requests == [
        ("GET", f"/forms/{form}/responses?page_size=2"),
        ("GET", f"/forms/{form}"),
    ]
    assert all(not s.requests for n, s in sandbox.servers.items() if n != "typeform")


# -- GitHub ----------------------------------------------------------------------------------
def test_github_link_pages_use_repository_ids_and_reach_every_commit_exactly_once(
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    world.set_now(from_ts(world.meta["horizon"]))
    repo_id, full_name = one(
        world, "SELECT id, full_name FROM repos WHERE kind = 'app' ORDER BY id"
    )
    expected = {
        sha
        for (sha,) in world.query(
            "SELECT sha FROM commits WHERE repo_id = ? AND reachable = 1", (repo_id,)
        )
    }
    seen: list[dict] = []
    orders = set()
    with client(sandbox, "github") as gh:
        response = gh.get(f"/repos/{full_name}/commits", params={"per_page": 20})
        while True:
            assert response.status_code == 200
            seen += response.json()
            rels = links(response)
            orders.add(tuple(rels))
            if "next" not in rels:
                break
            assert urlsplit(rels["next"]).path == f"/repositories/{repo_id}/commits"
            response = gh.get(rels["next"])
    shas = [c["sha"] for c in seen]
    assert len(shas) == len(set(shas)) == len(expected) > 40
    assert set(shas) == expected
    assert set(rels) == {"prev", "first"}  # the last page
    assert len(orders) > 2, "the rels should come in varying order, as GitHub's do"
    dates = [c["commit"]["committer"]["date"] for c in seen]
    assert dates == sorted(dates, reverse=True)


def test_github_commits_come_in_the_full_commit_shape(sandbox: Sandbox) -> None:
    full_name = one(sandbox.world, "SELECT full_name FROM repos ORDER BY id")[0]
    commit = get(sandbox, "github", f"/repos/{full_name}/commits", per_page=1).json()[0]
    assert {
        "sha",
        "node_id",
        "commit",
        "url",
        "html_url",
        "author",
        "committer",
        "parents",
    } <= commit.keys()
    assert {
        "author",
        "committer",
        "message",
        "tree",
        "url",
        "comment_count",
        "verification",
    } <= commit["commit"].keys()
    assert {"name", "email", "date"} == commit["commit"]["author"].keys()
    assert all({"sha", "url", "html_url"} == p.keys() for p in commit["parents"])


def test_github_etag_revalidation_gives_304_with_empty_body_and_costs_no_quota(
    sandbox: Sandbox,
) -> None:
    full_name = one(sandbox.world, "SELECT full_name FROM repos ORDER BY id")[0]
    path = f"/repos/{full_name}/commits"
    with client(sandbox, "github") as gh:
        first = gh.get(path)
        remaining = int(first.headers["x-ratelimit-remaining"])
        again = gh.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert int(again.headers["x-ratelimit-remaining"]) == remaining
        assert again.headers["etag"] == first.headers["etag"]
        sandbox.advance(days=7)
        changed = gh.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert changed.status_code == 200
        assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1


def test_github_rate_limit_headers_are_on_every_response_and_count_down(sandbox: Sandbox) -> None:
    full_name = one(sandbox.world, "SELECT full_name FROM repos ORDER BY id")[0]
    with client(sandbox, "github") as gh:
        responses = [
            gh.get(f"/repos/{full_name}"),
            gh.get(f"/repos/{full_name}/pulls"),
            gh.get("/repos/nobody/nothing"),
        ]
    for response in responses:
        assert {
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-used",
            "x-ratelimit-reset",
            "x-ratelimit-resource",
        } <= response.headers.keys()
    assert [int(r.headers["x-ratelimit-remaining"]) for r in responses] == [4999, 4998, 4997]
    assert responses[2].status_code == 404
    assert responses[2].json()["message"] == "Not Found"


def test_github_quota_used_up_answers_403_until_the_reset(sandbox: Sandbox) -> None:
    github = sandbox.servers["github"]
    github.rate_limit = 2  # type: ignore[attr-defined]
    with client(sandbox, "github") as gh:
        assert [gh.get("/repos/paved-sandbox/x").status_code for _ in range(2)] == [404, 404]
        refused = gh.get("/repos/paved-sandbox/x")
        quota = gh.get("/rate_limit").json()["resources"]["core"]
    assert refused.status_code == 403
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert "API rate limit exceeded" in refused.json()["message"]
    assert time.time() < int(refused.headers["x-ratelimit-reset"]) <= time.time() + 3601
    assert quota["remaining"] == 0


def test_github_primary_limit_fault_has_remaining_zero_and_a_near_reset(sandbox: Sandbox) -> None:
    github = sandbox.servers["github"]
    github.faults.exhaust = 1
    with client(sandbox, "github") as gh:
        limited, after = gh.get("/rate_limit"), gh.get("/rate_limit")
    assert limited.status_code in (403, 429)
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(limited.headers["x-ratelimit-reset"]) - time.time() <= 10
    assert limited.json()["message"].startswith("API rate limit exceeded")
    assert after.status_code == 200
    assert github.faults.injected["exhaust"] == 1


def test_github_secondary_limit_fault_says_so_and_may_omit_the_rate_headers(
    sandbox: Sandbox,
) -> None:
    github = sandbox.servers["github"]
    github.faults.burst_429 = 12
    with client(sandbox, "github") as gh:
        limited = [gh.get("/rate_limit") for _ in range(12)]
    assert all(r.status_code in (403, 429) for r in limited)
    assert all("secondary rate limit" in r.json()["message"] for r in limited)
    assert any("retry-after" in r.headers for r in limited)
    assert any("x-ratelimit-remaining" not in r.headers for r in limited)
    assert github.faults.injected["burst_429"] == 12


def test_github_caps_per_page_at_100(sandbox: Sandbox) -> None:
    full_name = one(sandbox.world, "SELECT full_name FROM repos ORDER BY id")[0]
    response = get(sandbox, "github", f"/repos/{full_name}/pulls", state="all", per_page=500)
    assert len(response.json()) == 100
    assert "per_page=500" in links(response)["next"]


def test_github_enterprise_prefix_is_served_and_kept_in_links(sandbox: Sandbox) -> None:
    repo_id, full_name = one(sandbox.world, "SELECT id, full_name FROM repos ORDER BY id")
    response = get(sandbox, "github", f"/api/v3/repos/{full_name}/commits", per_page=5)
    assert response.status_code == 200
    assert urlsplit(links(response)["next"]).path == f"/api/v3/repositories/{repo_id}/commits"


def test_github_pull_requests_show_their_state_at_the_clock(sandbox: Sandbox) -> None:
    world = sandbox.world
    full_name, number, created, merged, merge_sha = one(
        world,
        """
        SELECT r.full_name, p.number, p.created_at, p.merged_at, p.merge_commit_sha
        FROM pulls p JOIN repos r ON r.id = p.repo_id
        WHERE p.merged_at > p.created_at ORDER BY p.merged_at DESC""",
    )
    world.set_now(at(created, seconds=1))
    with client(sandbox, "github") as gh:
        opened = gh.get(f"/repos/{full_name}/pulls/{number}").json()
        open_numbers = [
            p["number"]
            for p in gh.get(f"/repos/{full_name}/pulls", params={"per_page": 100}).json()
        ]
        world.set_now(from_ts(merged))
        closed = gh.get(f"/repos/{full_name}/pulls/{number}").json()
        listed = gh.get(
            f"/repos/{full_name}/pulls",
            params={"state": "closed", "sort": "updated", "direction": "desc"},
        ).json()
    assert (opened["state"], opened["merged_at"], opened["closed_at"]) == ("open", None, None)
    assert opened["merge_commit_sha"] != merge_sha  # a test merge, on no branch
    assert number in open_numbers
    assert (closed["state"], closed["merged_at"], closed["merge_commit_sha"]) == (
        "closed",
        merged,
        merge_sha,
    )
    assert listed[0]["number"] == number  # the most recently updated
    updated = [p["updated_at"] for p in listed]
    assert updated == sorted(updated, reverse=True)


def test_github_closed_unmerged_pull_requests_have_no_merged_at_but_a_merge_sha(
    sandbox: Sandbox,
) -> None:
    full_name, number = one(
        sandbox.world,
        """
        SELECT r.full_name, p.number FROM pulls p JOIN repos r ON r.id = p.repo_id
        WHERE p.closed_at <= ? AND p.merged_at IS NULL""",
        (sandbox.world.now_ts,),
    )
    pull = get(sandbox, "github", f"/repos/{full_name}/pulls/{number}").json()
    assert pull["state"] == "closed"
    assert pull["merged_at"] is None
    assert re.fullmatch(r"[0-9a-f]{40}", pull["merge_commit_sha"])


def test_github_api_version_2026_drops_merge_commit_sha(sandbox: Sandbox) -> None:
    full_name = one(sandbox.world, "SELECT full_name FROM repos ORDER BY id")[0]
    with client(sandbox, "github") as gh:
        new = gh.get(
            f"/repos/{full_name}/pulls",
            params={"state": "all"},
            headers={"X-GitHub-Api-Version": "2026-03-10"},
        )
        bad = gh.get(f"/repos/{full_name}/pulls", headers={"X-GitHub-Api-Version": "1999-01-01"})
    assert new.json() and all("merge_commit_sha" not in p for p in new.json())
    assert new.headers["x-github-api-version-selected"] == "2026-03-10"
    assert bad.status_code == 400


def test_github_pull_request_commits_list_the_branch_commits_in_order(sandbox: Sandbox) -> None:
    world = sandbox.world
    world.set_now(from_ts(world.meta["horizon"]))
    repo_id, full_name, number = one(
        world,
        """
        SELECT r.id, r.full_name, pc.number FROM pull_commits pc JOIN repos r ON r.id = pc.repo_id
        GROUP BY pc.repo_id, pc.number HAVING COUNT(*) >= 3 ORDER BY COUNT(*) DESC""",
    )
    expected = [
        sha
        for (sha,) in world.query(
            "SELECT sha FROM pull_commits WHERE repo_id = ? AND number = ? ORDER BY idx",
            (repo_id, number),
        )
    ]
    response = get(sandbox, "github", f"/repos/{full_name}/pulls/{number}/commits", per_page=100)
    assert [c["sha"] for c in response.json()] == expected[:250]


def test_github_deployments_and_statuses_are_newest_first_and_appear_with_the_clock(
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    repo_id, full_name = one(
        world,
        """
        SELECT r.id, r.full_name FROM gh_deployments d JOIN repos r ON r.id = d.repo_id
        GROUP BY r.id HAVING COUNT(*) >= 2 ORDER BY r.id""",
    )
    created = [
        c
        for (c,) in world.query(
            "SELECT created_at FROM gh_deployments WHERE repo_id = ? ORDER BY created_at",
            (repo_id,),
        )
    ]
    world.set_now(at(created[1], seconds=-1))
    with client(sandbox, "github") as gh:
        early = gh.get(f"/repos/{full_name}/deployments").json()
        world.set_now(from_ts(world.meta["horizon"]))
        late = gh.get(f"/repos/{full_name}/deployments", params={"per_page": 100}).json()
        statuses = gh.get(f"/repos/{full_name}/deployments/{late[-1]['id']}/statuses").json()
        production = gh.get(
            f"/repos/{full_name}/deployments", params={"environment": "production"}
        ).json()
    assert [d["created_at"] for d in early] == [created[0]]
    assert [d["created_at"] for d in late] == sorted(created, reverse=True)[:100]
    assert statuses and [s["created_at"] for s in statuses] == sorted(
        (s["created_at"] for s in statuses), reverse=True
    )
    assert all(d["environment"] == "production" and d["production_environment"] for d in production)


def test_github_compare_tells_whether_one_commit_is_an_ancestor_of_another(
    sandbox: Sandbox,
) -> None:
    full_name = one(sandbox.world, "SELECT full_name FROM repos ORDER BY id")[0]
    with client(sandbox, "github") as gh:
        newer, older = (
            c["sha"] for c in gh.get(f"/repos/{full_name}/commits", params={"per_page": 2}).json()
        )
        ahead = gh.get(f"/repos/{full_name}/compare/{older}...{newer}").json()
        behind = gh.get(f"/repos/{full_name}/compare/{newer}...{older}").json()
        same = gh.get(f"/repos/{full_name}/compare/{newer}...main").json()
    assert (ahead["status"], ahead["behind_by"]) == ("ahead", 0)
    assert ahead["ahead_by"] >= 1 and ahead["commits"][-1]["sha"] == newer
    assert (behind["status"], behind["ahead_by"]) == ("behind", 0)
    assert same["status"] == "identical"


# -- PagerDuty -------------------------------------------------------------------------------
def test_pagerduty_offset_pages_cover_every_incident_created_in_the_window(
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    since, until = world.meta["start"], world.meta["end"]
    expected = {
        i
        for (i,) in world.query(
            "SELECT id FROM pd_incidents WHERE created_at >= ? AND created_at < ?", (since, until)
        )
    }
    seen: list[str] = []
    offset = 0
    with client(sandbox, "pagerduty") as pd:
        while True:
            page = pd.get(
                "/incidents",
                params={
                    "since": since,
                    "until": until,
                    "limit": 7,
                    "offset": offset,
                    "total": "true",
                },
            ).json()
            seen += [i["id"] for i in page["incidents"]]
            assert page["total"] == len(expected)
            if not page["more"]:
                break
            offset += len(page["incidents"])
    assert sorted(seen) == sorted(expected) and len(expected) > 10


def test_pagerduty_total_is_null_unless_asked_for(sandbox: Sandbox) -> None:
    page = get(sandbox, "pagerduty", "/incidents", limit=1).json()
    assert set(page) == {"incidents", "limit", "offset", "more", "total"}
    assert page["total"] is None


@pytest.mark.parametrize(
    ("offset", "limit", "status"), [(9900, 100, 200), (9901, 100, 400), (10000, 1, 400)]
)
def test_pagerduty_refuses_offset_plus_limit_above_10000(
    sandbox: Sandbox, offset: int, limit: int, status: int
) -> None:
    response = get(sandbox, "pagerduty", "/incidents", offset=offset, limit=limit)
    assert response.status_code == status
    if status == 400:
        error = response.json()["error"]
        assert (error["code"], error["message"]) == (2002, "Arguments Caused Error")
        assert error["errors"][0].startswith("Offset+limit exceeds maximum allowed value")


def test_pagerduty_caps_limit_at_100(sandbox: Sandbox) -> None:
    assert get(sandbox, "pagerduty", "/incidents", limit=1000).json()["limit"] == 100


def test_pagerduty_refuses_a_range_over_six_months(sandbox: Sandbox) -> None:
    response = get(
        sandbox,
        "pagerduty",
        "/incidents",
        since="2026-01-01T00:00:00Z",
        until="2026-07-02T00:00:00Z",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid Input Provided"
    ok = get(
        sandbox,
        "pagerduty",
        "/incidents",
        since="2026-01-01T00:00:00Z",
        until="2026-07-01T00:00:00Z",
    )
    assert ok.status_code == 200


def test_pagerduty_reads_a_since_without_zone_in_the_account_zone(sandbox: Sandbox) -> None:
    created = one(sandbox.world, "SELECT created_at FROM pd_incidents ORDER BY created_at")[0]
    naive = {"since": created[:-1], "until": at(created, hours=1).strftime("%Y-%m-%dT%H:%M:%S")}
    zoned = {"since": created, "until": at(created, hours=1).strftime("%Y-%m-%dT%H:%M:%SZ")}
    counts = [
        len(get(sandbox, "pagerduty", "/incidents", **p).json()["incidents"])
        for p in (naive, {**naive, "time_zone": "UTC"}, zoned)
    ]
    assert counts[0] == 0  # read as Los Angeles time: hours later than meant
    assert counts[1] == counts[2] >= 1


def test_pagerduty_legacy_incidents_lack_resolved_at_and_updated_at(sandbox: Sandbox) -> None:
    world = sandbox.world
    legacy, resolved = one(
        world,
        "SELECT id, resolved_at FROM pd_incidents WHERE legacy = 1 AND resolved_at <= ?",
        (world.now_ts,),
    )
    modern = one(world, "SELECT id FROM pd_incidents WHERE legacy = 0")[0]
    old = get(sandbox, "pagerduty", f"/incidents/{legacy}").json()["incident"]
    new = get(sandbox, "pagerduty", f"/incidents/{modern}").json()["incident"]
    assert "resolved_at" not in old and "updated_at" not in old
    assert (old["status"], old["last_status_change_at"]) == ("resolved", resolved)
    assert {"resolved_at", "updated_at"} <= new.keys()


def test_open_incidents_are_triggered_then_acknowledged_then_resolved_as_the_clock_moves(
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    ident, created, acknowledged, resolved = one(
        world,
        """
        SELECT id, created_at, acknowledged_at, resolved_at FROM pd_incidents
        WHERE legacy = 0 AND acknowledged_at > created_at AND resolved_at > acknowledged_at
        ORDER BY created_at""",
    )
    world.set_now(at(created, seconds=1))
    with client(sandbox, "pagerduty") as pd:
        triggered = pd.get(f"/incidents/{ident}").json()["incident"]
        open_ids = [
            i["id"]
            for i in pd.get(
                "/incidents",
                params={
                    "statuses[]": ["triggered", "acknowledged"],
                    "since": created,
                    "until": at(created, days=1).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            ).json()["incidents"]
        ]
        world.set_now(from_ts(acknowledged))
        acked = pd.get(f"/incidents/{ident}").json()["incident"]
        sandbox.advance(days=(at(resolved) - world.now).total_seconds() / 86400 + 1e-4)
        done = pd.get(f"/incidents/{ident}").json()["incident"]
    assert (triggered["status"], triggered["resolved_at"]) == ("triggered", None)
    assert ident in open_ids
    assert (acked["status"], acked["resolved_at"]) == ("acknowledged", None)
    assert (done["status"], done["resolved_at"]) == ("resolved", resolved)


def test_pagerduty_log_entries_show_the_resolve_time(sandbox: Sandbox) -> None:
    ident, resolved = one(
        sandbox.world,
        "SELECT id, resolved_at FROM pd_incidents WHERE resolved_at <= ?",
        (sandbox.world.now_ts,),
    )
    entries = get(sandbox, "pagerduty", f"/incidents/{ident}/log_entries").json()["log_entries"]
    assert [e["created_at"] for e in entries if e["type"] == "resolve_log_entry"] == [resolved]


def test_pagerduty_services_are_listed_with_offset_paging(sandbox: Sandbox) -> None:
    count = one(sandbox.world, "SELECT COUNT(*) FROM pd_services")[0]
    page = get(sandbox, "pagerduty", "/services", limit=100).json()
    assert len(page["services"]) == count and page["more"] is False


# -- Argo CD ---------------------------------------------------------------------------------
def test_argocd_items_are_null_when_no_app_exists_yet(sandbox: Sandbox) -> None:
    first = one(sandbox.world, "SELECT MIN(created_at) FROM argo_apps")[0]
    sandbox.world.set_now(at(first, days=-1))
    body = get(sandbox, "argocd", "/api/v1/applications").json()
    assert body["items"] is None
    assert "metadata" in body


def test_argocd_lists_visible_apps_sorted_by_name_and_hides_deleted_ones(sandbox: Sandbox) -> None:
    world = sandbox.world
    name, old_uid, deleted = one(
        world, "SELECT name, uid, deleted_at FROM argo_apps WHERE deleted_at IS NOT NULL"
    )
    new_uid = one(
        world, "SELECT uid FROM argo_apps WHERE name = ? AND deleted_at IS NULL", (name,)
    )[0]
    items = get(sandbox, "argocd", "/api/v1/applications").json()["items"]
    names = [i["metadata"]["name"] for i in items]
    assert names == sorted(names) and len(names) == len(set(names))
    assert {i["metadata"]["uid"] for i in items if i["metadata"]["name"] == name} == {new_uid}
    world.set_now(at(deleted, days=-1))
    before = get(sandbox, "argocd", f"/api/v1/applications/{name}").json()
    assert before["metadata"]["uid"] == old_uid


def test_argocd_history_is_truncated_to_the_limit_and_its_tail_moves_with_the_clock(
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    uid, name, limit = one(
        world,
        """
        SELECT a.uid, a.name, json_extract(a.spec_json, '$.revisionHistoryLimit')
        FROM argo_apps a WHERE a.deleted_at IS NULL
          AND json_extract(a.spec_json, '$.revisionHistoryLimit') IS NOT NULL
          AND (SELECT COUNT(*) FROM argo_history h WHERE h.app_uid = a.uid) > 12
        ORDER BY a.name""",
    )

    def expected() -> list[int]:
        ids = [
            i
            for (i,) in world.query(
                "SELECT id FROM argo_history WHERE app_uid = ? AND deployed_at <= ? ORDER BY id",
                (uid, world.now_ts),
            )
        ]
        return ids[-limit:]

    def served() -> list[int]:
        app = get(sandbox, "argocd", f"/api/v1/applications/{name}").json()
        assert app["spec"]["revisionHistoryLimit"] == limit
        return [h["id"] for h in app["status"]["history"]]

    middle = one(
        world,
        "SELECT deployed_at FROM argo_history WHERE app_uid = ? ORDER BY id LIMIT 1 OFFSET 8",
        (uid,),
    )[0]
    world.set_now(from_ts(middle))
    before = served()
    assert before == expected() and len(before) == limit
    following = one(
        world,
        "SELECT deployed_at FROM argo_history WHERE app_uid = ? AND deployed_at > ? ORDER BY id",
        (uid, world.now_ts),
    )[0]
    sandbox.advance(days=(at(following, seconds=1) - world.now).total_seconds() / 86400)
    after = served()
    assert after == expected() and after[-1] > before[-1] and after[0] > before[0]


def test_argocd_default_history_limit_is_10(sandbox: Sandbox) -> None:
    name = one(
        sandbox.world,
        """
        SELECT a.name FROM argo_apps a WHERE a.deleted_at IS NULL
          AND json_extract(a.spec_json, '$.revisionHistoryLimit') IS NULL
          AND (SELECT COUNT(*) FROM argo_history h WHERE h.app_uid = a.uid) > 10""",
    )[0]
    app = get(sandbox, "argocd", f"/api/v1/applications/{name}").json()
    assert len(app["status"]["history"]) == 10


def test_argocd_operation_state_shows_a_failed_sync_and_a_running_one(sandbox: Sandbox) -> None:
    world = sandbox.world
    uid, started, finished, message, revision = one(
        world,
        """
        SELECT o.app_uid, o.started_at, o.finished_at, o.message, o.revision
        FROM argo_operations o JOIN argo_apps a ON a.uid = o.app_uid
        WHERE o.phase = 'Failed' AND a.deleted_at IS NULL AND o.finished_at > o.started_at
        ORDER BY o.started_at""",
    )
    name = one(world, "SELECT name FROM argo_apps WHERE uid = ?", (uid,))[0]
    world.set_now(from_ts(finished))
    failed = get(sandbox, "argocd", f"/api/v1/applications/{name}").json()
    world.set_now(from_ts(started))
    running = get(sandbox, "argocd", f"/api/v1/applications/{name}").json()
    state = failed["status"]["operationState"]
    assert (state["phase"], state["message"], state["finishedAt"]) == ("Failed", message, finished)
    assert state["syncResult"]["revision"] == revision
    assert revision not in [h["revision"] for h in failed["status"]["history"][-1:]]
    assert failed["status"]["sync"]["status"] == "OutOfSync"
    assert running["status"]["operationState"]["phase"] == "Running"
    assert "finishedAt" not in running["status"]["operationState"]


def test_argocd_fields_parameter_never_returns_history(sandbox: Sandbox) -> None:
    items = get(
        sandbox, "argocd", "/api/v1/applications", fields="items.status.history,items.metadata"
    ).json()["items"]
    assert items and all("history" not in i["status"] for i in items)


def test_argocd_selector_and_projects_filter_the_apps(sandbox: Sandbox) -> None:
    world = sandbox.world
    project = one(world, "SELECT project FROM argo_apps ORDER BY name")[0]
    key, value = one(
        world, "SELECT key, value FROM argo_apps, json_each(labels_json) ORDER BY name"
    )
    by_project = get(sandbox, "argocd", "/api/v1/applications", projects=project).json()
    by_label = get(sandbox, "argocd", "/api/v1/applications", selector=f"{key}={value}").json()
    not_label = get(sandbox, "argocd", "/api/v1/applications", selector=f"{key}!={value}").json()
    assert by_project["items"] and all(i["spec"]["project"] == project for i in by_project["items"])
    assert by_label["items"] and all(
        i["metadata"]["labels"][key] == value for i in by_label["items"]
    )
    everything = get(sandbox, "argocd", "/api/v1/applications").json()["items"]
    assert len(by_label["items"]) + len(not_label["items"] or []) == len(everything)


def test_argocd_unknown_app_is_404_with_the_grpc_not_found_code(sandbox: Sandbox) -> None:
    response = get(sandbox, "argocd", "/api/v1/applications/no-such-app")
    assert response.status_code == 404
    assert response.json()["code"] == 5


# -- Typeform --------------------------------------------------------------------------------
def _form(sandbox: Sandbox) -> str:
    return one(sandbox.world, "SELECT id FROM typeform_forms ORDER BY id")[0]


def test_typeform_since_and_until_are_inclusive(sandbox: Sandbox) -> None:
    form = _form(sandbox)
    sandbox.world.set_now(from_ts(sandbox.world.meta["horizon"]))  # every response visible
    times = [
        t
        for (t,) in sandbox.world.query(
            "SELECT submitted_at FROM typeform_responses WHERE form_id = ? ORDER BY submitted_at",
            (form,),
        )
    ]
    body = get(
        sandbox,
        "typeform",
        f"/forms/{form}/responses",
        since=times[2],
        until=times[5],
        page_size=1000,
    ).json()
    assert sorted(i["submitted_at"] for i in body["items"]) == times[2:6]
    assert body["total_items"] == 4


def test_typeform_before_and_after_tokens_page_through_every_response_once(
    sandbox: Sandbox,
) -> None:
    form = _form(sandbox)
    sandbox.world.set_now(from_ts(sandbox.world.meta["horizon"]))  # every response visible
    expected = {
        t
        for (t,) in sandbox.world.query(
            "SELECT token FROM typeform_responses WHERE form_id = ?", (form,)
        )
    }
    path = f"/forms/{form}/responses"
    for direction in ("before", "after"):
        seen: list[str] = []
        params: dict[str, Any] = {"page_size": 3}
        if direction == "after":
            oldest = get(sandbox, "typeform", path, page_size=1, sort="submitted_at,asc")
            seen = [oldest.json()["items"][0]["token"]]
            params["after"] = seen[0]
        with client(sandbox, "typeform") as typeform:
            while True:
                body = typeform.get(path, params=params).json()
                assert "next" not in body and "_links" not in body
                if not body["items"]:
                    break
                seen += [i["token"] for i in body["items"]]
                params[direction] = body["items"][-1]["token"]
        assert len(seen) == len(set(seen)) and set(seen) == expected, direction


def test_typeform_refuses_sort_with_before_or_after_and_a_page_size_over_1000(
    sandbox: Sandbox,
) -> None:
    path = f"/forms/{_form(sandbox)}/responses"
    token = one(sandbox.world, "SELECT token FROM typeform_responses")[0]
    assert get(sandbox, "typeform", path, before=token, sort="submitted_at,desc").status_code == 400
    assert get(sandbox, "typeform", path, page_size=1001).status_code == 400
    assert get(sandbox, "typeform", path, page_size=1000).status_code == 200


def test_typeform_lists_a_response_only_once_submitted_and_visible(sandbox: Sandbox) -> None:
    world = sandbox.world
    form, token, submitted, visible = one(
        world,
        "SELECT form_id, token, submitted_at, visible_at FROM typeform_responses "
        "WHERE visible_at > submitted_at ORDER BY submitted_at",
    )
    path = f"/forms/{form}/responses"
    listed = []
    for moment in (at(submitted, seconds=-1), at(submitted), from_ts(visible)):
        world.set_now(moment)
        body = get(sandbox, "typeform", path, page_size=1000).json()
        listed.append(token in {i["token"] for i in body["items"]})
        expected = one(
            world,
            "SELECT COUNT(*) FROM typeform_responses WHERE form_id = ? AND submitted_at <= ? "
            "AND visible_at <= ?",
            (form, world.now_ts, world.now_ts),
        )[0]
        assert body["total_items"] == len(body["items"]) == expected
    assert listed == [False, False, True]  # submitted, yet listed only later


def test_typeform_unknown_form_is_404(sandbox: Sandbox) -> None:
    response = get(sandbox, "typeform", "/forms/nope/responses")
    assert (response.status_code, response.json()["code"]) == (404, "FORM_NOT_FOUND")


# -- Backstage -------------------------------------------------------------------------------
def test_backstage_cursor_paging_returns_every_entity_once_and_ignores_filters_then(
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    expected = sum(
        one(world, f"SELECT COUNT(*) FROM {t}")[0]
        for t in ("groups", "users", "systems", "components")
    )
    refs: list[str] = []
    with client(sandbox, "backstage") as backstage:
        page = backstage.get("/api/catalog/entities/by-query", params={"limit": 7}).json()
        while True:
            assert page["totalItems"] == expected
            refs += [f"{e['kind']}:{e['metadata']['name']}" for e in page["items"]]
            cursor = page["pageInfo"].get("nextCursor")
            if not cursor:
                break
            page = backstage.get(
                "/api/catalog/entities/by-query",
                params={"cursor": cursor, "limit": 7, "filter": "kind=nothing"},
            ).json()
        back = backstage.get(
            "/api/catalog/entities/by-query",
            params={"cursor": page["pageInfo"]["prevCursor"], "limit": 7},
        ).json()
    assert len(refs) == len(set(refs)) == expected
    assert [f"{e['kind']}:{e['metadata']['name']}" for e in back["items"]] == refs[
        -len(page["items"]) - 7 : -len(page["items"])
    ]


def test_backstage_filters_or_between_parameters_and_between_values_of_a_key(
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    groups, users = (one(world, f"SELECT COUNT(*) FROM {t}")[0] for t in ("groups", "users"))
    path = "/api/catalog/entities/by-query"
    with client(sandbox, "backstage") as backstage:
        two_params = backstage.get(path, params={"filter": ["kind=group", "kind=user"]}).json()
        two_values = backstage.get(path, params={"filter": "kind=group,kind=user"}).json()
        both = backstage.get(path, params={"filter": "kind=component,spec.type=service"}).json()
    assert two_params["totalItems"] == two_values["totalItems"] == groups + users
    assert both["items"] and all(e["spec"]["type"] == "service" for e in both["items"])


def test_backstage_entities_come_in_full_shape(sandbox: Sandbox) -> None:
    items = get(sandbox, "backstage", "/api/catalog/entities/by-query", limit=1000).json()["items"]
    by_kind: dict[str, dict] = {}
    for entity in items:
        assert entity["apiVersion"] == "backstage.io/v1alpha1"
        assert {"name", "namespace", "uid", "etag", "annotations"} <= entity["metadata"].keys()
        by_kind.setdefault(entity["kind"], entity)
    assert set(by_kind) == {"Component", "Group", "User", "System"}
    component = by_kind["Component"]["spec"]
    assert component["owner"].startswith("group:default/")
    assert {"type", "lifecycle", "system"} <= component.keys()
    assert {"type", "profile", "children", "members"} <= by_kind["Group"]["spec"].keys()
    assert by_kind["User"]["spec"]["memberOf"][0].startswith("group:default/")
    assert "owner" in by_kind["System"]["spec"]


def test_backstage_finds_an_entity_by_name_or_answers_404(sandbox: Sandbox) -> None:
    name = one(sandbox.world, "SELECT name FROM components ORDER BY name")[0]
    found = get(sandbox, "backstage", f"/api/catalog/entities/by-name/component/default/{name}")
    missing = get(sandbox, "backstage", "/api/catalog/entities/by-name/component/default/nope")
    assert found.json()["metadata"]["name"] == name
    assert missing.status_code == 404
    assert missing.json()["error"]["name"] == "NotFoundError"


# -- OpenCost --------------------------------------------------------------------------------
def test_opencost_answers_one_map_per_step_in_the_recorded_shape(sandbox: Sandbox) -> None:
    recorded = Path(os.environ.get("PAVED_SHARED", REPO_ROOT.parent / "shared"))
    body = get(
        sandbox,
        "opencost",
        "/allocation",
        aggregate="label:app",
        step="1d",
        window="2026-09-01T00:00:00Z,2026-09-04T00:00:00Z",
        accumulate="false",
    ).json()
    assert (body["code"], body["status"], len(body["data"])) == (200, "success", 3)
    day = body["data"][0]
    assert {"__idle__", "__unallocated__"} <= day.keys()
    expected = dict(
        sandbox.world.query(
            "SELECT app, SUM(total_cost) FROM opencost WHERE date = '2026-09-01' "
            "AND namespace NOT IN ('__idle__', '__unallocated__') GROUP BY app"
        )
    )
    for app, total in expected.items():
        assert day[app]["totalCost"] == pytest.approx(total, abs=1e-5)
        assert day[app]["window"] == {
            "start": "2026-09-01T00:00:00Z",
            "end": "2026-09-02T00:00:00Z",
        }
    assert any(v is None for v in day["__idle__"].values())
    sample = recorded / "reference-payloads/opencost/allocation_compute_window2d_by_namespace.json"
    if sample.exists():
        import json

        keys = next(iter(json.loads(sample.read_text())["response"]["body"]["data"][0].values()))
        assert set(keys) <= set(day["__idle__"])


def test_opencost_counts_only_the_part_of_today_before_the_clock(sandbox: Sandbox) -> None:
    world = sandbox.world
    world.set_now(at(world.meta["end"], hours=12))
    today = world.now.date().isoformat()
    full = one(world, "SELECT SUM(total_cost) FROM opencost WHERE date = ?", (today,))[0]
    body = get(sandbox, "opencost", "/allocation", window="today", aggregate="namespace").json()
    served = sum(a["totalCost"] for a in body["data"][0].values())
    assert served == pytest.approx(full / 2, rel=1e-4)
    assert all(a["minutes"] == 720 for a in body["data"][0].values())


def test_opencost_refuses_a_window_it_cannot_read(sandbox: Sandbox) -> None:
    response = get(sandbox, "opencost", "/allocation", window="last tuesday")
    assert response.status_code == 400


# -- faults ----------------------------------------------------------------------------------
def test_error_fault_answers_a_5xx(sandbox: Sandbox) -> None:
    argocd = sandbox.servers["argocd"]
    argocd.faults.error_rate = 1.0
    statuses = [get(sandbox, "argocd", "/api/v1/applications").status_code for _ in range(6)]
    assert set(statuses) <= {500, 502, 503} and len(set(statuses)) > 1
    assert argocd.faults.injected["error"] == 6


@pytest.mark.parametrize(
    ("api", "path", "header"),
    [
        ("pagerduty", "/incidents", "ratelimit-reset"),
        ("typeform", "/forms", "retry-after"),
        ("backstage", "/api/catalog/entities/by-query", "retry-after"),
        ("argocd", "/api/v1/applications", "retry-after"),
    ],
)
def test_burst_fault_answers_429_with_the_apis_retry_header(
    sandbox: Sandbox, api: str, path: str, header: str
) -> None:
    server = sandbox.servers[api]
    server.faults.burst_429 = 1
    with client(sandbox, api) as http:
        limited, after = http.get(path), http.get(path)
    assert limited.status_code == 429
    assert int(limited.headers[header]) == server.faults.retry_after_seconds
    assert after.status_code == 200
    assert server.faults.injected["burst_429"] == 1


def test_exhaust_fault_gives_the_reset_a_few_seconds_ahead(sandbox: Sandbox) -> None:
    pagerduty = sandbox.servers["pagerduty"]
    pagerduty.faults.exhaust = 2
    with client(sandbox, "pagerduty") as pd:
        answers = [pd.get("/incidents") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json()["error"]["code"] == 2020
    assert int(answers[0].headers["ratelimit-reset"]) == pagerduty.faults.reset_seconds


def test_typeform_throttle_answers_429_to_a_second_request_within_the_second(
    sandbox: Sandbox,
) -> None:
    typeform = sandbox.servers["typeform"]
    typeform.faults.rate_limit_per_second = 0.5
    with client(sandbox, "typeform") as http:
        statuses = [http.get("/forms").status_code for _ in range(2)]
    assert statuses == [200, 429]
    assert typeform.faults.injected["throttle"] == 1


def test_slow_fault_trips_a_short_client_timeout(sandbox: Sandbox) -> None:
    backstage = sandbox.servers["backstage"]
    backstage.faults.slow_seconds = 0.3
    with client(sandbox, "backstage", timeout=0.05) as http, pytest.raises(httpx.ReadTimeout):
        http.get("/api/catalog/entities/by-query")
    assert backstage.faults.injected["slow"] == 1


def test_truncate_fault_cuts_the_body_short_and_httpx_raises(sandbox: Sandbox) -> None:
    opencost = sandbox.servers["opencost"]
    opencost.faults.truncate_rate = 1.0
    with client(sandbox, "opencost") as http, pytest.raises(httpx.RemoteProtocolError):
        http.get("/allocation", params={"window": "7d", "aggregate": "namespace"})
    assert opencost.faults.injected["truncate"] == 1


def test_malformed_fault_corrupts_exactly_one_item_of_a_page(sandbox: Sandbox) -> None:
    typeform = sandbox.servers["typeform"]
    typeform.faults.malformed_rate = 1.0
    items = get(sandbox, "typeform", f"/forms/{_form(sandbox)}/responses", page_size=10).json()[
        "items"
    ]

    def broken(item: dict) -> bool:
        if "token" not in item:
            return True
        try:
            datetime.strptime(item["submitted_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return True
        return False

    assert sum(map(broken, items)) == 1 and len(items) == 10
    assert typeform.faults.injected["malformed"] == 1


def test_duplicate_fault_serves_the_previous_pages_last_item_again(sandbox: Sandbox) -> None:
    full_name = one(sandbox.world, "SELECT full_name FROM repos ORDER BY id")[0]
    github = sandbox.servers["github"]
    with client(sandbox, "github") as gh:
        first = gh.get(f"/repos/{full_name}/commits", params={"per_page": 5}).json()
        github.faults.duplicate_rate = 1.0
        second = gh.get(f"/repos/{full_name}/commits", params={"per_page": 5, "page": 2}).json()
    assert second[0]["sha"] == first[-1]["sha"]
    assert len({c["sha"] for c in first + second}) == 10
    assert github.faults.injected["duplicate"] == 1


def test_duplicate_fault_repeats_the_anchor_on_token_and_cursor_pages(sandbox: Sandbox) -> None:
    typeform, backstage = sandbox.servers["typeform"], sandbox.servers["backstage"]
    path = f"/forms/{_form(sandbox)}/responses"
    first = get(sandbox, "typeform", path, page_size=3).json()["items"]
    entities = get(sandbox, "backstage", "/api/catalog/entities/by-query", limit=3).json()
    typeform.faults.duplicate_rate = backstage.faults.duplicate_rate = 1.0
    second = get(sandbox, "typeform", path, page_size=3, before=first[-1]["token"]).json()
    following = get(
        sandbox,
        "backstage",
        "/api/catalog/entities/by-query",
        limit=3,
        cursor=entities["pageInfo"]["nextCursor"],
    ).json()
    assert second["items"][0]["token"] == first[-1]["token"]
    assert following["items"][0] == entities["items"][-1]
    assert typeform.faults.injected["duplicate"] == backstage.faults.injected["duplicate"] == 1


def test_offset_drift_shifts_a_pagerduty_page_by_one(sandbox: Sandbox) -> None:
    pagerduty = sandbox.servers["pagerduty"]
    params = {"since": sandbox.world.meta["start"], "until": sandbox.world.meta["end"], "limit": 5}
    with client(sandbox, "pagerduty") as pd:
        first = pd.get("/incidents", params=params).json()["incidents"]
        pagerduty.faults.offset_drift = 1.0
        second = pd.get("/incidents", params={**params, "offset": 5}).json()["incidents"]
    assert second[0]["id"] == first[-1]["id"] and len(second) == 5
    assert pagerduty.faults.injected["offset_drift"] == 1


def test_faults_drawn_from_the_same_seed_repeat_exactly(sandbox: Sandbox) -> None:
    backstage = sandbox.servers["backstage"]
    runs = []
    for _ in range(2):
        backstage.faults = Faults(seed=3, error_rate=0.5)
        runs.append(
            [
                get(sandbox, "backstage", "/api/catalog/entities/by-query", limit=1).status_code
                for _ in range(12)
            ]
        )
    assert runs[0] == runs[1] and len(set(runs[0])) > 1


# -- the source models read what the servers serve ---------------------------------------------
def test_every_served_object_parses_with_the_source_models(sandbox: Sandbox) -> None:
    gh_models = pytest.importorskip("models.sources.github")
    argo_models = pytest.importorskip("models.sources.argocd")
    pd_models = pytest.importorskip("models.sources.pagerduty")
    tf_models = pytest.importorskip("models.sources.typeform")
    bs_models = pytest.importorskip("models.sources.backstage")
    oc_models = pytest.importorskip("models.sources.opencost")
    world = sandbox.world
    world.set_now(from_ts(world.meta["horizon"]))
    with client(sandbox, "github") as gh:
        for full_name, repo_id in world.query("SELECT full_name, id FROM repos"):
            gh_models.REPOSITORY.validate_python(gh.get(f"/repos/{full_name}").json())
            gh_models.COMMITS.validate_python(
                gh.get(f"/repositories/{repo_id}/commits", params={"per_page": 100}).json()
            )
            pulls = gh.get(
                f"/repos/{full_name}/pulls", params={"state": "all", "per_page": 100}
            ).json()
            gh_models.PULL_REQUESTS.validate_python(pulls)
            for pull in pulls[:3]:
                gh_models.COMMITS.validate_python(
                    gh.get(f"/repos/{full_name}/pulls/{pull['number']}/commits").json()
                )
            for deployment in gh_models.DEPLOYMENTS.validate_python(
                gh.get(f"/repos/{full_name}/deployments").json()
            ):
                gh_models.DEPLOYMENT_STATUSES.validate_python(
                    gh.get(f"/repos/{full_name}/deployments/{deployment.id}/statuses").json()
                )
        gh_models.RATE_LIMIT.validate_python(gh.get("/rate_limit").json())
        repo_id = one(world, "SELECT id FROM repos ORDER BY id")[0]
        newer, older = (
            c["sha"]
            for c in gh.get(f"/repositories/{repo_id}/commits", params={"per_page": 2}).json()
        )
        gh_models.COMPARISON.validate_python(
            gh.get(f"/repositories/{repo_id}/compare/{older}...{newer}").json()
        )
    listing = get(sandbox, "argocd", "/api/v1/applications").json()
    for item in argo_models.APPLICATION_LIST.validate_python(listing).items:
        argo_models.APPLICATION.validate_python(item)
    incidents = get(
        sandbox,
        "pagerduty",
        "/incidents",
        limit=100,
        since=world.meta["start"],
        until=world.meta["horizon"],
    ).json()
    for item in pd_models.INCIDENT_LIST.validate_python(incidents).incidents:
        incident = pd_models.INCIDENT.validate_python(item)
        entries = get(sandbox, "pagerduty", f"/incidents/{incident.id}/log_entries").json()
        for entry in pd_models.LOG_ENTRY_LIST.validate_python(entries).log_entries:
            pd_models.LOG_ENTRY.validate_python(entry)
    for (form,) in world.query("SELECT id FROM typeform_forms"):
        page = get(sandbox, "typeform", f"/forms/{form}/responses", page_size=1000).json()
        for item in tf_models.RESPONSE_PAGE.validate_python(page).items:
            tf_models.RESPONSE.validate_python(item)
    page = get(sandbox, "backstage", "/api/catalog/entities/by-query", limit=1000).json()
    for item in bs_models.ENTITIES_BY_QUERY_PAGE.validate_python(page).items:
        bs_models.ENTITY.validate_python(item)
    costs = get(
        sandbox, "opencost", "/allocation", window="7d", aggregate="label:app", step="1d"
    ).json()
    for step in oc_models.ALLOCATION_RESPONSE.validate_python(costs).data:
        for allocation in step.values():
            oc_models.ALLOCATION.validate_python(allocation)
    assert all(not server.errors for server in sandbox.servers.values())


# -- python -m sandbox -----------------------------------------------------------------------
def test_python_m_sandbox_serve_prints_the_exports_and_serves_until_interrupted(
    small_world: Path,
) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--scale",
            "small",
            "--root",
            str(small_world.parent),
            "--advance-days",
            "1",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        exports: dict[str, str] = {}
        assert process.stdout is not None
        while len(exports) < 17:
            line = process.stdout.readline()
            assert line, "the server exited before printing every export"
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value.strip("'")
        rate = httpx.get(
            exports["GITHUB_API_URL"] + "/rate_limit",
            headers={"Authorization": f"Bearer {exports['GITHUB_TOKEN']}"},
        )
        assert rate.status_code == 200
        assert exports["PAVED_HISTORY_START"] == World(small_world).meta["history_start"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_serve_takes_fault_settings_by_name_and_refuses_unknown_ones() -> None:
    from sandbox.__main__ import parse_faults

    assert parse_faults(["error_rate=0.25", "burst_429=3"]) == {
        "error_rate": 0.25,
        "burst_429": 3.0,
    }
    with pytest.raises(ValueError, match="unknown fault 'bogus'"):
        parse_faults(["bogus=1"])
    with pytest.raises(ValueError, match="needs a number"):
        parse_faults(["error_rate=often"])
