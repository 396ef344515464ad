"""Paved's configuration: every variable of CONTRACT.md, read from the environment and `.env`.

One model, so the CLI, the Dagster resources and the dashboard agree on names and defaults.
Secrets are `SecretStr`: they print as `**********` in reprs, logs and error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PRODUCTION_PATTERN = r"(^|[-_.])prod(uction)?($|[-_.])"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """What Paved reads from its environment. Field docs are the `.env.example` comments."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    home: Path = Field(default=Path(".paved"), validation_alias=_env("PAVED_HOME"))
    github_api_url: str = Field(
        default="https://api.github.com", validation_alias=_env("GITHUB_API_URL")
    )
    github_token: SecretStr | None = Field(default=None, validation_alias=_env("GITHUB_TOKEN"))
    argocd_url: str | None = Field(default=None, validation_alias=_env("ARGOCD_URL"))
    argocd_token: SecretStr | None = Field(default=None, validation_alias=_env("ARGOCD_TOKEN"))
    pagerduty_api_url: str = Field(
        default="https://api.pagerduty.com", validation_alias=_env("PAGERDUTY_API_URL")
    )
    pagerduty_token: SecretStr | None = Field(
        default=None, validation_alias=_env("PAGERDUTY_TOKEN")
    )
    typeform_api_url: str = Field(
        default="https://api.typeform.com", validation_alias=_env("TYPEFORM_API_URL")
    )
    typeform_token: SecretStr | None = Field(default=None, validation_alias=_env("TYPEFORM_TOKEN"))
    typeform_form_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("TYPEFORM_FORM_IDS")
    )
    survey_csv: str | None = Field(default=None, validation_alias=_env("PAVED_SURVEY_CSV"))
    survey_timezone: str = Field(default="UTC", validation_alias=_env("PAVED_SURVEY_TIMEZONE"))
    survey_config: Path | None = Field(default=None, validation_alias=_env("PAVED_SURVEY_CONFIG"))
    backstage_url: str | None = Field(default=None, validation_alias=_env("BACKSTAGE_URL"))
    backstage_token: SecretStr | None = Field(
        default=None, validation_alias=_env("BACKSTAGE_TOKEN")
    )
    catalog_path: str | None = Field(default=None, validation_alias=_env("PAVED_CATALOG_PATH"))
    cost_path: str | None = Field(default=None, validation_alias=_env("PAVED_COST_PATH"))
    opencost_url: str | None = Field(default=None, validation_alias=_env("OPENCOST_URL"))
    history_start: date | None = Field(default=None, validation_alias=_env("PAVED_HISTORY_START"))
    cfr_window_hours: float = Field(
        default=24.0, gt=0, validation_alias=_env("PAVED_CFR_WINDOW_HOURS")
    )
    survey_min_group: int = Field(default=5, ge=2, validation_alias=_env("PAVED_SURVEY_MIN_GROUP"))
    survey_salt: SecretStr | None = Field(default=None, validation_alias=_env("PAVED_SURVEY_SALT"))
    production_envs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["production", "prod"],
        validation_alias=_env("PAVED_PRODUCTION_ENVS"),
    )
    argocd_production_pattern: str = Field(
        default=DEFAULT_PRODUCTION_PATTERN, validation_alias=_env("PAVED_ARGOCD_PRODUCTION_PATTERN")
    )
    schedule_cron: str = Field(default="0 6 * * *", validation_alias=_env("PAVED_SCHEDULE_CRON"))
    schedule_timezone: str = Field(default="UTC", validation_alias=_env("PAVED_SCHEDULE_TIMEZONE"))

    @field_validator("typeform_form_ids", "production_envs", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("survey_timezone", "schedule_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("schedule_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        # Minute, hour, day of month, month, day of week: what Dagster's schedules accept.
        if len(value.split()) != 5:
            raise ValueError("a cron expression has five fields, e.g. '0 6 * * *'")
        return " ".join(value.split())

    @field_validator("argocd_production_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @field_validator(
        "github_api_url",
        "argocd_url",
        "pagerduty_api_url",
        "typeform_api_url",
        "backstage_url",
        "opencost_url",
    )
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    # -- derived -------------------------------------------------------------------------------
    def collection_start(self, today: date | None = None) -> date:
        """PAVED_HISTORY_START, or 365 days before today."""
        if self.history_start is not None:
            return self.history_start
        return (today or datetime.now(UTC).date()) - timedelta(days=365)

    def secrets(self) -> list[str]:
        """Every secret's value: what must never appear in a message Paved writes."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr)]

    @property
    def survey_salt_missing(self) -> bool:
        return self.survey_salt is None or not self.survey_salt.get_secret_value()

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def published_path(self) -> Path:
        return self.home / "published" / "paved.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def sources(self) -> list[SourceConfig]:
        """Each source and whether it is configured, with what is missing in plain words.

        PAVED_SURVEY_SALT is not part of a survey source's configuration: a configured survey
        without it is an error (see :attr:`survey_salt_missing`), not a source to skip."""

        def need(**values: object) -> str:
            missing = [name for name, value in values.items() if not value]
            return "" if not missing else "set " + " and ".join(missing)

        return [
            SourceConfig("github", self.github_api_url, need(GITHUB_TOKEN=self.github_token)),
            SourceConfig(
                "argocd",
                self.argocd_url or "",
                need(ARGOCD_URL=self.argocd_url, ARGOCD_TOKEN=self.argocd_token),
            ),
            SourceConfig(
                "pagerduty", self.pagerduty_api_url, need(PAGERDUTY_TOKEN=self.pagerduty_token)
            ),
            SourceConfig(
                "typeform",
                self.typeform_api_url,
                need(TYPEFORM_TOKEN=self.typeform_token, TYPEFORM_FORM_IDS=self.typeform_form_ids),
            ),
            SourceConfig(
                "googleforms",
                self.survey_csv or "",
                need(PAVED_SURVEY_CSV=self.survey_csv),
            ),
            SourceConfig(
                "backstage",
                self.backstage_url or self.catalog_path or "",
                ""
                if self.catalog_path
                else need(BACKSTAGE_URL=self.backstage_url, BACKSTAGE_TOKEN=self.backstage_token),
            ),
            SourceConfig("focus", self.cost_path or "", need(PAVED_COST_PATH=self.cost_path)),
            SourceConfig("opencost", self.opencost_url or "", need(OPENCOST_URL=self.opencost_url)),
        ]


@dataclass(frozen=True)
class SourceConfig:
    name: str
    location: str
    missing: str  # empty when configured

    @property
    def configured(self) -> bool:
        return not self.missing
