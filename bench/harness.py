"""Run a measurement in fresh subprocesses, repeat it while it is short, keep the median.

Peak RSS is that of the worker process alone: its own ``VmHWM`` where Linux gives one, else the
kernel's ``ru_maxrss`` from ``os.wait4`` on its pid (unlike ``RUSAGE_CHILDREN``, which keeps the
largest child so far, it cannot mix up two workers). The sandbox servers run in another process
and the harness in this one; neither counts.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measures import Spec
from bench.measures.common import Context

ROOT = Path(__file__).resolve().parents[1]
# A run shorter than this is repeated (3 runs in all) unless --repeat says otherwise.
SHORT_S = 20.0
DEFAULT_RUNS_WHEN_SHORT = 3


class MeasurementError(RuntimeError):
    """A worker failed; the message ends with the tail of its output."""


@dataclass
class Sample:
    """One run: what the worker measured, and what the kernel says of the whole process."""

    seconds: float
    cpu_seconds: float
    records: int
    peak_rss_mb: float
    process_cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """A measurement over its runs: median seconds, the largest peak RSS, and the fields of
    the median run."""

    name: str
    title: str
    runs: int
    seconds: float
    seconds_each: list[float]
    cpu_seconds: float
    records: int
    records_per_s: float
    peak_rss_mb: float
    extra: dict[str, Any]

    @classmethod
    def of(cls, spec: Spec, samples: list[Sample]) -> Result:
        ordered = sorted(samples, key=lambda s: s.seconds)
        middle = ordered[(len(ordered) - 1) // 2]
        seconds = statistics.median(s.seconds for s in samples)
        return cls(
            name=spec.name,
            title=spec.title,
            runs=len(samples),
            seconds=round(seconds, 3),
            seconds_each=[round(s.seconds, 3) for s in samples],
            cpu_seconds=round(statistics.median(s.cpu_seconds for s in samples), 3),
            records=middle.records,
            records_per_s=round(middle.records / seconds, 1) if seconds > 0 else 0.0,
            peak_rss_mb=round(max(s.peak_rss_mb for s in samples), 1),
            extra={k: v for k, v in middle.extra.items() if not k.startswith("_")},
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "runs": self.runs,
            "seconds": self.seconds,
            "seconds_each": self.seconds_each,
            "cpu_seconds": self.cpu_seconds,
            "records": self.records,
            "records_per_s": self.records_per_s,
            "peak_rss_mb": self.peak_rss_mb,
            "extra": self.extra,
        }


def run_once(spec: Spec, ctx: Context, log: Path) -> Sample:
    """One run of ``spec`` in a fresh ``python -m bench.worker``; its output goes to ``log``."""
    out = ctx.scratch / f"{spec.name}.outcome.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), _pythonpath()]))}
    command = [sys.executable, "-m", "bench.worker", spec.name, ctx.to_json(), str(out)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise MeasurementError(
            f"{spec.name} failed (exit code {process.returncode}):\n  " + "\n  ".join(tail)
        )
    outcome = json.loads(out.read_text())
    return Sample(
        seconds=outcome["seconds"],
        cpu_seconds=outcome["cpu_seconds"],
        records=outcome["records"],
        peak_rss_mb=(outcome.get("peak_rss_bytes") or _max_rss_bytes(usage.ru_maxrss)) / 1e6,
        process_cpu_s=usage.ru_utime + usage.ru_stime,
        extra=outcome["extra"],
    )


def measure(
    spec: Spec,
    context: Callable[[int], Context],
    *,
    repeat: int | None,
    log: Path,
    after: Callable[[int, Sample], None] | None = None,
) -> Result:
    """Run ``spec`` ``repeat`` times, or once and twice more if that run was short.
    ``context(i)`` gives run i its context; ``after(i, sample)`` cleans up after it."""
    samples: list[Sample] = []
    runs = repeat or 1
    index = 0
    while index < runs:
        sample = run_once(spec, context(index), log)
        samples.append(sample)
        if after is not None:
            after(index, sample)
        if index == 0 and repeat is None and sample.seconds < SHORT_S:
            runs = DEFAULT_RUNS_WHEN_SHORT
        index += 1
    return Result.of(spec, samples)


def _max_rss_bytes(value: int) -> int:
    # Linux reports kilobytes, macOS bytes.
    return value if sys.platform == "darwin" else value * 1024


def _pythonpath() -> str:
    return os.environ.get("PYTHONPATH", "")
