"""Configuration and the `paved` command line: every CONTRACT.md variable is read with its
default, bad values give one-line errors that never echo a secret, and `paved doctor` says in
plain words which sources are configured and reachable."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pytest

from models.settings import DEFAULT_PRODUCTION_PATTERN, Settings
from pipelines.ingest import history_start
from pipelines.marts.assets import mart_options
from pipelines.raw import open_warehouse
from pipelines.resources import PavedResource

CONTRACT_VARIABLES = [
    "PAVED_HOME",
    "GITHUB_API_URL",
    "GITHUB_TOKEN",
    "ARGOCD_URL",
    "ARGOCD_TOKEN",
    "PAGERDUTY_API_URL",
    "PAGERDUTY_TOKEN",
    "TYPEFORM_API_URL",
    "TYPEFORM_TOKEN",
    "TYPEFORM_FORM_IDS",
    "PAVED_SURVEY_CSV",
    "PAVED_SURVEY_TIMEZONE",
    "PAVED_SURVEY_CONFIG",
    "BACKSTAGE_URL",
    "BACKSTAGE_TOKEN",
    "PAVED_CATALOG_PATH",
    "PAVED_COST_PATH",
    "OPENCOST_URL",
    "PAVED_HISTORY_START",
    "PAVED_CFR_WINDOW_HOURS",
    "PAVED_SURVEY_MIN_GROUP",
    "PAVED_SURVEY_SALT",
    "PAVED_PRODUCTION_ENVS",
    "PAVED_ARGOCD_PRODUCTION_PATTERN",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_follow_the_contract(clean_env: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.home == Path(".paved")
    assert s.github_api_url == "https://api.github.com"
    assert s.pagerduty_api_url == "https://api.pagerduty.com"
    assert s.typeform_api_url == "https://api.typeform.com"
    assert s.survey_timezone == "UTC"
    assert s.cfr_window_hours == 24
    assert s.survey_min_group == 5
    assert s.production_envs == ["production", "prod"]
    assert s.argocd_production_pattern == DEFAULT_PRODUCTION_PATTERN
    assert s.collection_start(date(2026, 11, 26)) == date(2025, 11, 26)
    assert not any(source.configured for source in s.sources() if source.name != "github")


def test_without_paved_history_start_the_history_starts_where_the_first_run_did(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn = open_warehouse(tmp_path / "warehouse.duckdb")
    unset = Settings()
    first = history_start(conn, unset)
    assert first == unset.collection_start()  # 365 days before the first run
    # Later runs, whose own default would be later, keep the first run's day: the marts'
    # window does not drop a day each run.
    clean_env.setattr(Settings, "collection_start", lambda self: first + timedelta(days=30))
    assert history_start(conn, unset) == first
    midnight = datetime.combine(first, time(0), UTC)
    paved = PavedResource(home=str(tmp_path), window_to="2026-11-01")
    assert paved.window(unset, conn).start == midnight
    assert mart_options(paved, unset, conn).history_start == midnight
    # A re-backfill collects from its --from; the marts keep the history's start.
    backfill = PavedResource(home=str(tmp_path), window_from="2026-10-01")
    assert backfill.window(unset, conn).start == datetime(2026, 10, 1, tzinfo=UTC)
    assert mart_options(backfill, unset, conn).history_start == midnight
    # PAVED_HISTORY_START set wins; unset again, the first run's day is back.
    clean_env.setenv("PAVED_HISTORY_START", "2026-03-01")
    assert history_start(conn, Settings()) == date(2026, 3, 1)
    clean_env.delenv("PAVED_HISTORY_START")
    assert history_start(conn, Settings()) == first


def test_the_first_run_keeps_paved_history_start_as_the_historys_start(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn = open_warehouse(tmp_path / "warehouse.duckdb")
    clean_env.setenv("PAVED_HISTORY_START", "2025-06-01")
    assert history_start(conn, Settings()) == date(2025, 6, 1)
    clean_env.delenv("PAVED_HISTORY_START")  # unset after the first run: the history stays
    assert history_start(conn, Settings()) == date(2025, 6, 1)


def test_every_contract_variable_is_read_from_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    values = {
        "PAVED_HOME": "/srv/paved",
        "GITHUB_API_URL": "https://ghe.example/api/v3/",
        "GITHUB_TOKEN": "ghp_x",
        "ARGOCD_URL": "https://argo.example",
        "ARGOCD_TOKEN": "a",
        "PAGERDUTY_API_URL": "https://pd.example",
        "PAGERDUTY_TOKEN": "p",
        "TYPEFORM_API_URL": "https://tf.example",
        "TYPEFORM_TOKEN": "t",
        "TYPEFORM_FORM_IDS": "abc, def",
        "PAVED_SURVEY_CSV": "exports/*.csv",
        "PAVED_SURVEY_TIMEZONE": "Europe/Berlin",
        "PAVED_SURVEY_CONFIG": "survey.yaml",
        "BACKSTAGE_URL": "https://bs.example",
        "BACKSTAGE_TOKEN": "b",
        "PAVED_CATALOG_PATH": "catalog/**/*.yaml",
        "PAVED_COST_PATH": "focus/*.parquet",
        "OPENCOST_URL": "http://opencost:9003",
        "PAVED_HISTORY_START": "2025-01-01",
        "PAVED_CFR_WINDOW_HOURS": "12",
        "PAVED_SURVEY_MIN_GROUP": "7",
        "PAVED_SURVEY_SALT": "pepper",
        "PAVED_PRODUCTION_ENVS": "live,prod",
        "PAVED_ARGOCD_PRODUCTION_PATTERN": "-live$",
    }
    assert set(values) == set(CONTRACT_VARIABLES)
    for name, value in values.items():
        clean_env.setenv(name, value)
    s = Settings()
    assert s.home == Path("/srv/paved")
    assert s.github_api_url == "https://ghe.example/api/v3"
    assert s.typeform_form_ids == ["abc", "def"]
    assert s.production_envs == ["live", "prod"]
    assert s.history_start == date(2025, 1, 1)
    assert (s.cfr_window_hours, s.survey_min_group) == (12, 7)
    assert s.survey_salt is not None and s.survey_salt.get_secret_value() == "pepper"
    assert all(source.configured for source in s.sources())


def test_a_dotenv_file_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PAVED_SURVEY_MIN_GROUP=9\nTYPEFORM_FORM_IDS=x,y\n")
    assert Settings().survey_min_group == 9
    assert Settings().typeform_form_ids == ["x", "y"]


def test_secrets_never_show_in_the_settings_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GITHUB_TOKEN", "ghp_supersecret")
    assert "ghp_supersecret" not in repr(Settings())
    assert "ghp_supersecret" not in str(Settings().model_dump())


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PAVED_SURVEY_TIMEZONE", "Mars/Olympus", "unknown IANA time zone"),
        ("PAVED_ARGOCD_PRODUCTION_PATTERN", "(prod", "not a regular expression"),
        ("PAVED_CFR_WINDOW_HOURS", "0", "greater than 0"),
        ("PAVED_HISTORY_START", "last tuesday", "PAVED_HISTORY_START"),
    ],
)
def test_a_bad_value_is_a_one_line_error_naming_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    result = run_paved(["doctor"], {name: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paved: error:") and expected in lines[0]
    assert "Traceback" not in result.stderr


def test_doctor_says_what_is_missing_and_skips_unconfigured_sources(tmp_path: Path) -> None:
    result = run_paved(["doctor"], {"PAVED_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "argocd" in result.stderr and "set ARGOCD_URL and ARGOCD_TOKEN" in result.stderr


def test_doctor_reports_an_unreachable_source_without_its_token(tmp_path: Path) -> None:
    env = {
        "PAVED_HOME": str(tmp_path),
        "ARGOCD_URL": "http://127.0.0.1:9",
        "ARGOCD_TOKEN": "argo-secret-123",
    }
    result = run_paved(["doctor"], env)
    assert result.returncode == 2
    assert "FAIL argocd" in result.stderr and "unreachable" in result.stderr
    assert "argo-secret-123" not in result.stderr + result.stdout


def run_paved(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", "from pipelines.cli import main; main()", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(env.get("PAVED_HOME", ".")).parent if "PAVED_HOME" in env else None,
    )


def test_doctor_fails_a_configured_survey_without_its_salt(tmp_path: Path) -> None:
    csv = tmp_path / "answers.csv"
    csv.write_text("Timestamp\n9/6/2018 0:06:16\n")
    result = run_paved(["doctor"], {"PAVED_HOME": str(tmp_path), "PAVED_SURVEY_CSV": str(csv)})
    assert result.returncode == 2
    assert "FAIL googleforms" in result.stderr and "set PAVED_SURVEY_SALT" in result.stderr


def test_doctor_says_where_the_history_starts(tmp_path: Path) -> None:
    result = run_paved(["doctor"], {"PAVED_HOME": str(tmp_path)})
    assert "history: no warehouse yet: a first run collects from" in result.stderr
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA raw")
        conn.execute(
            "CREATE TABLE raw.state (source VARCHAR, scope VARCHAR, name VARCHAR, value VARCHAR)"
        )
        conn.execute(
            "INSERT INTO raw.state VALUES ('paved', '', 'history_start', '\"2025-03-01\"')"
        )
    result = run_paved(["doctor"], {"PAVED_HOME": str(tmp_path)})
    assert "history: from 2025-03-01 (kept since the warehouse's first run)" in result.stderr
    env = {"PAVED_HOME": str(tmp_path), "PAVED_HISTORY_START": "2025-06-01"}
    result = run_paved(["doctor"], env)
    assert "history: from 2025-06-01 (PAVED_HISTORY_START)" in result.stderr
    # A run holding the warehouse: said, not waited for.
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")):
        result = run_paved(["doctor"], {"PAVED_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "history: not known now: a run holds the warehouse" in result.stderr
