"""Hostile input: the corpus in tests/hostile/ sent through a whole run (raw, staging, marts,
publish) by the real protocols and files.

The corpus: PagerDuty incidents and Typeform responses (``*.json``: each case a change to a
real item, served by the sandbox in place of the first items of a listing), catalog files (a
billion-laughs bomb, duplicate keys, a Python tag) and Google Forms exports (cp1252 with `;`,
formulas in answers, bad rows, a file that is not an export). Malformed and zone-less
timestamps, numbers for timestamps, missing and extra fields, wrong types, a 10 MB title,
emoji, right-to-left overrides and NUL bytes, a negative duration, future dates, one id with two
contents, unknown enum values, survey text starting with `=`, `+`, `-` or `@`.

Pinned down here: the run succeeds and publishes; every case ends as its corpus entry says,
rejected with a reason naming the field, or loaded (an id sent twice in one listing keeps its
first copy, as PagerDuty's connector documents); every source accounts for every record
(fetched = loaded + rejected + unmapped) and fetched counts every hostile item; a future date
does not move a watermark past the run (it would hide everything before it next time); survey
free text, formulas included, reaches no published table.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest
from reliability_harness import (
    RECENT,
    failed_steps,
    pointed_at,
    published_path,
    run_all,
    warehouse_path,
)

from sandbox.servers import Sandbox
from sandbox.world.store import World

HOSTILE = Path(__file__).with_name("hostile")
CORPORA = sorted(HOSTILE.glob("*.json"))
# Google Forms rows: the answer to "What would you improve?" -> what becomes of the row.
CSV_ROWS = {
    "Café au lait, s'il vous plaît": "loaded",
    "=1+1": "loaded",
    "+SUM(A1:A9)": "loaded",
    "-10+20": "loaded",
    "@cmd": "loaded",
    "a malformed timestamp": "rejected",
    "an ISO timestamp, not the sheet's": "rejected",
    "a score as a word": "loaded",
}
CATALOG = {  # key of the document (file#index, or its entity ref) -> outcome and reason
    "billion-laughs.yaml#1": ("rejected", "alias"),
    "duplicate-keys.yaml#1": ("rejected", "duplicate"),
    "component:default/hostile-after-duplicate": ("loaded", ""),
    "duplicate-keys.yaml#3": ("rejected", "python"),
}


def corpus(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def hostile_count() -> int:
    """How many hostile inputs the corpus holds (the README quotes it)."""
    api = sum(len(corpus(path)["cases"]) for path in CORPORA)
    files = len(list((HOSTILE / "googleforms").glob("*.csv")))
    return api + len(CSV_ROWS) + len(CATALOG) + files


# -- building the hostile items ------------------------------------------------------------------
def value_of(spec: Any) -> Any:
    if isinstance(spec, dict) and "$repeat" in spec:
        return spec["$repeat"] * spec["times"]
    return spec


def walk(item: Any, path: str) -> tuple[Any, str | int]:
    *parents, last = path.split(".")
    for part in parents:
        item = item[int(part)] if isinstance(item, list) else item.setdefault(part, {})
    return item, int(last) if isinstance(item, list) else last


def hostile_item(
    base: dict[str, Any], case: dict[str, Any], key: str | list[str], marker: str
) -> dict:
    item = copy.deepcopy(base)
    for path in [key] if isinstance(key, str) else key:
        holder, name = walk(item, path)
        holder[name] = f"hostile-{case['index']:02d}"
    holder, name = walk(item, marker)
    holder[name] = case["marker"]
    for path, value in case.get("set", {}).items():
        holder, name = walk(item, path)
        holder[name] = value_of(value)
    for path, value in case.get("append", {}).items():
        holder, name = walk(item, path)
        holder[name].append(value)
    for path in case.get("drop", []):
        holder, name = walk(item, path)
        del holder[name]
    return item


def first_item(sandbox: Sandbox, server: str) -> dict[str, Any]:
    """A real item of the listing, to change (the sandbox's environment must be set)."""
    env, url = sandbox.env(), sandbox.servers[server].url
    if server == "pagerduty":  # one the run asks for: created since PAVED_HISTORY_START
        headers = {"Authorization": f"Token token={env['PAGERDUTY_TOKEN']}"}
        params = {"limit": 1, "since": f"{RECENT}T00:00:00Z"}
        body = httpx.get(f"{url}/incidents", params=params, headers=headers).json()
        return body["incidents"][0]
    form = env["TYPEFORM_FORM_IDS"].split(",")[0]
    headers = {"Authorization": f"Bearer {env['TYPEFORM_TOKEN']}"}
    body = httpx.get(f"{url}/forms/{form}/responses", params={"page_size": 1}, headers=headers)
    return body.json()["items"][0]


# -- the run -------------------------------------------------------------------------------------
@dataclass
class Run:
    home: Path
    result: dg.ExecuteInProcessResult
    cases: dict[str, list[dict[str, Any]]]  # corpus name -> its cases, with index and marker
    until: str  # the end of the run's window (exclusive: the day after --to)


@pytest.fixture(scope="module")
def run(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("hostile")
    home, exports = root / "home", root / "exports"
    exports.mkdir()
    world = World(small_world)
    for path in [*world.files("googleforms"), *(HOSTILE / "googleforms").glob("*.csv")]:
        shutil.copy(path, exports / path.name)
    cases: dict[str, list[dict[str, Any]]] = {}
    with Sandbox(world) as sandbox, pointed_at(sandbox, home) as to:
        for number, path in enumerate(CORPORA):
            spec = corpus(path)
            base = first_item(sandbox, spec["server"])
            cases[path.stem] = []
            for index, case in enumerate(spec["cases"]):
                case = {
                    **case,
                    "index": number * 100 + index,
                    "marker": f"<hostile case {path.stem} #{index:02d}>",
                }
                item = hostile_item(base, case, spec["key"], spec["marker"])
                sandbox.servers[spec["server"]].faults.hostile.append((spec["path"], item))
                cases[path.stem].append(case)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PAVED_CATALOG_PATH", str(HOSTILE / "catalog" / "*.yaml"))
            mp.setenv("PAVED_SURVEY_CSV", str(exports / "*.csv"))
            result = run_all(home, to)
        for server in sandbox.servers.values():
            assert not server.faults.hostile, "a hostile item was never served"
    end = date.fromisoformat(to) + timedelta(days=1)
    yield Run(home, result, cases, f"{end.isoformat()}T00:00:00Z")


def query(run: Run, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse_path(run.home)), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def test_the_run_succeeds_and_publishes(run: Run) -> None:
    assert run.result.success, failed_steps(run.result)
    assert published_path(run.home).is_file()


def test_every_source_accounts_for_every_record(run: Run) -> None:
    rows = query(
        run,
        "SELECT source, fetched, loaded, rejected, unmapped FROM raw.ingest_runs WHERE run_id = ?",
        [run.result.run_id],
    )
    assert len(rows) >= 8
    for source, fetched, loaded, rejected, unmapped in rows:
        assert fetched == loaded + rejected + unmapped, source


@pytest.mark.parametrize("name", [path.stem for path in CORPORA])
def test_every_api_case_ends_as_its_corpus_says(run: Run, name: str) -> None:
    spec = corpus(HOSTILE / f"{name}.json")
    source = spec["server"]
    wrong = []
    for case in run.cases[name]:
        marker = case["marker"]
        rejected = query(
            run,
            "SELECT reason FROM raw.rejected WHERE source = ? AND contains(payload::VARCHAR, ?)",
            [source, marker],
        )
        loaded = query(
            run,
            f"SELECT key FROM raw.{spec['table']} WHERE contains(payload::VARCHAR, ?)",
            [marker],
        )
        expect = case["expect"]
        if expect == "rejected":
            ok = len(rejected) == 1 and not loaded and case["reason"] in rejected[0][0]
        elif expect == "loaded":
            ok = len(loaded) == 1 and not rejected
        else:  # "duplicate": the second copy of an id; the first is kept
            ok = not loaded and not rejected
        if not ok:
            wrong.append(f"{case['name']}: expected {expect}, got {rejected=} {loaded=}")
    assert not wrong


def test_fetched_counts_every_hostile_item(run: Run) -> None:
    for name, cases in run.cases.items():
        source = corpus(HOSTILE / f"{name}.json")["server"]
        ((fetched,),) = query(
            run,
            "SELECT fetched FROM raw.ingest_runs WHERE source = ? AND run_id = ?",
            [source, run.result.run_id],
        )
        counted = sum(case["expect"] != "duplicate" for case in cases)
        assert fetched >= counted, name


def test_an_id_sent_twice_keeps_its_first_copy(run: Run) -> None:
    rows = query(
        run, "SELECT payload->>'title' FROM raw.pagerduty_incidents WHERE key = 'PHOSTILESAME'"
    )
    assert rows == [("first copy",)]


def test_catalog_bomb_duplicate_keys_and_python_tags_are_rejected_with_a_reason(run: Run) -> None:
    rejected = query(run, "SELECT key, reason FROM raw.rejected WHERE source = 'backstage'")
    loaded = {key for (key,) in query(run, "SELECT key FROM raw.backstage_entities")}
    for key, (outcome, reason) in CATALOG.items():
        if outcome == "loaded":
            assert key in loaded, key
            continue
        reasons = [r for k, r in rejected if k.endswith(key)]
        assert len(reasons) == 1 and reason in reasons[0].lower(), (key, reasons)


def test_an_export_in_another_delimiter_and_encoding_is_read_row_by_row(run: Run) -> None:
    rejected = query(run, "SELECT key, reason FROM raw.rejected WHERE source = 'googleforms'")
    for improvement, outcome in CSV_ROWS.items():
        found = query(
            run,
            "SELECT count(*) FROM raw.googleforms_responses WHERE contains(payload::VARCHAR, ?)",
            [improvement],
        )[0][0]
        assert found == (1 if outcome == "loaded" else 0), improvement
    rows = [key for key, _ in rejected if key.startswith("excel-cp1252-semicolon.csv:")]
    assert len(rows) == sum(outcome == "rejected" for outcome in CSV_ROWS.values())
    header = [reason for key, reason in rejected if key == "not-an-export.csv:0"]
    assert header and "Timestamp" in header[0]


def test_a_future_date_does_not_move_a_watermark_past_the_run(run: Run) -> None:
    watermarks = query(
        run,
        "SELECT source, value::VARCHAR FROM raw.state "
        "WHERE name IN ('created_since', 'submitted_since')",
    )
    assert {source for source, _ in watermarks} >= {"pagerduty", "typeform"}
    for source, value in watermarks:
        assert json.loads(value) <= run.until, (source, value)


def test_survey_free_text_reaches_no_published_table(run: Run) -> None:
    texts = [
        case["append"]["answers"]["text"]
        for case in run.cases["typeform_responses"]
        if "append" in case
    ] + [text for text in CSV_ROWS if text[0] in "=+-@"]
    with duckdb.connect(str(published_path(run.home)), read_only=True) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE schema_name = 'marts' AND data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in columns:
            for text in texts:
                (count,) = conn.execute(
                    f'SELECT count(*) FROM marts.{table} WHERE contains("{column}", ?)', [text]
                ).fetchall()[0]
                assert count == 0, (table, column, text)


def test_the_corpus_holds_every_kind_of_hostile_input() -> None:
    names = " ".join(case["name"] for path in CORPORA for case in corpus(path)["cases"])
    for kind in (
        "malformed timestamp",
        "zone-less",
        "missing field",
        "extra fields",
        "wrong type",
        "10 MB",
        "emoji",
        "right-to-left",
        "NUL",
        "negative duration",
        "future date",
        "same id",
        "unknown enum",
        "starting with =",
        "starting with +",
        "starting with -",
        "starting with @",
    ):
        assert kind in names, kind
    assert hostile_count() >= 45
