"""The sandbox servers in a process of their own, for the ingestion measurements.

    python -m bench.serve WORLD_FOLDER [DAYS]

prints one line of JSON (the environment that points Paved at the servers, the process id
and the world's clock) once the servers listen, then serves until its stdin closes. With
``DAYS``, the world's clock is moved that many days forward first (the daily run's world).

Why a separate process: the servers are Python too. In the measuring process they would share
its GIL and its memory, so the figures would be the sandbox's as much as Paved's. Here the
measuring process holds only the connector and the warehouse, and the servers' CPU time is read
from outside (see :func:`bench.measures.ingestion.server_cpu_seconds`).

GitHub's hourly quota (5,000 requests in the sandbox, as on github.com) is lifted: a large
organisation's history takes several hours of quota, and a benchmark that sleeps through the
resets measures the clock, not Paved. The requests it would cost are reported instead.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

UNLIMITED = 10**12


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m bench.serve WORLD_FOLDER [DAYS]", file=sys.stderr)
        return 2
    from sandbox.servers import Sandbox
    from sandbox.servers.github import GitHubServer
    from sandbox.world.store import World

    world = World(Path(args[0]))
    if len(args) == 2:
        world.advance(days=float(args[1]))
    with Sandbox(world) as sandbox:
        github = sandbox.servers["github"]
        assert isinstance(github, GitHubServer)
        github.rate_limit = UNLIMITED
        for server in sandbox.servers.values():
            # The request log grows by one entry per request; the benchmark counts requests
            # on the client side, so the log need not hold millions of them.
            server.requests = _Discard()
        info = {"pid": os.getpid(), "env": sandbox.env(), "now": world.now.isoformat()}
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # until the parent closes the pipe (or dies)
    return 0


class _Discard(list[tuple[str, str]]):
    """A request log that keeps nothing."""

    def append(self, item: tuple[str, str]) -> None:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
