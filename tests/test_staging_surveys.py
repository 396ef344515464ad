"""Staging of survey answers: the Google Forms timestamp read by hand as strptime reads it."""

from __future__ import annotations

from datetime import datetime

import pytest

from models.staging.surveys import TIMESTAMP_FORMAT, _local_time


@pytest.mark.parametrize(
    "stamp",
    [
        "9/30/2026 14:05:09",
        "09/03/2026 04:05:09",
        "1/1/2026 0:0:0",
        "12/31/2025 23:59:59",
        "9/30/2026  14:05:09",  # two spaces: strptime's whitespace rule
    ],
)
def test_a_google_forms_timestamp_reads_as_strptime_reads_it(stamp: str) -> None:
    assert _local_time(stamp) == datetime.strptime(stamp, TIMESTAMP_FORMAT)


@pytest.mark.parametrize(
    "stamp",
    [
        "2/30/2026 10:00:00",  # no such day
        "9/30/26 14:05:09",  # a two-digit year
        "9/30/2026 14:05",  # no seconds
        "12/31/2025 24:00:00",
        "٩/30/2026 14:05:09",  # digits, but not ASCII ones
        "2026-09-30T14:05:09",
        "",
    ],
)
def test_a_malformed_google_forms_timestamp_is_an_error_as_with_strptime(stamp: str) -> None:
    with pytest.raises(ValueError):
        datetime.strptime(stamp, TIMESTAMP_FORMAT)
    with pytest.raises(ValueError):
        _local_time(stamp)
