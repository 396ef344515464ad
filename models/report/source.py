"""The published snapshot, opened read-only, and the report's scope resolved against it.

After :func:`open_snapshot`, the temporary table ``scope_services`` holds the services the
report covers (all catalogued services for ``org``, a team's own for ``team:NAME``) with their
team and display names; every query of the report joins through it, so one rule decides what
belongs to the scope, as ``marts.dora_metrics`` does (a record counts through its service).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb


class ReportError(ValueError):
    """A mistake the user can fix (no snapshot, unknown team, bad scope): one line."""


@dataclass(frozen=True)
class Scope:
    kind: str  # "org" or "team"
    scope_id: str  # "org" or the team's ref, as marts.dora_metrics' scope_id
    label: str
    child_kind: str  # the scopes listed under it: "team" for the org, "service" for a team

    @property
    def name(self) -> str:
        return "org" if self.kind == "org" else f"team:{self.scope_id}"

    @property
    def display_name(self) -> str:
        """The scope's name as a table row shows it."""
        return "Organisation" if self.kind == "org" else self.label


class Snapshot:
    """A read-only connection to the published file, with helpers returning plain rows."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, published_at: datetime) -> None:
        self.conn = conn
        self.published_at = published_at

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params or {}).fetchall()

    def one(self, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
        found = self.rows(sql, params)
        return found[0]

    def has_table(self, schema: str, table: str) -> bool:
        return bool(
            self.rows(
                "SELECT 1 FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t",
                {"s": schema, "t": table},
            )
        )


@contextmanager
def open_snapshot(published: Path) -> Iterator[Snapshot]:
    if not published.is_file():
        raise ReportError(
            f"no published snapshot at {published}: run `paved materialize` (or `paved demo`) first"
        )
    published_at = datetime.fromtimestamp(published.stat().st_mtime, UTC)
    try:
        conn = duckdb.connect(str(published), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise ReportError(f"cannot open the published snapshot {published}: {first}") from None
    try:
        conn.execute("SET TimeZone = 'UTC'")
        yield Snapshot(conn, published_at)
    finally:
        conn.close()


def resolve_scope(snapshot: Snapshot, scope: str) -> Scope:
    """``org``, or ``team:NAME`` where NAME is the team's ref (``group:default/x``), its name
    (``x``) or its display name, case-insensitively. Fills ``scope_services``."""
    text = scope.strip()
    if text.lower() == "org":
        found = Scope("org", "org", "the organisation", "team")
        where, params = "", {}
    elif text.lower().startswith("team:") and text[5:].strip():
        wanted = text[5:].strip().lower()
        matches = snapshot.rows(
            "SELECT team, coalesce(name, team) FROM marts.teams "
            "WHERE lower(team) = $w OR lower(name) = $w OR lower(team) = 'group:default/' || $w "
            "ORDER BY team",
            {"w": wanted},
        )
        if not matches:
            known = [r[0] for r in snapshot.rows("SELECT team FROM marts.teams ORDER BY 1")]
            listed = ", ".join(t.rsplit("/", 1)[-1] for t in known[:8])
            more = f" and {len(known) - 8} more" if len(known) > 8 else ""
            raise ReportError(f"unknown team {text[5:].strip()!r}; teams: {listed}{more}")
        ref, label = matches[0]
        found = Scope("team", ref, label, "service")
        where, params = "WHERE s.team = $team", {"team": ref}
    else:
        raise ReportError(f"--scope takes org or team:NAME, not {scope!r}")
    snapshot.conn.execute(
        "CREATE OR REPLACE TEMP TABLE scope_services AS "
        "SELECT s.service, coalesce(s.name, s.service) AS service_name, s.team, "
        "coalesce(t.name, s.team) AS team_name "
        f"FROM marts.services s LEFT JOIN marts.teams t ON t.team = s.team {where}",
        params,
    )
    return found
