"""The filters every page shares (team, system, service, date range, grain, benchmark year).

They live in the URL's query string, so a view can be linked, and in the session, so moving to
another page keeps them. :func:`from_params` and :func:`to_params` are the pure round trip;
:func:`draw_filters` is what a page calls to show them in the sidebar and get a :class:`Filters`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import polars as pl
import streamlit as st

from dashboard.charts import labels
from dashboard.metrics import year_label

GRAINS = ("week", "month", "quarter")
DEFAULT_GRAIN = "month"
DEFAULT_YEAR = 2024  # METRICS.md §8: tiers name their report year, 2024 unless chosen
DEFAULT_DAYS = 182
FIELDS = ("team", "system", "service", "dates", "grain", "year")
SESSION_KEY = "paved_filters"


@dataclass(frozen=True)
class FilterOptions:
    """What the filters can offer, from the snapshot (``dashboard.data.filter_options``)."""

    teams: list[str]
    systems: list[str]
    services: pl.DataFrame  # service, team, system
    first_day: date
    last_day: date
    years: list[int]
    names: Mapping[str, str] = field(default_factory=dict)  # team or service ref -> its name


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    grain: str = DEFAULT_GRAIN
    year: int = DEFAULT_YEAR
    team: str | None = None
    system: str | None = None
    service: str | None = None

    @property
    def scope(self) -> tuple[str, str]:
        """The ``dora_metrics`` scope the selection reads: a service, else a team, else the org."""
        if self.service:
            return "service", self.service
        if self.team:
            return "team", self.team
        return "org", "org"

    def describe(self) -> str:
        """The active narrowing filters in words (for empty states)."""
        parts = [f"{name} = {value}" for name, value in self._chosen()]
        parts.append(f"dates {self.start} to {self.end}")
        return ", ".join(parts)

    def _chosen(self) -> list[tuple[str, str]]:
        pairs = (("team", self.team), ("system", self.system), ("service", self.service))
        return [(name, value) for name, value in pairs if value]


def default_filters(options: FilterOptions) -> Filters:
    start = max(options.first_day, options.last_day - timedelta(days=DEFAULT_DAYS))
    year = DEFAULT_YEAR if DEFAULT_YEAR in options.years or not options.years else options.years[0]
    return Filters(start=start, end=options.last_day, year=year)


def from_params(params: Mapping[str, str], options: FilterOptions) -> Filters:
    """Filters from query parameters; a missing or unknown value falls back to its default."""
    base = default_filters(options)
    services = set(options.services["service"].to_list())
    # A link may outlive the history it was made on: dates outside the snapshot's are clamped
    # to it (the date picker refuses a value outside its bounds).
    start = _clamp(_date(params.get("from")) or base.start, options)
    end = _clamp(_date(params.get("to")) or base.end, options)
    if start > end:
        start, end = base.start, base.end
    year = _int(params.get("year"))
    return replace(
        base,
        start=start,
        end=end,
        grain=params.get("grain") if params.get("grain") in GRAINS else base.grain,
        year=year if year in options.years else base.year,
        team=_known(params.get("team"), options.teams),
        system=_known(params.get("system"), options.systems),
        service=_known(params.get("service"), services),
    )


def to_params(filters: Filters) -> dict[str, str]:
    params = {
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
        "grain": filters.grain,
        "year": str(filters.year),
    }
    params.update(filters._chosen())
    return params


def draw_filters(options: FilterOptions, fields: Collection[str] = FIELDS) -> Filters:
    """Draw the chosen filters in the sidebar; keep the result in the URL and the session."""
    params = st.query_params.to_dict() or st.session_state.get(SESSION_KEY, {})
    current = from_params(params, options)
    chosen = current
    if "team" in fields:
        chosen = replace(chosen, team=_pick("Team", options.teams, chosen.team, options.names))
    if "system" in fields:
        chosen = replace(chosen, system=_pick("System", options.systems, chosen.system))
    if "service" in fields:
        chosen = replace(
            chosen,
            service=_pick(
                "Service",
                service_choices(options.services, chosen),
                chosen.service,
                options.names,
            ),
        )
    if "dates" in fields:
        picked = st.sidebar.date_input(
            "Date range",
            value=(chosen.start, chosen.end),
            min_value=options.first_day,
            max_value=options.last_day,
        )
        if isinstance(picked, tuple) and len(picked) == 2:
            chosen = replace(chosen, start=picked[0], end=picked[1])
    if "grain" in fields:
        grain = st.sidebar.segmented_control("Grain", GRAINS, default=chosen.grain, required=True)
        chosen = replace(chosen, grain=grain or chosen.grain)
    if "year" in fields and options.years:
        year = st.sidebar.selectbox(
            "Benchmark year",
            options.years,
            index=options.years.index(chosen.year),
            format_func=year_label,
        )
        chosen = replace(chosen, year=int(year))
    new_params = {**{k: v for k, v in params.items() if k not in _KEYS}, **to_params(chosen)}
    st.session_state[SESSION_KEY] = new_params
    if st.query_params.to_dict() != new_params:
        st.query_params.from_dict(new_params)
    return chosen


def service_choices(services: pl.DataFrame, filters: Filters) -> list[str]:
    """The services the team and system filters leave to choose from."""
    rows = services
    if filters.team:
        rows = rows.filter(pl.col("team") == filters.team)
    if filters.system:
        rows = rows.filter(pl.col("system") == filters.system)
    return rows["service"].to_list()


_KEYS = ("from", "to", "grain", "year", "team", "system", "service")
ALL = "All"


def _pick(
    label: str, values: list[str], current: str | None, names: Mapping[str, str] | None = None
) -> str | None:
    """A sidebar choice of ``values`` (refs: what the URL and the queries carry), each shown by
    its catalog name where it has one of its own (:func:`dashboard.charts.labels`)."""
    choices = [ALL, *values]
    index = choices.index(current) if current in choices else 0
    shown = labels(values, names)
    picked = st.sidebar.selectbox(
        label, choices, index=index, format_func=lambda ref: shown.get(ref) or str(ref)
    )
    return None if picked == ALL else picked


def _known(value: str | None, known: Collection[str]) -> str | None:
    return value if value in known else None


def _clamp(day: date, options: FilterOptions) -> date:
    return min(max(day, options.first_day), options.last_day)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
