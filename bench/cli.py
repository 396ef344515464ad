"""`python -m bench`: build (and cache) the sandbox world of a scale, run the measurements, write
``<results>/<scale>.json`` and ``.md``, print the table and the targets.

The world comes from the cache (``$PAVED_SANDBOX_DIR``, else ``bench/.cache``); everything a run
writes (worlds built for the generation measurement, DuckDB files) goes to a scratch folder that
is removed at the end. The first run of each ingestion writes the shared raw warehouse the scan
floor reads; sources not ingested in this invocation (``--only``) are loaded into it unmeasured.
Exit code 0 when every measurement ran, whatever the targets say; 1 when one failed; 2 for a
usage mistake.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, report, targets
from bench.harness import ROOT, MeasurementError, Result, Sample, measure, run_once
from bench.measures import SPECS, Spec, select
from bench.measures.common import Context

SCALES = ("small", "demo", "enterprise")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--scale", choices=SCALES, default="demo")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per measurement (default: 3 when a run takes under 20 s, else 1)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated measurements ("
        + ", ".join(s.name for s in SPECS)
        + "; 'ingest' for every source)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "bench" / "results",
        help="folder for <scale>.json and <scale>.md (default: bench/results)",
    )
    parser.add_argument("--seed", type=int, default=7, help="the sandbox world's seed")
    parser.add_argument(
        "--scratch", type=Path, default=None, help="where scratch files go (default: $TMPDIR)"
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        args.specs = select([n.strip() for n in args.only.split(",") if n.strip()])
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cache = Path(os.environ.get("PAVED_SANDBOX_DIR") or ROOT / "bench" / ".cache").resolve()
    results_dir = args.results.resolve()
    scratch = Path(tempfile.mkdtemp(prefix=f"paved-bench-{args.scale}-", dir=args.scratch))
    try:
        bench = Bench(args.scale, args.seed, cache, scratch, args.repeat)
        document = bench.run(args.specs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    json_path, md_path = report.write(document, results_dir)
    print(report.table(document))
    print()
    print("\n".join(report.targets_table(document)))
    say(f"results: {json_path} and {md_path}")
    return 1 if any("error" in r for r in document["measurements"].values()) else 0


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Bench:
    """One invocation: a scale, its cached world, a scratch folder, the results so far."""

    def __init__(
        self, scale: str, seed: int, cache: Path, scratch: Path, repeat: int | None
    ) -> None:
        self.scale, self.seed, self.cache = scale, seed, cache
        self.scratch, self.repeat = scratch, repeat
        # Not "raw.duckdb": DuckDB names the catalog after the file, and a catalog "raw" makes
        # every reference to the schema "raw" ambiguous.
        self.raw = scratch / "warehouse.duckdb"
        self.logs = scratch / "logs"
        self.logs.mkdir()
        self.world: Path | None = None
        self.in_raw: set[str] = set()

    def run(self, specs: list[Spec]) -> dict[str, Any]:
        started = datetime.now(UTC).replace(microsecond=0)
        load_start = machine.load_average()
        measurements: dict[str, Any] = {}
        for spec in specs:
            try:
                result = self.measure(spec)
            except MeasurementError as exc:
                say(str(exc))
                measurements[spec.name] = {"title": spec.title, "error": str(exc)}
                continue
            measurements[spec.name] = result.as_json()
            say(
                f"{spec.name}: {result.seconds:,.2f} s (median of {result.runs}), "
                f"{result.records:,} records, {result.records_per_s:,.0f}/s, "
                f"peak RSS {result.peak_rss_mb:,.0f} MB"
            )
        return {
            "scale": self.scale,
            "seed": self.seed,
            "timestamp": started.isoformat().replace("+00:00", "Z"),
            "machine": machine.describe(),
            "load_average": {"start": load_start, "end": machine.load_average()},
            "repeat": self.repeat,
            "measurements": measurements,
            "targets": targets.evaluate(measurements),
        }

    def measure(self, spec: Spec) -> Result:
        say(f"{spec.name}: {spec.title}")
        if spec.kind == "world":
            return measure(
                spec, self.context, repeat=self.repeat, log=self.log(spec), after=self.adopt
            )
        world = self.cached_world()
        if spec.kind == "ingest":

            def cleanup(index: int, sample: Sample) -> None:
                if index == 0:
                    self.in_raw.add(spec.name)
                else:
                    _remove_duckdb(self.scratch / f"{spec.name}-{index}.duckdb")

            return measure(
                spec,
                lambda i: self.context(i, world=world, warehouse=f"{spec.name}-{i}.duckdb"),
                repeat=self.repeat,
                log=self.log(spec),
                after=cleanup,
            )
        if spec.kind == "scan":
            self.fill_raw(world)
        return measure(
            spec, lambda i: self.context(i, world=world), repeat=self.repeat, log=self.log(spec)
        )

    def context(self, index: int, *, world: Path | None = None, warehouse: str = "") -> Context:
        # Run 0 of an ingestion writes the shared raw warehouse; later runs a file of their own.
        target = self.raw if index == 0 or not warehouse else self.scratch / warehouse
        return Context(
            scale=self.scale,
            seed=self.seed,
            world=world or self.cache,
            scratch=self.scratch,
            warehouse=target,
            raw=self.raw,
        )

    def log(self, spec: Spec) -> Path:
        return self.logs / f"{spec.name}.log"

    def adopt(self, index: int, sample: Sample) -> None:
        """Keep the first world built by the generation measurement as the cache when there is
        none yet (same scale, seed and generator version: the same world); drop the others."""
        built = Path(sample.extra["_folder"])
        cached = self.cache / built.name
        if index == 0 and not (cached / "manifest.json").exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(cached, ignore_errors=True)
            shutil.move(built, cached)
            say(f"world: cached {cached}")
        else:
            shutil.rmtree(built, ignore_errors=True)

    def cached_world(self) -> Path:
        """The world of the scale from the cache, built there first if need be."""
        if self.world is None:
            command = [
                sys.executable,
                "-m",
                "sandbox",
                "build",
                "--scale",
                self.scale,
                "--seed",
                str(self.seed),
                "--root",
                str(self.cache),
            ]
            done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
            self.world = Path(done.stdout.strip().splitlines()[-1])
        return self.world

    def fill_raw(self, world: Path) -> None:
        """Load the sources this invocation did not ingest into the raw warehouse, unmeasured."""
        for spec in SPECS:
            if spec.kind == "ingest" and spec.name not in self.in_raw:
                say(f"scan_floor: loading {spec.name} into the raw warehouse first (not measured)")
                run_once(spec, self.context(0, world=world), self.log(spec))
                self.in_raw.add(spec.name)


def _remove_duckdb(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal")):
        file.unlink(missing_ok=True)
