"""The `paved` command line (CONTRACT.md): one place that turns user mistakes into one-line
errors on stderr with a non-zero exit code, never a bare traceback."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from models.settings import Settings

if TYPE_CHECKING:
    from sandbox.servers import Sandbox

app = typer.Typer(
    name="paved",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="DORA and developer-experience analytics for platform teams.",
)
DASHBOARD_APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit code 2."""


class RunFailed(Exception):
    """A run that did not succeed (an asset or a blocking check failed): one line, exit 1."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = first.get("loc", ("?",))[0]
        # The message names the variable and the problem, never the value (it may be a secret).
        raise UserError(f"invalid configuration {str(name).upper()}: {first['msg']}") from None


def say(message: str) -> None:
    typer.echo(message, err=True)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} takes a date as YYYY-MM-DD, not {value!r}") from None


@contextmanager
def progress_lines() -> Iterator[None]:
    """Print the pipeline's progress lines (one per asset and check) on stderr."""
    logger = logging.getLogger("paved.progress")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@app.command()
def materialize(
    select: Annotated[
        str | None,
        typer.Option(
            "--select",
            help="assets to run: raw/github, raw/github,raw/argocd, or a Dagster selection "
            "such as group:raw; all of them by default",
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="re-collect from this date (YYYY-MM-DD) instead of the "
            "watermarks: a re-backfill, idempotent",
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="collect up to this date (YYYY-MM-DD), inclusive")
    ] = None,
) -> None:
    """Run the asset graph (all of it by default) against the configured sources, in this
    process; exit code 0 only if every selected asset and blocking check succeeded."""
    settings = load_settings()
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if first and last and last < first:
        raise UserError(f"--to {last} is before --from {first}")
    run_materialize(settings, select=select, window_from=first, window_to=last)


def run_materialize(
    settings: Settings,
    *,
    select: str | None = None,
    window_from: date | None = None,
    window_to: date | None = None,
) -> None:
    from pipelines.run import SelectionError, selection
    from pipelines.run import materialize as run

    try:
        selection(select)  # a mistake in it is the user's: say so before anything runs
    except SelectionError as exc:
        raise UserError(str(exc)) from None
    started = time.perf_counter()
    say(f"materialize: {select or 'all assets'} -> {settings.warehouse_path.resolve()}")
    with progress_lines():
        outcome = run(settings, select=select, window_from=window_from, window_to=window_to)
    elapsed = time.perf_counter() - started
    if not outcome.success:
        raise RunFailed(outcome.reason or f"run {outcome.run_id} failed")
    say(f"materialize: succeeded in {elapsed:.1f} s (Dagster run {outcome.run_id})")


@app.command()
def doctor() -> None:
    """Check the configuration and reachability of each source, in plain words."""
    from connectors.probes import probe
    from pipelines.ingest import history_note

    settings = load_settings()
    say(f"PAVED_HOME: {settings.home.resolve()}")
    say(f"history: {history_note(settings)}")
    problems = 0
    for source in settings.sources():
        if not source.configured:
            say(f"  - {source.name:<12} not configured ({source.missing}); skipped")
            continue
        if source.name in ("typeform", "googleforms") and settings.survey_salt_missing:
            problems += 1
            say(
                f"  FAIL {source.name:<12} set PAVED_SURVEY_SALT: surveys need it to hash "
                "respondents"
            )
            continue
        result = probe(settings, source.name)
        mark = "ok" if result.ok else "FAIL"
        problems += not result.ok
        say(f"  {mark:>4} {source.name:<12} {result.detail}")
    if problems:
        raise UserError(f"{problems} configured source(s) not reachable; see above")


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="port to serve on")] = 8501,
    host: Annotated[str, typer.Option(help="address to bind; loopback unless told")] = "127.0.0.1",
) -> None:
    """Serve the Streamlit dashboard over the published warehouse."""
    settings = load_settings()
    raise typer.Exit(run_dashboard(settings, host=host, port=port))


def run_dashboard(settings: Settings, *, host: str, port: int) -> int:
    env = {**os.environ, "PAVED_HOME": str(settings.home.resolve())}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    say(f"dashboard: http://{host}:{port}  (Ctrl-C to stop)")
    # Stopping Paved stops the dashboard too, whether by Ctrl-C or by SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@app.command()
def demo(
    scale: Annotated[str, typer.Option(help="small, demo or enterprise")] = "demo",
    no_dashboard: Annotated[
        bool, typer.Option("--no-dashboard", help="stop after the pipeline")
    ] = False,
    port: Annotated[int, typer.Option(help="dashboard port")] = 8501,
    seed: Annotated[int, typer.Option(help="the sandbox world's seed")] = 7,
) -> None:
    """Build the sandbox organisation, serve it on loopback, run the pipeline, open the
    dashboard."""
    from sandbox.servers import Sandbox
    from sandbox.world.build import build_world
    from sandbox.world.store import World

    settings = load_settings()
    os.environ.setdefault("PAVED_SANDBOX_DIR", str((settings.home / "sandbox").resolve()))
    started = time.perf_counter()
    try:
        folder = build_world(scale, seed=seed)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    world = World(folder)
    with Sandbox(world) as sandbox:
        os.environ.update(sandbox.env())
        say(
            f"sandbox: {scale} world served on 127.0.0.1 "
            f"({time.perf_counter() - started:.1f} s); sources:"
        )
        for name, server in sandbox.servers.items():
            say(f"  {name:<10} {server.url}")
        run_demo_pipeline(sandbox)
        if no_dashboard:
            return
        raise typer.Exit(run_dashboard(load_settings(), host="127.0.0.1", port=port))


def run_demo_pipeline(sandbox: Sandbox) -> None:
    """Argo CD replayed day by day as a daily schedule would have polled it, then one full
    `materialize` at the sandbox's clock."""
    from pipelines.demo import daily_polls, replay_argocd

    settings = load_settings()
    world = sandbox.world
    # The sandbox models one GitHub token reading a year of history at once; at GitHub's
    # 5,000 requests an hour the demo would wait for quota resets (the client does that for
    # real). Give the demo token room instead.
    sandbox.servers["github"].rate_limit = 1_000_000  # type: ignore[attr-defined]
    started = time.perf_counter()
    history_start = date.fromisoformat(world.meta["history_start"])
    say(f"argocd: replaying daily polls from {history_start} to {world.now:%Y-%m-%d} ...")
    replay = replay_argocd(
        settings,
        polls=daily_polls(history_start, world.now),
        now=world.now,
        set_clock=world.set_now,
        say=say,
    )
    say(
        f"argocd: {replay.polls} daily polls in {time.perf_counter() - started:.1f} s, "
        f"{replay.history_entries} history entries, {replay.gaps} gap(s) recorded"
    )
    # The marts end where the sandbox's clock stands, not at today's date: no empty months
    # after the world's last day.
    run_materialize(settings, window_to=(world.now - timedelta(days=1)).date())


def _register_sql() -> None:
    # Imported here: pipelines.sql imports this module's helpers inside its command.
    from pipelines.sql import sql_command

    app.command("sql")(sql_command)


_register_sql()


def _register_report() -> None:
    # Imported here, as for sql: pipelines.report_cli imports this module's helpers.
    from pipelines.report_cli import report_command

    app.command("report")(report_command)


_register_report()


def main() -> None:
    try:
        app()
    except UserError as exc:
        say(f"paved: error: {exc}")
        sys.exit(2)
    except RunFailed as exc:
        say(f"paved: error: {exc}")
        sys.exit(1)
