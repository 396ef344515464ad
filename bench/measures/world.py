"""World generation: the sandbox organisation of the scale, built from nothing.

It builds into the run's scratch folder (``force``), never into the cache, so a cached world
neither shortens the measurement nor is replaced by it. The harness may adopt the folder built
here as the cache when there is none yet (same scale, seed and generator version).
"""

from __future__ import annotations

import json

from bench.measures.common import Context, Outcome, Stopwatch
from sandbox.world.build import build_world


def generate(ctx: Context) -> Outcome:
    with Stopwatch() as watch:
        folder = build_world(
            ctx.scale, seed=ctx.seed, root=ctx.scratch / "worlds", progress=None, force=True
        )
    manifest = json.loads((folder / "manifest.json").read_text())
    rows: dict[str, int] = manifest["rows"]
    return Outcome(
        seconds=watch.seconds,
        cpu_seconds=watch.cpu_seconds,
        records=sum(rows.values()),
        extra={
            "bytes": manifest["bytes"],
            "database_bytes": sum(manifest["database_bytes"].values()),
            "files": manifest["files"],
            "rows": dict(sorted(rows.items())),
            "_folder": str(folder),
        },
    )
