"""The sandbox's survey and cost generators: reproducible, and full of what real exports do.

Surveys: Google Forms quarters come before Typeform quarters; the CSV exports use the sheet's
locale timestamp (no offset) and both spellings of the email column; Typeform answers have the
API's shape and some responses are listed late; the tiny team never reaches the anonymity
threshold; contractors, anonymous respondents and formula-injection probes are there; and
``survey_truth`` agrees with what each tool shows.

Costs: FOCUS 1.0 CSV months precede FOCUS 1.2 Parquet months, each with its version's columns;
ids are strings with leading zeros; USD and EUR sub-accounts; commitment-covered rows whose billed
and effective costs differ; service-tagged, team-only and untagged rows; one row per service,
cost line and whole UTC day; OpenCost rows for Argo CD services plus ``__idle__`` and
``__unallocated__``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from models.sources.focus import FOCUS_ROW
from models.sources.googleforms import parse_sheet_row
from models.sources.typeform import RESPONSE, answer_value
from sandbox.scales import DEFAULT_END, SCALES
from sandbox.world.catalog import Catalog, build_catalog
from sandbox.world.costs import generate_costs
from sandbox.world.surveys import BLOCKERS, DEPLOY_TIMES, QUESTIONS, generate_surveys

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads"
DAY = 86_400
END = int(DEFAULT_END.timestamp())
TZ = "Europe/Berlin"
# Four survey quarters (two Google Forms files, so both email spellings, and two Typeform
# forms) and fourteen cost months.
SPAN_DAYS = 400
SCALE = SCALES["small"]
KEYS = {key for key, *_ in QUESTIONS} - {"team"}
TITLE_TO_KEY = {title: key for key, title, *_ in QUESTIONS}
SERVICE_TAG_KEYS = ("backstage.io/component", "service", "app")


@dataclass
class Run:
    root: Path
    cat: Catalog
    start: int
    horizon: int
    files: list[tuple[str, str]]
    rows: dict[str, list[tuple]]
    batch_sizes: list[int]


def generate(root: Path, *, seed: int = 7, days: int = SPAN_DAYS) -> Run:
    cat = build_catalog(SCALE, random.Random(1))
    start, horizon = END - days * DAY, END + SCALE.future_days * DAY
    rows: dict[str, list[tuple]] = defaultdict(list)
    sizes: list[int] = []

    def write(table: str, batch: list[tuple]) -> None:
        rows[table].extend(batch)
        sizes.append(len(batch))

    files = generate_surveys(
        cat,
        SCALE,
        seed=seed,
        start=start,
        end=END,
        horizon=horizon,
        timezone=TZ,
        root=root,
        write=write,
    )
    files += generate_costs(
        cat, SCALE, seed=seed, start=start, end=END, horizon=horizon, root=root, write=write
    )
    return Run(root, cat, start, horizon, files, dict(rows), sizes)


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return generate(tmp_path_factory.mktemp("world"))


def files_of(world: Run, kind: str, suffix: str = "") -> list[Path]:
    return [world.root / p for p, k in sorted(world.files) if k == kind and p.endswith(suffix)]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def truth(world: Run, source: str | None = None) -> list[dict[str, Any]]:
    names = ("source", "response_id", "quarter", "submitted_at", "email", "team", "answers")
    out: list[dict[str, Any]] = [
        dict(zip(names, row, strict=True)) for row in world.rows["survey_truth"]
    ]
    for r in out:
        r["answers"] = json.loads(r["answers"])
    return [r for r in out if source in (None, r["source"])]


def typeform_responses(world: Run) -> list[dict[str, Any]]:
    names = (
        "form_id",
        "response_id",
        "token",
        "landed_at",
        "submitted_at",
        "visible_at",
        "answers",
        "hidden",
    )
    out: list[dict[str, Any]] = [
        dict(zip(names, row, strict=True)) for row in world.rows["typeform_responses"]
    ]
    for r in out:
        r["answers"] = json.loads(r["answers"])
        r["hidden"] = json.loads(r["hidden"])
    return out


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def focus(world: Run) -> list[dict[str, Any]]:
    """Every FOCUS row of every file, CSV cells as read (strings) and Parquet values normalised
    to the same text, with the file it came from."""
    rows: list[dict[str, Any]] = []
    for path in files_of(world, "focus"):
        if path.suffix == ".csv":
            for row in read_csv(path):
                rows.append({**row, "_file": path.name})
        else:
            for row in pq.read_table(path).to_pylist():
                norm = {
                    k: (
                        v.strftime("%Y-%m-%dT%H:%M:%SZ")
                        if isinstance(v, datetime)
                        else ""
                        if v is None
                        else str(v)
                    )
                    for k, v in row.items()
                }
                rows.append({**norm, "_file": path.name})
    return rows


def tags(row: dict[str, Any]) -> dict[str, str] | None:
    return json.loads(row["Tags"]) if row["Tags"] else None


# -- determinism -----------------------------------------------------------------------------
def test_the_same_seed_writes_the_same_bytes_and_rows(world: Run, tmp_path: Path) -> None:
    again = generate(tmp_path)
    assert again.files == world.files
    assert digest(tmp_path) == digest(world.root)
    assert again.rows == world.rows


def test_another_seed_writes_other_answers_and_costs(world: Run, tmp_path: Path) -> None:
    other = generate(tmp_path, seed=8)
    assert other.rows["survey_truth"] != world.rows["survey_truth"]
    assert other.rows["opencost"] != world.rows["opencost"]
    first_focus = files_of(world, "focus")[0].name
    assert (
        digest(tmp_path)[f"exports/focus/{first_focus}"]
        != digest(world.root)[f"exports/focus/{first_focus}"]
    )


def test_rows_reach_the_writer_in_batches_of_at_most_ten_thousand(tmp_path: Path) -> None:
    # A catalog with enough people that the survey tables exceed one batch.
    crowd = replace(SCALE, name="crowd", teams=20, services=20, members_per_team=150)
    cat = build_catalog(crowd, random.Random(1))
    sizes: Counter[str] = Counter()
    batches: list[int] = []

    def write(table: str, rows: list[tuple]) -> None:
        sizes[table] += len(rows)
        batches.append(len(rows))

    generate_surveys(
        cat,
        crowd,
        seed=7,
        start=END - SPAN_DAYS * DAY,
        end=END,
        horizon=END + DAY,
        timezone=TZ,
        root=tmp_path,
        write=write,
    )
    assert sizes["survey_truth"] > 10_000
    assert max(batches) <= 10_000


# -- surveys ---------------------------------------------------------------------------------
def test_google_forms_quarters_precede_typeform_quarters(world: Run) -> None:
    forms = sorted(p.stem for p in files_of(world, "googleforms"))
    typeform = sorted(row[2] for row in world.rows["typeform_forms"])
    assert forms == ["2025-Q3", "2025-Q4"]
    assert typeform == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert max(forms) < min(typeform)
    assert {r["quarter"] for r in truth(world, "googleforms")} == set(forms)
    assert {r["quarter"] for r in truth(world, "typeform")} == set(typeform)


def test_the_small_worlds_own_span_has_one_quarter_of_each_tool(tmp_path: Path) -> None:
    run = generate(tmp_path, days=SCALE.days)
    assert [p.stem for p in files_of(run, "googleforms")] == ["2026-Q2"]
    assert [row[2] for row in run.rows["typeform_forms"]] == ["2026-Q3"]


def test_a_survey_window_is_the_last_three_weeks_of_its_quarter(world: Run) -> None:
    for r in truth(world):
        year, q = int(r["quarter"][:4]), int(r["quarter"][-1])
        q_end = datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=UTC)
        assert q_end - timedelta(days=21) <= utc(r["submitted_at"]) < q_end


def test_google_forms_files_use_both_email_spellings_and_the_sheet_locale_time(world: Run) -> None:
    spellings = set()
    by_id = {r["response_id"]: r for r in truth(world, "googleforms")}
    zone = ZoneInfo(TZ)
    for path in files_of(world, "googleforms"):
        rows = read_csv(path)
        header = list(rows[0])
        assert header[0] == "Timestamp"
        spellings.add(header[1])
        assert header[2:] == [title for _k, title, *_ in QUESTIONS]
        for n, row in enumerate(rows, start=1):
            stamp = row["Timestamp"]
            assert re.fullmatch(r"[1-9]\d?/[1-9]\d?/\d{4} (1?\d|2[0-3]):[0-5]\d:[0-5]\d", stamp)
            local = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=zone)
            assert local.astimezone(UTC) == utc(by_id[f"{path.stem}-{n}"]["submitted_at"])
    assert spellings == {"Email Address", "Email address"}


def test_google_forms_rows_hold_what_the_truth_says_with_checkboxes_joined(world: Run) -> None:
    by_id = {r["response_id"]: r for r in truth(world, "googleforms")}
    display = {t.name: t.display_name for t in world.cat.teams}
    multi = 0
    for path in files_of(world, "googleforms"):
        for n, row in enumerate(read_csv(path), start=1):
            expected = by_id.pop(f"{path.stem}-{n}")
            email = row.get("Email Address", row.get("Email address"))
            assert email == expected["email"]
            answers = expected["answers"]
            for title, cell in list(row.items())[2:]:
                key = TITLE_TO_KEY[title]
                if key == "team":
                    assert cell in display.values()
                elif key == "top_blocker":
                    assert cell == ", ".join(answers[key])
                    multi += len(answers[key]) > 1
                else:
                    assert cell == ("" if key not in answers else str(answers[key]))
    assert not by_id  # every truth row is in a file
    assert multi > 0


def test_the_tiny_team_has_fewer_than_five_respondents_every_quarter(world: Run) -> None:
    tiny = [t.name for t in world.cat.teams if len(t.members) == 3]
    assert len(tiny) == 1
    per_quarter = Counter(r["quarter"] for r in truth(world) if r["team"] == tiny[0])
    quarters = {r["quarter"] for r in truth(world)}
    assert len(quarters) >= 4
    assert all(per_quarter[q] < 5 for q in quarters)


def test_some_typeform_responses_become_visible_one_to_three_days_late(world: Run) -> None:
    responses = typeform_responses(world)
    late = [r for r in responses if r["visible_at"] != r["submitted_at"]]
    assert late and len(late) <= 0.1 * len(responses) + len(world.rows["typeform_forms"])
    assert {r["form_id"] for r in late} == {row[0] for row in world.rows["typeform_forms"]}
    for r in late:
        delay = utc(r["visible_at"]) - utc(r["submitted_at"])
        assert timedelta(days=1) <= delay < timedelta(days=3)
        assert utc(r["visible_at"]) < datetime.fromtimestamp(world.horizon, UTC)
    for r in responses:
        assert r["token"] == r["response_id"] and len(r["token"]) == 32
        assert r["hidden"] == {}
        assert r["landed_at"] < r["submitted_at"]


def test_typeform_answers_have_the_api_shape_and_refs_equal_the_question_keys(world: Run) -> None:
    forms = {row[0]: json.loads(row[3]) for row in world.rows["typeform_forms"]}
    refs = [[f["ref"] for f in fields] for fields in forms.values()]
    assert all(
        r == ["email", "team", *sorted(KEYS, key=list(TITLE_TO_KEY.values()).index)] for r in refs
    )
    ids = [{f["id"] for f in fields} for fields in forms.values()]
    assert not set.intersection(*ids)  # each quarter is a new form: new field ids
    seen_types = set()
    for r in typeform_responses(world):
        fields = {f["id"]: f for f in forms[r["form_id"]]}
        for answer in r["answers"]:
            assert set(answer) == {"field", "type", answer["type"]}
            assert set(answer["field"]) == {"id", "type", "ref"}
            field = fields[answer["field"]["id"]]
            assert answer["field"]["ref"] == field["ref"]
            assert answer["field"]["type"] == field["type"]
            seen_types.add((field["type"], answer["type"]))
    assert seen_types == {
        ("email", "email"),
        ("multiple_choice", "choice"),
        ("multiple_choice", "choices"),
        ("opinion_scale", "number"),
        ("rating", "number"),
        ("nps", "number"),
        ("long_text", "text"),
    }


def test_typeform_responses_hold_what_the_truth_says(world: Run) -> None:
    by_id = {r["response_id"]: r for r in truth(world, "typeform")}
    display = {t.display_name: t.name for t in world.cat.teams}
    users = {email: team for email, team in world.cat.users.values()}
    mismatched = 0
    for r in typeform_responses(world):
        expected = by_id.pop(r["response_id"])
        assert expected["submitted_at"] == r["submitted_at"]
        values = {}
        for a in r["answers"]:
            value = a[a["type"]]
            values[a["field"]["ref"]] = (
                value["label"]
                if a["type"] == "choice"
                else value["labels"]
                if a["type"] == "choices"
                else value
            )
        assert values.pop("email", None) == expected["email"]
        answered_team = display[values.pop("team")]
        assert values == expected["answers"]
        if expected["email"] in users:
            assert expected["team"] == users[expected["email"]]
            mismatched += answered_team != expected["team"]
        else:  # anonymous or a contractor: the answered team is the truth
            assert expected["team"] == answered_team
    assert not by_id
    assert mismatched > 0  # someone picked a team they left: the catalog is right


def test_truth_answers_hold_ints_strings_and_lists_by_question_key(world: Run) -> None:
    teams = {t.name for t in world.cat.teams}
    for r in truth(world):
        a = r["answers"]
        assert r["team"] in teams
        assert KEYS - {"improvement"} <= set(a) <= KEYS
        assert type(a["ease_of_start"]) is int and 1 <= a["ease_of_start"] <= 5
        assert type(a["platform_satisfaction"]) is int and 1 <= a["platform_satisfaction"] <= 5
        assert type(a["platform_nps"]) is int and 0 <= a["platform_nps"] <= 10
        assert a["deploy_new_service_time"] in DEPLOY_TIMES
        assert a["top_blocker"] and set(a["top_blocker"]) <= set(BLOCKERS)
        assert isinstance(a.get("improvement", ""), str)
    assert any("improvement" not in r["answers"] for r in truth(world))  # optional: skipped


def test_free_text_has_formula_probes_emoji_and_right_to_left_text(world: Run) -> None:
    texts = [r["answers"]["improvement"] for r in truth(world) if "improvement" in r["answers"]]
    assert {t[0] for t in texts if t[0] in "=+-@"} >= {"=", "+", "-", "@"}
    assert any(any(ord(ch) >= 0x1F300 for ch in t) for t in texts)  # emoji
    assert any(any("\u0590" <= ch <= "\u06ff" for ch in t) for t in texts)  # Hebrew/Arabic
    csv_texts = [
        row["What would you improve?"]
        for p in files_of(world, "googleforms")
        for row in read_csv(p)
    ]
    assert any(t.startswith("=") for t in csv_texts)
    for quarter in {r["quarter"] for r in truth(world)}:
        assert any(
            r["answers"].get("improvement", " ")[0] in "=+-@"
            for r in truth(world)
            if r["quarter"] == quarter
        )


def test_contractors_and_anonymous_respondents_still_answer_the_team_question(world: Run) -> None:
    emails = {email for email, _team in world.cat.users.values()}
    outsiders = [r for r in truth(world) if r["email"] is not None and r["email"] not in emails]
    anonymous = [r for r in truth(world) if r["email"] is None]
    assert {r["source"] for r in outsiders} == {"googleforms", "typeform"}
    assert anonymous and {r["source"] for r in anonymous} == {"typeform"}
    anonymous_ids = {r["response_id"] for r in anonymous}
    for r in typeform_responses(world):
        if r["response_id"] in anonymous_ids:
            refs = [a["field"]["ref"] for a in r["answers"]]
            assert "team" in refs and "email" not in refs


def test_scores_follow_the_team_mood(world: Run) -> None:
    mood = {t.name: t.profile.mood for t in world.cat.teams if len(t.members) >= 5}
    scores: dict[str, list[int]] = defaultdict(list)
    for r in truth(world):
        if r["team"] in mood:
            scores[r["team"]].append(r["answers"]["platform_satisfaction"])
    happiest, gloomiest = max(mood, key=mood.__getitem__), min(mood, key=mood.__getitem__)
    mean = {t: sum(s) / len(s) for t, s in scores.items()}
    assert mean[happiest] > mean[gloomiest] + 0.3


# -- costs -----------------------------------------------------------------------------------
def reference_columns(up_to: str) -> list[str]:
    path = REF / "focus" / "focus_v1.2_columns.json"
    if not path.is_file():
        pytest.skip(f"reference payloads not found at {REF}")
    versions = ["0.5", "1.0-preview", "1.0", "1.1", "1.2"]
    allowed = versions[: versions.index(up_to) + 1]
    return [c["col"] for c in json.loads(path.read_text())["columns"] if c["intro"] in allowed]


def test_focus_months_are_csv_1_0_then_parquet_1_2_with_each_versions_columns(world: Run) -> None:
    csvs, parquets = files_of(world, "focus", ".csv"), files_of(world, "focus", ".parquet")
    assert len(csvs) == len(parquets) == 7
    assert max(p.stem for p in csvs) < min(p.stem for p in parquets)
    months = sorted(p.stem for p in csvs + parquets)
    assert months[0] == datetime.fromtimestamp(world.start, UTC).strftime("%Y-%m")
    assert months[-1] == "2026-09"
    v10, v12 = reference_columns("1.0"), reference_columns("1.2")
    assert len(v10) == 43 and len(v12) == 57
    for path in csvs:
        header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
        assert sorted(header) == sorted(v10)
    for path in parquets:
        assert sorted(pq.read_schema(path).names) == sorted(v12)


def test_focus_ids_are_strings_and_keep_their_leading_zeros(
    world: Run, focus: list[dict[str, Any]]
) -> None:
    for path in files_of(world, "focus", ".parquet"):
        schema = pq.read_schema(path)
        for col in ("BillingAccountId", "SubAccountId", "InvoiceId", "ResourceId", "SkuId"):
            assert str(schema.field(col).type) == "string"
    for col in ("BillingAccountId", "SubAccountId"):
        values = {r[col] for r in focus}
        assert all(re.fullmatch(r"\d{12}", v) for v in values)
        assert any(v.startswith("0") for v in values)
        assert {r[col] for r in focus if r["_file"].endswith(".csv")} == {
            r[col] for r in focus if r["_file"].endswith(".parquet")
        }


def test_focus_bills_usd_and_eur_one_currency_per_sub_account(focus: list[dict[str, Any]]) -> None:
    currencies: dict[str, set[str]] = defaultdict(set)
    for r in focus:
        currencies[r["SubAccountId"]].add(r["BillingCurrency"])
    assert all(len(c) == 1 for c in currencies.values())
    assert set.union(*currencies.values()) == {"USD", "EUR"}
    for kind in (".csv", ".parquet"):
        assert {r["BillingCurrency"] for r in focus if r["_file"].endswith(kind)} == {"USD", "EUR"}


def test_commitment_covered_rows_are_billed_nothing_but_cost_their_amortised_share(
    focus: list[dict[str, Any]],
) -> None:
    used = [r for r in focus if r["CommitmentDiscountStatus"] == "Used"]
    fees = [r for r in focus if r["ChargeCategory"] == "Purchase"]
    assert used and fees
    assert all(float(r["BilledCost"]) == 0 < float(r["EffectiveCost"]) for r in used)
    assert all(float(r["BilledCost"]) > 0 == float(r["EffectiveCost"]) for r in fees)
    standard = [r for r in focus if r["PricingCategory"] == "Standard"]
    assert all(r["BilledCost"] == r["EffectiveCost"] for r in standard)
    # Per sub-account and day the fee pays for exactly what the usage amortised.
    balance: dict[tuple[str, str], float] = defaultdict(float)
    for r in focus:
        cell = (r["SubAccountId"], r["ChargePeriodStart"])
        balance[cell] += float(r["BilledCost"]) - float(r["EffectiveCost"])
    assert max(abs(v) for v in balance.values()) < 0.01


def test_focus_has_service_tagged_team_only_and_untagged_rows(
    world: Run, focus: list[dict[str, Any]]
) -> None:
    services = {s.name: s.team for s in world.cat.services}
    teams = {t.name for t in world.cat.teams}
    keys_used, team_only, empty_object, no_tags = set(), 0, 0, 0
    for r in focus:
        t = tags(r)
        if t is None:
            no_tags += 1
        elif t == {}:
            empty_object += 1
        elif set(t) == {"team"}:
            assert t["team"] in teams
            team_only += 1
        else:
            (key,) = set(t) - {"team"}
            assert key in SERVICE_TAG_KEYS and services[t[key]] == t["team"]
            keys_used.add(key)
    assert keys_used == set(SERVICE_TAG_KEYS)
    assert team_only and empty_object and no_tags


def test_each_service_has_its_cost_lines_every_whole_utc_day(
    world: Run, focus: list[dict[str, Any]]
) -> None:
    per_cell: Counter[tuple[str, str]] = Counter()
    days = set()
    for r in focus:
        start, end = utc(r["ChargePeriodStart"]), utc(r["ChargePeriodEnd"])
        assert end - start == timedelta(days=1) and start.hour == start.minute == 0
        assert r["_file"].startswith(start.strftime("%Y-%m"))
        days.add(start)
        t = tags(r)
        service = next((t[k] for k in SERVICE_TAG_KEYS if t and k in t), None)
        if service:
            per_cell[(service, r["ChargePeriodStart"])] += 1
    first = datetime.fromtimestamp(world.start, UTC)
    expected_days = {first + timedelta(days=i) for i in range(SPAN_DAYS)}
    assert days == expected_days  # [start, end): closed days only
    assert len(per_cell) == len(world.cat.services) * SPAN_DAYS
    assert set(per_cell.values()) == {SCALE.cost_rows_per_service_day}


def test_opencost_rows_cover_argo_services_idle_and_unallocated_every_day(world: Run) -> None:
    argo = {s.name for s in world.cat.services if s.deploy_method.startswith("argocd")}
    by_date: dict[str, set[str]] = defaultdict(set)
    pv_nulls = 0
    for date, namespace, app, cpu, ram, pv, net, total in world.rows["opencost"]:
        assert namespace == app
        by_date[date].add(app)
        assert abs(cpu + ram + (pv or 0) + (net or 0) - total) < 1e-5
        pv_nulls += pv is None
        if app == "__idle__":
            assert net is None
    assert pv_nulls
    assert all(apps == argo | {"__idle__", "__unallocated__"} for apps in by_date.values())
    first = datetime.fromtimestamp(world.start, UTC)
    n_days = (world.horizon - world.start) // DAY
    assert sorted(by_date) == [
        (first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(n_days)
    ]


# -- the product reads it ----------------------------------------------------------------------
def test_the_products_source_models_read_every_generated_survey_and_cost_record(
    world: Run, focus: list[dict[str, Any]]
) -> None:
    by_id = {r["response_id"]: r for r in truth(world)}
    for path in files_of(world, "googleforms"):
        for n, row in enumerate(read_csv(path), start=1):
            parsed = parse_sheet_row(row, zone=TZ, checkbox_columns={"What blocks you most?"})
            expected = by_id[f"{path.stem}-{n}"]
            assert parsed.submitted_at == utc(expected["submitted_at"])
            assert parsed.answers["What blocks you most?"] == expected["answers"]["top_blocker"]
    for r in typeform_responses(world):
        parsed = RESPONSE.validate_python(
            {
                k: r[k]
                for k in ("response_id", "token", "landed_at", "submitted_at", "hidden", "answers")
            }
        )
        values = {a.field.ref: answer_value(a) for a in parsed.answers}
        expected = by_id[r["response_id"]]["answers"]
        assert {k: v for k, v in values.items() if k in KEYS} == expected
    for r in focus:
        FOCUS_ROW.validate_python({k: v for k, v in r.items() if not k.startswith("_")})
