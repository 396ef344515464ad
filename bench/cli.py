"""`python -m bench`: build (and cache) the sandbox world of a scale, run the measurements, write
``<results>/<scale>.json`` and ``.md``, print the table and the targets.

The world comes from the cache (``$PAVED_SANDBOX_DIR``, else ``bench/.cache``); everything a run
writes (worlds built for the generation measurement, DuckDB files) goes to a scratch folder that
is removed at the end. The scan floor, the rebuild, the incremental run and the queries work on
a raw warehouse (``--raw``): the one the pipeline's first run (``first_run``) leaves, run first
and unmeasured when it is not among the selected measurements, or (``--raw world``, the default
at the enterprise scale, where a first run takes hours) the one :mod:`bench.rawload` loads,
cached beside the world and reused by the next invocation; its load time is a note, not a
measurement. With ``--snapshot synthetic`` the readers
(dashboard, report, adhoc) read a snapshot generated once from the world's sizes
(:mod:`bench.snapshot`: sizes and shapes, not the pipeline's numbers) and force no first run;
its generation time is reported, not measured.
Exit code 0 when every measurement ran, whatever the targets say; 1 when one failed; 2 for a
usage mistake.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, rawload, report, targets
from bench.harness import ROOT, MeasurementError, Result, Sample, measure, run_once
from bench.measures import BY_NAME, SPECS, Spec, select
from bench.measures.common import SYNTHETIC_HOME, Context

SCALES = ("small", "demo", "enterprise")
SNAPSHOTS = ("rebuild", "synthetic")
RAW_SOURCES = ("first-run", "world")
# Argo CD polls of the world loader (bench.rawload): daily where that is cheap; every 7 days at
# the enterprise scale (2,813 apps, ~6 s a poll: 1,095 daily polls would take ~2 h), which
# keeps ~98 % of the history entries the daily replay keeps.
ARGOCD_STRIDE = {"small": 1, "demo": 1, "enterprise": 7}
# The measurements that read a published snapshot (see --snapshot).
READERS = ("dashboard", "report", "adhoc")


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
        "--snapshot",
        choices=SNAPSHOTS,
        default="rebuild",
        help="what the dashboard, report and adhoc measurements read: the rebuild's published "
        "snapshot (default) or a synthetic one sized like the world (sizes, not values)",
    )
    parser.add_argument(
        "--raw",
        choices=RAW_SOURCES,
        default=None,
        help="the raw warehouse the scan floor, rebuild and daily run read: the first run's, or "
        "the world loader's (bench.rawload, cached beside the world); default: world at the "
        "enterprise scale, first-run otherwise",
    )
    parser.add_argument(
        "--scratch", type=Path, default=None, help="where scratch files go (default: $TMPDIR)"
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.raw is None:
        args.raw = "world" if args.scale == "enterprise" else "first-run"
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
        bench = Bench(
            args.scale, args.seed, cache, scratch, args.repeat, args.snapshot, raw=args.raw
        )
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
        self,
        scale: str,
        seed: int,
        cache: Path,
        scratch: Path,
        repeat: int | None,
        snapshot: str = "rebuild",
        *,
        raw: str = "first-run",
    ) -> None:
        self.scale, self.seed, self.cache = scale, seed, cache
        self.scratch, self.repeat, self.snapshot = scratch, repeat, snapshot
        self.synthetic_s: float | None = None  # the synthetic snapshot's generation, once
        self.raw_source = raw
        self.raw_load: dict[str, Any] | None = None  # what the world loader did, once
        # The first run's warehouse (PAVED_HOME/warehouse.duckdb, see bench.measures.pipeline).
        self.first_run_raw = scratch / "first-run" / "warehouse.duckdb"
        # The raw warehouse the readers of raw data measure: the first run's, or the world
        # loader's cached one (set when it is ready).
        self.raw = self.first_run_raw
        self.logs = scratch / "logs"
        self.logs.mkdir()
        self.world: Path | None = None
        self.first_run_done = False

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
            _relate(measurements)
            say(
                f"{spec.name}: {result.seconds:,.2f} s (median of {result.runs}), "
                f"{result.records:,} records, {result.records_per_s:,.0f}/s, "
                f"peak RSS {result.peak_rss_mb:,.0f} MB"
            )
        document: dict[str, Any] = {
            "scale": self.scale,
            "seed": self.seed,
            "snapshot": self.snapshot,
            "timestamp": started.isoformat().replace("+00:00", "Z"),
            "machine": machine.describe(),
            "load_average": {"start": load_start, "end": machine.load_average()},
            "repeat": self.repeat,
            "measurements": measurements,
            "targets": targets.evaluate(measurements),
        }
        if self.synthetic_s is not None:
            document["snapshot_generation_s"] = round(self.synthetic_s, 2)
        document["raw"] = {"source": self.raw_source, **(self.raw_load or {})}
        return document

    def measure(self, spec: Spec) -> Result:
        say(f"{spec.name}: {spec.title}")
        if spec.kind == "world":
            return measure(
                spec,
                lambda _: self.context(),
                repeat=self.repeat,
                log=self.log(spec),
                after=self.adopt,
            )
        world = self.cached_world()
        if spec.kind == "ingest":

            def cleanup(index: int, sample: Sample) -> None:
                _remove_duckdb(self.scratch / f"{spec.name}-{index}.duckdb")

            return measure(
                spec,
                lambda i: self.context(world=world, warehouse=f"{spec.name}-{i}.duckdb"),
                repeat=self.repeat,
                log=self.log(spec),
                after=cleanup,
            )
        if spec.name == FIRST_RUN:
            # Every run starts from an empty PAVED_HOME; the last one's warehouse stays.
            result = measure(
                spec,
                lambda _: self.context(world=world, raw=self.first_run_raw),
                repeat=1,
                log=self.log(spec),
            )
            self.first_run_done = True
            return result
        if self.snapshot == "synthetic" and spec.name in READERS:
            self.ensure_synthetic(world)
        else:
            self.ensure_first_run(world)
        return measure(spec, self.context_for(world), repeat=self.repeat, log=self.log(spec))

    def context_for(self, world: Path) -> Callable[[int], Context]:
        return lambda _: self.context(world=world)

    def context(
        self, *, world: Path | None = None, warehouse: str = "", raw: Path | None = None
    ) -> Context:
        target = self.scratch / warehouse if warehouse else (raw or self.raw)
        return Context(
            scale=self.scale,
            seed=self.seed,
            world=world or self.cache,
            scratch=self.scratch,
            warehouse=target,
            raw=raw or self.raw,
            snapshot=self.snapshot,
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

    def ensure_synthetic(self, world: Path) -> None:
        """The synthetic snapshot (bench.snapshot) of the world, generated once, in scratch."""
        if self.synthetic_s is None:
            home = self.scratch / SYNTHETIC_HOME
            say(f"synthetic snapshot: generating it from {world} (not measured)")
            started = time.perf_counter()
            command = [sys.executable, "-m", "bench.snapshot", str(world), str(home)]
            with self.logs.joinpath("snapshot.log").open("ab") as log:
                done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=log, check=False)
            if done.returncode != 0:
                tail = self.logs.joinpath("snapshot.log").read_text().splitlines()[-10:]
                raise MeasurementError("the synthetic snapshot failed:\n  " + "\n  ".join(tail))
            self.synthetic_s = time.perf_counter() - started
            say(f"synthetic snapshot: {self.synthetic_s:,.1f} s")

    def ensure_first_run(self, world: Path) -> None:
        """The pipeline's first run, unmeasured, when this invocation has not measured it; with
        ``--raw world``, the world loader's warehouse instead."""
        if self.raw_source == "world":
            self.ensure_world_raw(world)
            return
        if not self.first_run_done:
            say("first run of the pipeline, for the measurements that need its warehouse")
            spec = BY_NAME[FIRST_RUN]
            run_once(spec, self.context(world=world), self.log(spec))
            self.first_run_done = True

    def ensure_world_raw(self, world: Path) -> None:
        """The world loader's raw warehouse (bench.rawload), from the cache or loaded into it
        (unmeasured: its time is reported as a note)."""
        if self.raw_load is not None:
            return
        stride = ARGOCD_STRIDE[self.scale]
        cached = rawload.cache_path(self.cache, world, stride)
        # Relative to the cache: the results name no path of this machine.
        where = str(cached.relative_to(self.cache))
        note: dict[str, Any] = {"warehouse": where, "argocd_stride_days": stride}
        if cached.exists():
            say(f"raw warehouse: reusing {cached}")
            note["cached"] = True
        else:
            say(f"raw warehouse: loading {world.name} into {cached} (not measured)")
            cached.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "bench.rawload", str(world), str(cached)]
            command += ["--argocd-stride", str(stride)]
            log = self.logs / "rawload.log"
            with log.open("ab") as sink:
                done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=sink)
            if done.returncode != 0:
                tail = log.read_text(errors="replace").splitlines()[-10:]
                raise MeasurementError("the raw load failed:\n  " + "\n  ".join(tail))
            note |= {"cached": False, **json.loads(done.stdout.decode().splitlines()[-1])}
            say(f"raw warehouse: loaded in {note['seconds']:,.1f} s")
        note["warehouse_mb"] = round(cached.stat().st_size / 1e6, 1)
        self.raw = cached
        self.raw_load = note


# (measurement, the one it is compared with, the field the ratio goes in)
RATIOS = (
    ("rebuild", "scan_floor", "scan_floor_ratio"),
    ("incremental", "rebuild", "rebuild_ratio"),
)
FIRST_RUN = "first_run"


def _relate(measurements: dict[str, Any]) -> None:
    """Ratios between measurements of this invocation (the rebuild to the scan floor), and
    the daily run's staging and marts alone to the rebuild, which is those layers alone."""
    for name, base, field in RATIOS:
        one, other = measurements.get(name), measurements.get(base)
        if one and other and "seconds" in one and other.get("seconds"):
            one.setdefault("extra", {})[field] = round(one["seconds"] / other["seconds"], 2)
    daily, rebuild = measurements.get("incremental"), measurements.get("rebuild")
    if daily and rebuild and rebuild.get("seconds"):
        extra = daily.setdefault("extra", {})
        transform = extra.get("layers_s", {}).get("staging + marts")
        if transform is not None:
            extra["transform_rebuild_ratio"] = round(transform / rebuild["seconds"], 3)


def _remove_duckdb(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal")):
        file.unlink(missing_ok=True)
