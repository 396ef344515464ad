"""Does loading raw rows cost the same at the 2 millionth row as at the first? A microbench of
:class:`pipelines.raw.Ingestion` alone: no HTTP, no validation, synthetic GitHub commits of a
realistic size, written into a fresh DuckDB file as the commits ingestion writes them.

    python -m bench.raw_growth [--rows 2000000] [--step 500000] [--payload links|stored]

Prints, for each step of rows, the wall and CPU microseconds per row of that step (CPU of this
process, every thread: the writer's DuckDB work included) and the peak RSS so far. The
payloads are the sandbox's commit shapes with their API links (``links``, ~3.4 kB, what the
API sends) or without them (``stored``, ~1.3 kB, what the GitHub connector keeps).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from connectors.items import Item
from connectors.payloads import drop_api_links
from pipelines.raw import Ingestion, open_warehouse
from sandbox.servers.github_shapes import Shapes

API = "https://api.github.com"
REPOS = 2_000
POOL = 20_000
WORDS = ["fix", "add", "bump", "refactor", "flaky", "test", "retry", "timeout", "service"]


def payloads(count: int, *, links: bool, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` distinct commit payloads, as the sandbox renders them."""
    rng = random.Random(seed)
    shapes = Shapes(API, "bench-org")
    made = []
    for i in range(count):
        date = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
        row = {
            "sha": f"{rng.getrandbits(160):040x}",
            "author_name": f"Dev {i % 997}",
            "author_email": f"dev{i % 997}@example.com",
            "author_date": date,
            "committer_date": date,
            "message": " ".join(rng.choices(WORDS, k=12)),
            "parents_json": f'["{rng.getrandbits(160):040x}"]',
        }
        payload = shapes.commit(row, f"bench-org/repo-{i % REPOS}", f"dev{i % 997}", i % 5 == 0)
        if not links:
            drop_api_links(payload, API)
        made.append(payload)
    return made


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(rows: int, step: int, *, links: bool, folder: Path) -> list[dict[str, float]]:
    # Payloads come from a pool (two million would not fit in memory) made before the clock
    # starts; a pool's worth of rows is ~25 MB of JSON, far more than a compression block, so
    # repeats compress no better. Every row has a key of its own.
    pool = payloads(min(rows, POOL), links=links)
    conn = open_warehouse(folder / "growth.duckdb")
    steps: list[dict[str, float]] = []
    with Ingestion(conn, "github", "growth") as ingestion:
        wall, cpu = time.perf_counter(), time.process_time()
        for n in range(1, rows + 1):
            scope = f"bench-org/repo-{n % REPOS}"
            item = Item(f"{scope}:{n:040x}", None, pool[n % len(pool)])
            ingestion.add("commits", item, scope=scope)
            if n % step == 0 or n == rows:
                ingestion.commit()  # the step's rows are on disk before its clock stops
                now_wall, now_cpu = time.perf_counter(), time.process_time()
                size = n - (steps[-1]["rows"] if steps else 0)
                steps.append(
                    {
                        "rows": n,
                        "wall_us_per_row": (now_wall - wall) / size * 1e6,
                        "cpu_us_per_row": (now_cpu - cpu) / size * 1e6,
                        "peak_rss_mb": peak_rss_mb(),
                    }
                )
                wall, cpu = now_wall, now_cpu
        ingestion.finish()
    conn.close()
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.raw_growth", description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--step", type=int, default=500_000)
    parser.add_argument("--payload", choices=("links", "stored"), default="links")
    parser.add_argument("--scratch", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.scratch) as folder:
        steps = run(args.rows, args.step, links=args.payload == "links", folder=Path(folder))
    print("rows        wall us/row  CPU us/row  peak RSS MB")
    for s in steps:
        print(
            f"{s['rows']:>10,.0f}  {s['wall_us_per_row']:>11.1f}  {s['cpu_us_per_row']:>10.1f}"
            f"  {s['peak_rss_mb']:>11.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
