"""The quarterly stakeholder report (issue 7): gathered from the published snapshot into one
plain structure (:mod:`models.report.model`), then rendered as PDF, HTML, XLSX and CSV.

Lives in ``models`` so the dashboard can offer it as a download (it may import only models)::

    report = build_report(published, "2026-Q3", scope="team:payments")
    paths = write_report(report, ["pdf", "html"], out_dir)
"""

from models.report.build import build_report, quarters_with_data
from models.report.model import Report
from models.report.quarter import Quarter, parse_quarter
from models.report.source import ReportError
from models.report.write import FORMATS, write_report

__all__ = [
    "FORMATS",
    "Quarter",
    "Report",
    "ReportError",
    "build_report",
    "parse_quarter",
    "quarters_with_data",
    "write_report",
]
