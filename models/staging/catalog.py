"""The spine from the raw Backstage entities: services, teams (with members) and users."""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from typing import Any

import duckdb
import orjson
import polars as pl

from models import catalog as catalog_model
from models import respondents
from models.catalog import Component, ServiceIndex
from models.metrics.frames import SERVICES, TEAMS, conform, empty
from models.respondents import respondent_hash
from models.staging.common import entity_ref, raw_tables
from models.tables import has_table

USERS: dict[str, pl.DataType] = {
    "user": pl.Utf8(),
    "email_hash": pl.Utf8(),
    "team": pl.Utf8(),
}
"""One row per Backstage User: ``email_hash`` the keyed hash of its ``spec.profile.email``
(NULL without a salt or an email), ``team`` its first ``spec.memberOf`` Group ref."""

CATALOG_TABLES = ("services", "teams", "users")
"""The staging tables :func:`stage_catalog` builds, in its order."""

_CATALOG_SHAPES = ({**SERVICES, "_annotations": pl.Utf8()}, TEAMS, USERS)


def _entities(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, dict[str, Any]]]:
    if "backstage_entities" not in raw_tables(conn):
        return []
    rows = conn.execute(
        "SELECT key, payload::VARCHAR FROM raw.backstage_entities ORDER BY key"
    ).fetchall()
    out = []
    for key, text in rows:
        # orjson: the raw writer's own encoding (connectors.payloads), parsed 3-4 x faster.
        payload = orjson.loads(text) if text else {}
        out.append((str(key).lower(), payload if isinstance(payload, dict) else {}))
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def stage_catalog(
    conn: duckdb.DuckDBPyConnection, *, salt: str | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(services, teams, users). A service is a Component (``component:<ns>/<name>``), its team
    the owner as a Group ref; a team's ``members`` are the users whose first group it is."""
    services, groups, users = [], [], []
    for key, payload in _entities(conn):
        kind = key.split(":", 1)[0]
        meta, spec = _dict(payload.get("metadata")), _dict(payload.get("spec"))
        namespace = str(meta.get("namespace") or "default").lower()
        if kind == "component":
            ann = {str(k): str(v) for k, v in _dict(meta.get("annotations")).items()}
            depends = spec.get("dependsOn")
            services.append(
                {
                    "service": key,
                    "name": str(meta.get("name") or key.split("/")[-1]).lower(),
                    "team": entity_ref("group", spec.get("owner"), namespace),
                    "system": spec.get("system"),
                    "lifecycle": spec.get("lifecycle"),
                    "type": spec.get("type"),
                    "repo": (ann.get("github.com/project-slug") or "").strip() or None,
                    "argocd_app": ann.get("argocd/app-name") or ann.get("argocd/app-selector"),
                    "pagerduty_service_id": ann.get("pagerduty.com/service-id"),
                    "depends_on": [str(d) for d in depends] if isinstance(depends, list) else [],
                    "_annotations": json.dumps(ann),
                }
            )
        elif kind == "group":
            profile = _dict(spec.get("profile"))
            groups.append(
                {
                    "team": key,
                    "name": profile.get("displayName") or meta.get("title") or meta.get("name"),
                    "parent": entity_ref("group", spec.get("parent"), namespace),
                }
            )
        elif kind == "user":
            profile = _dict(spec.get("profile"))
            email = profile.get("email")
            member_of = spec.get("memberOf")
            first = member_of[0] if isinstance(member_of, list) and member_of else None
            users.append(
                {
                    "user": key,
                    "email_hash": respondent_hash(str(email), salt) if email and salt else None,
                    "team": entity_ref("group", first, namespace),
                }
            )
    user_frame = pl.DataFrame(users, schema=USERS) if users else empty(USERS)
    members = (
        user_frame.filter(pl.col("team").is_not_null())
        .group_by("team")
        .agg(members=pl.len().cast(pl.Int32))
    )
    team_frame = (
        pl.DataFrame(groups, schema={c: pl.Utf8() for c in ("team", "name", "parent")})
        if groups
        else pl.DataFrame(schema={c: pl.Utf8() for c in ("team", "name", "parent")})
    )
    team_frame = team_frame.join(members, on="team", how="left").with_columns(
        pl.col("members").fill_null(0)
    )
    service_frame = (
        pl.DataFrame(services, schema={**SERVICES, "_annotations": pl.Utf8()})
        if services
        else empty({**SERVICES, "_annotations": pl.Utf8()})
    )
    return (
        conform(service_frame, _CATALOG_SHAPES[0]).sort("service"),
        conform(team_frame, TEAMS).sort("team"),
        user_frame.sort("user"),
    )


def catalog_digest(conn: duckdb.DuckDBPyConnection, salt: str | None) -> str | None:
    """A digest of everything :func:`stage_catalog` reads: the raw entities (their count and
    the sum of the hashes of their keys and payloads: a change goes unseen only if both stay
    the same, odds about 2^-64), the salt (as a keyed hash of a constant: never the salt
    itself), and the code that builds the tables. None without raw entities."""
    if "backstage_entities" not in raw_tables(conn):
        return None
    [(count, total)] = conn.execute(
        "SELECT count(*), sum(hash(key, payload::VARCHAR)::HUGEINT) FROM raw.backstage_entities"
    ).fetchall()
    salted = respondent_hash("paved:catalog-digest", salt) if salt else "no salt"
    modules = (sys.modules[__name__], catalog_model, respondents)
    code = "\n".join(inspect.getsource(module) for module in modules)
    text = f"{count}|{total}|{salted}|{pl.__version__}|{duckdb.__version__}|{code}"
    return hashlib.sha256(text.encode()).hexdigest()


def kept_catalog(
    conn: duckdb.DuckDBPyConnection, digest: str | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None:
    """The catalog's staging tables as written, if each was written with ``digest`` (the
    writer stores it in ``staging.paved_staged_runs``); else None."""
    if digest is None or not has_table(conn, "staging", "paved_staged_runs"):
        return None
    names = ", ".join(f"'{name}'" for name in CATALOG_TABLES)
    written = conn.execute(
        "SELECT count(*) FROM staging.paved_staged_runs "
        f"WHERE name IN ({names}) AND fingerprint = ?",
        [digest],
    ).fetchall()[0][0]
    if written != len(CATALOG_TABLES) or not all(
        has_table(conn, "staging", name) for name in CATALOG_TABLES
    ):
        return None
    services, teams, users = (
        conform(conn.sql(f"SELECT * FROM staging.{name}").pl(), shape)
        for name, shape in zip(CATALOG_TABLES, _CATALOG_SHAPES, strict=True)
    )
    return services, teams, users


def service_index(services: pl.DataFrame) -> ServiceIndex:
    """The lookups the raw layer maps with, rebuilt from the staged components."""
    return ServiceIndex.build(
        Component(ref, json.loads(text or "{}"))
        for ref, text in services.select("service", "_annotations").iter_rows()
    )
