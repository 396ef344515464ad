"""`paved report`: the quarterly stakeholder report from the published snapshot.

The report itself is :mod:`models.report` (the dashboard offers it too); this module reads the
options, picks the output folder and turns every user mistake (a malformed quarter, an unknown
team, no snapshot, an unknown format) into the CLI's one-line error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from models.report import FORMATS, build_report, parse_quarter, write_report


def report_command(
    quarter: Annotated[str, typer.Option("--quarter", help="the quarter, e.g. 2026-Q3")],
    scope: Annotated[
        str, typer.Option("--scope", help="org, or team:NAME for one team's report")
    ] = "org",
    formats: Annotated[
        str, typer.Option("--format", help="comma-separated, any of pdf,html,xlsx,csv")
    ] = ",".join(FORMATS),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="write here; default $PAVED_HOME/reports/<quarter>[-<team>]/"),
    ] = None,
) -> None:
    """The quarterly stakeholder report (PDF, HTML, XLSX, CSV) over the published warehouse."""
    # Imported here: pipelines.cli registers this command, so it imports this module first.
    from pipelines.cli import UserError, load_settings, say

    try:
        parse_quarter(quarter)
    except ValueError as exc:
        raise UserError(f"--quarter: {exc}") from None
    asked = [f.strip().lower() for f in formats.split(",") if f.strip()]
    unknown = [f for f in asked if f not in FORMATS]
    if unknown or not asked:
        raise UserError(f"--format takes {','.join(FORMATS)}, not {formats!r}")
    settings = load_settings()
    started = time.perf_counter()
    try:
        report = build_report(settings.published_path, quarter, scope)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    folder = out if out is not None else settings.home / "reports" / report.folder
    try:
        written = write_report(report, asked, folder)
    except OSError as exc:
        raise UserError(f"cannot write the report into {folder}: {exc.strerror or exc}") from None
    if report.notice:
        say(f"paved report: {report.notice}")
    say(
        f"paved report: {report.quarter} ({report.scope}), {len(written)} file(s) in "
        f"{folder} ({time.perf_counter() - started:.1f} s)"
    )
    for path in written:
        typer.echo(str(path))
