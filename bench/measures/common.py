"""What a measurement gets and gives back, its stopwatch, and the sandbox servers' process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

# The PAVED_HOME (in scratch) of the synthetic snapshot that --snapshot synthetic reads.
SYNTHETIC_HOME = "synthetic-home"


@dataclass(frozen=True)
class Context:
    """Where a measurement works. ``warehouse`` is a DuckDB file the run may create; ``raw``
    is the shared warehouse that the first run of every ingestion fills for the scan floor."""

    scale: str
    seed: int
    world: Path
    scratch: Path
    warehouse: Path
    raw: Path
    # Which published snapshot the readers (dashboard, report, adhoc) measure: the rebuild's,
    # or a synthetic one sized like the world (bench.snapshot).
    snapshot: str = "rebuild"

    def to_json(self) -> str:
        return json.dumps(
            {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        )

    @classmethod
    def from_json(cls, text: str) -> Context:
        data = json.loads(text)
        return cls(
            scale=data["scale"],
            seed=int(data["seed"]),
            world=Path(data["world"]),
            scratch=Path(data["scratch"]),
            warehouse=Path(data["warehouse"]),
            raw=Path(data["raw"]),
            snapshot=data.get("snapshot", "rebuild"),
        )


@dataclass
class Outcome:
    """One run of a measurement: the measured section's wall and CPU seconds, the records it
    handled, and fields of its own (numbers, texts, or a table of them). Keys starting with
    ``_`` are for the harness only and never reach the results."""

    seconds: float
    cpu_seconds: float
    records: int
    extra: dict[str, Any] = field(default_factory=dict)


class Stopwatch:
    """Wall and CPU time of a ``with`` block (CPU time of this process, all its threads)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self._wall = self._cpu = 0.0

    def __enter__(self) -> Self:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu


@dataclass(frozen=True)
class Served:
    """The sandbox servers running in a process of their own (see :mod:`bench.serve`)."""

    env: dict[str, str]
    pid: int
    now: datetime

    def cpu_seconds(self) -> float:
        """CPU time the servers' process has used so far (user + system)."""
        return process_cpu_seconds(self.pid)


@contextmanager
def served(world: Path, *, advance_days: int = 0) -> Iterator[Served]:
    """The servers of ``world`` in their own process, its clock ``advance_days`` later."""
    days = [str(advance_days)] if advance_days else []
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.serve", str(world), *days],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox servers did not start for {world}")
        info = json.loads(line)
        now = datetime.fromisoformat(info["now"])
        yield Served(env=info["env"], pid=int(info["pid"]), now=now)
    finally:
        process.stdin.close()  # the servers stop when their stdin closes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux) or psutil."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        # Fields after the command name (which may hold spaces) start at index 2 ("state");
        # utime and stime are fields 14 and 15 of the whole line.
        fields = stat.read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system
