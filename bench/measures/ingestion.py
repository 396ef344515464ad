"""Ingestion throughput per source: sandbox servers on loopback -> real connector ->
:class:`pipelines.raw.Ingestion` -> a DuckDB file.

The servers run in a process of their own (:mod:`bench.serve`), so this process holds what a
Paved run holds: the client, the batch in flight and DuckDB. The measured section is the whole
load, from the first request to the warehouse closed (its WAL checkpointed).

Besides records per second, each source reports the requests it made against the minimum the
API allows for the same records (``minimum_rule`` says how that is counted), and the CPU time on
each side of the socket: ``client_cpu_s`` is Paved's, ``server_cpu_s`` the sandbox's. The client
waits while the server answers, so wall time is roughly their sum; ``client_records_per_cpu_s``
is the rate Paved would sustain against a source that answered at once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb

from bench.measures.common import Context, Outcome, Stopwatch, served
from bench.worker import peak_rss_bytes
from connectors.argocd import ArgoCDClient, history_entries
from connectors.backstage import BackstageClient
from connectors.focus import read_focus
from connectors.github import PER_PAGE, GitHubClient
from connectors.http import RequestStats
from connectors.items import Item
from connectors.opencost import OpenCostClient
from connectors.pagerduty import MAX_PAGE, MAX_WINDOW, PagerDutyClient
from connectors.typeform import MAX_PAGE_SIZE, TypeformClient
from pipelines import raw
from pipelines.raw import Ingestion
from sandbox.servers.opencost import MAX_STEPS
from sandbox.world.store import World

# GitHub's REST quota for a user or GitHub App token on github.com, per hour.
GITHUB_HOURLY_QUOTA = 5_000
# Backstage documents no maximum `limit`; the connector asks for this many per page.
BACKSTAGE_PAGE = 500


@dataclass
class Load:
    """What one source's load reports beside the counts Ingestion keeps."""

    stats: RequestStats | None
    minimum_requests: int | None
    minimum_rule: str
    extra: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[Ingestion, dict[str, str], World], Load]


def pages(count: int, size: int) -> int:
    """Requests to list ``count`` items ``size`` a page: an empty listing still takes one."""
    return max(1, math.ceil(count / size))


def history_start(env: dict[str, str]) -> datetime:
    return datetime.combine(
        date.fromisoformat(env["PAVED_HISTORY_START"]), datetime.min.time(), UTC
    )


def _measure(ctx: Context, source: str, load: Loader) -> Outcome:
    world = World(ctx.world)
    # Run 0 writes the shared warehouse, where other sources may already be: count the growth.
    size_before = _size(ctx.warehouse)
    with served(ctx.world) as sandbox:
        server_before = sandbox.cpu_seconds()
        with Stopwatch() as watch:
            conn = open_warehouse(ctx.warehouse)
            memory_limit = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            with Ingestion(conn, source, f"bench-{ctx.scale}") as ingestion:
                result = load(ingestion, sandbox.env, world)
                stats = result.stats.as_metadata() if result.stats else None
                counts = ingestion.finish(stats)
            conn.close()
        server_cpu = sandbox.cpu_seconds() - server_before
    extra: dict[str, Any] = {
        "loaded": counts.loaded,
        "rejected": counts.rejected,
        "unmapped": counts.unmapped,
        "client_cpu_s": round(watch.cpu_seconds, 3),
        "server_cpu_s": round(server_cpu, 3),
        "client_records_per_cpu_s": round(counts.fetched / watch.cpu_seconds)
        if watch.cpu_seconds > 0
        else None,
        "warehouse_mb": round((_size(ctx.warehouse) - size_before) / 1e6, 1),
        "duckdb_memory_limit": memory_limit,
        "minimum_rule": result.minimum_rule,
        **result.extra,
    }
    if result.stats is not None:
        made = result.stats.requests
        extra |= {
            "requests": made,
            "minimum_requests": result.minimum_requests,
            "request_ratio": round(made / result.minimum_requests, 3)
            if result.minimum_requests
            else None,
            "retries": result.stats.retries,
            "not_modified": result.stats.not_modified,
            "waited_s": round(result.stats.waited_s, 3),
        }
    return Outcome(watch.seconds, watch.cpu_seconds, counts.fetched, extra)


def open_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse opened as the pipeline opens it for writing (``pipelines.raw``'s opener,
    where there is one: it sets DuckDB's memory limit), else with DuckDB's defaults."""
    opener = getattr(raw, "open_warehouse", None)
    if callable(opener):
        return cast(duckdb.DuckDBPyConnection, opener(path))
    return duckdb.connect(str(path))


def _size(path: Path) -> int:
    wal = path.with_name(path.name + ".wal")
    return sum(p.stat().st_size for p in (path, wal) if p.exists())


def _repositories(world: World) -> list[str]:
    return [name for (name,) in world.query("SELECT full_name FROM repos ORDER BY full_name")]


def _github(env: dict[str, str]) -> GitHubClient:
    return GitHubClient(env["GITHUB_API_URL"], token=env["GITHUB_TOKEN"])


# -- the sources ---------------------------------------------------------------------------------
def commits(ctx: Context) -> Outcome:
    return _measure(ctx, "github", _commits)


def _commits(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    since = history_start(env)
    listed: list[int] = []
    repos = _repositories(world)
    with _github(env) as client:
        for name in repos:
            count = 0
            # No branch: GitHub lists the default one, without a GET /repos to name it.
            for result in client.list_commits(name, since=since):
                ingestion.add("commits", result, scope=name)
                count += 1
            listed.append(count)
    minimum = sum(pages(n, PER_PAGE) for n in listed)
    return Load(
        client.stats,
        minimum,
        f"sum over repositories of ceil(commits / {PER_PAGE}), at least 1 (the default "
        "branch, listed without naming it)",
        {
            "repositories": len(repos),
            "github_quota_hours": round(client.stats.requests / GITHUB_HOURLY_QUOTA, 2),
            **_page_worker_memory(client),
        },
    )


def _page_worker_memory(client: GitHubClient) -> dict[str, float]:
    """The page worker's peak RSS (the client is closed), and with this process's so far:
    the two hold a load's memory together."""
    worker_kb = client.page_worker_peak_rss_kb or 0
    own = peak_rss_bytes() or 0
    return {
        "page_worker_peak_rss_mb": round(worker_kb * 1024 / 1e6, 1),
        "peak_rss_with_page_worker_mb": round((own + worker_kb * 1024) / 1e6, 1),
    }


def pulls(ctx: Context) -> Outcome:
    return _measure(ctx, "github", _pulls)


def _pulls(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    since = history_start(env)
    minimum = pull_count = commit_count = 0
    repos = _repositories(world)
    with _github(env) as client:
        for name in repos:
            listed = 0
            for pull in client.list_pulls(name, updated_after=since):
                listed += 1
                if not isinstance(pull, Item):
                    ingestion.add("pulls", pull, scope=name)
                    continue
                # The connector keys a pull request by its number, which every repository
                # reuses: the raw key needs the repository too.
                number = pull.model.number
                scope = f"{name}#{number}"
                ingestion.add("pulls", Item(scope, pull.model, pull.payload), scope=name)
                if pull.model.merged_at is None:
                    continue
                # Only merged pull requests feed lead time: their commits, one listing each.
                in_pull = 0
                for result in client.list_pull_commits(name, number):
                    if isinstance(result, Item):
                        result = Item(f"{scope}:{result.key}", result.model, result.payload)
                    ingestion.add("pull_commits", result, scope=scope)
                    in_pull += 1
                minimum += pages(in_pull, PER_PAGE)
                commit_count += in_pull
            minimum += pages(listed, PER_PAGE)
            pull_count += listed
    return Load(
        client.stats,
        minimum,
        f"sum over repositories of ceil(closed pull requests / {PER_PAGE}), plus "
        f"ceil(commits / {PER_PAGE}) for each merged one",
        {
            "repositories": len(repos),
            "pulls": pull_count,
            "pull_commits": commit_count,
            "github_quota_hours": round(client.stats.requests / GITHUB_HOURLY_QUOTA, 2),
            **_page_worker_memory(client),
        },
    )


def argocd(ctx: Context) -> Outcome:
    return _measure(ctx, "argocd", _argocd)


def _argocd(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    apps = entries = 0
    with ArgoCDClient(env["ARGOCD_URL"], token=env["ARGOCD_TOKEN"]) as client:
        for app in client.list_applications():
            ingestion.add("applications", app)
            apps += 1
            if not isinstance(app, Item):
                continue
            raw = {h.get("id"): h for h in (app.payload.get("status") or {}).get("history") or []}
            for uid, history_id, entry in history_entries(app.model):
                key = f"{uid}:{history_id}"
                ingestion.add("history", Item(key, entry, raw.get(history_id)), scope=uid)
                entries += 1
    return Load(
        client.stats,
        1,
        "one GET /api/v1/applications (Argo CD does not page it)",
        {"applications": apps, "history_entries": entries},
    )


def pagerduty(ctx: Context) -> Outcome:
    return _measure(ctx, "pagerduty", _pagerduty)


def _pagerduty(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    since, until = history_start(env), world.now
    per_window: Counter[int] = Counter()
    with PagerDutyClient(env["PAGERDUTY_API_URL"], token=env["PAGERDUTY_TOKEN"]) as client:
        for incident in client.list_incidents(since=since, until=until):
            ingestion.add("incidents", incident)
            if isinstance(incident, Item):
                per_window[(incident.model.created_at - since) // MAX_WINDOW] += 1
    windows = max(1, math.ceil((until - since) / MAX_WINDOW))
    minimum = sum(pages(per_window[w], MAX_PAGE) for w in range(windows))
    return Load(
        client.stats,
        minimum,
        f"ceil(incidents / {MAX_PAGE}), at least 1, in each {MAX_WINDOW.days}-day window "
        f"(the longest range PagerDuty accepts); the connector reads "
        f"{client.window.days}-day windows",
        {"windows_of_the_connector": math.ceil((until - since) / client.window)},
    )


def typeform(ctx: Context) -> Outcome:
    return _measure(ctx, "typeform", _typeform)


def _typeform(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    since = history_start(env)
    forms = [f for f in env["TYPEFORM_FORM_IDS"].split(",") if f]
    minimum = 0
    # The client paces itself to Typeform's 2 requests a second for real: that is the cost.
    with TypeformClient(env["TYPEFORM_API_URL"], token=env["TYPEFORM_TOKEN"]) as client:
        for form in forms:
            count = 0
            for response in client.list_responses(form, since=since):
                ingestion.add("responses", response, scope=form)
                count += 1
            minimum += pages(count, MAX_PAGE_SIZE)
    return Load(
        client.stats,
        minimum,
        f"sum over forms of ceil(responses / {MAX_PAGE_SIZE}), at least 1; the client also "
        "waits 0.5 s between requests (Typeform's 2 a second)",
        {"forms": len(forms)},
    )


def backstage(ctx: Context) -> Outcome:
    return _measure(ctx, "backstage", _backstage)


def _backstage(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    count = 0
    with BackstageClient(env["BACKSTAGE_URL"], token=env["BACKSTAGE_TOKEN"]) as client:
        for entity in client.list_entities(limit=BACKSTAGE_PAGE):
            ingestion.add("entities", entity)
            count += 1
    return Load(
        client.stats,
        pages(count, BACKSTAGE_PAGE),
        f"ceil(entities / {BACKSTAGE_PAGE}) (Backstage documents no maximum page size)",
    )


def focus(ctx: Context) -> Outcome:
    return _measure(ctx, "focus", _focus)


def _focus(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    files = world.files("focus")
    for row in read_focus(env["PAVED_COST_PATH"]):
        ingestion.add("rows", row)
    return Load(
        None,
        None,
        "files, no requests",
        {"files": len(files), "input_mb": round(sum(f.stat().st_size for f in files) / 1e6, 1)},
    )


def opencost(ctx: Context) -> Outcome:
    return _measure(ctx, "opencost", _opencost)


def _opencost(ingestion: Ingestion, env: dict[str, str], world: World) -> Load:
    start, end = history_start(env).date(), world.now.date()
    with OpenCostClient(env["OPENCOST_URL"]) as client:
        for allocation in client.list_allocations(start=start, end=end):
            ingestion.add("allocations", allocation)
    days = (end - start) / timedelta(days=1)
    return Load(
        client.stats,
        max(1, math.ceil(days / MAX_STEPS)),
        f"one request per {MAX_STEPS} daily steps (the API's cap), as the connector asks",
        {"days": int(days)},
    )
