"""`write_report`: render a report in the asked formats, only under ``out_dir``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from models.report.model import Report

FORMATS = ("pdf", "html", "xlsx", "csv")


def _renderers() -> dict[str, Callable[[Report, Path], list[Path]]]:
    # Imported on use: each renderer pulls in its own library (reportlab, plotly, openpyxl).
    from models.report.render_csv import write_csv
    from models.report.render_html import write_html
    from models.report.render_pdf import write_pdf
    from models.report.render_xlsx import write_xlsx

    return {"pdf": write_pdf, "html": write_html, "xlsx": write_xlsx, "csv": write_csv}


def write_report(report: Report, formats: Sequence[str], out_dir: Path) -> list[Path]:
    """Write ``report`` as each of ``formats`` (pdf, html, xlsx, csv) into ``out_dir`` (made if
    missing); returns the files written. File names are fixed (``report.pdf``, one
    ``<table>.csv`` per table), never taken from the data, so nothing lands outside it."""
    asked = [f.strip().lower() for f in formats if f.strip()]
    unknown = sorted(set(asked) - set(FORMATS))
    if unknown or not asked:
        raise ValueError(
            f"formats are {', '.join(FORMATS)}; not {', '.join(unknown) or 'none at all'}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    renderers = _renderers()
    written: list[Path] = []
    for name in dict.fromkeys(asked):
        written += renderers[name](report, out_dir)
    return written
