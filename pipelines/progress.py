"""`paved materialize`'s progress, from Dagster's own events in this process.

Ingestion assets, the checks and the publish step write their own line on the
``paved.progress`` logger (counts, requests, what failed). Every other step (staging, the
marts, whatever asset is added later) gets one from the run's events when it ends: the tables
it wrote, their rows and its elapsed time, or that it failed and after how long. A step that
wrote its own line gets no second one.

The events arrive through a Dagster logger (:data:`progress_logger`), which Dagster hands
every event of the run as it happens, in the process and thread that run the steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dagster as dg

from pipelines.ingest import progress


@dataclass
class Step:
    started: float
    tables: int = 0
    rows: int = 0
    own_line: bool = False


class EventLines(logging.Handler):
    """Turns a run's step events into progress lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.steps: dict[str, Step] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event: dg.DagsterEvent | None = getattr(record, "dagster_event", None)
        if event is None or event.step_key is None:
            return
        kind, key = event.event_type_value, event.step_key
        if kind in ("STEP_START", "STEP_RESTARTED"):
            self.steps[key] = Step(record.created)
            return
        step = self.steps.get(key)
        if step is None:
            return
        if kind == "ASSET_MATERIALIZATION":
            rows = event.materialization.metadata.get("rows")
            step.tables += 1
            step.rows += (rows.value or 0) if isinstance(rows, dg.IntMetadataValue) else 0
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and not step.own_line:
            elapsed = record.created - step.started
            label = key.replace("__", "/")
            if kind == "STEP_FAILURE":
                progress.error("%-16s failed after %.1f s", label, elapsed)
            elif step.tables:
                progress.info(
                    "%-16s %s table(s)  %s rows  %.1f s",
                    label,
                    step.tables,
                    f"{step.rows:,}",
                    elapsed,
                )

    def own_line(self, record: logging.LogRecord) -> bool:
        """A filter on ``paved.progress``: a line written while a step runs is its own (in
        process, steps run one at a time: the last one started is the one running)."""
        running = next(reversed(self.steps.values()), None)
        if running is not None:
            running.own_line = True
        return True


@dg.logger(
    config_schema=None, description="`paved materialize`: a line for each step without its own"
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger("paved.events")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for old in [
        f for f in progress.filters if isinstance(getattr(f, "__self__", None), EventLines)
    ]:
        progress.removeFilter(old)
    lines = EventLines()
    logger.addHandler(lines)
    progress.addFilter(lines.own_line)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger
