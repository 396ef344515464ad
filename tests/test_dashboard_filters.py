"""The shared filters: a view's filters survive a round trip through the URL's query string,
and unknown or malformed values fall back to the defaults instead of failing."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dashboard.filters import (
    FilterOptions,
    Filters,
    default_filters,
    from_params,
    service_choices,
    to_params,
)

OPTIONS = FilterOptions(
    teams=["group:default/payments", "group:default/search"],
    systems=["checkout-platform", "search-platform"],
    services=pl.DataFrame(
        {
            "service": ["component:default/pay-api", "component:default/search-api"],
            "team": ["group:default/payments", "group:default/search"],
            "system": ["checkout-platform", "search-platform"],
        }
    ),
    first_day=date(2026, 1, 5),
    last_day=date(2026, 10, 4),
    years=[2024, 2023, 2021, 0],
)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(start=date(2026, 2, 1), end=date(2026, 9, 30)),
        Filters(
            start=date(2026, 6, 1),
            end=date(2026, 6, 30),
            grain="week",
            year=2021,
            team="group:default/payments",
            system="checkout-platform",
            service="component:default/pay-api",
        ),
        Filters(start=date(2026, 3, 1), end=date(2026, 3, 1), grain="quarter", year=0),
    ],
)
def test_filters_round_trip_through_query_params(filters: Filters):
    params = to_params(filters)
    assert all(isinstance(value, str) for value in params.values())
    assert from_params(params, OPTIONS) == filters


def test_no_params_give_the_defaults_the_last_half_year_by_month_with_2024_benchmarks():
    assert from_params({}, OPTIONS) == Filters(
        start=date(2026, 4, 5), end=date(2026, 10, 4), grain="month", year=2024
    )
    assert default_filters(OPTIONS) == from_params({}, OPTIONS)


@pytest.mark.parametrize(
    ("params", "field", "expected"),
    [
        ({"team": "group:default/gone"}, "team", None),
        ({"service": "component:default/gone"}, "service", None),
        ({"grain": "decade"}, "grain", "month"),
        ({"year": "1999"}, "year", 2024),
        ({"year": "soon"}, "year", 2024),
        ({"from": "yesterday"}, "start", date(2026, 4, 5)),
        ({"from": "2026-09-01", "to": "2026-08-01"}, "start", date(2026, 4, 5)),
    ],
)
def test_unknown_or_malformed_params_fall_back_to_defaults(params, field, expected):
    assert getattr(from_params(params, OPTIONS), field) == expected


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({"from": "2000-01-01", "to": "2100-01-01"}, date(2026, 1, 5), date(2026, 10, 4)),
        ({"from": "2025-12-01", "to": "2026-02-01"}, date(2026, 1, 5), date(2026, 2, 1)),
        ({"from": "2026-03-01", "to": "2027-01-01"}, date(2026, 3, 1), date(2026, 10, 4)),
    ],
)
def test_dates_outside_the_snapshots_history_are_clamped_to_it(params, start, end):
    filters = from_params(params, OPTIONS)
    assert (filters.start, filters.end) == (start, end)


@pytest.mark.parametrize(
    ("filters", "scope"),
    [
        (Filters(start=date(2026, 1, 5), end=date(2026, 2, 1)), ("org", "org")),
        (
            Filters(start=date(2026, 1, 5), end=date(2026, 2, 1), team="group:default/search"),
            ("team", "group:default/search"),
        ),
        (
            Filters(
                start=date(2026, 1, 5),
                end=date(2026, 2, 1),
                team="group:default/search",
                service="component:default/search-api",
            ),
            ("service", "component:default/search-api"),
        ),
    ],
)
def test_the_narrowest_choice_decides_the_metrics_scope(filters: Filters, scope):
    assert filters.scope == scope


def test_team_and_system_narrow_the_services_offered():
    base = Filters(start=date(2026, 1, 5), end=date(2026, 2, 1))
    assert service_choices(OPTIONS.services, base) == OPTIONS.services["service"].to_list()
    narrowed = Filters(start=base.start, end=base.end, system="search-platform")
    assert service_choices(OPTIONS.services, narrowed) == ["component:default/search-api"]
