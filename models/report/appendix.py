"""The appendix: data quality (sources, coverage, rejected and unmapped counts) and what each
number means, in plain words (a summary of METRICS.md, which stays the reference)."""

from __future__ import annotations

from typing import Any

from models.report.model import Column, Section, Table
from models.report.quarter import Quarter
from models.report.source import Snapshot

DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "Deployment frequency",
        "Successful rollouts of a service to production (Argo CD history, or GitHub "
        "Deployments for services Argo CD does not deploy) per calendar day of the period. "
        "Its tier counts how many days a week or month had at least one deployment.",
    ),
    (
        "Change lead time",
        "From the first commit of a change (a merged pull request or a direct push) to the "
        "first production deployment that contains it; the median (p50) of the period's "
        "shipped changes. Changes shipped by a service's first observed deployment, or with "
        "clock skew, are left out and counted in the appendix.",
    ),
    (
        "Change failure rate",
        "The share of production deployments that failed: an incident was attributed to "
        "them (opened within 24 hours after them, before the next deployment), or they were "
        "rolled back or reverted within 24 hours. Never above 100 %.",
    ),
    (
        "Failed deployment recovery time",
        "For a failed deployment, the time until its incidents were all resolved, or until "
        "the rollback or revert was deployed; the median of the period's failed deployments.",
    ),
    (
        "Deployment rework rate",
        "The share of deployments that were unplanned: a rollback, a revert, or a deployment "
        "started while an incident on the service was open.",
    ),
    (
        "Time to restore service",
        "For every resolved incident, from its opening to its resolution; the median (and, "
        "labelled as such, the mean). Open incidents are counted, not timed.",
    ),
    (
        "Developer satisfaction",
        "The mean answer (1-5) to 'How satisfied are you with the platform?'. Top-2-box is "
        "the share answering 4 or 5; eNPS is the share of 9-10 minus the share of 0-6, in "
        "points. A team below the anonymity threshold is suppressed.",
    ),
    (
        "Cost",
        "Effective (amortised) cost from FinOps FOCUS exports, allocated to a service by its "
        "tags, else to a team, else unallocated. Cost per deployment is a service's effective "
        "cost divided by its deployments in the same period.",
    ),
    (
        "Tiers",
        "The State of DevOps report's clusters (elite, high, medium, low) for the named year; "
        "the product brief's rule of thumb says good, between or bad.",
    ),
)


def _coverage(snapshot: Snapshot, quarter: Quarter) -> list[tuple[Any, ...]]:
    window = {"lo": quarter.start, "hi": quarter.end}
    services, with_repo, with_pagerduty = snapshot.one(
        "SELECT count(*), count(repo), "
        "count(pagerduty_service_id) FROM marts.services JOIN scope_services USING (service)"
    )
    deployed, deployments, resolved = snapshot.one(
        "SELECT count(DISTINCT service), count(*), count(revision) FROM marts.deployments "
        "JOIN scope_services USING (service) "
        "WHERE (finished_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi",
        window,
    )
    counted, first_observed, clock_skew = snapshot.one(
        "SELECT count(*) FILTER (excluded_reason IS NULL), "
        "count(*) FILTER (excluded_reason = 'first_observed_deployment'), "
        "count(*) FILTER (excluded_reason = 'clock_skew') FROM marts.changes "
        "JOIN scope_services USING (service) "
        "WHERE (deployed_at AT TIME ZONE 'UTC')::DATE BETWEEN $lo AND $hi",
        window,
    )

    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    return [
        ("Services in the catalog", services, None),
        ("with a repository", with_repo, share(with_repo, services)),
        ("with PagerDuty", with_pagerduty, share(with_pagerduty, services)),
        ("deployed to production this quarter", deployed, share(deployed, services)),
        ("Production deployments", deployments, None),
        ("with a resolved revision (count for lead time)", resolved, share(resolved, deployments)),
        ("Changes shipped and counted for lead time", counted, None),
        ("left out: shipped by a first observed deployment", first_observed, None),
        ("left out: clock skew", clock_skew, None),
    ]


def appendix_section(snapshot: Snapshot, quarter: Quarter) -> Section:
    quality = snapshot.rows(
        """
        SELECT source, count(*) OVER (PARTITION BY source) AS runs, run_at,
               fetched, loaded, rejected, unmapped, coalesce(notes, '')
        FROM marts.data_quality
        QUALIFY row_number() OVER (PARTITION BY source ORDER BY run_at DESC, run_id DESC) = 1
        ORDER BY source
        """
    )
    return Section(
        "appendix",
        "Appendix: data quality and definitions",
        "Every record a source returned was loaded, rejected (with its reason) or left "
        "unmapped (it names no catalogued service): fetched = loaded + rejected + unmapped.",
        tables=[
            Table(
                "data_quality",
                "Sources (latest run of each)",
                [
                    Column("source", "Source"),
                    Column("runs", "Runs", "int"),
                    Column("last_run_at", "Latest run (UTC)", "datetime"),
                    Column("fetched", "Fetched", "int"),
                    Column("loaded", "Loaded", "int"),
                    Column("rejected", "Rejected", "int"),
                    Column("unmapped", "Unmapped", "int"),
                    Column("notes", "Notes"),
                ],
                quality,
            ),
            Table(
                "coverage",
                f"Coverage, {quarter.label}",
                [
                    Column("measure", "Measure"),
                    Column("count", "Count", "int"),
                    Column("share", "Share", "percent"),
                ],
                _coverage(snapshot, quarter),
            ),
            Table(
                "definitions",
                "What the numbers mean",
                [Column("metric", "Metric"), Column("definition", "Definition")],
                list(DEFINITIONS),
            ),
        ],
    )
