"""The cost connectors read FOCUS exports and OpenCost allocations row by row, keyed stably.

FOCUS: the reference files parse (or are rejected for the mandatory columns they lack), ids keep
their leading zeros in CSV and Parquet, Parquet is read in batches with its timestamps and maps
made JSON-able, a row re-delivered in another file or format keeps its key, malformed rows are
rejected with their file and row. OpenCost: the recorded body parses, the window is asked for in
chunks of whole steps with every request asserted, `__idle__`/`__unallocated__` and null numbers
come through, errors are plain sentences. Against the sandbox (when it is there): every FOCUS row
is parsed and the counts equal the files' rows; every (day, key) of OpenCost comes once with the
world's cost.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import focus as focus_connector
from connectors.focus import read_focus
from connectors.http import AuthError, SourceError
from connectors.items import Item, Rejection
from connectors.opencost import OpenCostClient

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads"


def _reference(rel: str) -> Path:
    path = REF / rel
    if not path.exists():
        pytest.skip(f"reference payload {rel} not found (the shared folder is not mounted)")
    return path


def _items(results: list[Item[Any] | Rejection]) -> list[Item[Any]]:
    assert all(isinstance(r, Item) for r in results), [
        r.reason for r in results if isinstance(r, Rejection)
    ]
    return [r for r in results if isinstance(r, Item)]


# -- FOCUS -------------------------------------------------------------------------------------

COLUMNS = [
    "BillingAccountId",
    "SubAccountId",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ServiceName",
    "ResourceId",
    "SkuId",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "Tags",
]


def _row(day: int = 1, resource: str = "i-1", cost: str = "1.50", **overrides: str) -> dict:
    row = {
        "BillingAccountId": "000123456789",
        "SubAccountId": "012345678901",
        "ChargePeriodStart": f"2026-05-{day:02d}T00:00:00Z",
        "ChargePeriodEnd": f"2026-05-{day + 1:02d}T00:00:00Z",
        "ChargeCategory": "Usage",
        "ServiceName": "AmazonEC2",
        "ResourceId": resource,
        "SkuId": "SKU-1",
        "BilledCost": cost,
        "EffectiveCost": cost,
        "BillingCurrency": "USD",
        "Tags": '{"app":"checkout","team":"payments"}',
    }
    row.update(overrides)
    return row


def _csv(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _parquet(
    path: Path, rows: list[dict], *, naive_times: bool = False, numeric_ids: bool = False
) -> Path:
    """FOCUS rows as a Parquet writer would store them: times as timestamps, money as doubles
    and decimals, Tags as a map, and, with `numeric_ids`, the billing account as a number (as
    some writers do, losing its leading zeros)."""

    def moment(text: str) -> datetime:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=None) if naive_times else value

    tz = None if naive_times else "UTC"
    table = pa.table(
        {
            "BillingAccountId": pa.array(
                [int(r["BillingAccountId"]) for r in rows]
                if numeric_ids
                else [r["BillingAccountId"] for r in rows],
                pa.int64() if numeric_ids else pa.string(),
            ),
            "SubAccountId": pa.array([r["SubAccountId"] for r in rows], pa.string()),
            "ChargePeriodStart": pa.array(
                [moment(r["ChargePeriodStart"]) for r in rows], pa.timestamp("us", tz=tz)
            ),
            "ChargePeriodEnd": pa.array(
                [moment(r["ChargePeriodEnd"]) for r in rows], pa.timestamp("us", tz=tz)
            ),
            "ChargeCategory": [r["ChargeCategory"] for r in rows],
            "ServiceName": [r["ServiceName"] for r in rows],
            "ResourceId": [r["ResourceId"] for r in rows],
            "SkuId": [r["SkuId"] for r in rows],
            "BilledCost": pa.array([float(r["BilledCost"]) for r in rows], pa.float64()),
            "EffectiveCost": pa.array([Decimal(r["EffectiveCost"]) for r in rows]),
            "BillingCurrency": [r["BillingCurrency"] for r in rows],
            "Tags": pa.array(
                [list(json.loads(r["Tags"]).items()) for r in rows],
                pa.map_(pa.string(), pa.string()),
            ),
        }
    )
    pq.write_table(table, path)
    return path


def test_the_focus_reference_files_parse_or_are_rejected_for_what_they_lack() -> None:
    aws = _reference("focus/SYNTHETIC_focus1.2_aws_sample_4rows.csv")
    items = _items(list(read_focus(str(aws))))
    assert len(items) == 4 and len({i.key for i in items}) == 4
    first = items[0].model
    assert first.SubAccountId == "200000000011"
    assert first.BilledCost == Decimal("560.920320")
    assert first.Tags == {"Environment": "prod", "CostCenter": "cc-1042", "Owner": "team-payments"}
    scenario = _reference("focus/spec_v1.2_commitment_discount_usage_scenario_1.csv")
    (rejection,) = list(read_focus(str(scenario)))
    assert isinstance(rejection, Rejection)
    assert rejection.key == f"{scenario.name}:1"
    assert "BillingCurrency: Field required" in rejection.reason
    assert "ServiceName: Field required" in rejection.reason


def test_ids_keep_their_leading_zeros_in_csv(tmp_path: Path) -> None:
    (item,) = _items(list(read_focus(str(_csv(tmp_path / "m.csv", [_row()])))))
    assert item.model.SubAccountId == "012345678901"
    assert item.model.BillingAccountId == "000123456789"


def test_parquet_rows_become_json_able_payloads_with_string_ids_and_utc_times(
    tmp_path: Path,
) -> None:
    path = _parquet(tmp_path / "m.parquet", [_row(cost="2.25")], naive_times=True, numeric_ids=True)
    (item,) = _items(list(read_focus(str(path))))
    assert item.payload["BillingAccountId"] == "123456789"  # the writer's number, as digits
    assert item.payload["ChargePeriodStart"] == "2026-05-01T00:00:00Z"
    assert item.payload["Tags"] == {"app": "checkout", "team": "payments"}
    assert item.model.ChargePeriodStart == datetime(2026, 5, 1, tzinfo=UTC)
    assert item.model.EffectiveCost == Decimal("2.25")
    json.dumps(item.payload)


def test_a_row_redelivered_in_another_file_and_format_keeps_its_key(tmp_path: Path) -> None:
    rows = [_row(1), _row(2), _row(2, resource="i-2")]
    first = _csv(tmp_path / "2026-05.csv", rows)
    restated = [{**r, "BilledCost": "9.99", "EffectiveCost": "9.99", "Tags": "{}"} for r in rows]
    again = _parquet(tmp_path / "2026-05-final.parquet", restated)
    zipped = _csv(tmp_path / "2026-05-copy.csv.gz", rows)
    keys = [[i.key for i in _items(list(read_focus(str(p))))] for p in (first, again, zipped)]
    assert len(set(keys[0])) == 3
    assert keys[0] == keys[1] == keys[2]


def test_two_rows_with_the_same_identity_in_one_file_get_distinct_keys(tmp_path: Path) -> None:
    path = _csv(tmp_path / "m.csv", [_row(cost="1.00"), _row(cost="2.00"), _row(day=3)])
    keys = [i.key for i in _items(list(read_focus(str(path))))]
    assert keys[1] == f"{keys[0]}#2"
    assert len(set(keys)) == 3


def test_malformed_rows_are_rejected_with_the_file_and_row(tmp_path: Path) -> None:
    rows = [
        _row(BilledCost="12,50"),
        _row(ChargePeriodStart=""),
        _row(ChargePeriodStart="2026-05-01T00:00:00"),
        _row(Tags="team=payments"),
        _row(ChargePeriodEnd="2026-04-30T00:00:00Z"),
        _row(),
    ]
    path = _csv(tmp_path / "bad.csv", rows)
    text = path.read_text().splitlines()
    text += [text[-1] + ",an extra cell", ",".join(text[-1].split(",")[:5])]
    path.write_text("\n".join(text) + "\n")
    results = list(read_focus(str(path)))
    assert [r.key.partition("#")[0] for r in results if isinstance(r, Rejection)] == [
        f"bad.csv:{n}" for n in (1, 2, 3, 4, 5, 7, 8)
    ]
    reasons = [r.reason for r in results if isinstance(r, Rejection)]
    assert all(
        reason.startswith(f"bad.csv: row {n}: ")
        for reason, n in zip(reasons, (1, 2, 3, 4, 5, 7, 8), strict=True)
    )
    assert "BilledCost" in reasons[0]
    assert "ChargePeriodStart: Field required" in reasons[1]
    assert "timezone" in reasons[2].lower()
    assert "Tags is not a JSON object" in reasons[3]
    assert "ChargePeriodEnd is before ChargePeriodStart" in reasons[4]
    assert "1 more cell(s) than the header's 12 columns" in reasons[5]
    assert "5 cell(s), fewer than the header's 12 columns" in reasons[6]
    assert sum(isinstance(r, Item) for r in results) == 1


def test_parquet_is_read_in_batches_not_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _parquet(tmp_path / "m.parquet", [_row(day) for day in range(1, 6)])
    sizes: list[int] = []
    original = pq.ParquetFile.iter_batches

    def recording(self: pq.ParquetFile, *args: Any, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        for batch in original(self, *args, **kwargs):
            sizes.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", recording)
    results = read_focus(str(path), batch_size=2)
    next(results)
    assert sizes == [2]  # the first row comes out before the rest of the file is read
    assert len(list(results)) == 4 and sizes == [2, 2, 1]


def test_other_files_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _csv(tmp_path / "m.csv", [_row()])
    (tmp_path / "manifest.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="connectors.focus"):
        results = list(read_focus(str(tmp_path / "*")))
    assert len(_items(results)) == 1
    assert "manifest.json" in caplog.text


def test_a_damaged_parquet_file_is_rejected_and_the_next_file_still_read(tmp_path: Path) -> None:
    good = _parquet(tmp_path / "b.parquet", [_row()])
    (tmp_path / "a.parquet").write_bytes(good.read_bytes()[:200])
    first, second = list(read_focus(str(tmp_path / "*.parquet")))
    assert isinstance(first, Rejection) and first.key == "a.parquet:1"
    assert first.reason.startswith("a.parquet: unreadable from row 1 on")
    assert isinstance(second, Item)


def test_no_matching_focus_file_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="PAVED_COST_PATH"):
        list(read_focus(str(tmp_path / "*.csv")))


def test_the_identity_leaves_amounts_and_tags_out() -> None:
    assert "BilledCost" not in focus_connector.IDENTITY_COLUMNS
    assert "Tags" not in focus_connector.IDENTITY_COLUMNS


# -- OpenCost ----------------------------------------------------------------------------------

OPENCOST = "http://opencost.test:9003"


@dataclass
class Script:
    """Answers scripted exchanges in order and fails on any request it did not expect."""

    exchanges: list[tuple[dict[str, str], httpx.Response]]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.exchanges, f"unexpected request: {request.url}"
        params, response = self.exchanges.pop(0)
        assert (request.method, request.url.path) == ("GET", "/allocation")
        assert dict(request.url.params) == params
        return response

    def assert_done(self) -> None:
        assert not self.exchanges, f"{len(self.exchanges)} expected request(s) never made"


def _opencost(script: Script, token: str | None = None) -> OpenCostClient:
    return OpenCostClient(
        OPENCOST, token=token, transport=httpx.MockTransport(script), sleep=[].append
    )


def _params(window: str, **extra: str) -> dict[str, str]:
    return {
        "window": window,
        "aggregate": "label:app",
        "step": "1d",
        "accumulate": "false",
        "includeIdle": "true",
        **extra,
    }


def _allocation(name: str, day: date, total: float | None = 1.0) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    window = {
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return {
        "name": name,
        "window": window,
        "start": window["start"],
        "end": window["end"],
        "cpuCost": total,
        "pvCost": None,
        "totalCost": total,
    }


def _body(*steps: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"code": 200, "status": "success", "data": list(steps)})


def test_the_recorded_allocation_body_parses_into_one_item_per_key() -> None:
    raw = _reference("opencost/allocation_compute_window2d_by_namespace.RAW_BODY.json")
    window = "2023-01-18T00:00:00Z,2023-01-20T00:00:00Z"
    script = Script(
        [
            (
                _params(window, aggregate="namespace", step="2d"),
                httpx.Response(200, content=raw.read_bytes()),
            )
        ]
    )
    with _opencost(script) as client:
        results = list(
            client.list_allocations(
                start=date(2023, 1, 18), end=date(2023, 1, 20), aggregate="namespace", step="2d"
            )
        )
    script.assert_done()
    items = _items(results)
    assert [i.key for i in items][:3] == [
        "2023-01-18T11:38:45Z:kube-system",
        "2023-01-18T11:38:45Z:opencost",
        "2023-01-18T11:38:45Z:prometheus",
    ]
    assert items[0].model.totalCost == pytest.approx(0.425469)


def test_a_long_range_is_asked_for_in_chunks_of_whole_steps() -> None:
    days = [date(2026, 9, 1) + timedelta(days=n) for n in range(9)]
    script = Script(
        [
            (
                _params("2026-09-01T00:00:00Z,2026-09-08T00:00:00Z"),
                _body(*({"checkout": _allocation("checkout", d)} for d in days[:7])),
            ),
            (
                _params("2026-09-08T00:00:00Z,2026-09-10T00:00:00Z"),
                _body(*({"checkout": _allocation("checkout", d)} for d in days[7:])),
            ),
        ]
    )
    with _opencost(script) as client:
        keys = [
            r.key
            for r in client.list_allocations(start=days[0], end=date(2026, 9, 10), chunk_days=7)
        ]
    script.assert_done()
    assert keys == [f"{d.isoformat()}T00:00:00Z:checkout" for d in days]


def test_a_range_is_asked_for_in_one_request_up_to_a_thousand_steps() -> None:
    days = [date(2026, 9, 1) + timedelta(days=n) for n in range(9)]
    script = Script(
        [
            (
                _params("2026-09-01T00:00:00Z,2026-09-10T00:00:00Z"),
                _body(*({"checkout": _allocation("checkout", d)} for d in days)),
            ),
        ]
    )
    with _opencost(script) as client:
        keys = [r.key for r in client.list_allocations(start=days[0], end=date(2026, 9, 10))]
    script.assert_done()
    assert keys == [f"{d.isoformat()}T00:00:00Z:checkout" for d in days]


def test_idle_and_unallocated_are_items_and_null_numbers_are_none() -> None:
    day = date(2026, 9, 1)
    step = {
        "__idle__": _allocation("__idle__", day, total=None),
        "__unallocated__": _allocation("__unallocated__", day, total=0.5),
    }
    script = Script([(_params("2026-09-01T00:00:00Z,2026-09-02T00:00:00Z"), _body(step))])
    with _opencost(script) as client:
        idle, unallocated = _items(list(client.list_allocations(start=day, end=date(2026, 9, 2))))
    script.assert_done()
    assert idle.key == "2026-09-01T00:00:00Z:__idle__"
    assert idle.model.totalCost is None and idle.model.pvCost is None
    assert unallocated.key == "2026-09-01T00:00:00Z:__unallocated__"


def test_a_malformed_allocation_is_rejected_with_its_key_and_the_rest_go_on() -> None:
    day = date(2026, 9, 1)
    broken = _allocation("checkout", day)
    del broken["start"]
    step = {"checkout": broken, "search": _allocation("search", day)}
    script = Script([(_params("2026-09-01T00:00:00Z,2026-09-02T00:00:00Z"), _body(step))])
    with _opencost(script) as client:
        rejected, fine = list(client.list_allocations(start=day, end=date(2026, 9, 2)))
    script.assert_done()
    assert isinstance(rejected, Rejection)
    assert rejected.key == "2026-09-01T00:00:00Z:checkout"
    assert rejected.reason == "checkout: start: Field required"
    assert isinstance(fine, Item)


def test_an_error_code_in_the_body_is_a_plain_source_error() -> None:
    body = httpx.Response(200, json={"code": 500, "status": "", "data": None})
    script = Script([(_params("2026-09-01T00:00:00Z,2026-09-02T00:00:00Z"), body)])
    with _opencost(script) as client, pytest.raises(SourceError, match="answered code 500"):
        list(client.list_allocations(start=date(2026, 9, 1), end=date(2026, 9, 2)))
    script.assert_done()


@pytest.mark.parametrize("token", [None, "opencost-secret"])
def test_a_bearer_token_is_sent_only_when_given(token: str | None) -> None:
    script = Script([(_params("2026-09-01T00:00:00Z,2026-09-02T00:00:00Z"), _body({}))])
    with _opencost(script, token) as client:
        assert list(client.list_allocations(start=date(2026, 9, 1), end=date(2026, 9, 2))) == []
    script.assert_done()
    expected = f"Bearer {token}" if token else None
    assert script.requests[0].headers.get("authorization") == expected


def test_a_401_without_a_token_says_what_to_do() -> None:
    script = Script([(_params("2026-09-01T00:00:00Z,2026-09-02T00:00:00Z"), httpx.Response(401))])
    with _opencost(script) as client, pytest.raises(AuthError, match="OPENCOST_URL"):
        list(client.list_allocations(start=date(2026, 9, 1), end=date(2026, 9, 2)))
    script.assert_done()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": date(2026, 9, 2), "end": date(2026, 9, 2)}, "must be after"),
        ({"start": date(2026, 9, 1), "end": date(2026, 9, 2), "step": "daily"}, "not an OpenCost"),
    ],
)
def test_a_bad_range_or_step_is_refused_before_any_request(kwargs: dict, message: str) -> None:
    script = Script([])
    with _opencost(script) as client, pytest.raises(ValueError, match=message):
        list(client.list_allocations(**kwargs))
    assert script.requests == []


# -- against the sandbox -------------------------------------------------------------------------


def _file_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def test_every_sandbox_focus_row_is_parsed_and_the_counts_equal_the_files_rows(
    sandbox: Any,
) -> None:
    files = sandbox.world.files("focus")
    assert {f.suffix for f in files} == {".csv", ".parquet"}
    counts: Counter[str] = Counter()
    keys: set[str] = set()
    for result in read_focus(sandbox.env()["PAVED_COST_PATH"]):
        assert isinstance(result, Item), result.reason  # type: ignore[union-attr]
        counts[result.model.ChargePeriodStart.strftime("%Y-%m")] += 1
        keys.add(result.key)
    expected = {f.stem: _file_rows(f) for f in files}
    assert dict(counts) == expected
    assert len(keys) == sum(expected.values())


def test_every_sandbox_opencost_day_and_key_comes_once_with_the_worlds_cost(sandbox: Any) -> None:
    start = date.fromisoformat(sandbox.world.meta["history_start"])
    end = sandbox.world.now.date()
    with OpenCostClient(sandbox.env()["OPENCOST_URL"], sleep=[].append) as client:
        items = _items(list(client.list_allocations(start=start, end=end)))
    keys = [i.key for i in items]
    assert len(keys) == len(set(keys))
    expected: dict[str, float] = defaultdict(float)
    for day, namespace, app, total in sandbox.world.query(
        "SELECT date, namespace, app, total_cost FROM opencost WHERE date >= ? AND date < ?",
        (start.isoformat(), end.isoformat()),
    ):
        if namespace == "__idle__":
            key = "__idle__"
        elif not app or app.startswith("__"):
            key = "__unallocated__"
        else:
            key = app
        expected[f"{day}T00:00:00Z:{key}"] += total or 0.0
    assert set(keys) == set(expected)
    got = {i.key: i.model.totalCost or 0.0 for i in items}
    assert got == pytest.approx(dict(expected), abs=1e-5)
    assert {k.split("Z:", 1)[1] for k in keys if "__" in k} == {"__idle__", "__unallocated__"}
