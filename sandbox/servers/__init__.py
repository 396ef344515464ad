"""Loopback servers that speak each real protocol Paved reads, serving a built world.

    with Sandbox(World(path)) as sb:
        os.environ.update(sb.env())      # points Paved's real connectors at the servers
        sb.servers["github"].faults.burst_429 = 2
        sb.advance(days=1)               # every API moves on at once

One server per API (GitHub REST, Argo CD, PagerDuty REST v2, Typeform Responses, Backstage
catalog, OpenCost allocation), each on 127.0.0.1 on a free port, each with its own token, its
own `Faults` and a record of every request it got (`server.requests`).
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from sandbox.servers.argocd import ArgoCDServer
from sandbox.servers.backstage import BackstageServer
from sandbox.servers.base import SandboxServer
from sandbox.servers.faults import Faults
from sandbox.servers.github import GitHubServer
from sandbox.servers.opencost import OpenCostServer
from sandbox.servers.pagerduty import PagerDutyServer
from sandbox.servers.typeform import TypeformServer
from sandbox.world.store import World

__all__ = ["SERVERS", "SURVEY_SALT", "Faults", "Sandbox", "SandboxServer", "default_tokens"]

SERVERS: dict[str, type[SandboxServer]] = {
    "github": GitHubServer,
    "argocd": ArgoCDServer,
    "pagerduty": PagerDutyServer,
    "typeform": TypeformServer,
    "backstage": BackstageServer,
    "opencost": OpenCostServer,
}
# The respondent-hash secret the sandbox runs use; a real deployment sets its own.
SURVEY_SALT = "paved-sandbox-survey-salt"


def default_tokens() -> dict[str, str]:
    """Fresh random tokens in each API's usual look, distinct per run (leak tests grep them)."""

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")

    return {
        "github": "ghp_" + secrets.token_hex(18),
        "argocd": f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{b64(48)}.{b64(32)}",
        "pagerduty": "u+" + secrets.token_urlsafe(15),
        "typeform": "tfp_" + secrets.token_urlsafe(33),
        "backstage": secrets.token_hex(24),
    }


class Sandbox:
    """All six servers over one world and one clock."""

    def __init__(self, world: World | Path | str, tokens: dict[str, str] | None = None) -> None:
        self.world = world if isinstance(world, World) else World(Path(world))
        self.tokens = {**default_tokens(), **(tokens or {})}
        self.servers: dict[str, SandboxServer] = {
            name: cls(self.world, self.tokens.get(name)) for name, cls in SERVERS.items()
        }

    def start(self) -> Self:
        for server in self.servers.values():
            server.start()
        return self

    def stop(self) -> None:
        # Shut down in parallel: each waits for its serve loop to notice.
        threads = [threading.Thread(target=s.stop) for s in self.servers.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def now(self) -> datetime:
        return self.world.now

    def advance(self, *, days: float = 1.0) -> datetime:
        """Move the shared clock: new records appear in every API, open incidents may resolve."""
        return self.world.advance(days=days)

    def requests(self) -> dict[str, list[tuple[str, str]]]:
        """Every request each server got, as (method, path and query)."""
        return {name: list(server.requests) for name, server in self.servers.items()}

    def env(self) -> dict[str, str]:
        """The environment that points Paved at these servers and the world's files."""
        s, t, meta = self.servers, self.tokens, self.world.meta
        forms = [form for (form,) in self.world.query("SELECT id FROM typeform_forms ORDER BY id")]
        return {
            "GITHUB_API_URL": s["github"].url,
            "GITHUB_TOKEN": t["github"],
            "ARGOCD_URL": s["argocd"].url,
            "ARGOCD_TOKEN": t["argocd"],
            "PAGERDUTY_API_URL": s["pagerduty"].url,
            "PAGERDUTY_TOKEN": t["pagerduty"],
            "TYPEFORM_API_URL": s["typeform"].url,
            "TYPEFORM_TOKEN": t["typeform"],
            "TYPEFORM_FORM_IDS": ",".join(forms),
            "BACKSTAGE_URL": s["backstage"].url,
            "BACKSTAGE_TOKEN": t["backstage"],
            "OPENCOST_URL": s["opencost"].url,
            "PAVED_SURVEY_CSV": self._glob("googleforms"),
            "PAVED_SURVEY_TIMEZONE": meta.get("survey_timezone", "UTC"),
            "PAVED_SURVEY_SALT": SURVEY_SALT,
            "PAVED_COST_PATH": self._glob("focus"),
            "PAVED_HISTORY_START": meta["history_start"],
        }

    def _glob(self, kind: str) -> str:
        """One glob matching the world's files of `kind` (and nothing else it wrote)."""
        files = self.world.files(kind)
        if not files:
            return str(self.world.path / kind / "*")
        parent = Path(os.path.commonpath([f.parent for f in files]))
        suffixes = {f.suffix for f in files}
        pattern = f"*{suffixes.pop()}" if len(suffixes) == 1 else "*"
        nested = any(f.parent != parent for f in files)
        return str(parent / "**" / pattern) if nested else str(parent / pattern)
