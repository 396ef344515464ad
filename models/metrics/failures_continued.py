"""The failure, recovery and rework flags continued from the previous run's, where that gives
what computing them whole gives (docs/metrics.md 18-22; rebuild-profile.md, "The failure flags
continued; dora_tiers' Python; what did not pay").

:func:`models.metrics.failures.attribute_incidents`, ``failed_deployments``,
``recovery_times`` and ``rework_deployments`` rank and join every deployment: ~1.6 s of each
run at the enterprise scale (874 k deployments, 55 k incidents), though a day changes the
flags of the last day's deployments only. Every rule looks at most a window (``window_hours``)
ahead of a deployment: its incidents are created within the window after it finishes, its
rollback or reverting deployment finishes within it; an incident open when it starts was
created before it. So a deployment's flags depend only on the deployments, the reverts they
first ship and the incidents of the window after it, and on the incidents created before it.

A run stores, per UTC day, a digest of those inputs (:func:`flag_days`): the deployments
finished that day (every column but their place in order), the reverting commits they first
ship (:func:`models.metrics.failures.reverts`) and the incidents created that day, with their
resolution. The next run finds the first day ``D`` whose digest changed, and computes the
flags of the deployments finished from ``D`` less a window on (``since``), and the incidents
created from then on; the earlier ones keep the flags and attributions stored with the marts.

That gives exactly what the whole computation gives when, besides the days before ``D``:

- the code and the window are the same (``context``);
- the first-ship walk gave the deployments before the first one it walked this run what it
  gave them before (``walked_since``, :meth:`models.metrics.walk.Walked.walked_since`): the
  revert rule looks up who first shipped a reverted commit, which a whole walk may move;
- the stored flags are those of the deployments before ``since`` that have any (the stored
  rows all match one), and the stored attribution covers every incident created before it.

Otherwise the flags are computed whole, as the first time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from models.metrics.deployments import ORDER
from models.metrics.failures import (
    FAR_FUTURE,
    attribute_incidents,
    failed_deployments,
    recovery_times,
    restore_seconds,
    reverts,
    rework_deployments,
)
from models.metrics.frames import UTC_TS, conform, hash_sums

DIGEST_SEED = 0xF1A6

FLAG_DAYS: dict[str, pl.DataType] = {"day": pl.Date(), "digest": pl.Utf8()}
"""A digest of what the flags of one UTC day's deployments are computed from (:func:`flag_days`)."""

FLAGS: dict[str, pl.DataType] = {
    "deployment_id": pl.Utf8(),
    "finished_at": UTC_TS,
    "failure_reason": pl.Utf8(),
    "is_failed": pl.Boolean(),
    "recovery_deployment_id": pl.Utf8(),
    "recovered_at": UTC_TS,
    "recovery_s": pl.Float64(),
    "rework_reason": pl.Utf8(),
    "is_rework": pl.Boolean(),
}
"""A failed or rework deployment's flags, as stored for the next run (in the order the rules
add them): a deployment without a stored row is neither failed nor rework (its other flags
NULL)."""

ATTRIBUTED: dict[str, pl.DataType] = {"incident_id": pl.Utf8(), "deployment_id": pl.Utf8()}
"""The deployment an incident is attributed to (NULL: none), as stored with the marts."""

EARLIEST = date(1, 1, 1)
"""The day of a row without a time: a change to it computes every flag."""


@dataclass(frozen=True)
class StoredFlags:
    """What a previous run left of the flags: ``context``, the caller's fingerprint of the code
    that computes them; the :func:`flag_days` digests they were computed from (``digests``,
    empty if none); ``flags``, a reader of the stored :data:`FLAGS` rows of the deployments
    finished before a time; ``attributed``, a reader of the stored :data:`ATTRIBUTED` rows of
    the incidents created before a time; and ``keep``, which takes what this run's flags leave
    for the next run's (:class:`Flagged`)."""

    context: str
    digests: pl.DataFrame
    flags: Callable[[datetime], pl.DataFrame]
    attributed: Callable[[datetime], pl.DataFrame]
    keep: Callable[[Flagged], None]


@dataclass(frozen=True)
class Flagged:
    """The flagged ``deployments`` and attributed ``incidents``; the :func:`flag_days`
    ``digests`` they were computed from; and ``since``, the time from which the deployments'
    flags and the incidents' attribution were computed (None: all of them; the earlier ones
    are as stored)."""

    deployments: pl.DataFrame
    incidents: pl.DataFrame
    digests: pl.DataFrame
    since: datetime | None

    def recomputed(self) -> pl.DataFrame:
        """The deployments whose flags were computed: those finished from ``since`` on."""
        if self.since is None:
            return self.deployments
        return self.deployments.filter(pl.col("finished_at") >= self.since)

    @property
    def computed(self) -> pl.DataFrame:
        """The :data:`FLAGS` rows of the failed or rework deployments among those whose flags
        were computed: what the next run reads back."""
        failed = self.recomputed().filter(pl.col("is_failed") | pl.col("is_rework"))
        return conform(failed, FLAGS)


def _daily(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``(day, _n, _hi, _lo)``: per UTC day of ``column``, the count of ``frame``'s rows and
    the sums of their row hashes' halves."""
    return (
        frame.select(
            day=pl.col(column).dt.date().fill_null(EARLIEST),
            _h=frame.hash_rows(seed=DIGEST_SEED),
        )
        .group_by("day")
        .agg(pl.len().alias("_n"), *hash_sums("_h"))
    )


def flag_days(
    deployments: pl.DataFrame,
    reverting: pl.DataFrame,
    incidents: pl.DataFrame,
    *,
    context: str,
) -> pl.DataFrame:
    """``(day, digest)`` (:data:`FLAG_DAYS`), one row per UTC day holding a deployment's
    finish, a reverting commit's first shipment or an incident's creation: a digest of the
    count and the sums of the 64-bit row hashes of each (the deployments' every column but
    their place, :data:`models.metrics.deployments.ORDER`; ``reverting`` as
    :func:`models.metrics.failures.reverts` gives it; the incidents' every column), and
    ``context``. A change goes unseen only if a day's counts and sums stay the same (odds about
    2^-64). 0.1-0.2 s for 874 k deployments."""
    parts = [
        _daily(deployments.drop(ORDER, strict=False), "finished_at"),
        _daily(reverting, "finished_at"),
        _daily(incidents, "created_at"),
    ]
    sums = pl.concat(
        [part.with_columns(_k=pl.lit(k, pl.Int8)) for k, part in enumerate(parts)],
        how="vertical",
    )
    rows = (
        sums.sort("day", "_k")
        .group_by("day", maintain_order=True)
        .agg(pl.concat_str("_k", "_n", "_hi", "_lo", separator=":").alias("_sums"))
    )
    out = [
        (day, hashlib.sha256(f"{context}|{day.isoformat()}|{'|'.join(s)}".encode()).hexdigest())
        for day, s in rows.iter_rows()
    ]
    return pl.DataFrame(out, schema=FLAG_DAYS, orient="row")


def _first_changed(days: pl.DataFrame, stored: pl.DataFrame) -> date | None:
    """The earliest day whose digest is not in both ``days`` and ``stored`` (None: none)."""
    key = ["day", "digest"]
    changed = pl.concat(
        [
            days.join(stored, on=key, how="anti").get_column("day"),
            stored.join(days, on=key, how="anti").get_column("day"),
        ]
    )
    first = changed.min()
    return first if isinstance(first, date) else None


def _since(
    deployments: pl.DataFrame,
    days: pl.DataFrame,
    stored: StoredFlags | None,
    walked_since: datetime | None,
    window: timedelta,
) -> datetime | None:
    """From when the flags must be computed: a window before the first day whose inputs
    changed or whose deployments the walk walked; :data:`models.metrics.failures.FAR_FUTURE`
    if none; None for all of them (nothing stored, or that time is not after the first
    deployment's finish)."""
    finished = deployments.get_column("finished_at")
    if stored is None or stored.digests.is_empty():
        return None
    if finished.null_count():
        return None  # split by their finish, every deployment needs one
    first = _first_changed(days, stored.digests)
    if walked_since is not None:
        walked = walked_since.astimezone(UTC).date()
        first = walked if first is None else min(first, walked)
    if first is None:
        return FAR_FUTURE
    since = datetime.combine(first, time(0), UTC) - window
    earliest = finished.min()
    if not isinstance(earliest, datetime) or since <= earliest:
        return None
    return since


def _kept_incidents(
    incidents: pl.DataFrame, stored: StoredFlags, since: datetime
) -> pl.DataFrame | None:
    """The incidents created before ``since`` (with their place, ``_at``) with their stored
    attribution and their time to restore (as :func:`models.metrics.failures.
    attribute_incidents` gives them); None if the stored attribution lacks one."""
    early = (
        incidents.with_row_index("_at")
        .filter(pl.col("created_at") < since)
        .join(
            stored.attributed(since).with_columns(_kept=pl.lit(True)),
            on="incident_id",
            how="left",
            maintain_order="left",
        )
    )
    if early.get_column("_kept").null_count():
        return None
    return early.drop("_kept").with_columns(time_to_restore_s=restore_seconds())


def _with_flags(deployments: pl.DataFrame, flags: pl.DataFrame) -> pl.DataFrame | None:
    """``deployments`` with the flags of ``flags`` (:data:`FLAGS` but ``finished_at``: the
    failed or rework deployments', and any others'); a deployment without a row is neither
    failed nor rework. None unless each row of ``flags`` matches one deployment."""
    joined = deployments.join(
        flags.with_columns(_kept=pl.lit(True)),
        on="deployment_id",
        how="left",
        maintain_order="left",
    )
    if joined.get_column("_kept").sum() != flags.height or joined.height != deployments.height:
        return None  # a row of no deployment, or two of one
    return joined.drop("_kept").with_columns(pl.col("is_failed", "is_rework").fill_null(False))


def _flagged(
    deployments: pl.DataFrame,
    incidents: pl.DataFrame,
    shipped: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame,
    *,
    window_hours: float,
    reverting: pl.DataFrame,
) -> pl.DataFrame:
    """The deployments with the flags of every rule (``incidents`` attributed)."""
    flagged = failed_deployments(
        deployments,
        incidents,
        shipped,
        commits,
        services,
        window_hours=window_hours,
        reverting=reverting,
    )
    flagged = recovery_times(flagged, incidents)
    return rework_deployments(flagged, shipped, commits, services, incidents, reverting=reverting)


def flag_deployments(
    deployments: pl.DataFrame,
    incidents: pl.DataFrame,
    shipped: pl.DataFrame,
    commits: pl.DataFrame,
    services: pl.DataFrame,
    *,
    window_hours: float = 24,
    stored: StoredFlags | None = None,
    walked_since: datetime | None = None,
) -> Flagged:
    """``deployments`` with the flags of :func:`models.metrics.failures.failed_deployments`,
    ``recovery_times`` and ``rework_deployments``, and ``incidents`` attributed
    (``attribute_incidents``), continuing the ``stored`` ones where that is exact (see the
    module doc), else computed whole. ``walked_since``: the finish of the first deployment
    the first-ship walk walked this run (all of them after a whole walk; None if it walked
    none). The deployments and incidents keep their order."""
    window = timedelta(hours=window_hours)
    reverting = reverts(shipped, commits, services)
    context = f"{stored.context if stored is not None else ''}|{window_hours}"
    days = flag_days(deployments, reverting, incidents, context=context)
    since = _since(deployments, days, stored, walked_since, window)
    if since is not None and stored is not None:
        early = _kept_incidents(incidents, stored, since)
        if early is not None:
            late = attribute_incidents(
                incidents.with_row_index("_at").filter(pl.col("created_at") >= since),
                deployments.filter(pl.col("finished_at") >= since - window),
                window_hours=window_hours,
            )
            # Back in the incidents' order: those created before `since` first is not theirs.
            inc = pl.concat([early.select(late.columns), late], how="vertical")
            inc = inc.sort("_at").drop("_at")
            recent = deployments.filter(pl.col("finished_at") >= since)
            flagged = _flagged(
                recent,
                inc,
                shipped,
                commits,
                services,
                window_hours=window_hours,
                reverting=reverting,
            )
            flags = pl.concat([stored.flags(since), conform(flagged, FLAGS)], how="vertical")
            whole = _with_flags(deployments, flags.drop("finished_at"))
            if whole is not None:
                return Flagged(whole, inc, days, since)
    inc = attribute_incidents(incidents, deployments, window_hours=window_hours)
    flagged = _flagged(
        deployments, inc, shipped, commits, services, window_hours=window_hours, reverting=reverting
    )
    return Flagged(flagged, inc, days, None)
