"""The `paved` command line (CONTRACT.md): one place that turns user mistakes into one-line
errors on stderr with a non-zero exit code, never a bare traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from models.settings import Settings

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


@app.command()
def doctor() -> None:
    """Check the configuration and reachability of each source, in plain words."""
    from connectors.probes import probe

    settings = load_settings()
    say(f"PAVED_HOME: {settings.home.resolve()}")
    problems = 0
    for source in settings.sources():
        if not source.configured:
            say(f"  - {source.name:<12} not configured ({source.missing}); skipped")
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
        if no_dashboard:
            return
        raise typer.Exit(run_dashboard(load_settings(), host="127.0.0.1", port=port))


def main() -> None:
    try:
        app()
    except UserError as exc:
        say(f"paved: error: {exc}")
        sys.exit(2)
