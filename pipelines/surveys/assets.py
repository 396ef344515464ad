"""raw/typeform and raw/googleforms: survey responses, respondents pseudonymous."""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from models.settings import Settings
from pipelines.raw_asset import CATALOG_KEY, GROUP, materialize_source
from pipelines.resources import WRITER_POOL, PavedResource
from pipelines.surveys.ingest import GOOGLEFORMS, TYPEFORM, ingest_googleforms, ingest_typeform


def need(**values: object) -> str:
    missing = [name for name, value in values.items() if not value]
    return "set " + " and ".join(missing) if missing else ""


def typeform_missing(settings: Settings) -> str:
    # The salt is not "missing configuration": a configured survey without it is an error.
    return need(
        TYPEFORM_TOKEN=settings.typeform_token, TYPEFORM_FORM_IDS=settings.typeform_form_ids
    )


def googleforms_missing(settings: Settings) -> str:
    return need(PAVED_SURVEY_CSV=settings.survey_csv)


@dg.asset(
    key=["raw", "typeform"],
    group_name=GROUP,
    pool=WRITER_POOL,
    deps=[CATALOG_KEY],
    kinds={"duckdb"},
)
def typeform(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """Typeform survey responses: raw.typeform_responses, one row per response, keyed
    `<form id>:<response id>`; every email replaced by its HMAC (PAVED_SURVEY_SALT)."""
    return materialize_source(context, paved, TYPEFORM, ingest_typeform, typeform_missing)


@dg.asset(
    key=["raw", "googleforms"],
    group_name=GROUP,
    pool=WRITER_POOL,
    deps=[CATALOG_KEY],
    kinds={"duckdb"},
)
def googleforms(context: dg.AssetExecutionContext, paved: PavedResource) -> dg.MaterializeResult:
    """Google Forms survey responses from the CSV exports (PAVED_SURVEY_CSV):
    raw.googleforms_responses, one row per response, keyed by a hash of its content; every
    email replaced by its HMAC (PAVED_SURVEY_SALT)."""
    return materialize_source(context, paved, GOOGLEFORMS, ingest_googleforms, googleforms_missing)
