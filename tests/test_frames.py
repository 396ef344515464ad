"""The frame helpers of models.metrics.frames: sorted_by sorts as polars' own sort does."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from math import prod

import polars as pl
import pytest

from models.metrics import frames
from models.metrics.frames import sorted_by


def _rows(n: int, seed: int) -> pl.DataFrame:
    """Rows with repeated texts (one with non-ASCII and empty values), integers, dates and
    times, each column with nulls, and a unique id last."""
    rng = random.Random(seed)
    texts = ["b", "a", "ab", "", "Zeta", "éa", "a b", "service-10", "service-9"]
    start = datetime(2024, 1, 1, tzinfo=UTC)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.1 else value

    return pl.DataFrame(
        {
            "text": [maybe(rng.choice(texts)) for _ in range(n)],
            "number": [maybe(rng.randint(-5, 5)) for _ in range(n)],
            "day": [maybe(date(2024, 1, 1) + timedelta(days=rng.randint(0, 40))) for _ in range(n)],
            "at": [maybe(start + timedelta(seconds=rng.randint(0, 10**4))) for _ in range(n)],
            "id": rng.sample(range(10**4), n),
        },
        schema={
            "text": pl.Utf8,
            "number": pl.Int64,
            "day": pl.Date,
            "at": pl.Datetime("us", "UTC"),
            "id": pl.UInt32,
        },
    )


@pytest.mark.parametrize(
    "columns",
    [
        ("text", "id"),
        ("text", "number", "id"),
        ("day", "text", "at", "id"),
        ("number", "day", "id"),
        ("at", "id"),
    ],
)
def test_sorted_by_sorts_as_the_plain_sort(columns: tuple[str, ...]) -> None:
    for seed in range(5):
        rows = _rows(400, seed)
        # By one key, not the plain sort: every column has places, and they fit in 64 bits.
        places = [frames._place(rows, column) for column in columns]
        assert prod(place[1] for place in places if place is not None) < 2**64
        assert None not in places
        assert sorted_by(rows, *columns).equals(rows.sort(*columns))


def test_sorted_by_falls_back_where_places_do_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(300, 7).with_columns(
        ratio=pl.col("id") / 7,  # not a column with places
        # Nearly the whole 64-bit range: its places would overflow.
        far=pl.when(pl.col("id") % 2 == 0).then(-(2**63) + 1).otherwise(2**63 - 2**14)
        + pl.col("id").cast(pl.Int64),
    )
    for columns in (("ratio",), ("far",), ("far", "id"), ("id", "id", "id", "id")):
        assert sorted_by(rows, *columns).equals(rows.sort(*columns))
    # Texts with more distinct values than PLACES_OF_TEXT: the plain sort.
    monkeypatch.setattr(frames, "PLACES_OF_TEXT", 3)
    assert frames._place(rows, "text") is None
    assert sorted_by(rows, "text", "id").equals(rows.sort("text", "id"))


def test_sorted_by_keeps_the_edges() -> None:
    rows = _rows(3, 1)
    assert sorted_by(rows.head(0), "text").equals(rows.head(0))
    assert sorted_by(rows.head(1), "text").equals(rows.head(1))
    nulls = pl.DataFrame({"n": [None, None], "id": [2, 1]}, schema={"n": pl.Int64, "id": pl.Int64})
    assert sorted_by(nulls, "n", "id").get_column("id").to_list() == [1, 2]
