"""Environments: one row per service x deployment target, its state and last failure
(docs/metrics.md "Portal views").

A target is an Argo CD application (by name: a recreated app keeps its name, so its uids are one
target, as in marts.deployments) or a GitHub environment of the service's repo
(``owner/repo:environment``). Production follows the deployments' rule 8: the app's name or
destination namespace matches the production pattern; the environment name is in the
production list (case-insensitive).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from models.metrics.deployments import (
    DEFAULT_PRODUCTION_ENVS,
    DEFAULT_PRODUCTION_PATTERN,
    production_app,
)
from models.metrics.frames import UTC_TS, to_mart

ARGOCD_STATUS: dict[str, pl.DataType] = {
    "app_uid": pl.Utf8(),
    "app_name": pl.Utf8(),
    "namespace": pl.Utf8(),
    "service": pl.Utf8(),
    "created_at": UTC_TS,
    "observed_at": UTC_TS,
    "sync_status": pl.Utf8(),
    "health_status": pl.Utf8(),
}
"""One row per mapped Argo CD Application uid, as the last poll saw it: ``created_at`` its
``metadata.creationTimestamp``, ``observed_at`` when Paved stored that payload, and
``status.sync.status`` / ``status.health.status``."""

OPERATIONS: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "service": pl.Utf8(),
    "target": pl.Utf8(),
    "environment": pl.Utf8(),
    "key": pl.Utf8(),
    "sequence": pl.Int64(),
    "phase": pl.Utf8(),
    "message": pl.Utf8(),
    "started_at": UTC_TS,
    "finished_at": UTC_TS,
    "revision": pl.Utf8(),
}
"""One row per observed deployment operation of a mapped target. Argo CD: an
``status.operationState`` (``key`` the app uid, ``sequence`` 0, ``phase`` Running / Succeeded /
Failed / Error...), every one a poll saw. GitHub: a deployment status (``key`` the deployment id,
``sequence`` the status id, ``phase`` its state, ``message`` its description, ``started_at``
the deployment's ``created_at``, ``finished_at`` the status's, ``revision`` the deployment's
sha); ``target`` is ``owner/repo:environment``."""

FAILED_PHASES = ("Failed", "Error", "failure", "error")


def _latest(frame: pl.DataFrame, by: Sequence[str], order: Sequence[str]) -> pl.DataFrame:
    """The last row of each ``by`` group in ``order`` (nulls first, so a known time wins).

    Grouped by one column (a target, an app: a few thousand groups of a million rows), only
    the rows at their group's greatest first ``order`` value (or all of a group without one)
    are sorted: the last row in order is among them (a million history entries: 0.05 s
    against 0.2 s). Grouped by more (a deployment's statuses: a group per few rows), finding
    those would cost more than the sort spares."""
    if len(by) == 1:
        first = order[0]
        top = frame.group_by(by).agg(_top=pl.col(first).max())
        frame = (
            frame.join(top, on=list(by), how="left", nulls_equal=True)
            .filter((pl.col(first) == pl.col("_top")) | pl.col("_top").is_null())
            .drop("_top")
        )
    return frame.sort([*by, *order], nulls_last=False).unique(by, keep="last", maintain_order=True)


def _operation_columns(ops: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(last operation, last failed operation) per target."""
    ordered = ops.with_columns(_at=pl.coalesce("finished_at", "started_at"))
    last = _latest(ordered, ["target"], ["started_at", "_at", "sequence"]).select(
        "target", last_operation_phase="phase", last_operation_message="message"
    )
    failed = _latest(
        ordered.filter(pl.col("phase").is_in(FAILED_PHASES)), ["target"], ["_at", "sequence"]
    ).select("target", last_failed_at="_at", last_failed_message="message")
    return last, failed


def _argocd(
    status: pl.DataFrame, history: pl.DataFrame, ops: pl.DataFrame, pattern: re.Pattern[str]
) -> pl.DataFrame:
    current = _latest(status, ["app_name"], ["observed_at", "created_at", "app_uid"])
    deployed = _latest(history, ["app_name"], ["deployed_at", "history_id"]).select(
        target="app_name",
        last_revision=pl.coalesce("revision", pl.col("revisions").list.join(",")),
        last_deployed_at="deployed_at",
    )
    names = current.select("app_name", "namespace").iter_rows()
    production = [name for name, namespace in names if production_app(name, namespace, pattern)]
    production_names = pl.Series(production, dtype=pl.Utf8).implode()
    last, failed = _operation_columns(ops.filter(pl.col("source") == "argocd"))
    return (
        current.select(
            "service",
            source=pl.lit("argocd"),
            target="app_name",
            environment="app_name",
            is_production=pl.col("app_name").is_in(production_names),
            sync_status="sync_status",
            health_status="health_status",
        )
        .join(deployed, on="target", how="left")
        .join(last, on="target", how="left")
        .join(failed, on="target", how="left")
    )


def _github(ops: pl.DataFrame, envs: Sequence[str]) -> pl.DataFrame:
    statuses = ops.filter(pl.col("source") == "github")
    # A deployment's state is its latest status (max created_at, then max id), as in staging.
    states = _latest(statuses, ["target", "key"], ["finished_at", "sequence"])
    latest = _latest(states, ["target"], ["started_at", "key"]).select(
        "service", "target", "environment", sync_status="phase"
    )
    success = _latest(
        states.filter(pl.col("phase") == "success"), ["target"], ["finished_at", "key"]
    ).select("target", last_revision="revision", last_deployed_at="finished_at")
    last, failed = _operation_columns(statuses)
    production = pl.Series([e.lower() for e in envs], dtype=pl.Utf8).implode()
    return (
        latest.with_columns(
            source=pl.lit("github"),
            is_production=pl.col("environment").str.to_lowercase().is_in(production),
            health_status=pl.lit(None, dtype=pl.Utf8),
        )
        .join(success, on="target", how="left")
        .join(last, on="target", how="left")
        .join(failed, on="target", how="left")
    )


def environments(
    argocd_status: pl.DataFrame,
    argocd_history: pl.DataFrame,
    operations: pl.DataFrame,
    services: pl.DataFrame,
    *,
    production_pattern: str = DEFAULT_PRODUCTION_PATTERN,
    production_envs: Sequence[str] = DEFAULT_PRODUCTION_ENVS,
) -> pl.DataFrame:
    """``marts.environments`` from the staged app status (ARGOCD_STATUS), the observed history
    (ARGOCD_HISTORY), the observed operations (OPERATIONS) and the services.

    Argo CD: sync and health of the app's newest uid; last revision and time = the history
    entry deployed last (any uid of the name; ``revisions`` joined by ``,`` for multi-source
    apps); last operation = the one started last; last failed = the Failed/Error operation
    finished last. GitHub: ``sync_status`` = the state of the environment's latest deployment;
    last revision and time = the deployment whose latest status is ``success`` finished last;
    last operation = the latest deployment's latest status; last failed = the last
    ``failure``/``error`` status. ``health_status`` is NULL for GitHub.
    """
    pattern = re.compile(production_pattern)
    mapped_status = argocd_status.filter(pl.col("service").is_not_null())
    argo = _argocd(mapped_status, argocd_history, operations, pattern)
    github = _github(operations.filter(pl.col("service").is_not_null()), production_envs)
    teams = services.select("service", "team").unique("service", keep="first")
    both = pl.concat([argo, github.select(argo.columns)], how="vertical_relaxed").join(
        teams, on="service", how="left"
    )
    return to_mart(both.sort("service", "source", "target"), "environments")
