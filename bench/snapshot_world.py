"""What a synthetic snapshot (:mod:`bench.snapshot`) takes from a sandbox world: its catalog
(teams, services, Argo CD apps, GitHub environments) and how many records of each kind it holds
in the collection window, per service where the marts count them per service.

Production deployments: the Argo CD history of production apps (name or namespace matching the
default production pattern) plus GitHub deployments to a production environment. Changes: merged
pull requests plus reachable commits outside any pull request (the pipeline's push changes,
counted one per commit: an upper bound). Incidents: PagerDuty incidents of catalogued services.
Everything is counted in ``[history_start, now)``, the window the pipeline's marts cover.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from models.metrics.deployments import (
    DEFAULT_PRODUCTION_ENVS,
    DEFAULT_PRODUCTION_PATTERN,
    production_app,
)
from sandbox.world.store import World, to_ts

GROUP = "group:default/"
COMPONENT = "component:default/"


@dataclass(frozen=True)
class WorldShape:
    """The counts and catalog a synthetic snapshot is sized by (frames are small: per service,
    per team, per quarter)."""

    start: datetime  # the history's first moment (PAVED_HISTORY_START)
    end: datetime  # the world's clock: the marts end the day before
    teams: pl.DataFrame  # team, name, parent, members
    services: pl.DataFrame  # service, name, team, system, lifecycle, type, repo, argocd_app, ...
    deployments: pl.DataFrame  # service, source, environment, n (production deployments)
    changes: pl.DataFrame  # service, repo, kind ("pr" / "push"), n
    incidents: pl.DataFrame  # service, n
    surveys: pl.DataFrame  # quarter, team (None: no team), n (responses)
    environments: pl.DataFrame  # service, source, target, environment, is_production
    cost_days: int  # days with cost rows in the window
    users: int

    @property
    def as_of(self) -> date:
        return (self.end - timedelta(days=1)).date()

    @property
    def argocd_polls(self) -> int:
        """Daily Argo CD polls of the first run: a year of them at most (``paved demo``)."""
        return min((self.end - self.start).days, 366)


def world_shape(world: World) -> WorldShape:
    start = datetime.fromisoformat(world.meta["history_start"]).replace(tzinfo=UTC)
    end = world.now
    lo, hi = to_ts(start), to_ts(end)
    pattern = re.compile(DEFAULT_PRODUCTION_PATTERN)

    def frame(sql: str, names: list[str], params: tuple[object, ...] = ()) -> pl.DataFrame:
        return pl.DataFrame(world.query(sql, params), schema=names, orient="row")

    members = dict(world.query("SELECT team, count(*) FROM users GROUP BY team"))
    teams = frame("SELECT name, display_name, parent FROM groups ORDER BY name", ["n", "d", "p"])
    teams = teams.select(
        team=GROUP + pl.col("n"),
        name=pl.col("d"),
        parent=pl.when(pl.col("p").is_not_null()).then(GROUP + pl.col("p")),
        members=pl.col("n").replace_strict(members, default=0, return_dtype=pl.Int32),
    )
    apps = world.query(
        "SELECT a.service, a.name, json_extract(a.spec_json, '$.destination.namespace'), "
        "(SELECT count(*) FROM argo_history h WHERE h.app_uid = a.uid "
        " AND h.deployed_at >= ? AND h.deployed_at < ?) FROM argo_apps a ORDER BY a.name",
        (lo, hi),
    )
    prod_app = {s: n for s, n, ns, _ in apps if production_app(n, ns, pattern)}
    services = frame(
        "SELECT c.name, c.owner, c.system, c.lifecycle, c.type, "
        "(SELECT min(full_name) FROM repos r WHERE r.service = c.name), "
        "(SELECT min(id) FROM pd_services p WHERE p.service = c.name) "
        "FROM components c ORDER BY c.name",
        ["name", "owner", "system", "lifecycle", "type", "repo", "pd"],
    ).select(
        service=COMPONENT + pl.col("name"),
        name="name",
        team=GROUP + pl.col("owner"),
        system="system",
        lifecycle="lifecycle",
        type="type",
        repo="repo",
        argocd_app=pl.col("name").replace_strict(prod_app, default=None, return_dtype=pl.Utf8),
        pagerduty_service_id="pd",
    )
    github = world.query(
        "SELECT r.service, d.environment, count(*) FROM gh_deployments d "
        "JOIN repos r ON r.id = d.repo_id WHERE d.created_at >= ? AND d.created_at < ? "
        "GROUP BY 1, 2",
        (lo, hi),
    )
    production = set(DEFAULT_PRODUCTION_ENVS)
    deployments = pl.DataFrame(
        [(COMPONENT + s, "argocd", n, k) for s, n, _, k in apps if s and prod_app.get(s) == n]
        + [(COMPONENT + s, "github", e, k) for s, e, k in github if s and e in production],
        schema=["service", "source", "environment", "n"],
        orient="row",
    ).filter(pl.col("n") > 0)
    environments = pl.DataFrame(
        [(COMPONENT + s, "argocd", n, ns or n, prod_app.get(s) == n) for s, n, ns, _ in apps if s]
        + [(COMPONENT + s, "github", e, e, e in production) for s, e, _ in github if s],
        schema=["service", "source", "target", "environment", "is_production"],
        orient="row",
    )
    pulls = frame(
        "SELECT r.service, r.full_name, 'pr', count(*) FROM pulls p "
        "JOIN repos r ON r.id = p.repo_id WHERE p.merged_at >= ? AND p.merged_at < ? GROUP BY 1, 2",
        ["service", "repo", "kind", "n"],
        (lo, hi),
    )
    pushes = frame(
        "SELECT r.service, r.full_name, 'push', c.n FROM (SELECT repo_id, count(*) AS n "
        "FROM commits WHERE pr_number IS NULL AND reachable = 1 AND committer_date >= ? "
        "AND committer_date < ? GROUP BY 1) c JOIN repos r ON r.id = c.repo_id",
        ["service", "repo", "kind", "n"],
        (lo, hi),
    )
    changes = pl.concat([pulls, pushes]).filter(pl.col("service").is_not_null())
    incidents = frame(
        "SELECT s.service, count(*) FROM pd_incidents i JOIN pd_services s "
        "ON s.id = i.pd_service_id WHERE i.created_at >= ? AND i.created_at < ? GROUP BY 1",
        ["service", "n"],
        (lo, hi),
    ).filter(pl.col("service").is_not_null())
    surveys = frame(
        "SELECT quarter, team, count(*) FROM survey_truth "
        "WHERE submitted_at >= ? AND submitted_at < ? GROUP BY 1, 2",
        ["quarter", "team", "n"],
        (lo, hi),
    )
    ((cost_days,),) = world.query(
        "SELECT count(DISTINCT date) FROM opencost WHERE date >= ? AND date < ?",
        (start.date().isoformat(), end.date().isoformat()),
    )
    ((users,),) = world.query("SELECT count(*) FROM users")
    return WorldShape(
        start=start,
        end=end,
        teams=teams,
        services=services,
        deployments=deployments.with_columns(pl.col("n").cast(pl.Int64)),
        changes=changes.with_columns(
            service=COMPONENT + pl.col("service"), n=pl.col("n").cast(pl.Int64)
        ),
        incidents=incidents.with_columns(
            service=COMPONENT + pl.col("service"), n=pl.col("n").cast(pl.Int64)
        ),
        surveys=surveys.with_columns(
            team=pl.when(pl.col("team").is_not_null()).then(GROUP + pl.col("team")),
            n=pl.col("n").cast(pl.Int64),
        ),
        environments=environments,
        cost_days=int(cost_days),
        users=int(users),
    )
