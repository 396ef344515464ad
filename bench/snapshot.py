"""A synthetic published snapshot sized like a sandbox world: SIZES AND SHAPES ONLY, NOT THE
PIPELINE'S NUMBERS.

What the dashboard, the report and ``paved sql`` cost depends on the published tables' sizes and
shapes, not on their values; the pipeline's first run on the enterprise world takes hours. This
writes ``published/paved.duckdb`` with every table of ``models.schema.MARTS`` (exactly its
columns, created by ``create_table_sql``) in seconds:

- the catalog (teams, services) is the world's own (:mod:`bench.snapshot_world`);
- deployments, changes, incidents and costs are generated in DuckDB SQL, as many per service
  as the world holds in its window, spread evenly over it with hash-based jitter (no values of
  the world: lead times, failures and costs are made up, deterministic);
- ``dora_metrics``, ``dora_tiers``, ``satisfaction``, ``survey_choices`` and ``team_maturity``
  come from those rows through the real metric functions (:mod:`models.metrics`), so their
  shapes are the real marts': every grain x scope x period zero-filled, periods starting on the
  first day (weeks on Monday), tiers from ``models.metrics.benchmarks``, survey cells
  suppressed by the real rule; survey answers are made up, one response per world response;
- ``environments``, ``service_links``, ``data_quality`` and ``rejected_records`` are filled
  plausibly from the world's apps, the catalog and the record counts.

    python -m bench.snapshot WORLD_FOLDER PAVED_HOME
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from bench.snapshot_world import WorldShape, world_shape
from models.metrics.benchmarks import benchmarks
from models.metrics.dora import dora_metrics, dora_tiers
from models.metrics.maturity import team_maturity
from models.metrics.survey_choices import survey_choices
from models.metrics.surveys import satisfaction
from models.schema import MARTS, create_table_sql
from sandbox.world.store import World

# A value in [0, 1) from a row's keys: the jitter every generated column draws from.
U = "(hash({}) % 1000000) / 1000000.0"
BLOCKERS = ("Waiting for code review", "Flaky CI", "Test environments", "Access requests")
DEPLOY_TIMES = ("Less than a day", "1–3 days", "About a week", "More than a week")


def write_snapshot(world: Path, home: Path) -> dict[str, int]:
    """``home/published/paved.duckdb`` shaped like ``world``; its row count per table."""
    shape = world_shape(World(world))
    published = home / "published" / "paved.duckdb"
    published.parent.mkdir(parents=True, exist_ok=True)
    for stale in (published, published.with_name(published.name + ".wal")):
        stale.unlink(missing_ok=True)
    with duckdb.connect(str(published)) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("CREATE SCHEMA marts")
        for table in MARTS:
            conn.execute(create_table_sql(table))
        _facts(conn, shape)
        _derived(conn, shape)
        _portal(conn, shape)
        conn.execute("CHECKPOINT")
        return {t: _count(conn, t) for t in MARTS}


def _insert(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    conn.register("_frame", frame)
    conn.execute(f"INSERT INTO marts.{table} BY NAME SELECT * FROM _frame")
    conn.unregister("_frame")


def _count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM marts.{table}").fetchall()[0][0])


def _facts(conn: duckdb.DuckDBPyConnection, shape: WorldShape) -> None:
    """Catalog, deployments, changes, incidents and costs, per service as many as the world's."""
    _insert(conn, "teams", shape.teams)
    _insert(conn, "services", shape.services.with_columns(depends_on=pl.lit([], pl.List(pl.Utf8))))
    conn.execute(
        "UPDATE marts.services s SET depends_on = [d.service] FROM (SELECT service, "
        "lead(service) OVER (PARTITION BY system ORDER BY service) AS next FROM marts.services) d "
        f"WHERE d.service = s.service AND d.next IS NOT NULL AND {U.format('s.service')} < 0.6"
    )
    for name in ("deployments", "changes", "incidents"):
        conn.register(f"_{name}", getattr(shape, name))
    start, span = shape.start.timestamp(), (shape.end - shape.start).total_seconds()
    # Each plan row's k-th record at the k-th of n equal slices of the window, jittered within.
    at = f"to_timestamp({start} + (k + {U.format('p.service, p.environment, k')}) / p.n * {span})"
    conn.execute(
        f"""
        CREATE TEMP TABLE deps AS
        SELECT *, row_number() OVER (PARTITION BY service ORDER BY finished_at) AS rank,
               count(*) OVER (PARTITION BY service) AS per_service
        FROM (
            SELECT p.service, p.source, p.environment, k, {at} AS finished_at,
                   {U.format("p.service, p.environment, k, 'fail'")} AS u
            FROM _deployments p, range(p.n) r(k)
        )
        """
    )
    conn.execute(
        f"""
        INSERT INTO marts.deployments
        SELECT 'dep-' || row_number() OVER (ORDER BY finished_at, service), d.service, s.team,
               d.environment, d.source, md5(d.service || d.k), finished_at
                 - to_seconds((60 + 600 * {U.format("d.service, d.k, 'start'")})::BIGINT),
               finished_at, u > 0.985, u < 0.08,
               CASE WHEN u < 0.05 THEN 'incident' WHEN u < 0.07 THEN 'rollback'
                    WHEN u < 0.08 THEN 'revert' END,
               u BETWEEN 0.08 AND 0.11, d.rank = 1
        FROM deps d JOIN marts.services s USING (service)
        """
    )
    conn.execute(
        "CREATE TEMP TABLE ranked AS SELECT deployment_id, service, finished_at, row_number() "
        "OVER (PARTITION BY service ORDER BY finished_at) AS rank, count(*) OVER "
        "(PARTITION BY service) AS per_service FROM marts.deployments"
    )
    # A change ships with the deployment at its position in the service's deployments; the
    # hours of lead time are log-uniform between 1 and ~400, split coding/review/wait 5:3:2.
    lead = f"3600 * exp(6 * {U.format('c.service, c.kind, i')})"
    conn.execute(
        f"""
        INSERT INTO marts.changes
        SELECT CASE WHEN kind = 'pr' THEN repo || '#' || i ELSE sha END, service, repo, kind,
               CASE WHEN kind = 'pr' THEN i::INTEGER END, sha,
               shipped - to_seconds(lead::BIGINT),
               CASE WHEN kind = 'pr' THEN shipped - to_seconds((lead * 0.5)::BIGINT) END,
               shipped - to_seconds((lead * 0.2)::BIGINT), deployment_id, deployed_at,
               CASE WHEN deployed_at IS NOT NULL THEN lead END, lead * 0.5,
               CASE WHEN kind = 'pr' THEN lead * 0.3 END,
               CASE WHEN deployed_at IS NOT NULL THEN lead * 0.2 END,
               CASE WHEN deployed_at IS NOT NULL AND {U.format("sha, 'x'")} < 0.003
                    THEN 'clock_skew' END
        FROM (
            SELECT c.service, c.repo, c.kind, i, md5(c.repo || c.kind || i) AS sha, {lead} AS lead,
                   d.deployment_id, d.finished_at AS deployed_at,
                   coalesce(d.finished_at, to_timestamp({start} + (i + 0.5) / c.n * {span}))
                     AS shipped
            FROM _changes c CROSS JOIN LATERAL range(c.n) r(i)
            LEFT JOIN (SELECT service, max(per_service) AS per_service FROM ranked GROUP BY 1) m
              ON m.service = c.service
            LEFT JOIN ranked d ON d.service = c.service
              AND d.rank = 1 + (i * m.per_service // c.n)
        )
        """
    )
    conn.execute(
        f"""
        INSERT INTO marts.incidents
        SELECT 'inc-' || row_number() OVER (ORDER BY created_at, service), service, s.team,
               'pagerduty', 'Synthetic incident ' || i, CASE WHEN u < 0.7 THEN 'high' ELSE 'low'
               END, CASE WHEN ttr IS NULL THEN 'triggered' ELSE 'resolved' END, created_at,
               created_at + to_seconds(ttr::BIGINT), ttr,
               CASE WHEN u < 0.3 THEN d.deployment_id END
        FROM (
            SELECT p.service, i, {U.format("p.service, i, 'inc'")} AS u,
                   to_timestamp({start} + (i + 0.5) / p.n * {span}) AS created_at,
                   CASE WHEN i < p.n - 1 OR p.n % 7 > 0
                        THEN 600 + 86400 * pow({U.format("p.service, i, 'ttr'")}, 3) END AS ttr,
                   p.n
            FROM _incidents p, range(p.n) r(i)
        ) x
        JOIN marts.services s USING (service)
        LEFT JOIN (SELECT service, max(per_service) AS per_service FROM ranked GROUP BY 1) m
          USING (service)
        LEFT JOIN ranked d ON d.service = x.service AND d.rank = 1 + (i * m.per_service // x.n)
        """
    )
    conn.execute(
        f"""
        INSERT INTO marts.costs
        WITH days AS (
            SELECT ({shape.as_of.isoformat()!r}::DATE - d::INTEGER) AS date
            FROM range({shape.cost_days}) r(d)
        ), payers AS (
            SELECT service, team FROM marts.services
            UNION ALL SELECT NULL, team FROM marts.teams WHERE {U.format("team")} < 0.25
            UNION ALL SELECT NULL, NULL
        )
        SELECT date, service, team, 'USD', (2 + 40 * {U.format("service, team, date")})
                 ::DECIMAL(38, 10),
               (2.1 + 42 * {U.format("service, team, date")})::DECIMAL(38, 10)
        FROM days, payers
        """
    )
    for name in ("deployments", "changes", "incidents"):
        conn.unregister(f"_{name}")


def _derived(conn: duckdb.DuckDBPyConnection, shape: WorldShape) -> None:
    """The marts the pipeline computes from the facts, through the same functions."""
    services = conn.sql("SELECT service, team FROM marts.services").pl()
    deployments = conn.sql(
        "SELECT service, team, finished_at, is_failed, is_rework, CASE WHEN is_failed THEN "
        "1800 + (hash(deployment_id) % 40000) END AS recovery_s FROM marts.deployments"
    ).pl()
    changes = conn.sql(
        "SELECT service, deployed_at, lead_time_s, excluded_reason FROM marts.changes"
    ).pl()
    incidents = conn.sql("SELECT service, created_at, time_to_restore_s FROM marts.incidents").pl()
    as_of = shape.as_of
    _insert(
        conn,
        "dora_metrics",
        dora_metrics(
            deployments, changes, incidents, services, history_start=shape.start, as_of=as_of
        ),
    )
    tiers = dora_tiers(deployments, changes, incidents, services, as_of=as_of)
    _insert(conn, "dora_tiers", tiers)
    _insert(conn, "benchmarks", benchmarks())
    responses, answers = _survey(shape)
    teams = conn.sql("SELECT team, members FROM marts.teams").pl()
    survey = satisfaction(responses, answers, teams, org_invited=shape.users)
    _insert(conn, "satisfaction", survey)
    _insert(conn, "survey_choices", survey_choices(responses, answers))
    environments = shape.environments.select("service")
    _insert(
        conn,
        "team_maturity",
        team_maturity(
            conn.sql("SELECT * FROM marts.services").pl(),
            teams,
            environments,
            deployments,
            tiers,
            survey,
            as_of=as_of,
        ),
    )


def _survey(shape: WorldShape) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One made-up response per response of the world, with its quarter and team."""
    responses = (
        shape.surveys.select("quarter", "team", pl.int_ranges(0, pl.col("n")).alias("i"))
        .explode("i")
        .with_row_index("row")
        .select(
            source=pl.lit("typeform"),
            response_id="r" + pl.col("row").cast(pl.Utf8),
            quarter="quarter",
            team="team",
        )
    )
    h = pl.col("response_id").hash(seed=7)
    likert = lambda salt: ((h + salt) % 5 + 1).cast(pl.Int64)  # noqa: E731
    keys = {
        "ease_of_start": (likert(1), None),
        "platform_satisfaction": (likert(2), None),
        "platform_nps": (((h + 3) % 11).cast(pl.Int64), None),
        "deploy_new_service_time": (
            None,
            _pick(h, DEPLOY_TIMES),
        ),
        "top_blocker": (
            None,
            pl.when(h % 3 == 0)
            .then(pl.lit(", ".join(BLOCKERS[:2])))
            .otherwise(_pick(h // 3, BLOCKERS)),
        ),
    }
    answers = pl.concat(
        [
            responses.select(
                "source",
                "response_id",
                question_key=pl.lit(key),
                value=value if value is not None else pl.lit(None, pl.Int64),
                text=text if text is not None else pl.lit(None, pl.Utf8),
            )
            for key, (value, text) in keys.items()
        ]
    )
    return responses, answers


def _pick(h: pl.Expr, labels: tuple[str, ...]) -> pl.Expr:
    return (h % len(labels)).replace_strict(dict(enumerate(labels)), return_dtype=pl.Utf8)


def _portal(conn: duckdb.DuckDBPyConnection, shape: WorldShape) -> None:
    """Environments, service links, the ingestion runs and a few rejected records."""
    conn.register("_envs", shape.environments)
    conn.execute(
        f"""
        INSERT INTO marts.environments
        SELECT e.service, s.team, e.source, e.target, e.environment, e.is_production,
               CASE WHEN u < 0.9 THEN 'Synced' ELSE 'OutOfSync' END,
               CASE WHEN u < 0.93 THEN 'Healthy' ELSE 'Degraded' END, md5(e.target),
               d.last, CASE WHEN u < 0.95 THEN 'Succeeded' ELSE 'Failed' END,
               CASE WHEN u < 0.95 THEN 'successfully synced' ELSE 'sync failed' END,
               CASE WHEN u >= 0.8 THEN d.last - INTERVAL 3 DAY END,
               CASE WHEN u >= 0.8 THEN 'one or more objects failed to apply' END
        FROM (SELECT *, {U.format("service, target")} AS u FROM _envs) e
        JOIN marts.services s USING (service)
        LEFT JOIN (SELECT service, max(finished_at) AS last FROM marts.deployments GROUP BY 1) d
          USING (service)
        """
    )
    conn.unregister("_envs")
    conn.execute(
        """
        INSERT INTO marts.service_links
        SELECT service, kind, title, url FROM (
            SELECT service, 'repo' AS kind, 'GitHub: ' || repo AS title,
                   'https://github.com/' || repo AS url FROM marts.services WHERE repo IS NOT NULL
            UNION ALL SELECT service, 'source', 'Source',
                   'https://github.com/' || repo || '/tree/main/' FROM marts.services
                   WHERE repo IS NOT NULL
            UNION ALL SELECT service, 'argocd', 'Argo CD: ' || argocd_app,
                   'https://argocd.example/applications/' || argocd_app FROM marts.services
                   WHERE argocd_app IS NOT NULL
            UNION ALL SELECT service, 'pagerduty', 'PagerDuty: ' || pagerduty_service_id,
                   'https://example.pagerduty.com/service-directory/' || pagerduty_service_id
                   FROM marts.services WHERE pagerduty_service_id IS NOT NULL
            UNION ALL SELECT service, k, upper(k[1]) || k[2:],
                   'https://' || k || '.example/' || name
                   FROM marts.services, (VALUES ('docs'), ('logs'), ('runbook')) v(k)
        )
        """
    )
    polls = shape.argocd_polls
    runs = {
        "argocd": (polls, "SELECT count(*) FROM marts.deployments WHERE source = 'argocd'"),
        "github": (1, "SELECT count(*) FROM marts.changes"),
        "backstage": (2, "SELECT count(*) FROM marts.services"),
        "pagerduty": (1, "SELECT count(*) FROM marts.incidents"),
        "typeform": (1, "SELECT max(respondents) FROM marts.satisfaction WHERE scope = 'org'"),
        "opencost": (1, "SELECT count(*) FROM marts.costs"),
        "focus": (1, f"SELECT {shape.cost_days}"),
    }
    now = datetime.now(UTC).isoformat()
    for source, (count, records) in runs.items():
        conn.execute(
            f"""
            INSERT INTO marts.data_quality
            SELECT '{source}', '{source}-' || r, '{now}'::TIMESTAMPTZ - (r * INTERVAL 1 DAY),
                   n + n // 100, n, CASE WHEN r = 0 THEN n // 5000 ELSE 0 END,
                   n // 100 - CASE WHEN r = 0 THEN n // 5000 ELSE 0 END,
                   CASE WHEN '{source}' = 'argocd' AND r = {polls // 2}
                        THEN '1 history gap(s): see the app''s history' END
            FROM range({count}) t(r), (SELECT coalesce(({records}), 0) // {count} AS n)
            """
        )
    conn.execute(
        f"""
        INSERT INTO marts.rejected_records
        SELECT 'github', 'pull_request', repo || '#' || pr_number, 'merged_at before created_at',
               'github-0', '{now}'::TIMESTAMPTZ, '{{"number": ' || pr_number || '}}'
        FROM marts.changes WHERE kind = 'pr' AND {U.format("change_id, 'rej'")} < 0.0002
        """
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.snapshot WORLD_FOLDER PAVED_HOME", file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows = write_snapshot(Path(args[0]), Path(args[1]))
    print(f"{sum(rows.values()):,} rows in {time.perf_counter() - started:.1f} s: {rows}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
