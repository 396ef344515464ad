"""The quarterly report: the org report of the latest quarter with data, in every format.

Over the snapshot the ``rebuild`` measurement published (or the synthetic one), as
``paved report --quarter Q`` does it: gather (:func:`models.report.build_report`), then PDF,
HTML, XLSX and CSV (:func:`models.report.write_report`) into a scratch folder. The figures say
how long each format took and how large it came out.
"""

from __future__ import annotations

import shutil
import time

from bench.measures.common import Context, Outcome, Stopwatch
from bench.measures.pipeline import published_of


def quarterly(ctx: Context) -> Outcome:
    from models.report import FORMATS, build_report, quarters_with_data, write_report

    published = published_of(ctx)
    quarters = quarters_with_data(published)
    if not quarters:
        raise RuntimeError(f"{published} has no quarter with data")
    quarter = quarters[0]  # latest first
    out = ctx.scratch / "report"
    shutil.rmtree(out, ignore_errors=True)
    per_format: dict[str, float] = {}
    with Stopwatch() as watch:
        started = time.perf_counter()
        report = build_report(published, quarter, "org")
        gather_s = time.perf_counter() - started
        paths = []
        for fmt in FORMATS:
            started = time.perf_counter()
            paths += write_report(report, [fmt], out)
            per_format[fmt] = round(time.perf_counter() - started, 3)
    sizes = {p.name: round(p.stat().st_size / 1e3, 1) for p in paths if p.is_file()}
    return Outcome(
        watch.seconds,
        watch.cpu_seconds,
        len(paths),
        {
            "quarter": quarter,
            "gather_s": round(gather_s, 3),
            "format_s": per_format,
            "files": len(paths),
            "kb": round(sum(sizes.values()), 1),
            "snapshot": ctx.snapshot,
        },
    )
