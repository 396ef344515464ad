"""The Typeform sandbox: `GET /forms/{id}/responses`, `GET /forms/{id}` and `GET /forms`.

Served as the real Responses API: Bearer token; `page_size` up to 1000; `since`/`until`
inclusive (ISO 8601 or Unix seconds, on `submitted_at`); `before`/`after` response tokens, not
combinable with `sort`; newest first unless sorted; `{total_items, page_count, items}` and no
next link; only responses submitted and visible by the clock (`visible_at`: some are listed days
late, after newer ones). Its ~2 requests/s limit (429 above) is the
fault setting `rate_limit_per_second`, off by default.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.servers.base import HTTPError, Request, Response, SandboxServer
from sandbox.servers.util import parse_time, stable_hex, ts

MAX_PAGE_SIZE = 1000
_SORTABLE = {"submitted_at", "landed_at"}


class TypeformServer(SandboxServer):
    """api.typeform.com for the world's survey forms."""

    name = "typeform"
    server_header = "typeform"

    def register(self) -> None:
        self.route("GET", r"/forms", self._forms)
        self.route("GET", r"/forms/(?P<id>[^/]+)", self._form)
        self.route("GET", r"/forms/(?P<id>[^/]+)/responses", self._responses)

    def error(self, status: int, message: str, req: Request, code: str = "") -> Response:
        default = {
            400: "VALIDATION_ERROR",
            401: "AUTHENTICATION_FAILED",
            404: "NOT_FOUND",
            429: "RATE_LIMITED",
            500: "INTERNAL_SERVER_ERROR",
        }
        return Response(
            status, {"code": code or default.get(status, "ERROR"), "description": message}
        )

    def unauthorized(self, req: Request) -> Response:
        if not req.headers.get("Authorization"):
            return self.error(
                401, "Authentication credentials not found on the Request Headers", req
            )
        return self.error(401, "Authentication failed: invalid token", req)

    def before(self, req: Request) -> Response | None:
        if self.faults.throttled():
            return self.too_many_requests(req)
        return None

    def corrupt(self, item: dict) -> None:
        if self.faults.uniform() < 0.5:
            item.pop("token", None)
            item.pop("response_id", None)
        else:
            item["submitted_at"] = "31/12/2026 25:00"

    # -- endpoints ---------------------------------------------------------------------------
    def _form_row(self, req: Request) -> dict[str, Any]:
        rows = list(
            self.world.rows("SELECT * FROM typeform_forms WHERE id = ?", (req.params["id"],))
        )
        if not rows:
            raise HTTPError(
                self.error(
                    404,
                    f"Non existing form with uid {req.params['id']}",
                    req,
                    code="FORM_NOT_FOUND",
                )
            )
        return rows[0]

    def _forms(self, req: Request) -> dict[str, Any]:
        forms = [
            self._form_summary(r)
            for r in self.world.rows("SELECT * FROM typeform_forms ORDER BY id")
        ]
        return {"total_items": len(forms), "page_count": 1, "items": forms}

    def _form_summary(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"],
            "title": row["title"],
            "type": "form",
            "settings": {"is_public": True},
            "self": {"href": f"{self.url}/forms/{row['id']}"},
            "_links": {"display": f"https://sandbox.typeform.com/to/{row['id']}"},
        }

    def _form(self, req: Request) -> dict[str, Any]:
        row = self._form_row(req)
        return {
            **self._form_summary(row),
            "fields": json.loads(row["fields_json"] or "[]"),
            "hidden": ["email", "team"],
            "variables": {"score": 0},
        }

    def _time(self, req: Request, name: str) -> str | None:
        value = req.arg(name)
        if not value:
            return None
        try:
            return ts(parse_time(value))
        except ValueError:
            raise HTTPError(self.error(400, f"{name}: invalid date-time", req)) from None

    def _responses(self, req: Request) -> dict[str, Any]:
        form = self._form_row(req)
        page_size = req.int_arg("page_size", 25)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise HTTPError(
                self.error(400, f"page_size: must be between 1 and {MAX_PAGE_SIZE}", req)
            )
        before, after, sort = req.arg("before"), req.arg("after"), req.arg("sort")
        if (before or after) and sort:
            raise HTTPError(
                self.error(
                    400, "sort: cannot be used together with the before or after parameters", req
                )
            )
        # A response is listed once submitted and once Typeform shows it: some come days late.
        sql = (
            "FROM typeform_responses WHERE form_id = ? AND submitted_at <= ? "
            "AND COALESCE(visible_at, submitted_at) <= ?"
        )
        params: list[Any] = [form["id"], self.world.now_ts, self.world.now_ts]
        for name, op in (("since", ">="), ("until", "<=")):
            value = self._time(req, name)
            if value:
                sql += f" AND submitted_at {op} ?"
                params.append(value)
        order = "submitted_at DESC, token DESC"
        for token, op, direction in ((after, ">", "ASC"), (before, "<", "DESC")):
            if not token:
                continue
            anchor = self.world.query(
                "SELECT submitted_at FROM typeform_responses WHERE form_id = ? AND token = ?",
                (form["id"], token),
            )
            if not anchor:
                raise HTTPError(
                    self.error(
                        400, f"{'after' if op == '>' else 'before'}: unknown response token", req
                    )
                )
            if self.faults.chance("duplicate", self.faults.duplicate_rate):
                op += "="  # the anchor, last item of the previous page, comes again
            sql += f" AND (submitted_at, token) {op} (?, ?)"
            params += [anchor[0][0], token]
            # With `after`, responses come in the order Typeform processed them.
            order = f"submitted_at {direction}, token {direction}"
        if sort:
            field, _, direction = sort.partition(",")
            if field not in _SORTABLE or direction.lower() not in ("", "asc", "desc"):
                raise HTTPError(self.error(400, "sort: invalid value", req))
            order = f"{field} {direction or 'desc'}, token {direction or 'desc'}"
        total = self.world.query(f"SELECT COUNT(*) {sql}", params)[0][0]
        rows = self.world.rows(f"SELECT * {sql} ORDER BY {order} LIMIT ?", [*params, page_size])
        items = self.maybe_corrupt([self._render(row) for row in rows])
        return {"total_items": total, "page_count": -(-total // page_size), "items": items}

    def _render(self, row: dict[str, Any]) -> dict[str, Any]:
        network = stable_hex("network", row["token"], length=10)
        return {
            "landing_id": row["token"],
            "token": row["token"],
            "response_id": row["response_id"],
            "landed_at": row["landed_at"],
            "submitted_at": row["submitted_at"],
            "metadata": {
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/126.0.0.0 Safari/537.36",
                "platform": "other",
                "referer": f"https://sandbox.typeform.com/to/{row['form_id']}",
                "network_id": network,
                "browser": "default",
            },
            "hidden": json.loads(row["hidden_json"] or "{}"),
            "calculated": {"score": 0},
            "answers": json.loads(row["answers_json"] or "[]"),
        }
