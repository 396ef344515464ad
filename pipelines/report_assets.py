"""The quarterly stakeholder report as a Dagster asset, one partition per calendar quarter.

Partition keys are the quarters' first days (``2026-07-01`` is 2026-Q3); the latest partition
is the last quarter that has closed. Automation: ``AutomationCondition.on_cron`` at the start
of each quarter (00:00 UTC on 1 January, April, July, October) waits until the published
snapshot has been refreshed after that moment (so the closed quarter's last day is in it), then
materialises the just-closed quarter's partition once. It is evaluated by its own automation
sensor, on by default when the daemon runs (`make dagster`). Earlier quarters are a backfill
from the UI, or `paved report --quarter`.
"""

# No `from __future__ import annotations` here: Dagster reads these type hints at runtime.

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from models.report import FORMATS, Quarter, build_report, write_report
from pipelines.publish_assets import PUBLISHED_KEY
from pipelines.resources import PavedResource

REPORT_GROUP = "reports"
REPORT_KEY = dg.AssetKey(["reports", "quarterly"])
QUARTER_CLOSES = "0 0 1 1,4,7,10 *"  # 00:00 UTC on a quarter's first day
QUARTERS = dg.TimeWindowPartitionsDefinition(
    start="2020-01-01", cron_schedule=QUARTER_CLOSES, fmt="%Y-%m-%d", timezone="UTC"
)

# Late if the closed quarter's report is not written within the first week of the next one.
QUARTERLY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 0 8 1,4,7,10 *", lower_bound_delta=timedelta(days=7)
)


@dg.asset(
    key=REPORT_KEY,
    group_name=REPORT_GROUP,
    partitions_def=QUARTERS,
    deps=[PUBLISHED_KEY],
    automation_condition=dg.AutomationCondition.on_cron(QUARTER_CLOSES),
    freshness_policy=QUARTERLY_FRESHNESS,
    kinds={"pdf", "html", "xlsx", "csv"},
    # A run of the whole graph without a partition (the daily refresh, `paved materialize`)
    # passes over it: it runs for a quarter only.
    output_required=False,
)
def quarterly_report(
    context: dg.AssetExecutionContext, paved: PavedResource
) -> Iterator[dg.MaterializeResult]:
    """The organisation's quarterly stakeholder report in every format, written to
    $PAVED_HOME/reports/<quarter>/ from the published snapshot. One partition per quarter."""
    if not context.has_partition_key:
        context.log.info("quarterly report: not a quarter's run, nothing to write")
        return
    quarter = Quarter.of(context.partition_time_window.start.date()).label
    settings = paved.settings()
    report = build_report(settings.published_path, quarter, "org")
    folder = settings.home / "reports" / report.folder
    written = write_report(report, FORMATS, folder)
    context.log.info(f"report {quarter}: {len(written)} file(s) in {folder}")
    yield dg.MaterializeResult(
        metadata={
            "quarter": quarter,
            "folder": str(folder),
            "files": len(written),
            "has_data": report.has_data,
            "notice": report.notice,
        }
    )


report_automation = dg.AutomationConditionSensorDefinition(
    "quarterly_report_automation",
    target=dg.AssetSelection.assets(REPORT_KEY),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes the org's report once a quarter has closed and the snapshot is fresh.",
)
