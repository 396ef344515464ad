"""Incidents, failed deployments, recovery and rework (METRICS.md §5-§7; docs/metrics.md 18-22).

Windows are inclusive: an incident created exactly ``window_hours`` after a deployment finished
is still attributed to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from models.metrics.deployments import order_keys, service_repos, with_repo_key
from models.metrics.frames import maybe_in

REVERT_MARKER = "This reverts commit"
REVERT_SHA = r"This reverts commit ([0-9a-fA-F]{7,40})"
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def _seconds(later: str, earlier: str) -> pl.Expr:
    return (pl.col(later) - pl.col(earlier)).dt.total_microseconds().cast(pl.Float64) / 1e6


def _ranked(deployments: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``deployments``' ``columns`` in deployment order (:func:`order_keys`) with a ``_rank``
    (monotone within a service)."""
    return (
        order_keys(deployments, *columns)
        .with_row_index("_rank")
        .with_columns(pl.col("_rank").cast(pl.Int64))
    )


def restore_seconds() -> pl.Expr:
    """An incident's ``time_to_restore_s``: resolved - created, NULL while it is open."""
    return pl.when(pl.col("resolved_at").is_not_null()).then(_seconds("resolved_at", "created_at"))


def attribute_incidents(
    incidents: pl.DataFrame, deployments: pl.DataFrame, *, window_hours: float = 24
) -> pl.DataFrame:
    """``incidents`` plus ``deployment_id`` and ``time_to_restore_s``.

    An incident goes to the latest deployment of its service (deployment order) that finished at
    or before its ``created_at``, if that is within ``window_hours``; otherwise to none (it still
    counts for time to restore, not for CFR). ``time_to_restore_s`` = resolved - created for
    resolved incidents; open ones are counted, not timed.
    """
    latest = (
        _ranked(deployments, "service", "finished_at", "deployment_id")
        .select("service", "finished_at", "deployment_id", "_rank")
        .sort("_rank")
        .unique(["service", "finished_at"], keep="last")  # ties: the last in order
        .sort("finished_at")
    )
    window = timedelta(hours=window_hours)
    attributed = (
        incidents.with_row_index("_row")
        .sort("created_at")
        .join_asof(
            latest.select("service", "finished_at", "deployment_id"),
            left_on="created_at",
            right_on="finished_at",
            by="service",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            deployment_id=pl.when(pl.col("created_at") - pl.col("finished_at") <= window).then(
                pl.col("deployment_id")
            ),
            time_to_restore_s=restore_seconds(),
        )
        .sort("_row")
        .drop("_row", "finished_at")
    )
    return attributed


def reverts(shipped: pl.DataFrame, commits: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    """``(service, deployment_id, sha, message)`` of first-shipped commits that say they revert
    something (what :func:`failed_deployments` and :func:`rework_deployments` read of
    ``shipped`` and ``commits``: a caller of both may compute it once and pass it)."""
    messages = (
        with_repo_key(commits.filter(pl.col("message").str.contains(REVERT_MARKER, literal=True)))
        .select("repo_key", "sha", "message")
        .join(service_repos(services), on="repo_key", how="inner")
        .select("service", "sha", "message")
        .unique(["service", "sha"])
    )
    # The few shipped rows of those shas first: not a join of every shipped commit.
    named = shipped.filter(maybe_in("sha", messages.get_column("sha")))
    return named.join(messages, on=["service", "sha"], how="inner")


def failed_deployments(
    deployments: pl.DataFrame,
    incidents: pl.DataFrame,
    shipped: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame,
    *,
    window_hours: float = 24,
    reverting: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``deployments`` plus ``is_failed``, ``failure_reason`` and ``recovery_deployment_id``.

    The reason is the first that holds of:
    ``incident`` (an incident is attributed to it: ``incidents`` from
    :func:`attribute_incidents`); ``rollback`` (the next deployment of the same service and
    environment is a rollback finishing within the window: needs ``is_rollback``); ``revert``
    (a later deployment of the service, any environment, finishing within the window first ships
    a commit whose message says ``This reverts commit <sha>`` (7-40 hex, a prefix) of a commit
    this one first shipped). ``recovery_deployment_id``: that rollback or (first) reverting
    deployment. ``reverting``: :func:`reverts` of ``shipped`` and ``commits``, if the caller has
    it.
    """
    window = timedelta(hours=window_hours)
    ranked = _ranked(
        deployments, "service", "environment", "deployment_id", "is_rollback", "finished_at"
    )
    with_incident = incidents.filter(pl.col("deployment_id").is_not_null()).select("deployment_id")
    nxt = ranked.sort("_rank").with_columns(
        _next_id=pl.col("deployment_id").shift(-1).over("service", "environment"),
        _next_rollback=pl.col("is_rollback").shift(-1).over("service", "environment"),
        _next_finished=pl.col("finished_at").shift(-1).over("service", "environment"),
    )
    rollback = nxt.filter(
        pl.col("_next_rollback").fill_null(False)
        & (pl.col("_next_finished") - pl.col("finished_at") <= window)
    ).select("deployment_id", _rollback_by="_next_id")

    if reverting is None:
        reverting = reverts(shipped, commits, services)
    reverting = reverting.with_columns(_target=pl.col("message").str.extract_all(REVERT_SHA))
    reverting = (
        reverting.explode("_target")
        .filter(pl.col("_target").is_not_null())
        .with_columns(
            _target=pl.col("_target").str.slice(len(REVERT_MARKER) + 1).str.to_lowercase()
        )
        .select("service", _by="deployment_id", _target="_target")
        .unique()
        .with_columns(_p7=pl.col("_target").str.slice(0, 7))
    )
    ranks = ranked.select("deployment_id", "_rank", "finished_at")
    targets = shipped.select("service", "sha", "deployment_id").with_columns(
        _p7=pl.col("sha").str.slice(0, 7)
    )
    revert = (
        reverting.join(targets, on=["service", "_p7"], how="inner")
        .filter(pl.col("sha").str.starts_with(pl.col("_target")))
        .join(ranks, on="deployment_id", how="inner")
        .join(
            ranks.select(_by="deployment_id", _by_rank="_rank", _by_finished="finished_at"),
            on="_by",
            how="inner",
        )
        .filter(
            (pl.col("_by_rank") > pl.col("_rank"))
            & (pl.col("_by_finished") - pl.col("finished_at") <= window)
        )
        .sort("_by_rank")
        .group_by("deployment_id", maintain_order=True)
        .agg(_revert_by=pl.col("_by").first())
    )
    frame = (
        deployments.join(rollback, on="deployment_id", how="left", maintain_order="left")
        .join(revert, on="deployment_id", how="left", maintain_order="left")
        .with_columns(
            _incident=pl.col("deployment_id").is_in(
                with_incident.get_column("deployment_id").implode()
            )
        )
        .with_columns(
            failure_reason=pl.when(pl.col("_incident"))
            .then(pl.lit("incident"))
            .when(pl.col("_rollback_by").is_not_null())
            .then(pl.lit("rollback"))
            .when(pl.col("_revert_by").is_not_null())
            .then(pl.lit("revert"))
        )
        .with_columns(
            is_failed=pl.col("failure_reason").is_not_null(),
            recovery_deployment_id=pl.when(pl.col("failure_reason") == "rollback")
            .then(pl.col("_rollback_by"))
            .when(pl.col("failure_reason") == "revert")
            .then(pl.col("_revert_by")),
        )
    )
    return frame.drop("_incident", "_rollback_by", "_revert_by")


def recovery_times(deployments: pl.DataFrame, incidents: pl.DataFrame) -> pl.DataFrame:
    """``deployments`` (from :func:`failed_deployments`) plus ``recovered_at`` and
    ``recovery_s`` (failed deployment recovery time).

    With attributed incidents: the latest ``resolved_at`` once all are resolved, else NULL (still
    open). A rollback or revert failure: the finish of the rollback / first reverting deployment.
    """
    by_incident = (
        incidents.filter(pl.col("deployment_id").is_not_null())
        .group_by("deployment_id")
        .agg(
            _resolved=pl.when(pl.col("resolved_at").is_null().any())
            .then(None)
            .otherwise(pl.col("resolved_at").max())
        )
    )
    fixes = deployments.select(recovery_deployment_id="deployment_id", _fixed="finished_at")
    frame = (
        deployments.join(by_incident, on="deployment_id", how="left", maintain_order="left")
        .join(fixes, on="recovery_deployment_id", how="left", maintain_order="left")
        .with_columns(
            recovered_at=pl.when(pl.col("failure_reason") == "incident")
            .then(pl.col("_resolved"))
            .when(pl.col("failure_reason").is_in(["rollback", "revert"]))
            .then(pl.col("_fixed"))
        )
        .with_columns(recovery_s=_seconds("recovered_at", "finished_at"))
    )
    return frame.drop("_resolved", "_fixed")


def rework_deployments(
    deployments: pl.DataFrame,
    shipped: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame,
    incidents: pl.DataFrame,
    *,
    reverting: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``deployments`` plus ``is_rework`` and ``rework_reason`` (the first that holds):
    ``rollback`` (needs ``is_rollback``); ``revert`` (it first ships a commit whose message
    contains ``This reverts commit``); ``incident_open`` (it started while an incident of the
    service was open: ``created_at <= started_at < resolved_at``, or not resolved).
    ``reverting``: :func:`reverts` of ``shipped`` and ``commits``, if the caller has it."""
    if reverting is None:
        reverting = reverts(shipped, commits, services)
    reverting = reverting.select("deployment_id").unique()
    # An incident is open at t if created <= t < resolved: for the incidents created by t
    # (sorted by creation), the running max of their resolution (open = far future) says whether
    # any of them is still open.
    never = pl.lit(FAR_FUTURE).cast(incidents.schema["resolved_at"])
    open_until = incidents.select(
        "service", "created_at", _until=pl.col("resolved_at").fill_null(never)
    )
    open_until = (
        open_until.group_by("service", "created_at")
        .agg(pl.col("_until").max())
        .sort("service", "created_at")
        .with_columns(_until=pl.col("_until").cum_max().over("service"))
        .sort("created_at")
    )
    during = (
        deployments.select("deployment_id", "service", "started_at")
        .sort("started_at")
        .join_asof(
            open_until,
            left_on="started_at",
            right_on="created_at",
            by="service",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("_until") > pl.col("started_at"))
        .select("deployment_id")
    )
    frame = deployments.with_columns(
        rework_reason=pl.when(pl.col("is_rollback"))
        .then(pl.lit("rollback"))
        .when(pl.col("deployment_id").is_in(reverting.get_column("deployment_id").implode()))
        .then(pl.lit("revert"))
        .when(pl.col("deployment_id").is_in(during.get_column("deployment_id").implode()))
        .then(pl.lit("incident_open"))
    )
    return frame.with_columns(is_rework=pl.col("rework_reason").is_not_null())
