"""Rejected records as published: what failed validation, with a safe excerpt of its payload.

``raw.rejected`` keeps each rejected payload whole (survey emails already replaced by their
keyed hash at ingestion). The published excerpt is the first 500 characters of the payload JSON
*after* every email address and every configured secret in it is masked, so neither a raw email
(a catalog User's, a commit author's) nor a token can be published, even when cut in half.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from models.metrics.frames import to_mart

EXCERPT_CHARS = 500
EMAIL_MASK = "[email]"
SECRET_MASK = "[secret]"
# Broader than an RFC address on purpose: anything shaped like local@domain.tld is masked.
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def payload_excerpt(
    payload: str | None, *, secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS
) -> str | None:
    """The first ``limit`` characters of ``payload`` once emails and ``secrets`` are masked.

    Masking comes first, so a cut cannot leave half an email or half a token behind; a
    respondent hash (``hmac-sha256:<hex>``) is no email and stays as it is.
    """
    if payload is None:
        return None
    text = payload
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, SECRET_MASK)
    text = EMAIL.sub(EMAIL_MASK, text)
    return text[:limit]


def rejected_records(raw_rejected: pl.DataFrame, *, secrets: Iterable[str] = ()) -> pl.DataFrame:
    """``marts.rejected_records`` from ``raw.rejected`` (``payload`` as JSON text), newest
    first within a source."""
    hidden = list(secrets)
    frame = raw_rejected.with_columns(
        payload_excerpt=pl.col("payload").map_elements(
            lambda text: payload_excerpt(text, secrets=hidden), return_dtype=pl.Utf8
        )
    )
    ordered = frame.sort(
        ["source", "rejected_at", "object", "key"], descending=[False, True, False, False]
    )
    return to_mart(ordered, "rejected_records")
