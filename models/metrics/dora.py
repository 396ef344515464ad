"""DORA metrics per period and scope, and tiers over a trailing window (METRICS.md §3-§8;
docs/metrics.md 23-24).

Every scope gets every period from ``history_start``'s to ``as_of``'s: an empty period has counts
0, ``deploys_per_day`` 0.0 and NULL medians and rates (never 0 % for "no data"). Deployments,
failures, recovery and rework count by ``finished_at``; changes (those that count for lead time)
by ``deployed_at``; incidents by ``created_at``. Quantiles are interpolated (``quantile_cont``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl

from models.metrics.benchmarks import CLUSTER_LEVELS, RULE_OF_THUMB, benchmarks
from models.metrics.frames import hash_sums, mart_schema, sorted_by, to_mart

GRAINS: dict[str, str] = {"week": "1w", "month": "1mo", "quarter": "1q"}
ROW_ORDER = ("grain", "scope", "scope_id", "period_start")
"""The order of ``marts.dora_metrics``' rows, computed whole or merged with stored ones."""
ORG = "org"

# Frequency bands of METRICS.md §4, best first, and the cluster level each report year gives a
# band. A report's level is the one whose published frequency range holds the band; a band that
# falls between two published ranges (2021 has no daily-to-weekly range) takes the next lower
# level it clears; one below every range takes the lowest level.
ON_DEMAND = "on_demand"
DAILY_TO_WEEKLY = "daily_to_weekly"
WEEKLY_TO_MONTHLY = "weekly_to_monthly"
MONTHLY_TO_SIX_MONTHLY = "monthly_to_six_monthly"
FEWER = "fewer_than_six_monthly"
FREQUENCY_LEVELS: dict[int, dict[str, str]] = {
    2021: {
        ON_DEMAND: "elite",
        DAILY_TO_WEEKLY: "high",
        WEEKLY_TO_MONTHLY: "high",
        MONTHLY_TO_SIX_MONTHLY: "medium",
        FEWER: "low",
    },
    2023: {
        ON_DEMAND: "elite",
        DAILY_TO_WEEKLY: "high",
        WEEKLY_TO_MONTHLY: "medium",
        MONTHLY_TO_SIX_MONTHLY: "low",
        FEWER: "low",
    },
    2024: {
        ON_DEMAND: "elite",
        DAILY_TO_WEEKLY: "high",
        WEEKLY_TO_MONTHLY: "medium",
        MONTHLY_TO_SIX_MONTHLY: "low",
        FEWER: "low",
    },
    RULE_OF_THUMB: {
        ON_DEMAND: "good",
        DAILY_TO_WEEKLY: "between",
        WEEKLY_TO_MONTHLY: "between",
        MONTHLY_TO_SIX_MONTHLY: "bad",
        FEWER: "bad",
    },
}
BETWEEN = "between"  # the rule of thumb's verdict when a value is neither good nor bad
DEFAULT_REPORT_YEARS = (2021, 2023, 2024, RULE_OF_THUMB)


def _scope_parts(frame: pl.DataFrame, services: pl.DataFrame) -> list[pl.LazyFrame]:
    """``frame`` (with a ``service`` column) once per scope it counts in, one lazy part per
    kind of scope: its service, its service's owning team, and the org (mapped services only).
    Aggregated part by part, the rows are never held three times over."""
    teams = services.select("service", _team="team").unique("service", keep="first")
    mapped = frame.join(teams, on="service", how="inner").lazy()
    return [
        mapped.with_columns(scope=pl.lit("service"), scope_id=pl.col("service")).drop("_team"),
        mapped.filter(pl.col("_team").is_not_null())
        .with_columns(scope=pl.lit("team"), scope_id=pl.col("_team"))
        .drop("_team"),
        mapped.with_columns(scope=pl.lit(ORG), scope_id=pl.lit(ORG)).drop("_team"),
    ]


def _scoped(frame: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    """Every part of :func:`_scope_parts` in one frame."""
    return pl.concat(_scope_parts(frame, services), how="vertical").collect()


def _per_period(
    parts: list[pl.LazyFrame], column: str, every: str, aggregates: dict[str, pl.Expr]
) -> pl.DataFrame:
    """``aggregates`` per scope and period of ``column`` (truncated to ``every``), one part of
    :func:`_scope_parts` at a time (a group never holds rows of two parts, so this is the
    aggregate of them all)."""
    key = ["scope", "scope_id", "period_start"]
    return pl.concat(
        [
            part.with_columns(_period(column, every)).group_by(key).agg(**aggregates).collect()
            for part in parts
        ],
        how="vertical",
    )


def _scope_ids(services: pl.DataFrame) -> pl.DataFrame:
    """Every scope: each service (deployed or not), each owning team, and the org."""
    svc = services.select(scope=pl.lit("service"), scope_id=pl.col("service")).unique()
    teams = (
        services.filter(pl.col("team").is_not_null())
        .select(scope=pl.lit("team"), scope_id=pl.col("team"))
        .unique()
    )
    org = pl.DataFrame({"scope": [ORG], "scope_id": [ORG]})
    return pl.concat([svc, teams, org], how="vertical")


def _quotient(numerator: pl.Series, denominator: pl.Series) -> pl.Series:
    """``numerator / denominator`` row by row, NULL where the denominator is 0. Divided by
    numpy: polars multiplies by the reciprocal when the divisor is one value broadcast (as a
    single period's day count is after the spine's cross join), which can differ from the
    quotient in the last bit, so a period's rate would depend on how many were computed."""
    top = numerator.cast(pl.Float64).to_numpy()
    bottom = denominator.cast(pl.Float64).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = np.where(bottom != 0, top / bottom, np.nan)
    return pl.Series(quotient, dtype=pl.Float64).fill_nan(None)


def _step(every: str) -> str:
    """The offset from one period of ``every`` to the next (a quarter is three months)."""
    return "3mo" if every == "1q" else every


def _period(column: str, every: str) -> pl.Expr:
    return pl.col(column).dt.truncate(every).dt.date().alias("period_start")


def _periods(start: datetime | date, end: datetime | date, every: str) -> pl.Series:
    first = pl.select(pl.lit(start).cast(pl.Date).dt.truncate(every)).item()
    last = pl.select(pl.lit(end).cast(pl.Date).dt.truncate(every)).item()
    return pl.date_range(first, last, _step(every), eager=True).alias("period_start")


def _median(column: str, q: float = 0.5) -> pl.Expr:
    return pl.col(column).quantile(q, interpolation="linear")


_PER_DEPLOYMENTS = {
    "deployments": pl.len(),
    "deployment_days": pl.col("finished_at").dt.date().n_unique(),
    "failed_deployments": pl.col("is_failed").sum(),
    "recovery_p50_s": _median("recovery_s"),  # set for failed deployments only
    "rework_deployments": pl.col("is_rework").sum(),
}
_PER_CHANGES = {
    "changes": pl.len(),
    "lead_time_p50_s": _median("lead_time_s"),
    "lead_time_p90_s": _median("lead_time_s", 0.9),
}
_PER_INCIDENTS = {
    "incidents": pl.len(),
    "mttr_p50_s": _median("time_to_restore_s"),
    "mttr_mean_s": pl.col("time_to_restore_s").mean(),  # resolved incidents only
}


def _inputs(
    deployments: pl.DataFrame, changes: pl.DataFrame, incidents: pl.DataFrame
) -> list[tuple[pl.DataFrame, str, dict[str, pl.Expr]]]:
    """What :func:`dora_metrics` reads: each input's rows and columns, the time that puts a row
    in a period, and the aggregates of a period's rows."""
    counted = changes.filter(
        pl.col("deployed_at").is_not_null() & pl.col("excluded_reason").is_null()
    )
    return [
        (
            deployments.select("service", "finished_at", "is_failed", "recovery_s", "is_rework"),
            "finished_at",
            _PER_DEPLOYMENTS,
        ),
        (counted.select("service", "deployed_at", "lead_time_s"), "deployed_at", _PER_CHANGES),
        (
            incidents.select("service", "created_at", "time_to_restore_s"),
            "created_at",
            _PER_INCIDENTS,
        ),
    ]


def _days_of(periods: pl.Series, every: str) -> pl.Series:
    """Every day of the given periods (of ``every``)."""
    ends = periods.dt.offset_by(_step(every))
    days = [
        pl.date_range(start, end, "1d", eager=True, closed="left")
        for start, end in zip(periods, ends, strict=True)
    ]
    return pl.concat(days) if days else pl.Series(dtype=pl.Date)


def dora_metrics(
    deployments: pl.DataFrame,
    changes: pl.DataFrame,
    incidents: pl.DataFrame,
    services: pl.DataFrame,
    *,
    history_start: datetime | date,
    as_of: datetime | date,
    grains: Sequence[str] = tuple(GRAINS),
    periods: Mapping[str, Collection[date]] | None = None,
) -> pl.DataFrame:
    """``marts.dora_metrics``: per grain (ISO week, calendar month, calendar quarter, UTC) ×
    period × scope (org, team, service), zero-filled from ``history_start`` to ``as_of``; or,
    given ``periods`` (per grain, the start of each period wanted), only those periods' rows.

    ``deployments`` needs ``is_failed``, ``recovery_s``, ``is_rework``; ``changes`` is
    ``marts.changes``; ``incidents`` needs ``time_to_restore_s``. ``deploys_per_day`` divides by
    every day of the period, even a partial first or current one; CFR and rework rate are over
    the period's deployments, so never above 1. A period's rows depend only on the input rows
    in it and on the scopes (see :func:`period_digests`).
    """
    inputs = _inputs(deployments, changes, incidents)
    every_row = [_scope_parts(frame, services) for frame, _, _ in inputs] if periods is None else []
    key = ["scope", "scope_id", "period_start"]
    out: list[pl.DataFrame] = []
    for grain in grains:
        every = GRAINS[grain]
        spine_periods = _periods(history_start, as_of, every)
        parts = every_row
        if periods is not None:
            wanted = pl.Series(sorted(periods.get(grain, ())), dtype=pl.Date)
            spine_periods = spine_periods.filter(spine_periods.is_in(wanted.implode()))
            if spine_periods.is_empty():
                continue
            # Only the rows of those periods are aggregated (a day's run: a few of hundreds).
            days = _days_of(spine_periods, every).implode()
            parts = [
                _scope_parts(frame.filter(pl.col(column).dt.date().is_in(days)), services)
                for frame, column, _ in inputs
            ]
        d, c, i = (
            _per_period(part, column, every, aggregates)
            for part, (_, column, aggregates) in zip(parts, inputs, strict=True)
        )
        spine = _scope_ids(services).join(spine_periods.to_frame(), how="cross")
        frame = (
            spine.join(d, on=key, how="left")
            .join(c, on=key, how="left")
            .join(i, on=key, how="left")
            .with_columns(
                pl.col(
                    "deployments",
                    "deployment_days",
                    "failed_deployments",
                    "rework_deployments",
                    "changes",
                    "incidents",
                ).fill_null(0),
                _days=(
                    pl.col("period_start").dt.offset_by(_step(every)) - pl.col("period_start")
                ).dt.total_days(),
            )
            .with_columns(grain=pl.lit(grain))
        )
        frame = frame.with_columns(
            deploys_per_day=_quotient(frame["deployments"], frame["_days"]),
            change_failure_rate=_quotient(frame["failed_deployments"], frame["deployments"]),
            rework_rate=_quotient(frame["rework_deployments"], frame["deployments"]),
        )
        out.append(to_mart(frame, "dora_metrics"))
    if not out:
        return pl.DataFrame(schema=mart_schema("dora_metrics"))
    return sorted_by(pl.concat(out, how="vertical"), *ROW_ORDER)


ROW_HASH_SEED = 0xD02A


def period_digests(
    deployments: pl.DataFrame,
    changes: pl.DataFrame,
    incidents: pl.DataFrame,
    services: pl.DataFrame,
    *,
    history_start: datetime | date,
    as_of: datetime | date,
    grains: Sequence[str] = tuple(GRAINS),
    context: str = "",
) -> pl.DataFrame:
    """``(grain, period_start, digest)``, one row per period :func:`dora_metrics` gives: a
    digest of everything that period's rows are computed from. That is, per input, the count
    of its rows in the period and the sums of the two halves of their 64-bit row hashes; the
    scopes (each service's team); the grain and period; and ``context`` (the caller's
    fingerprint of the code that computes them). Equal digests give equal rows, unless a
    change left a period's count and both hash sums as they were (odds about 2^-64).

    The inputs are hashed and summed per day once, and the days rolled up per grain: 0.2 s for
    2.7 M rows."""
    scopes = hashlib.sha256(
        "\n".join(
            f"{service}\t{team}" for service, team in services.select("service", "team").iter_rows()
        ).encode()
    ).hexdigest()
    daily = [
        frame.select(_day=pl.col(column).dt.date(), _h=frame.hash_rows(seed=ROW_HASH_SEED))
        .group_by("_day")
        .agg(pl.len().alias("_n"), *hash_sums("_h"))
        for frame, column, _ in _inputs(deployments, changes, incidents)
    ]
    out: list[tuple[str, date, str]] = []
    for grain in grains:
        every = GRAINS[grain]
        sums = _periods(history_start, as_of, every).to_frame()
        for k, day in enumerate(daily):
            rolled = day.group_by(period_start=pl.col("_day").dt.truncate(every)).agg(
                pl.col("_n", "_hi", "_lo").sum().name.suffix(str(k))
            )
            sums = sums.join(rolled, on="period_start", how="left")
        for period, *values in sums.fill_null(0).iter_rows():
            text = "|".join([context, scopes, grain, period.isoformat(), *map(str, values)])
            out.append((grain, period, hashlib.sha256(text.encode()).hexdigest()))
    return pl.DataFrame(out, schema=PERIOD_DIGESTS, orient="row")


PERIOD_DIGESTS = {"grain": pl.Utf8, "period_start": pl.Date, "digest": pl.Utf8}


@dataclass(frozen=True)
class StoredPeriods:
    """What a previous run left of ``marts.dora_metrics``: the :func:`period_digests` its rows
    were computed from (``digests``, under the caller's ``context``), and ``rows``, a reader of
    its rows of given ``(grain, period_start)`` pairs."""

    context: str
    digests: pl.DataFrame
    rows: Callable[[pl.DataFrame], pl.DataFrame]


def dora_metrics_reusing(
    deployments: pl.DataFrame,
    changes: pl.DataFrame,
    incidents: pl.DataFrame,
    services: pl.DataFrame,
    *,
    history_start: datetime | date,
    as_of: datetime | date,
    stored: StoredPeriods | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`dora_metrics` and its :func:`period_digests`, reusing ``stored`` rows: a period
    whose digest equals the stored one keeps its stored rows, the others are computed. A day
    changes a few of the hundreds of periods (the current week, month and quarter, and those
    of late arrivals). The stored rows are used only if they are all there, one per scope and
    period; else every period is computed.

    The digests come back with ``recomputed``: whether the period's rows were computed (not
    read back)."""
    digests = period_digests(
        deployments,
        changes,
        incidents,
        services,
        history_start=history_start,
        as_of=as_of,
        context=stored.context if stored is not None else "",
    )
    frames = (deployments, changes, incidents, services)

    def computed(periods: Mapping[str, Collection[date]] | None = None) -> pl.DataFrame:
        return dora_metrics(*frames, history_start=history_start, as_of=as_of, periods=periods)

    everything = digests.with_columns(recomputed=pl.lit(True))
    if stored is None:
        return computed(), everything
    same = digests.join(stored.digests, on=list(PERIOD_DIGESTS), how="semi")
    kept = to_mart(stored.rows(same.select("grain", "period_start")), "dora_metrics")
    if same.is_empty() or kept.height != same.height * _scope_ids(services).height:
        return computed(), everything
    changed = digests.join(same, on=["grain", "period_start"], how="anti")
    merged = pl.concat(
        [kept, computed(dict(changed.group_by("grain").agg("period_start").iter_rows()))],
        how="vertical",
    )
    recomputed = pl.struct("grain", "period_start").is_in(
        changed.select(pl.struct("grain", "period_start")).to_series().implode()
    )
    return (
        sorted_by(merged, *ROW_ORDER),
        digests.with_columns(recomputed=recomputed),
    )


def _middle(values: Sequence[int]) -> float | None:
    """The median of ``values``, interpolated between the middle two (None if there are
    none): what ``quantile(0.5, "linear")`` gives, without a frame per scope (dora_tiers
    bands 2,200 scopes at the enterprise scale)."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    middle = n // 2
    return float(ordered[middle]) if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def frequency_band(
    deployment_days_per_week: list[int], deployment_days_per_month: list[int]
) -> str:
    """METRICS.md §4's frequency band from zero-filled deployment-day counts of the window's
    ISO weeks and calendar months: on demand if the median per week is >= 5; daily-to-weekly
    if >= 1; weekly-to-monthly if the median per month is >= 1; monthly-to-six-monthly if there
    is any deployment; else fewer than once per six months."""
    weekly = _middle(deployment_days_per_week)
    monthly = _middle(deployment_days_per_month)
    if weekly is not None and weekly >= 5:
        return ON_DEMAND
    if weekly is not None and weekly >= 1:
        return DAILY_TO_WEEKLY
    if monthly is not None and monthly >= 1:
        return WEEKLY_TO_MONTHLY
    if sum(deployment_days_per_week) > 0:
        return MONTHLY_TO_SIX_MONTHLY
    return FEWER


_LEVEL_RANK = {level: rank for rank, level in enumerate(CLUSTER_LEVELS)}


def _tier(
    year: int, metric: str, value: float | None, rows: list[tuple[str, float | None, float | None]]
) -> str | None:
    """The level of ``value`` among a report year's rows of one (lower-is-better, except
    satisfaction) metric. Clusters: the best level whose upper bound the value does not exceed
    (NULL = unbounded), else the lowest level. Rule of thumb: good if strictly better than the
    good threshold, bad if strictly worse than the bad one, else ``between``."""
    if value is None:
        return None
    if year == RULE_OF_THUMB:
        bounds = {level: (lower, upper) for level, lower, upper in rows}
        higher_is_better = metric == "satisfaction"
        good_lower, good_upper = bounds.get("good", (None, None))
        bad_lower, bad_upper = bounds.get("bad", (None, None))
        if higher_is_better:
            good = good_lower is not None and value > good_lower
            bad = bad_upper is not None and value < bad_upper
        else:
            good = good_upper is not None and value < good_upper
            bad = bad_lower is not None and value > bad_lower
        return "good" if good else "bad" if bad else BETWEEN
    ordered = sorted(rows, key=lambda r: _LEVEL_RANK[r[0]])
    for level, _lower, upper in ordered:
        if upper is None or value <= upper:
            return level
    return ordered[-1][0]


def benchmark_tier(
    year: int, metric: str, value: float | None, rows: list[tuple[str, float | None, float | None]]
) -> str | None:
    """The tier rule of :func:`_tier` for a value read back from the published marts (the
    dashboard tiers the org's and teams' satisfaction with the rule of thumb this way)."""
    return _tier(year, metric, value, rows)


def dora_tiers(
    deployments: pl.DataFrame,
    changes: pl.DataFrame,
    incidents: pl.DataFrame,
    services: pl.DataFrame,
    *,
    as_of: date,
    window_days: int = 90,
    report_years: Sequence[int] = DEFAULT_REPORT_YEARS,
    benchmark_rows: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``marts.dora_tiers``: per scope, the trailing ``window_days`` UTC days ending with
    ``as_of`` (inclusive), each report year's tier of every metric that year benchmarks.

    Values: ``deployment_frequency`` = deployments per day over the window (its tier comes
    from the METRICS.md §4 band, :func:`frequency_band`, over the ISO weeks and calendar months
    that overlap the window, zero-filled, counting days inside the window only);
    ``lead_time`` p50 s; ``change_failure_rate``; ``failed_deployment_recovery_time`` p50 s (by
    the failed deployment's finish); ``time_to_restore`` p50 s (by the incident's creation).
    No data: value and tier NULL (a CFR without deployments, a lead time without changes).
    """
    rows = benchmark_rows if benchmark_rows is not None else benchmarks()
    first_day = as_of - timedelta(days=window_days - 1)
    lo = datetime.combine(first_day, time(0), UTC)
    hi = datetime.combine(as_of + timedelta(days=1), time(0), UTC)

    def inside(column: str) -> pl.Expr:
        return (pl.col(column) >= lo) & (pl.col(column) < hi)

    deps = _scoped(
        deployments.filter(inside("finished_at")).select(
            "service", "finished_at", "is_failed", "recovery_s"
        ),
        services,
    )
    counted = changes.filter(
        inside("deployed_at")
        & pl.col("deployed_at").is_not_null()
        & pl.col("excluded_reason").is_null()
    )
    chg = _scoped(counted.select("service", "lead_time_s"), services)
    inc = _scoped(
        incidents.filter(inside("created_at")).select("service", "time_to_restore_s"), services
    )
    key = ["scope", "scope_id"]
    values = (
        _scope_ids(services)
        .join(
            deps.group_by(key).agg(
                _n=pl.len(),
                _failed=pl.col("is_failed").sum(),
                failed_deployment_recovery_time=_median("recovery_s"),
            ),
            on=key,
            how="left",
        )
        .join(chg.group_by(key).agg(lead_time=_median("lead_time_s")), on=key, how="left")
        .join(
            inc.group_by(key).agg(time_to_restore=_median("time_to_restore_s")), on=key, how="left"
        )
        .with_columns(
            pl.col("_n").fill_null(0),
            change_failure_rate=pl.when(pl.col("_n") > 0).then(pl.col("_failed") / pl.col("_n")),
        )
    )
    # Divided exactly (_quotient): polars multiplies by the reciprocal of a literal divisor,
    # one ulp off the quotient for about a quarter of the counts (5 / 90).
    days_in_window = pl.Series([window_days] * values.height, dtype=pl.Int64)
    values = values.with_columns(deployment_frequency=_quotient(values["_n"], days_in_window))
    days = deps.select(*key, _day=pl.col("finished_at").dt.date()).unique()
    window = pl.date_range(first_day, as_of, "1d", eager=True).alias("_day").to_frame()
    bands: dict[tuple[str, str], str] = {}
    counts: dict[str, dict[tuple[str, str], list[int]]] = {}
    for name, every in (("week", "1w"), ("month", "1mo")):
        buckets = window.select(_bucket=pl.col("_day").dt.truncate(every)).unique()
        per = (
            days.with_columns(_bucket=pl.col("_day").dt.truncate(every))
            .group_by(*key, "_bucket")
            .agg(_days=pl.len())
        )
        filled = (
            _scope_ids(services)
            .join(buckets, how="cross")
            .join(per, on=[*key, "_bucket"], how="left")
            .with_columns(pl.col("_days").fill_null(0))
            .group_by(key)
            .agg(pl.col("_days"))
        )
        counts[name] = {(s, i): list(d) for s, i, d in filled.iter_rows()}
    for scope_key, weekly in counts["week"].items():
        bands[scope_key] = frequency_band(weekly, counts["month"].get(scope_key, []))

    by_year: dict[tuple[int, str], list[tuple[str, float | None, float | None]]] = {}
    for year, metric, level, lower, upper, _label in rows.iter_rows():
        by_year.setdefault((year, metric), []).append((level, lower, upper))
    metrics = (
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "failed_deployment_recovery_time",
        "time_to_restore",
    )
    out: list[tuple[object, ...]] = []
    for record in values.iter_rows(named=True):
        scope_key = (record["scope"], record["scope_id"])
        for year in report_years:
            for metric in metrics:
                if (year, metric) not in by_year:
                    continue
                value = record[metric]
                if metric == "deployment_frequency":
                    tier = FREQUENCY_LEVELS.get(year, {}).get(bands[scope_key])
                else:
                    tier = _tier(year, metric, value, by_year[(year, metric)])
                out.append((as_of, window_days, *scope_key, year, metric, value, tier))
    frame = pl.DataFrame(out, schema=mart_schema("dora_tiers"), orient="row")
    return frame.sort("scope", "scope_id", "report_year", "metric")
