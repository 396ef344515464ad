"""Survey responses: Typeform (API) and Google Forms (CSV exports).

Respondents are pseudonymous: every email address in a response, a rejected row or a reason is
replaced by its HMAC-SHA256 keyed with PAVED_SURVEY_SALT (:mod:`models.respondents`) *before*
it is added, so a raw email never reaches the warehouse. Without the salt the survey assets
fail rather than store emails.

- ``raw.typeform_responses``: key ``<form id>:<response id>``, scope the form id; per form, a
  watermark (``submitted_since``, the newest ``submitted_at``) set when the form's listing is
  complete (it is newest first); each run re-reads the client's trailing window before it.
- ``raw.googleforms_responses``: key = the connector's content hash, scope = the file name;
  files already read with the same content are skipped.
"""

from __future__ import annotations

from typing import Any

from connectors.googleforms import read_export
from connectors.items import Item, Rejection
from connectors.typeform import TypeformClient
from models.respondents import scrub_emails, scrub_text
from models.settings import Settings
from pipelines.files import changed_files, mark_read, matching_files
from pipelines.ingest import ConfigurationError, SourceRun, advanced, iso, parse_iso, secret
from pipelines.raw import Ingestion, read_state

TYPEFORM = "typeform"
GOOGLEFORMS = "googleforms"
# Typeform lists some responses days late; an incremental read starts this much earlier.
REREAD_DAYS = 3


def survey_salt(settings: Settings) -> str:
    if settings.survey_salt is None or settings.survey_salt_missing:
        raise ConfigurationError(
            "surveys need PAVED_SURVEY_SALT (a secret for the respondent hash) before any "
            "response is stored: set PAVED_SURVEY_SALT"
        )
    return settings.survey_salt.get_secret_value()


def pseudonymous(record: Item[Any] | Rejection, salt: str) -> Item[Any] | Rejection:
    """The record with every email in its key, payload and reason replaced by its hash."""
    if isinstance(record, Item):
        return Item(scrub_text(record.key, salt), None, scrub_emails(record.payload, salt))
    return Rejection(
        record.source,
        scrub_text(record.key, salt),
        scrub_emails(record.payload, salt),
        scrub_text(record.reason, salt),
    )


def ingest_typeform(run: SourceRun, ing: Ingestion) -> None:
    settings = run.settings
    salt = survey_salt(settings)
    client = run.client(
        TypeformClient(
            settings.typeform_api_url, token=secret(settings.typeform_token), **run.options()
        )
    )
    window = run.window
    with client:
        for form_id in settings.typeform_form_ids:
            watermark = parse_iso(read_state(run.conn, TYPEFORM, form_id, "submitted_since"))
            incremental = watermark is not None and not window.backfill
            newest = watermark
            for record in client.list_responses(
                form_id,
                since=window.since(watermark),
                until=window.end,
                reread_days=REREAD_DAYS if incremental else 0,
            ):
                if isinstance(record, Item):
                    newest = advanced(newest, record.model.submitted_at, window)
                ing.add("responses", pseudonymous(record, salt), scope=form_id)
            if newest is not None:
                ing.set_state(form_id, "submitted_since", iso(newest))


def ingest_googleforms(run: SourceRun, ing: Ingestion) -> None:
    settings = run.settings
    salt = survey_salt(settings)
    assert settings.survey_csv is not None
    paths = matching_files(settings.survey_csv)
    if not paths:
        ing.notes.append("no CSV export matches PAVED_SURVEY_CSV")
        return
    for path, version in changed_files(run, ing, paths):
        for record in read_export(path, zone=settings.survey_timezone):
            ing.add("responses", pseudonymous(record, salt), scope=path.name)
        mark_read(ing, path, version)
