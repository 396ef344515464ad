"""Benchmarks (METRICS.md §8): the State of DevOps clusters and the product brief's rule of thumb.

Data, not code: one row per report year × metric × level, ``lower``/``upper`` in the unit Paved
stores the metric in (deployment frequency in deployments per day, durations in seconds, CFR as
a fraction, satisfaction on the 1-5 scale); NULL = unbounded. Sources, as published:

- 2021: *Accelerate State of DevOps 2021* (DORA / Google Cloud), software delivery performance
  table (elite, high, medium, low): deployment frequency, lead time for changes, time to restore
  service, change failure rate.
- 2023: *Accelerate State of DevOps Report 2023* (DORA / Google Cloud), software delivery
  performance levels: deployment frequency, change lead time, change failure rate, failed
  deployment recovery time.
- 2024: *Accelerate State of DevOps Report 2024* (DORA / Google Cloud), same four metrics.
- report year 0: the product brief's platform-team rule of thumb (good / bad).

Where a report gives a change failure rate as the cluster's typical value (2023, 2024) rather
than a range, ``upper`` holds that value and ``lower`` is NULL. Reports repeat ranges across
clusters (2021 CFR; 2023's low equals its medium in frequency and lead time) and are not always
monotone (2024: high 20 % CFR, medium 10 %); the rows keep what was published and
:func:`models.metrics.dora.dora_tiers` explains how a value is placed.
"""

from __future__ import annotations

import polars as pl

from models.metrics.frames import mart_schema

RULE_OF_THUMB = 0  # report_year of the product brief's good / bad rule of thumb
CLUSTER_LEVELS = ("elite", "high", "medium", "low")
RULE_LEVELS = ("good", "bad")

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY
SIX_MONTHS = 180 * DAY
PER_DAY = 1.0
PER_WEEK = 1 / 7
PER_MONTH = 1 / 30
PER_SIX_MONTHS = 1 / 180

Row = tuple[int, str, str, float | None, float | None, str]

DF, LT, CFR = "deployment_frequency", "lead_time", "change_failure_rate"
TTR, FDRT, SAT = "time_to_restore", "failed_deployment_recovery_time", "satisfaction"
RULE = RULE_OF_THUMB

_ROWS: list[Row] = [
    # 2021 Accelerate State of DevOps (time to restore service; CFR ranges overlap)
    (2021, DF, "elite", PER_DAY, None, "On-demand (multiple deploys per day)"),
    (2021, DF, "high", PER_MONTH, PER_WEEK, "Between once per week and once per month"),
    (
        2021,
        DF,
        "medium",
        PER_SIX_MONTHS,
        PER_MONTH,
        "Between once per month and once every 6 months",
    ),
    (2021, DF, "low", None, PER_SIX_MONTHS, "Fewer than once per six months"),
    (2021, LT, "elite", None, HOUR, "Less than one hour"),
    (2021, LT, "high", DAY, WEEK, "Between one day and one week"),
    (2021, LT, "medium", MONTH, SIX_MONTHS, "Between one month and six months"),
    (2021, LT, "low", SIX_MONTHS, None, "More than six months"),
    (2021, TTR, "elite", None, HOUR, "Less than one hour"),
    (2021, TTR, "high", None, DAY, "Less than one day"),
    (2021, TTR, "medium", DAY, WEEK, "Between one day and one week"),
    (2021, TTR, "low", SIX_MONTHS, None, "More than six months"),
    (2021, CFR, "elite", 0.0, 0.15, "0%-15%"),
    (2021, CFR, "high", 0.16, 0.30, "16%-30%"),
    (2021, CFR, "medium", 0.16, 0.30, "16%-30%"),
    (2021, CFR, "low", 0.16, 0.30, "16%-30%"),
    # 2023 Accelerate State of DevOps (failed deployment recovery time; CFR as typical values)
    (2023, DF, "elite", PER_DAY, None, "On demand"),
    (2023, DF, "high", PER_WEEK, PER_DAY, "Between once per day and once per week"),
    (2023, DF, "medium", PER_MONTH, PER_WEEK, "Between once per week and once per month"),
    (2023, DF, "low", PER_MONTH, PER_WEEK, "Between once per week and once per month"),
    (2023, LT, "elite", None, DAY, "Less than one day"),
    (2023, LT, "high", DAY, WEEK, "Between one day and one week"),
    (2023, LT, "medium", WEEK, MONTH, "Between one week and one month"),
    (2023, LT, "low", WEEK, MONTH, "Between one week and one month"),
    (2023, CFR, "elite", None, 0.05, "5%"),
    (2023, CFR, "high", None, 0.10, "10%"),
    (2023, CFR, "medium", None, 0.15, "15%"),
    (2023, CFR, "low", None, 0.64, "64%"),
    (2023, FDRT, "elite", None, HOUR, "Less than one hour"),
    (2023, FDRT, "high", None, DAY, "Less than one day"),
    (2023, FDRT, "medium", DAY, WEEK, "Between one day and one week"),
    (2023, FDRT, "low", MONTH, SIX_MONTHS, "Between one month and six months"),
    # 2024 Accelerate State of DevOps
    (2024, DF, "elite", PER_DAY, None, "On demand (multiple deploys per day)"),
    (2024, DF, "high", PER_WEEK, PER_DAY, "Between once per day and once per week"),
    (2024, DF, "medium", PER_MONTH, PER_WEEK, "Between once per week and once per month"),
    (
        2024,
        DF,
        "low",
        PER_SIX_MONTHS,
        PER_MONTH,
        "Between once per month and once every six months",
    ),
    (2024, LT, "elite", None, DAY, "Less than one day"),
    (2024, LT, "high", DAY, WEEK, "Between one day and one week"),
    (2024, LT, "medium", WEEK, MONTH, "Between one week and one month"),
    (2024, LT, "low", MONTH, SIX_MONTHS, "Between one month and six months"),
    (2024, CFR, "elite", None, 0.05, "5%"),
    (2024, CFR, "high", None, 0.20, "20%"),
    (2024, CFR, "medium", None, 0.10, "10%"),
    (2024, CFR, "low", None, 0.40, "40%"),
    (2024, FDRT, "elite", None, HOUR, "Less than one hour"),
    (2024, FDRT, "high", None, DAY, "Less than one day"),
    (2024, FDRT, "medium", None, DAY, "Less than one day"),
    (2024, FDRT, "low", WEEK, MONTH, "Between one week and one month"),
    # The product brief's rule of thumb for platform teams (METRICS.md §8)
    (RULE, DF, "good", PER_DAY, None, "Multiple deploys per day"),
    (RULE, DF, "bad", None, PER_MONTH, "Monthly or less"),
    (RULE, LT, "good", None, DAY, "Minutes to hours"),
    (RULE, LT, "bad", WEEK, None, "Weeks to months"),
    (RULE, TTR, "good", None, HOUR, "Minutes"),
    (RULE, TTR, "bad", HOUR, None, "Hours to days"),
    (RULE, CFR, "good", None, 0.05, "Less than 5%"),
    (RULE, CFR, "bad", 0.15, None, "More than 15%"),
    (RULE, SAT, "good", 4.0, None, "More than 4/5"),
    (RULE, SAT, "bad", None, 3.0, "Less than 3/5"),
]


def benchmarks() -> pl.DataFrame:
    """``marts.benchmarks``: every published cluster row and the rule of thumb."""
    return pl.DataFrame(_ROWS, schema=mart_schema("benchmarks"), orient="row")
