"""raw/typeform and raw/googleforms: survey responses, respondents pseudonymous."""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

import dagster as dg

from pipelines.raw_asset import CATALOG_KEY, GROUP, materialize_source, missing_from_settings
from pipelines.resources import WRITER_POOL, PavedResource
from pipelines.surveys.ingest import GOOGLEFORMS, TYPEFORM, ingest_googleforms, ingest_typeform


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
    return materialize_source(
        context, paved, TYPEFORM, ingest_typeform, missing_from_settings(TYPEFORM)
    )


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
    return materialize_source(
        context, paved, GOOGLEFORMS, ingest_googleforms, missing_from_settings(GOOGLEFORMS)
    )
