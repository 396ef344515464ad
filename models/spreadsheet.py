"""Text made safe for spreadsheets: every CSV or XLSX Paved writes (the quarterly report,
`paved sql --format csv`, the dashboard's downloads) goes through here."""

from __future__ import annotations

import re

# A spreadsheet evaluates text starting with these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# The same, as a regular expression for a whole column at once (Polars' str.contains).
FORMULA_PATTERN = "^[" + "".join(re.escape(t) for t in FORMULA_TRIGGERS) + "]"


def neutralise(text: str) -> str:
    """Text that a spreadsheet shows as text: a leading ``'`` before a formula trigger."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text
