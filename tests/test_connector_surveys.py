"""The survey connectors read every response once, whatever shape it comes in.

Typeform: pages follow the `before` token of the last response (there is no next link), the
read starts a re-read window before the watermark and de-duplicates late responses, a token that
stops moving is an error, 429s wait for `Retry-After` and requests are paced to ~2 a second, all
without sleeping for real; every request is asserted. Google Forms: the real sheet export, `;`
and tab delimiters, cp1252 re-saves, both email spellings, checkbox answers, malformed rows
rejected with their file and row, and keys that survive a re-export with more rows. Against the
sandbox (when it is there): every Typeform response visible at the clock comes once, a late one
is caught by the re-read window, and every Google Forms row parses to what was answered.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.googleforms import read_exports
from connectors.http import AuthError, SourceError
from connectors.items import Item, Rejection
from connectors.typeform import TypeformClient

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads"
API = "https://api.typeform.test"
TOKEN = "tfp_secret-token-value"
FORM = "F0rm1d"
WATERMARK = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)


def _reference(rel: str) -> Path:
    path = REF / rel
    if not path.exists():
        pytest.skip(f"reference payload {rel} not found (the shared folder is not mounted)")
    return path


# -- fakes -------------------------------------------------------------------------------------


@dataclass
class FakeClock:
    """A clock that only moves when the client sleeps, and the record of every sleep."""

    now: float = 1_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Script:
    """Answers scripted exchanges in order and fails on any request it did not expect."""

    exchanges: list[tuple[dict[str, str], httpx.Response]]
    path: str = f"/forms/{FORM}/responses"
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.exchanges, f"unexpected request: {request.url}"
        params, response = self.exchanges.pop(0)
        assert request.method == "GET"
        assert request.url.path == self.path
        assert dict(request.url.params) == params
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return response

    def assert_done(self) -> None:
        assert not self.exchanges, f"{len(self.exchanges)} expected request(s) never made"


def _client(script: Script, clock: FakeClock | None = None, **kwargs: Any) -> TypeformClient:
    clock = clock or FakeClock()
    return TypeformClient(
        API,
        token=TOKEN,
        transport=httpx.MockTransport(script),
        sleep=clock.sleep,
        clock=clock,
        **kwargs,
    )


def _response(token: str, submitted_at: str = "2026-09-19T10:00:00Z", **extra: Any) -> dict:
    return {
        "landing_id": token,
        "token": token,
        "response_id": token,
        "landed_at": submitted_at,
        "submitted_at": submitted_at,
        "hidden": {},
        "answers": [
            {
                "field": {"id": "f1", "type": "opinion_scale", "ref": "ease_of_start"},
                "type": "number",
                "number": 4,
            }
        ],
        **extra,
    }


def _page(*items: dict, total: int | None = None) -> httpx.Response:
    return httpx.Response(
        200, json={"total_items": total or len(items), "page_count": 1, "items": list(items)}
    )


def _keys(results: list[Item[Any] | Rejection]) -> list[str]:
    return [r.key for r in results]


# -- Typeform ----------------------------------------------------------------------------------


def test_the_recorded_typeform_page_parses_into_items_keyed_by_form_and_response_id() -> None:
    body = json.loads(_reference("typeform/responses_items_airbyte_test_account.json").read_text())
    script = Script([({"page_size": "1000"}, httpx.Response(200, json=body["response"]["body"]))])
    with _client(script) as client:
        results = list(client.list_responses(FORM, since=None))
    script.assert_done()
    assert _keys(results) == [
        f"{FORM}:fr2wm964fnyxpdx9a8tfr2wmlph34hqi",
        f"{FORM}:w9yrjygpz00o1vop20h68tlw9yriwyqr",
        f"{FORM}:x9ege1s9u758nla0bx9ege1bg63u7daz",
    ]
    assert all(isinstance(r, Item) for r in results)
    first = results[0]
    assert isinstance(first, Item)
    assert first.model.submitted_at == datetime(2022, 11, 8, 22, 0, 24, tzinfo=UTC)
    assert first.payload["form_id"] == "VWO7mLtl"  # the raw payload is kept as it came


def test_pages_follow_the_before_token_of_the_last_response_until_a_short_page() -> None:
    since = {"page_size": "2", "since": "2026-09-17T12:00:00"}  # the watermark minus 3 days
    script = Script(
        [
            (since, _page(_response("r5"), _response("r4"), total=5)),
            ({**since, "before": "r4"}, _page(_response("r3"), _response("r2"), total=5)),
            ({**since, "before": "r2"}, _page(_response("r1"), total=5)),
        ]
    )
    with _client(script, min_interval_s=0) as client:
        results = list(client.list_responses(FORM, since=WATERMARK, page_size=2))
    script.assert_done()
    assert _keys(results) == [f"{FORM}:r{n}" for n in (5, 4, 3, 2, 1)]
    assert all("sort" not in r.url.params for r in script.requests)


def test_until_is_sent_and_a_full_last_page_costs_one_empty_request() -> None:
    until = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)
    params = {"page_size": "1", "until": "2026-09-30T23:59:59"}
    script = Script([(params, _page(_response("r1"))), ({**params, "before": "r1"}, _page())])
    with _client(script, min_interval_s=0) as client:
        results = list(client.list_responses(FORM, since=None, until=until, page_size=1))
    script.assert_done()
    assert _keys(results) == [f"{FORM}:r1"]


def test_a_response_listed_again_on_a_later_page_is_yielded_once() -> None:
    old = _response("old")
    old.pop("response_id")  # older responses carry only the token
    params = {"page_size": "2", "since": "2026-09-17T12:00:00"}
    script = Script(
        [
            (params, _page(_response("r3"), _response("r2"))),
            # A late response moved the page boundary: r2 comes again.
            ({**params, "before": "r2"}, _page(_response("r2"), old)),
            ({**params, "before": "old"}, _page(old)),
        ]
    )
    with _client(script, min_interval_s=0) as client:
        results = list(client.list_responses(FORM, since=WATERMARK, page_size=2))
    script.assert_done()
    assert _keys(results) == [f"{FORM}:r3", f"{FORM}:r2", f"{FORM}:old"]


def test_a_before_token_that_does_not_advance_is_an_error() -> None:
    params = {"page_size": "2"}
    same = _page(_response("r2"), _response("r1"))
    script = Script([(params, same), ({**params, "before": "r1"}, same)])
    with _client(script, min_interval_s=0) as client, pytest.raises(SourceError, match="before"):
        list(client.list_responses(FORM, since=None, page_size=2))
    script.assert_done()


def test_a_malformed_response_is_rejected_with_its_reason_and_the_rest_go_on() -> None:
    no_ids = _response("lost")
    del no_ids["token"], no_ids["response_id"]
    script = Script(
        [
            (
                {"page_size": "1000"},
                _page(
                    _response("bad", submitted_at="31/12/2026 25:00"),
                    no_ids,
                    _response("good"),
                ),
            )
        ]
    )
    with _client(script) as client:
        results = list(client.list_responses(FORM, since=None))
    script.assert_done()
    bad, lost, good = results
    assert isinstance(bad, Rejection) and bad.key == f"{FORM}:bad"
    assert "submitted_at" in bad.reason
    assert isinstance(lost, Rejection) and lost.key == f"{FORM}:page 1 item 2"
    assert "response_id" in lost.reason
    assert isinstance(good, Item) and good.key == f"{FORM}:good"


def test_a_429_waits_for_retry_after_without_sleeping_for_real() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "7"}, json={"code": "RATE_LIMITED"})
    params = {"page_size": "1000"}
    script = Script([(params, limited), (params, _page(_response("r1")))])
    clock = FakeClock()
    with _client(script, clock) as client:
        results = list(client.list_responses(FORM, since=None))
        assert client.stats.rate_limited == 1
    script.assert_done()
    assert _keys(results) == [f"{FORM}:r1"]
    assert clock.sleeps == [7.0]  # the 7 s wait already spaces the retry: no extra pacing


def test_requests_are_paced_to_two_a_second_with_the_injected_clock() -> None:
    params = {"page_size": "1"}
    script = Script(
        [
            (params, _page(_response("r2"))),
            ({**params, "before": "r2"}, _page(_response("r1"))),
            ({**params, "before": "r1"}, _page()),
        ]
    )
    clock = FakeClock()
    with _client(script, clock) as client:
        list(client.list_responses(FORM, since=None, page_size=1))
    script.assert_done()
    assert clock.sleeps == [0.5, 0.5]


def test_a_refused_token_names_the_variable_never_the_token_and_is_not_retried() -> None:
    script = Script([({"page_size": "1000"}, httpx.Response(401, json={"code": "AUTH"}))])
    with _client(script) as client, pytest.raises(AuthError) as raised:
        list(client.list_responses(FORM, since=None))
    script.assert_done()
    assert "TYPEFORM_TOKEN" in str(raised.value)
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": datetime(2026, 9, 1)}, "time zone"),
        ({"since": None, "page_size": 1001}, "page_size"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(kwargs: dict, message: str) -> None:
    script = Script([])
    with _client(script) as client, pytest.raises(ValueError, match=message):
        list(client.list_responses(FORM, **kwargs))
    assert script.requests == []


# -- Google Forms ------------------------------------------------------------------------------

HEADER = [
    "Timestamp",
    "Email Address",
    "How easy is it to get started?",
    "What blocks you most?",
    "What would you improve?",
]


def _write(
    path: Path, rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8"
) -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _items(results: list[Item[Any] | Rejection]) -> list[Item[Any]]:
    assert all(isinstance(r, Item) for r in results), [
        r.reason for r in results if isinstance(r, Rejection)
    ]
    return [r for r in results if isinstance(r, Item)]


def test_the_real_sheet_export_is_read_in_the_configured_zone() -> None:
    path = _reference("googleforms/form_responses_sheet_export_real.csv")
    items = _items(list(read_exports(str(path), zone="America/New_York")))
    assert len(items) == 5
    # 9/6/2018 0:06:16 in New York (EDT, UTC-4) is 04:06:16 UTC.
    assert {i.model.submitted_at for i in items} == {datetime(2018, 9, 6, 4, 6, 16, tzinfo=UTC)}
    assert [i.model.answers["Full Name"] for i in items][:2] == ["Bob", "Bernadette Melugin"]
    assert len({i.key for i in items}) == 5  # same second, different answers: distinct keys


def test_an_excel_resave_with_semicolons_in_cp1252_is_read_and_noted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(
        tmp_path / "Form Responses 1.csv",
        [
            HEADER,
            ["9/14/2026 9:05:00", "rené@example.com", "4", "Flaky CI, Test environments", "€ café"],
            ["9/14/2026 17:30:59", "", "2", "Access requests", "a; b, and c"],
        ],
        delimiter=";",
        encoding="cp1252",
    )
    with caplog.at_level(logging.WARNING, logger="connectors.googleforms"):
        items = _items(list(read_exports(str(path), zone="Europe/Berlin")))
    assert "cp1252" in caplog.text
    first, second = (i.model for i in items)
    assert first.submitted_at == datetime(2026, 9, 14, 7, 5, tzinfo=UTC)  # CEST, UTC+2
    assert first.email == "rené@example.com"
    assert first.answers["What blocks you most?"] == ["Flaky CI", "Test environments"]
    assert first.answers["What would you improve?"] == "€ café"
    assert second.email is None
    assert second.answers["What blocks you most?"] == ["Access requests"]
    assert second.answers["What would you improve?"] == "a; b, and c"  # free text is not split


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("email_column", ["Email Address", "Email address"])
def test_every_delimiter_and_both_email_spellings_are_read(
    tmp_path: Path, delimiter: str, email_column: str
) -> None:
    header = ["Timestamp", email_column, "What blocks you most?", "What would you improve?"]
    row = ["1/2/2026 8:00:00", "ada@example.com", "Flaky CI, Access requests", "Docs, please"]
    path = _write(tmp_path / "export.csv", [header, row], delimiter=delimiter)
    (item,) = _items(list(read_exports(str(path), zone="UTC")))
    assert item.model.email == "ada@example.com"
    assert item.model.answers == {
        "What blocks you most?": ["Flaky CI", "Access requests"],
        "What would you improve?": "Docs, please",
    }


def test_checkbox_columns_come_from_the_survey_config(tmp_path: Path) -> None:
    header = ["Timestamp", "Which tools do you use?", "What blocks you most?"]
    path = _write(tmp_path / "e.csv", [header, ["1/2/2026 8:00:00", "CI, CD", "Flaky CI, Docs"]])
    (item,) = _items(
        list(read_exports(str(path), zone="UTC", checkbox_columns=["Which tools do you use?"]))
    )
    assert item.model.answers == {
        "Which tools do you use?": ["CI", "CD"],
        "What blocks you most?": "Flaky CI, Docs",
    }


def test_malformed_rows_are_rejected_with_the_file_and_row(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "export.csv",
        [
            HEADER,
            ["2026-09-14 09:05", "a@example.com", "4", "", ""],
            ["", "b@example.com", "3", "", ""],
            ["9/14/2026 9:05:00", "c@example.com", "5", "", "", "a stray cell"],
            ["9/14/2026 9:06:00", "d@example.com", "5", "", ""],
        ],
    )
    results = list(read_exports(str(path), zone="UTC"))
    assert [type(r).__name__ for r in results] == ["Rejection", "Rejection", "Rejection", "Item"]
    unparseable, missing, stray = (r for r in results if isinstance(r, Rejection))
    assert unparseable.key == "export.csv:1"
    assert unparseable.reason.startswith("export.csv: row 1")
    assert "does not match the sheet format" in unparseable.reason
    assert missing.key == "export.csv:2" and "no 'Timestamp' value" in missing.reason
    assert stray.key == "export.csv:3" and "more cells than the header" in stray.reason
    assert stray.payload is not None  # the raw row is kept for the rejected table


def test_a_reexport_with_more_rows_under_another_name_keeps_the_old_rows_keys(
    tmp_path: Path,
) -> None:
    rows = [
        ["9/14/2026 9:05:00", "a@example.com", "4", "Flaky CI, Access requests", "More docs"],
        ["9/14/2026 9:06:00", "b@example.com", "2", "Access requests", ""],
    ]
    later_row = ["9/15/2026 10:00:00", "c@example.com", "5", "", "Nothing"]
    first = _write(tmp_path / "export.csv", [HEADER, *rows])
    second = _write(
        tmp_path / "Form Responses 1 (2).csv",
        [HEADER, *rows, later_row],
        delimiter=";",
        encoding="cp1252",
    )
    old = {i.key for i in _items(list(read_exports(str(first), zone="UTC")))}
    new = {i.key for i in _items(list(read_exports(str(second), zone="UTC")))}
    assert len(old) == 2 and len(new) == 3
    assert old < new


def test_identical_rows_of_one_file_get_distinct_keys_and_the_email_is_not_hashed(
    tmp_path: Path,
) -> None:
    same = ["9/14/2026 9:05:00", "a@example.com", "4", "Flaky CI", "Docs"]
    other_person = ["9/14/2026 9:05:00", "z@example.com", "4", "Flaky CI", "Docs"]
    path = _write(tmp_path / "export.csv", [HEADER, same, same, other_person])
    keys = [i.key for i in _items(list(read_exports(str(path), zone="UTC")))]
    base = keys[0]
    assert keys == [base, f"{base}#2", f"{base}#3"]
    assert "@" not in base


def test_a_file_without_a_timestamp_column_is_rejected_as_a_whole(tmp_path: Path) -> None:
    path = _write(tmp_path / "notes.csv", [["Name", "Note"], ["Ada", "hello"]])
    (rejection,) = list(read_exports(str(path), zone="UTC"))
    assert isinstance(rejection, Rejection)
    assert rejection.key == "notes.csv:0"
    assert "no 'Timestamp' column" in rejection.reason


def test_no_matching_export_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="PAVED_SURVEY_CSV"):
        list(read_exports(str(tmp_path / "*.csv"), zone="UTC"))


def test_an_unknown_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        list(read_exports(str(tmp_path / "*.csv"), zone="Mars/Olympus"))


# -- against the sandbox -------------------------------------------------------------------------


def _sandbox_client(sb: Any, sleeps: list[float]) -> TypeformClient:
    env = sb.env()
    return TypeformClient(env["TYPEFORM_API_URL"], token=env["TYPEFORM_TOKEN"], sleep=sleeps.append)


def _visible(sb: Any, form_id: str) -> set[str]:
    now = sb.world.now_ts
    rows = sb.world.query(
        "SELECT response_id FROM typeform_responses WHERE form_id = ? AND submitted_at <= ? "
        "AND visible_at <= ?",
        (form_id, now, now),
    )
    return {response_id for (response_id,) in rows}


def test_every_typeform_response_visible_at_the_clock_comes_once(sandbox: Any) -> None:
    forms = sandbox.env()["TYPEFORM_FORM_IDS"].split(",")
    assert forms
    sleeps: list[float] = []
    with _sandbox_client(sandbox, sleeps) as client:
        for form_id in forms:
            results = list(client.list_responses(form_id, since=None, page_size=7))
            items = _items(results)
            keys = [i.key for i in items]
            assert len(keys) == len(set(keys))
            assert {i.model.response_id for i in items} == _visible(sandbox, form_id)
    paths = [target for _method, target in sandbox.servers["typeform"].requests]
    assert len(paths) > len(forms)  # pages of 7 were followed
    assert all("sort=" not in target for target in paths)


def test_a_late_typeform_response_is_caught_by_the_reread_window(sandbox: Any) -> None:
    late = sandbox.world.query(
        "SELECT form_id, response_id, submitted_at, visible_at FROM typeform_responses "
        "WHERE visible_at > submitted_at ORDER BY submitted_at LIMIT 1"
    )
    if not late:
        pytest.skip("this world has no late Typeform response")
    form_id, response_id, submitted_at, visible_at = late[0]
    submitted = datetime.fromisoformat(submitted_at)
    visible = datetime.fromisoformat(visible_at)
    sandbox.world.set_now(visible - timedelta(seconds=1))
    sleeps: list[float] = []
    with _sandbox_client(sandbox, sleeps) as client:
        first = _items(list(client.list_responses(form_id, since=None)))
        seen = {i.model.response_id for i in first}
        assert response_id not in seen  # Typeform does not list it yet
        watermark = max(i.model.submitted_at for i in first)
        if watermark <= submitted:
            pytest.skip("no newer response was listed before the late one")
        sandbox.world.set_now(visible + timedelta(hours=1))
        again = _items(list(client.list_responses(form_id, since=watermark, reread_days=3)))
    assert response_id in {i.model.response_id for i in again}


def test_every_google_forms_row_of_the_sandbox_parses_to_what_was_answered(sandbox: Any) -> None:
    env = sandbox.env()
    items = _items(list(read_exports(env["PAVED_SURVEY_CSV"], zone=env["PAVED_SURVEY_TIMEZONE"])))
    truth = sandbox.world.query(
        "SELECT submitted_at, email, answers_json FROM survey_truth WHERE source = 'googleforms'"
    )
    assert len(items) == len(truth) > 0
    assert len({i.key for i in items}) == len(items)

    def submitted(value: datetime) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")

    got = Counter((submitted(i.model.submitted_at), i.model.email) for i in items)
    assert got == Counter((at, email) for at, email, _answers in truth)
    got_blockers = Counter(_blockers(i.model.answers.get("What blocks you most?")) for i in items)
    want_blockers = Counter(_blockers(json.loads(a).get("top_blocker")) for _t, _e, a in truth)
    assert got_blockers == want_blockers


def _blockers(value: Any) -> tuple[str, ...]:
    return tuple(value) if value else ()
