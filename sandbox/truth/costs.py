"""Cost (METRICS.md §10): FOCUS export rows allocated to services and teams by their tags.

Amounts are summed as ``Decimal`` from the files' own text, per currency: different
currencies are never added together.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sandbox.truth.common import as_utc_date, month_of
from sandbox.truth.deployments import Deployment
from sandbox.truth.spine import Spine

# The FOCUS columns the truth reads (every other column is ignored).
FOCUS_COLUMNS = ("ChargePeriodStart", "Tags", "BillingCurrency", "EffectiveCost", "BilledCost")


@dataclass
class CostRow:
    """One day × service-or-team × currency (``service`` and ``team`` None: unallocated)."""

    date: date
    service: str | None
    team: str | None
    currency: str
    effective_cost: Decimal
    billed_cost: Decimal


@dataclass
class CostPerDeployment:
    service: str
    month: date
    currency: str
    effective_cost: Decimal
    deployments: int
    cost_per_deployment: Decimal | None  # None for a month without deployments


def read_focus(path: Path) -> Iterator[Mapping[str, object]]:
    """The rows of one FOCUS export: CSV (read as text) or Parquet (via pyarrow)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq  # only where Parquet exports exist

        present = set(pq.read_schema(path).names)
        yield from pq.read_table(
            path, columns=[c for c in FOCUS_COLUMNS if c in present]
        ).to_pylist()
        return
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)


def parse_moment(value: object) -> datetime | None:
    """An ISO 8601 text or a datetime; naive means UTC (FOCUS times are UTC)."""
    if value is None or value == "":
        return None
    moment = (
        value
        if isinstance(value, datetime)
        else datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_amount(value: object) -> Decimal:
    """Exact decimal of an amount: text as written; a Parquet double by its shortest repr.
    An empty amount counts as 0."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value).strip())


def parse_tags(value: object) -> dict[str, str]:
    """``Tags``: a JSON object in a string (or a Parquet map/struct); anything else: no tags."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    if isinstance(value, list):  # a Parquet map arrives as [(key, value), ...]
        value = dict(value)
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def allocate(
    tags: Mapping[str, str], spine: Spine, tag_keys: Sequence[str]
) -> tuple[str | None, str | None]:
    """(service, team): the first key of ``tag_keys`` whose value names a known service;
    else the ``team`` tag if it names a team (team only); else (None, None), unallocated."""
    for key in tag_keys:
        value = tags.get(key)
        if value and (service := spine.service_for_tag(value)) is not None:
            return service, spine.services[service].team
    team = spine.team_for_name(tags.get("team"))
    return (None, team) if team is not None else (None, None)


def daily_costs(
    rows: Iterable[Mapping[str, object]],
    spine: Spine,
    *,
    tag_keys: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[CostRow]:
    """Sum rows whose ``ChargePeriodStart`` is in [start, end) per UTC day × allocation ×
    ``BillingCurrency``."""
    sums: dict[tuple[date, str | None, str | None, str], list[Decimal]] = {}
    for row in rows:
        moment = parse_moment(row.get("ChargePeriodStart"))
        if moment is None or not (start <= moment < end):
            continue
        service, team = allocate(parse_tags(row.get("Tags")), spine, tag_keys)
        currency = str(row.get("BillingCurrency") or "").strip()
        key = (as_utc_date(moment), service, team, currency)
        acc = sums.setdefault(key, [Decimal(0), Decimal(0)])
        acc[0] += parse_amount(row.get("EffectiveCost"))
        acc[1] += parse_amount(row.get("BilledCost"))
    return [
        CostRow(day, service, team, currency, eff, billed)
        for (day, service, team, currency), (eff, billed) in sorted(
            sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2] or "", kv[0][3])
        )
    ]


def cost_per_deployment(
    costs: Sequence[CostRow], deployments: Sequence[Deployment]
) -> list[CostPerDeployment]:
    """Effective cost of a service in a month ÷ its deployments that month, per currency."""
    effective: dict[tuple[str, date, str], Decimal] = {}
    for row in costs:
        if row.service is not None:
            key = (row.service, row.date.replace(day=1), row.currency)
            effective[key] = effective.get(key, Decimal(0)) + row.effective_cost
    counts: dict[tuple[str, date], int] = {}
    for dep in deployments:
        key2 = (dep.service, month_of(dep.finished_at))
        counts[key2] = counts.get(key2, 0) + 1
    out = []
    for (service, month, currency), amount in sorted(effective.items()):
        n = counts.get((service, month), 0)
        out.append(
            CostPerDeployment(service, month, currency, amount, n, amount / n if n else None)
        )
    return out
