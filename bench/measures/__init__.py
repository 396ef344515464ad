"""What the benchmark measures, in the order it runs them.

Each :class:`Spec` names the function that does the work; the function runs inside a worker
subprocess (:mod:`bench.worker`), so this module imports nothing heavy: the harness process
stays small and never skews what it measures.

- ``world``: building the sandbox world of the scale from nothing (into scratch, not the cache);
- ``ingest_*``: one source from the loopback sandbox servers into a fresh DuckDB file, through
  the real connector and :class:`pipelines.raw.Ingestion`, with the requests it took against
  the minimum the API allows;
- ``first_run``: the pipeline's first run on the world, as ``paved demo`` runs it; its
  warehouse is what the measurements after it read;
- ``scan_floor``: DuckDB reading every raw table of that warehouse once (a count and a sum over
  one payload field): the least any rebuild of staging and marts from that data can cost;
- ``rebuild``: staging and marts rebuilt from that raw data, reported as a ratio to the floor;
- ``incremental``: the daily run one day later (after an untimed one on the day the raw
  data ends), reported as a ratio to the rebuild;
- ``dashboard``: each page's data-access function over the snapshot the rebuild published;
- ``report``: the quarterly report over that snapshot in PDF, HTML, XLSX and CSV;
- ``adhoc``: ``paved sql``'s three typical queries over that snapshot.

With ``--snapshot synthetic`` the last three read a snapshot generated from the world's sizes
(:mod:`bench.snapshot`) instead, and need no first run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    # "module:function" of the function the worker runs: (Context) -> Outcome.
    target: str

    @property
    def kind(self) -> str:
        return self.name.split("_", 1)[0]


SPECS: tuple[Spec, ...] = (
    Spec("world", "world generation", "bench.measures.world:generate"),
    Spec(
        "ingest_commits", "ingestion: commits, every repository", "bench.measures.ingestion:commits"
    ),
    Spec(
        "ingest_pulls",
        "ingestion: pull requests and their commits",
        "bench.measures.ingestion:pulls",
    ),
    Spec(
        "ingest_argocd",
        "ingestion: Argo CD applications and history",
        "bench.measures.ingestion:argocd",
    ),
    Spec(
        "ingest_pagerduty", "ingestion: PagerDuty incidents", "bench.measures.ingestion:pagerduty"
    ),
    Spec("ingest_typeform", "ingestion: Typeform responses", "bench.measures.ingestion:typeform"),
    Spec("ingest_backstage", "ingestion: Backstage entities", "bench.measures.ingestion:backstage"),
    Spec("ingest_focus", "ingestion: FOCUS cost rows (files)", "bench.measures.ingestion:focus"),
    Spec("ingest_opencost", "ingestion: OpenCost allocations", "bench.measures.ingestion:opencost"),
    Spec(
        "first_run",
        "first run: a year of daily Argo CD polls, then the whole graph (paved demo)",
        "bench.measures.pipeline:first_run",
    ),
    Spec("scan_floor", "scan floor: every raw table once", "bench.measures.scan:scan_floor"),
    Spec(
        "rebuild",
        "full rebuild of staging + marts from raw (Dagster, in process)",
        "bench.measures.pipeline:rebuild",
    ),
    Spec(
        "incremental",
        "daily run: the world one day later, the whole graph",
        "bench.measures.pipeline:incremental",
    ),
    Spec(
        "dashboard",
        "dashboard: each page's data, cold and on a filter change",
        "bench.measures.dashboard:page_data",
    ),
    Spec(
        "report",
        "quarterly report of the latest quarter, all four formats",
        "bench.measures.report:quarterly",
    ),
    Spec(
        "adhoc",
        "paved sql: three typical ad-hoc queries on the snapshot",
        "bench.measures.pipeline:adhoc",
    ),
)
BY_NAME = {spec.name: spec for spec in SPECS}


def select(only: list[str] | None) -> list[Spec]:
    """The specs named in ``only`` (a name, or a kind such as ``ingest``), in running order."""
    if not only:
        return list(SPECS)
    unknown = [n for n in only if n not in BY_NAME and n not in {s.kind for s in SPECS}]
    if unknown:
        raise ValueError(
            f"unknown measurement {', '.join(unknown)}: choose from "
            f"{', '.join(s.name for s in SPECS)} (or 'ingest' for every source)"
        )
    return [s for s in SPECS if s.name in only or s.kind in only]
