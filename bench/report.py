"""Results as JSON (keys sorted, so a re-run diffs line by line) and as a Markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.targets import TARGET_SCALE


def write(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """``<scale>.json`` and ``<scale>.md`` in ``folder``, each replaced whole (via a .tmp)."""
    folder.mkdir(parents=True, exist_ok=True)
    scale = report["scale"]
    paths = (folder / f"{scale}.json", folder / f"{scale}.md")
    texts = (
        json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        markdown(report),
    )
    for path, text in zip(paths, texts, strict=True):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    versions = machine["versions"]
    lines = [
        f"# Paved benchmarks: {report['scale']} scale",
        "",
        f"Measured {report['timestamp']} on {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']} GiB, {machine['system']}; Python {machine['python']}, "
        f"DuckDB {versions['duckdb']}, Polars {versions['polars']}, "
        f"Dagster {versions['dagster']}. Load average {report['load_average']['start']} at the "
        f"start, {report['load_average']['end']} at the end.",
        "",
        "Seconds are the median of the runs (3 when a run takes under 20 s); peak RSS is the "
        "largest of the runs, of the process that did the work. Written by `python -m bench`.",
        "",
        *_synthetic(report),
        *_raw(report),
        table(report),
        "",
    ]
    lines += targets_table(report)
    lines += _world(report)
    return "\n".join(lines) + "\n"


def table(report: dict[str, Any]) -> str:
    head = (
        "| measurement | runs | seconds | records | records/s | peak RSS MB "
        "| requests (minimum, ratio) | notes |"
    )
    rows = [head, "|---|--:|--:|--:|--:|--:|---|---|"]
    for name, result in report["measurements"].items():
        if "error" in result:
            rows.append(f"| {name} | | | | | | | failed: {result['error'].splitlines()[0]} |")
            continue
        extra = result["extra"]
        rows.append(
            f"| {result['title']} | {result['runs']} | {result['seconds']:,.2f} "
            f"| {result['records']:,} | {result['records_per_s']:,.0f} "
            f"| {result['peak_rss_mb']:,.0f} | {_requests(extra)} | {_notes(name, extra)} |"
        )
    return "\n".join(rows)


def _raw(report: dict[str, Any]) -> list[str]:
    raw = report.get("raw") or {}
    if raw.get("source") != "world":
        return []
    took = (
        "reused from the cache"
        if raw.get("cached")
        else f"loaded in {raw['seconds']:,.1f} s, not measured"
        if "seconds" in raw
        else "not loaded"
    )
    return [
        "The scan floor, rebuild and daily run read the **world loader's raw warehouse** "
        f"(`bench/rawload.py`, {took}): the first run's raw layer by the same connectors, with "
        "GitHub answered in process and Argo CD polled every "
        f"{raw.get('argocd_stride_days', '?')} day(s).",
        "",
    ]


def _synthetic(report: dict[str, Any]) -> list[str]:
    if report.get("snapshot") != "synthetic":
        return []
    generated = report.get("snapshot_generation_s")
    took = f" (generated in {generated:,.1f} s, not measured)" if generated is not None else ""
    return [
        "The dashboard, report and ad-hoc rows read a **synthetic snapshot**" + took + ": the "
        "world's sizes and shapes (`bench/snapshot.py`), not the pipeline's numbers.",
        "",
    ]


def _requests(extra: dict[str, Any]) -> str:
    if extra.get("requests") is None:
        return "—"
    ratio = extra.get("request_ratio")
    return f"{extra['requests']:,} ({extra['minimum_requests']:,}, {ratio:.2f}×)"


def _notes(name: str, extra: dict[str, Any]) -> str:
    notes = []
    if name == "world":
        notes.append(f"{extra['bytes'] / 1e6:,.0f} MB on disk, {extra['files']} files")
    if "client_cpu_s" in extra:
        notes.append(
            f"CPU: client {extra['client_cpu_s']:.2f} s, server {extra['server_cpu_s']:.2f} s"
        )
        if extra.get("client_records_per_cpu_s"):
            notes.append(f"{extra['client_records_per_cpu_s']:,} records per client CPU s")
    if extra.get("snapshot") == "synthetic":
        notes.append("synthetic snapshot (sizes and shapes only)")
    if extra.get("waited_s"):
        notes.append(f"waited {extra['waited_s']:.1f} s")
    if extra.get("rejected"):
        notes.append(f"{extra['rejected']:,} rejected")
    if extra.get("github_quota_hours"):
        notes.append(f"{extra['github_quota_hours']:,} h of a 5,000/h GitHub quota")
    if extra.get("layers_s"):
        notes.append(_layers(extra["layers_s"], extra.get("transform_rebuild_ratio")))
    if extra.get("steps_s"):
        notes.append(_slowest_steps(extra["steps_s"]))
    if name == "scan_floor":
        notes.append(f"{extra['tables']} tables, {extra['warehouse_mb']:,} MB")
    elif "warehouse_mb" in extra:
        notes.append(f"warehouse {extra['warehouse_mb']:,} MB")
    return "; ".join(notes)


def _layers(layers: dict[str, float], transform_ratio: float | None) -> str:
    """``ingestion 109.3 s, staging + marts 62.9 s (0.563 × the rebuild), publish 6.8 s``."""

    def part(layer: str, seconds: float) -> str:
        text = f"{layer} {seconds:,.1f} s"
        if layer == "staging + marts" and transform_ratio is not None:
            text += f" ({transform_ratio:.3f} × the rebuild)"
        return text

    return ", ".join(part(layer, seconds) for layer, seconds in layers.items())


def _slowest_steps(steps: dict[str, float], count: int = 5) -> str:
    """The run's ``count`` longest parts (see ``bench.measures.pipeline.run_split``)."""
    slowest = sorted(steps.items(), key=lambda item: -item[1])[:count]
    return "slowest parts: " + ", ".join(f"{name} {seconds:,.1f} s" for name, seconds in slowest)


def targets_table(report: dict[str, Any]) -> list[str]:
    lines = [f"## Targets (set for the {TARGET_SCALE} scale)", ""]
    if report["scale"] != TARGET_SCALE:
        lines += [
            f"These figures are at the {report['scale']} scale: a guide, not the verdict.",
            "",
        ]
    lines += ["| target | figure | result |", "|---|--:|---|"]
    for row in report["targets"]:
        figure = row["figure"]
        shown = "—"
        if figure is not None:
            # A ratio (under 1) in three places, as it is rounded and judged: 0.113, not 0.11.
            places = 0 if figure >= 100 else 2 if figure >= 1 else 3
            shown = f"{figure:,.{places}f} {row['unit']}"
        status = row["status"]
        if status == "miss":
            status = f"**miss** by {row['miss_by']:.0%}"
        lines.append(f"| {row['target']} | {shown} | {status} |")
    return [*lines, ""]


def _world(report: dict[str, Any]) -> list[str]:
    world = report["measurements"].get("world")
    if not world or "extra" not in world:
        return []
    lines = ["## World rows", "", "| table | rows |", "|---|--:|"]
    lines += [f"| {table} | {rows:,} |" for table, rows in world["extra"]["rows"].items()]
    return [*lines, ""]
