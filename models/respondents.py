"""Survey respondents are pseudonymous: an email becomes an HMAC before anything is stored.

The keyed hash (HMAC-SHA256 with ``PAVED_SURVEY_SALT``) lets the pipeline join a respondent to
the catalog's users (hash the catalog email with the same key) and count them, while the raw
email never reaches the warehouse. A plain SHA-256 would not do: emails are few and guessable,
so anyone could hash a staff list and reverse it; without the key they cannot.

:func:`scrub_emails` replaces every email address found anywhere in a payload (an `email`
answer, a hidden field, a CSV cell, an address typed into a free-text answer), so the rule does
not depend on knowing where each source puts it. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

PREFIX = "hmac-sha256:"
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def respondent_hash(email: str, salt: str) -> str:
    """The respondent's pseudonym: HMAC-SHA256 of the trimmed, lower-cased email."""
    if not salt:
        raise ValueError("a respondent hash needs a non-empty salt (PAVED_SURVEY_SALT)")
    digest = hmac.new(salt.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest


def scrub_text(text: str, salt: str) -> str:
    """``text`` with every email address in it replaced by its respondent hash."""
    if "@" not in text:
        return text
    return EMAIL.sub(lambda match: respondent_hash(match.group(0), salt), text)


def scrub_emails(payload: Any, salt: str) -> Any:
    """A copy of ``payload`` (JSON-like) with every email address in its strings (keys
    included) replaced by its respondent hash."""
    if isinstance(payload, str):
        return scrub_text(payload, salt)
    if isinstance(payload, dict):
        return {
            scrub_emails(key, salt): scrub_emails(value, salt) for key, value in payload.items()
        }
    if isinstance(payload, list | tuple):
        return [scrub_emails(value, salt) for value in payload]
    return payload
