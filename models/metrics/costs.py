"""Cost (METRICS.md §10; docs/metrics.md 30-32): FOCUS rows allocated by their tags.

Amounts stay exact decimals and are summed per ``BillingCurrency``: amounts in different
currencies are never added together, and a row whose tags name nothing stays unallocated (kept,
with NULL service and team) instead of being dropped or spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Context, Decimal

import polars as pl

from models.metrics.frames import sorted_by, to_mart

DEFAULT_COST_TAG_KEYS = ("backstage.io/component", "service", "app")
_QUOTIENT = Context(prec=28)
_WIDE = Context(prec=60)
_SCALE = Decimal(1).scaleb(-18)


def _entity_name(expr: pl.Expr) -> pl.Expr:
    """``component:default/checkout`` / ``default/checkout`` / `` Checkout `` -> ``checkout``."""
    text = expr.str.strip_chars().str.to_lowercase()
    text = (
        pl.when(text.str.contains(":")).then(text.str.extract(r"^[^:]*:(.*)$", 1)).otherwise(text)
    )
    return text.str.extract(r"([^/]*)$", 1)


def _tag(key: str) -> pl.Expr:
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return pl.col("tags").str.json_path_match(f"$['{escaped}']")


def costs(
    cost_rows: pl.DataFrame,
    services: pl.DataFrame,
    teams: pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    tag_keys: Sequence[str] = DEFAULT_COST_TAG_KEYS,
) -> pl.DataFrame:
    """``marts.costs``: rows whose ``charge_period_start`` is in ``[start, end)``, summed per UTC
    date × (service, team) × currency.

    Allocation: the first key of ``tag_keys`` whose value names a service (its component name or
    entity ref, case-insensitive) -> that service and its owner; else a ``team`` tag naming a
    team (Group name or display name, case-insensitive) -> the team only; else unallocated
    (service and team NULL). Empty amounts count as 0.
    """
    by_name = (
        services.select("service", "team", _name=_entity_name(pl.col("service")))
        .sort("service")
        .unique("_name", keep="first", maintain_order=True)
    )
    team_names = pl.concat(
        [
            teams.select("team", _name=_entity_name(pl.col("team"))),
            teams.select("team", _name=pl.col("name").str.strip_chars().str.to_lowercase()),
        ],
        how="vertical",
    ).filter(pl.col("_name").is_not_null())
    team_by_name = team_names.sort("team").unique("_name", keep="first", maintain_order=True)
    frame = cost_rows.filter(
        (pl.col("charge_period_start") >= start) & (pl.col("charge_period_start") < end)
    )
    # Allocation depends on the tags alone: decide it once per distinct tags text (a few
    # thousand at most) instead of parsing the JSON of every one of millions of rows.
    distinct = frame.select("tags").unique().with_row_index("_row")
    candidates = pl.concat(
        [
            distinct.select("_row", _k=pl.lit(i), _name=_entity_name(_tag(key)))
            for i, key in enumerate(tag_keys)
        ],
        how="vertical",
    )
    allocated = (
        candidates.join(by_name, on="_name", how="inner")
        .sort("_row", "_k")
        .unique("_row", keep="first")
        .select("_row", "service", _service_team="team")
    )
    team_tag = (
        distinct.select("_row", _name=_entity_name(_tag("team")))
        .join(team_by_name, on="_name", how="inner")
        .select("_row", _team_tag="team")
    )
    # Matching a team by ref name or by display name may find two teams: the first by ref wins.
    team_tag = team_tag.sort("_row", "_team_tag").unique("_row", keep="first")
    by_tags = (
        distinct.join(allocated, on="_row", how="left")
        .join(team_tag, on="_row", how="left")
        .drop("_row")
    )
    zero = pl.lit(0).cast(frame.schema["effective_cost"])
    summed = (
        frame.join(by_tags, on="tags", how="left", nulls_equal=True)
        .with_columns(
            date=pl.col("charge_period_start").dt.date(),
            team=pl.when(pl.col("service").is_not_null())
            .then(pl.col("_service_team"))
            .otherwise(pl.col("_team_tag")),
            currency=pl.col("billing_currency").str.strip_chars().fill_null(""),
        )
        .group_by("date", "service", "team", "currency")
        .agg(
            effective_cost=pl.col("effective_cost").fill_null(zero).sum(),
            billed_cost=pl.col("billed_cost").fill_null(zero).sum(),
        )
    )
    return to_mart(sorted_by(summed, "date", "service", "team", "currency"), "costs")


def cost_per_deployment(costs: pl.DataFrame, deployments: pl.DataFrame) -> pl.DataFrame:
    """Per service × calendar month × currency: effective cost, deployments that month, and
    their quotient (computed exactly to 28 significant digits, stored as DECIMAL(38, 18); NULL
    without deployments)."""
    spend = (
        costs.filter(pl.col("service").is_not_null())
        .with_columns(month=pl.col("date").dt.truncate("1mo"))
        .group_by("service", "month", "currency")
        .agg(pl.col("effective_cost").sum())
    )
    counts = (
        deployments.with_columns(month=pl.col("finished_at").dt.date().dt.truncate("1mo"))
        .group_by("service", "month")
        .agg(deployments=pl.len())
    )
    joined = (
        spend.join(counts, on=["service", "month"], how="left")
        .with_columns(pl.col("deployments").fill_null(0))
        .sort("service", "month", "currency")
    )
    quotients = [
        _WIDE.quantize(_QUOTIENT.divide(Decimal(str(cost)), Decimal(n)), _SCALE) if n else None
        for cost, n in joined.select("effective_cost", "deployments").iter_rows()
    ]
    return joined.with_columns(cost_per_deployment=pl.Series(quotients, dtype=pl.Decimal(38, 18)))
