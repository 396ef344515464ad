"""The PagerDuty REST API v2 sandbox: `GET /incidents`, `/incidents/{id}`,
`/incidents/{id}/log_entries` and `/services`, as of the world clock.

Quirks served as the real API has them: `Authorization: Token token=<key>`; incidents filtered by
`created_at` in [since, until), a range of at most 6 months (else 400), `since`/`until` without
a zone read in the `time_zone` given or the account's zone (not UTC), timestamps rendered in
`time_zone`; `limit` capped at 100; `offset + limit` above 10,000 refused with the real error;
`total` null unless `total=true`; an incident's status is what it was at the clock; legacy
incidents come without `resolved_at` and `updated_at`; 429 with `ratelimit-reset` seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.servers.base import HTTPError, Request, Response, SandboxServer
from sandbox.servers.faults import Faults
from sandbox.servers.util import add_months, from_ts, parse_time, pd_id, stable_hex, ts
from sandbox.world.store import World

MAX_RESULTS = 10_000
OFFSET_MESSAGE = (
    "Offset+limit exceeds maximum allowed value of 10000. Please try to refine your search to "
    "reduce the returned set of records below this number, like adding a date range."
)
_STATUS_AT = (
    "CASE WHEN resolved_at IS NOT NULL AND resolved_at <= ? THEN 'resolved' "
    "WHEN acknowledged_at IS NOT NULL AND acknowledged_at <= ? THEN 'acknowledged' "
    "ELSE 'triggered' END"
)
_SORT_FIELDS = {"created_at", "incident_number", "resolved_at", "urgency"}


class PagerDutyServer(SandboxServer):
    """api.pagerduty.com for the world's account."""

    name = "pagerduty"
    server_header = "nginx"

    def __init__(
        self,
        world: World,
        token: str | None,
        faults: Faults | None = None,
        *,
        account_time_zone: str = "America/Los_Angeles",
        subdomain: str = "sandbox",
    ):
        self.account_zone = ZoneInfo(account_time_zone)
        self.web = f"https://{subdomain}.pagerduty.com"
        super().__init__(world, token, faults)

    def register(self) -> None:
        self.route("GET", r"/incidents", self._incidents)
        self.route("GET", r"/incidents/(?P<id>[^/]+)", self._incident)
        self.route("GET", r"/incidents/(?P<id>[^/]+)/log_entries", self._log_entries)
        self.route("GET", r"/services", self._services)

    # -- auth and errors ---------------------------------------------------------------------
    def authorized(self, req: Request) -> bool:
        auth = (req.headers.get("Authorization") or "").strip()
        return auth == f"Token token={self.token}"

    def error(
        self,
        status: int,
        message: str,
        req: Request,
        code: int = 2001,
        errors: list[str] | None = None,
    ) -> Response:
        body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            body["errors"] = errors
        return Response(status, {"error": body})

    def unauthorized(self, req: Request) -> Response:
        return self.error(401, "Authentication failed", req, code=2006)

    def not_found(self, req: Request) -> Response:
        return self.error(404, "Not Found", req, code=2100)

    def too_many_requests(self, req: Request) -> Response:
        return self._limited(self.faults.retry_after_seconds)

    def exhausted(self, req: Request) -> Response:
        return self._limited(self.faults.reset_seconds)

    def _limited(self, seconds: int) -> Response:
        response = Response(429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}})
        response.headers.update(
            {"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": str(seconds)}
        )
        return response

    def corrupt(self, item: dict) -> None:
        if self.faults.uniform() < 0.5:
            item.pop("id", None)
        else:
            item["created_at"] = "yesterday at noon"

    def _bad_input(
        self, req: Request, *errors: str, code: int = 2001, message: str = "Invalid Input Provided"
    ) -> HTTPError:
        return HTTPError(self.error(400, message, req, code=code, errors=list(errors)))

    # -- arguments ---------------------------------------------------------------------------
    def _zone(self, req: Request) -> ZoneInfo | None:
        name = req.arg("time_zone")
        if not name:
            return None
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self._bad_input(req, "Time Zone is invalid.") from None

    def _window(self, req: Request) -> tuple[str, str] | None:
        if req.arg("date_range") == "all":
            return None
        zone = self._zone(req) or self.account_zone
        now = self.world.now
        since_text, until_text = req.arg("since"), req.arg("until")
        try:
            since = parse_time(since_text, naive_zone=zone) if since_text else None
            until = parse_time(until_text, naive_zone=zone) if until_text else None
        except ValueError:
            raise self._bad_input(
                req,
                "Since or until is not a valid date.",
                code=2004,
                message="Invalid 'since' or 'until' Parameter Values",
            ) from None
        until = until or now
        since = since or add_months(until, -1)
        if until < since or add_months(since, 6) < until:
            # What the real API says for a range above six months, verbatim.
            raise self._bad_input(req, " is invalid.")
        return ts(since), ts(until)

    def _paging(self, req: Request) -> tuple[int, int]:
        limit = min(max(req.int_arg("limit", 25), 1), 100)
        offset = max(req.int_arg("offset", 0), 0)
        if offset + limit > MAX_RESULTS:
            raise self._bad_input(req, OFFSET_MESSAGE, code=2002, message="Arguments Caused Error")
        return offset, limit

    # -- endpoints ---------------------------------------------------------------------------
    def _incidents(self, req: Request) -> dict[str, Any]:
        offset, limit = self._paging(req)
        zone = self._zone(req)
        now = self.world.now_ts
        sql = f"FROM (SELECT *, {_STATUS_AT} AS status_now FROM pd_incidents) WHERE created_at <= ?"
        params: list[Any] = [now, now, now]
        window = self._window(req)
        if window:
            sql += " AND created_at >= ? AND created_at < ?"
            params += list(window)
        for arg, column in (
            ("service_ids[]", "pd_service_id"),
            ("statuses[]", "status_now"),
            ("urgencies[]", "urgency"),
        ):
            values = req.args(arg)
            if values:
                sql += f" AND {column} IN ({','.join('?' * len(values))})"
                params += values
        total = self.world.query(f"SELECT COUNT(*) {sql}", params)[0][0]
        order = self._order(req)
        services = self._service_names()

        def fetch(start: int, size: int) -> list[dict]:
            rows = self.world.rows(
                f"SELECT * {sql} ORDER BY {order} LIMIT ? OFFSET ?", [*params, size, start]
            )
            return [self._render(row, services, zone) for row in rows]

        items = self.paged(fetch, offset, limit, drift=True)
        return {
            "incidents": items,
            "limit": limit,
            "offset": offset,
            "more": offset + limit < total,
            "total": total if req.arg("total") == "true" else None,
        }

    def _order(self, req: Request) -> str:
        terms = []
        for part in (req.arg("sort_by") or "created_at").split(",")[:2]:
            field, _, direction = part.strip().partition(":")
            if field not in _SORT_FIELDS or direction not in ("", "asc", "desc"):
                raise self._bad_input(req, "Sort By is invalid.")
            if field == "resolved_at":
                field = "CASE WHEN status_now = 'resolved' THEN resolved_at END"
            terms.append(f"{field} {direction or 'asc'}")
        return ", ".join([*terms, "incident_number asc"])

    def _incident(self, req: Request) -> dict[str, Any]:
        row = self._incident_row(req)
        return {"incident": self._render(row, self._service_names(), self._zone(req))}

    def _incident_row(self, req: Request) -> dict[str, Any]:
        now = self.world.now_ts
        rows = list(
            self.world.rows(
                f"SELECT *, {_STATUS_AT} AS status_now FROM pd_incidents WHERE id = ? "
                "AND created_at <= ?",
                (now, now, req.params["id"], now),
            )
        )
        if not rows:
            raise HTTPError(self.not_found(req))
        return rows[0]

    def _log_entries(self, req: Request) -> dict[str, Any]:
        row = self._incident_row(req)
        offset, limit = self._paging(req)
        zone = self._zone(req)
        incident = self._reference(
            row["id"],
            "incident",
            f"[#{row['incident_number']}] {row['title']}",
            f"incidents/{row['id']}",
        )
        entries = [("trigger", row["created_at"], "Triggered through the API.")]
        if row["status_now"] in ("acknowledged", "resolved") and row["acknowledged_at"]:
            entries.append(("acknowledge", row["acknowledged_at"], "Acknowledged by On Call."))
        if row["status_now"] == "resolved":
            entries.append(("resolve", row["resolved_at"], "Resolved by On Call."))
        entries.reverse()  # newest first
        items = [
            {
                "id": "R" + stable_hex(row["id"], kind, length=25).upper(),
                "type": f"{kind}_log_entry",
                "summary": summary,
                "self": f"https://api.pagerduty.com/log_entries/R{stable_hex(row['id'], kind)}",
                "html_url": None,
                "created_at": _render_time(at, zone),
                "channel": {"type": "api" if kind == "trigger" else "website"},
                "incident": incident,
                "teams": [],
            }
            for kind, at, summary in entries
        ]
        window = items[offset : offset + limit]
        return {
            "log_entries": window,
            "limit": limit,
            "offset": offset,
            "more": offset + limit < len(items),
            "total": len(items) if req.arg("total") == "true" else None,
        }

    def _services(self, req: Request) -> dict[str, Any]:
        offset, limit = self._paging(req)
        rows = list(self.world.rows("SELECT * FROM pd_services ORDER BY name, id"))
        items = [
            {
                **self._reference(r["id"], "service", r["name"], f"service-directory/{r['id']}"),
                "type": "service",
                "name": r["name"],
                "description": f"{r['name']} (sandbox)",
                "status": "active",
                "escalation_policy": self._reference(
                    pd_id("ep", r["id"]),
                    "escalation_policy",
                    "Default",
                    f"escalation_policies/{pd_id('ep', r['id'])}",
                ),
                "teams": [],
                "incident_urgency_rule": {"type": "constant", "urgency": "high"},
                "alert_creation": "create_alerts_and_incidents",
                "created_at": self.world.meta["start"],
            }
            for r in rows
        ]
        return {
            "services": self.maybe_corrupt(items[offset : offset + limit]),
            "limit": limit,
            "offset": offset,
            "more": offset + limit < len(items),
            "total": len(items) if req.arg("total") == "true" else None,
        }

    # -- rendering ---------------------------------------------------------------------------
    def _service_names(self) -> dict[str, str]:
        return dict(self.world.query("SELECT id, name FROM pd_services"))

    def _reference(self, ident: str, kind: str, summary: str, path: str) -> dict[str, Any]:
        plural = {"escalation_policy": "escalation_policies"}.get(kind, f"{kind}s")
        return {
            "id": ident,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"https://api.pagerduty.com/{plural}/{ident}",
            "html_url": f"{self.web}/{path}",
        }

    def _render(
        self, row: dict[str, Any], services: dict[str, str], zone: ZoneInfo | None
    ) -> dict[str, Any]:
        status = row["status_now"]
        changed = {"resolved": row["resolved_at"], "acknowledged": row["acknowledged_at"]}.get(
            status
        ) or row["created_at"]
        oncall = self._reference(
            pd_id("user", row["pd_service_id"]),
            "user",
            "On Call",
            f"users/{pd_id('user', row['pd_service_id'])}",
        )
        service = self._reference(
            row["pd_service_id"],
            "service",
            services.get(row["pd_service_id"], "Unknown service"),
            f"service-directory/{row['pd_service_id']}",
        )
        summary = f"[#{row['incident_number']}] {row['title']}"
        body: dict[str, Any] = {
            "id": row["id"],
            "type": "incident",
            "summary": summary,
            "self": f"https://api.pagerduty.com/incidents/{row['id']}",
            "html_url": f"{self.web}/incidents/{row['id']}",
            "incident_number": row["incident_number"],
            "title": row["title"],
            "description": row["title"],
            "created_at": _render_time(row["created_at"], zone),
            "updated_at": _render_time(changed, zone),
            "status": status,
            "incident_key": stable_hex("key", row["id"], length=32),
            "service": service,
            "assignments": []
            if status == "resolved"
            else [{"at": _render_time(row["created_at"], zone), "assignee": oncall}],
            "assigned_via": "escalation_policy",
            "last_status_change_at": _render_time(changed, zone),
            "resolved_at": _render_time(row["resolved_at"], zone) if status == "resolved" else None,
            "first_trigger_log_entry": {
                "id": "R" + stable_hex(row["id"], "trigger", length=25).upper(),
                "type": "trigger_log_entry_reference",
                "summary": "Triggered through the API.",
            },
            "alert_counts": {
                "all": 1,
                "triggered": int(status != "resolved"),
                "resolved": int(status == "resolved"),
            },
            "is_mergeable": True,
            "incident_type": {"name": "incident_default"},
            "escalation_policy": self._reference(
                pd_id("ep", row["pd_service_id"]),
                "escalation_policy",
                "Default",
                f"escalation_policies/{pd_id('ep', row['pd_service_id'])}",
            ),
            "teams": [],
            "pending_actions": [],
            "acknowledgements": [
                {"at": _render_time(row["acknowledged_at"], zone), "acknowledger": oncall}
            ]
            if status == "acknowledged"
            else [],
            "alert_grouping": None,
            "last_status_change_by": service if status == "triggered" else oncall,
            "priority": None,
            "resolve_reason": None,
            "conference_bridge": None,
            "incidents_responders": [],
            "responder_requests": [],
            "urgency": row["urgency"],
        }
        if row["legacy"]:
            # Incidents from before May 2023 come without these two fields.
            del body["resolved_at"], body["updated_at"]
        return body


def _render_time(text: str | None, zone: ZoneInfo | None) -> str | None:
    if text is None or zone is None:
        return text
    moment: datetime = from_ts(text).astimezone(zone)
    return moment.isoformat()
