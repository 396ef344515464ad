"""`python -m sandbox`: build a sandbox world, or build it and serve it on loopback.

    python -m sandbox build --scale small
    eval "$(python -m sandbox serve --scale demo)"   # in another shell: it blocks until Ctrl-C

`serve` prints one `export NAME=value` line per environment variable that points Paved at the
servers, then keeps serving until interrupted. Progress goes to stderr, so stdout stays
evaluable.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
from pathlib import Path

SCALE_CHOICES = ("demo", "small", "enterprise")
DESCRIPTION = "Build a sandbox world, or build it and serve it on loopback."


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["truth"]:
        # The ground truth has its own options; see `python -m sandbox truth --help`.
        from sandbox.truth.cli import main_truth

        return main_truth(args_in[1:])
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("truth", help="compute the expected metrics of a world (CSV files)")
    for name, text in (
        ("build", "build (or reuse) a world and print its folder"),
        ("serve", "build a world and serve it until Ctrl-C"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--scale", choices=SCALE_CHOICES, default="demo")
        command.add_argument("--seed", type=int, default=7)
        command.add_argument(
            "--root",
            type=Path,
            default=None,
            help="where worlds are cached (default: $PAVED_SANDBOX_DIR)",
        )
        if name == "serve":
            command.add_argument(
                "--advance-days",
                type=float,
                default=0.0,
                help="move the clock forward before serving",
            )
            command.add_argument(
                "--fault",
                action="append",
                default=[],
                metavar="NAME=VALUE",
                help="inject a fault on every server, e.g. error_rate=0.1 or burst_429=3 "
                "(fields of sandbox.servers.faults.Faults); repeatable",
            )
    args = parser.parse_args(argv)
    faults: dict[str, float] = {}
    if args.command == "serve":
        try:
            faults = parse_faults(args.fault)
        except ValueError as exc:
            parser.error(str(exc))

    # Imported late: `--help` stays instant, and the generator is another engineer's module.
    from sandbox.world.build import build_world

    folder = build_world(args.scale, seed=args.seed, root=args.root)
    if args.command == "build":
        print(folder)
        return 0
    return serve(folder, advance_days=args.advance_days, faults=faults)


def parse_faults(settings: list[str]) -> dict[str, float]:
    """`NAME=VALUE` pairs naming numeric fields of Faults."""
    from sandbox.servers.faults import Faults

    known = {
        name
        for name, value in vars(Faults()).items()
        if isinstance(value, int | float) and not name.startswith("_")
    }
    faults: dict[str, float] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        if name not in known:
            raise ValueError(f"unknown fault {name!r}: choose from {', '.join(sorted(known))}")
        try:
            faults[name] = float(value)
        except ValueError:
            raise ValueError(f"fault {name} needs a number, not {value!r}") from None
    return faults


def serve(
    folder: Path, *, advance_days: float = 0.0, faults: dict[str, float] | None = None
) -> int:
    from sandbox.servers import Sandbox
    from sandbox.world.store import World

    world = World(folder)
    if advance_days:
        try:
            world.advance(days=advance_days)
        except ValueError as exc:  # past the generated horizon: a user mistake, one line
            print(f"[sandbox] cannot advance {advance_days} days: {exc}", file=sys.stderr)
            return 2
    with Sandbox(world) as sandbox:
        for server in sandbox.servers.values():
            for name, value in (faults or {}).items():
                current = getattr(server.faults, name)
                setattr(server.faults, name, type(current)(value))
        for name, value in sandbox.env().items():
            print(f"export {name}={shlex.quote(value)}")
        sys.stdout.flush()
        print(
            f"[sandbox] serving {folder.name} at {world.now_ts}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("[sandbox] stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
