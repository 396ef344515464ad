"""The Argo CD API sandbox: `GET /api/v1/applications` and `GET /api/v1/applications/{name}`.

Served as the real argocd-server does: every application visible at the clock, sorted by name,
no pagination, `items: null` when there are none; `selector=`, `projects=`, `name=` and
`repo=` filters; `fields=` never returns `status.history`; `status.history` holds only the last
`spec.revisionHistoryLimit` (default 10) successful syncs deployed by the clock, so its tail
moves as the clock advances; a failed sync shows only in `status.operationState` (the latest
operation). Errors are `{error, code, message}` with gRPC codes.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sandbox.servers.base import HTTPError, Request, Response, SandboxServer
from sandbox.servers.util import stable_int, ts

DEFAULT_HISTORY_LIMIT = 10
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14}
_SET_TERM = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class ArgoCDServer(SandboxServer):
    """argocd-server's REST gateway for the world's applications."""

    name = "argocd"
    server_header = "argocd-server"

    def register(self) -> None:
        self.route("GET", r"/api/v1/applications", self._list)
        self.route("GET", r"/api/v1/applications/(?P<name>[^/]+)", self._get)

    def authorized(self, req: Request) -> bool:
        cookie = req.headers.get("Cookie") or ""
        return req.bearer() == self.token or f"argocd.token={self.token}" in cookie

    def error(self, status: int, message: str, req: Request) -> Response:
        return Response(
            status, {"error": message, "code": _GRPC_CODES.get(status, 2), "message": message}
        )

    def unauthorized(self, req: Request) -> Response:
        if not req.headers.get("Authorization") and not req.headers.get("Cookie"):
            return self.error(401, "no session information", req)
        return self.error(401, "invalid session: token signature is invalid", req)

    def corrupt(self, item: dict) -> None:
        history = item.get("status", {}).get("history")
        if history and self.faults.uniform() < 0.5:
            history[-1]["deployedAt"] = "2026-02-30T25:61:00Z"
        else:
            item["metadata"].pop("uid", None)

    # -- endpoints ---------------------------------------------------------------------------
    def _visible(self) -> list[dict[str, Any]]:
        now = self.world.now_ts
        return list(
            self.world.rows(
                "SELECT * FROM argo_apps WHERE created_at <= ? AND (deleted_at IS NULL OR "
                "deleted_at > ?) ORDER BY name, created_at",
                (now, now),
            )
        )

    def _list(self, req: Request) -> dict[str, Any]:
        projects = set(req.args("projects") + req.args("project"))
        selector = req.arg("selector")
        rows = []
        for row in self._visible():
            labels = json.loads(row["labels_json"] or "{}")
            if projects and row["project"] not in projects:
                continue
            if req.arg("name") and row["name"] != req.arg("name"):
                continue
            if req.arg("appNamespace") and row["namespace"] != req.arg("appNamespace"):
                continue
            if selector and not _selects(selector, labels):
                continue
            rows.append(row)
        with_history = "fields" not in req.query
        items = [self._render(row, with_history=with_history) for row in rows]
        if req.arg("repo"):
            items = [i for i in items if req.arg("repo") in _repo_urls(i["spec"])]
        items = self.maybe_corrupt(items)
        version = str(stable_int("list", *(i["metadata"]["resourceVersion"] for i in items)))
        return {"metadata": {"resourceVersion": version}, "items": items or None}

    def _get(self, req: Request) -> dict[str, Any]:
        for row in self._visible():
            if row["name"] == req.params["name"]:
                return self._render(row, with_history=True)
        message = f'applications.argoproj.io "{req.params["name"]}" not found'
        raise HTTPError(self.error(404, message, req))

    # -- rendering ---------------------------------------------------------------------------
    def _render(self, row: dict[str, Any], *, with_history: bool) -> dict[str, Any]:
        now = self.world.now_ts
        spec = json.loads(row["spec_json"] or "{}")
        spec.setdefault("project", row["project"])
        limit = spec.get("revisionHistoryLimit") or DEFAULT_HISTORY_LIMIT
        history = [
            self._history_entry(h)
            for h in reversed(
                list(
                    self.world.rows(
                        "SELECT * FROM argo_history WHERE app_uid = ? AND deployed_at <= ? "
                        "ORDER BY id DESC LIMIT ?",
                        (row["uid"], now, limit),
                    )
                )
            )
        ]
        ops = list(
            self.world.rows(
                "SELECT * FROM argo_operations WHERE app_uid = ? AND started_at <= ? "
                "ORDER BY seq DESC LIMIT 1",
                (row["uid"], now),
            )
        )
        op = ops[0] if ops else None
        running = op is not None and (op["finished_at"] is None or op["finished_at"] > now)
        failed = op is not None and not running and op["phase"] in ("Failed", "Error")
        last = history[-1] if history else None
        status: dict[str, Any] = {
            "sync": self._sync_status(spec, last, op, running or failed),
            "health": {
                "status": "Progressing"
                if running
                else "Degraded"
                if failed
                else "Healthy"
                if last
                else "Missing"
            },
            "reconciledAt": _reconciled_at(self.world.now),
            "sourceType": _source_type(spec),
            "controllerNamespace": row["namespace"],
        }
        if with_history:
            status["history"] = history
        if op is not None:
            status["operationState"] = self._operation_state(row, spec, op, running)
        version = stable_int(
            row["uid"], last["id"] if last else -1, op["seq"] if op else -1, running
        )
        metadata = {
            "name": row["name"],
            "namespace": row["namespace"],
            "uid": row["uid"],
            "resourceVersion": str(version),
            "generation": len(history) + 1,
            "creationTimestamp": row["created_at"],
            "labels": json.loads(row["labels_json"] or "{}"),
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        }
        return {"metadata": metadata, "spec": spec, "status": status}

    @staticmethod
    def _history_entry(row: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": row["id"]}
        if row["revisions_json"]:
            entry["revisions"] = json.loads(row["revisions_json"])
        else:
            entry["revision"] = row["revision"]
        if row["sources_json"]:
            entry["sources"] = json.loads(row["sources_json"])
        elif row["source_json"]:
            entry["source"] = json.loads(row["source_json"])
        entry["deployStartedAt"] = row["deploy_started_at"]
        entry["deployedAt"] = row["deployed_at"]
        if row["initiated_by_json"]:
            entry["initiatedBy"] = json.loads(row["initiated_by_json"])
        return entry

    @staticmethod
    def _sync_status(
        spec: dict[str, Any],
        last: dict[str, Any] | None,
        op: dict[str, Any] | None,
        out_of_sync: bool,
    ) -> dict[str, Any]:
        compared: dict[str, Any] = {"destination": spec.get("destination", {})}
        sync: dict[str, Any] = {"status": "OutOfSync" if out_of_sync or last is None else "Synced"}
        if "sources" in spec:
            compared["sources"] = spec["sources"]
            revisions = (last or {}).get("revisions") or _op_revisions(op)
            if revisions:
                sync["revisions"] = revisions
        else:
            compared["source"] = spec.get("source", {})
            revision = (last or {}).get("revision") or (op or {}).get("revision")
            if revision:
                sync["revision"] = revision
        sync["comparedTo"] = compared
        return sync

    def _operation_state(
        self, app: dict[str, Any], spec: dict[str, Any], op: dict[str, Any], running: bool
    ) -> dict[str, Any]:
        initiated = self.world.query(
            "SELECT initiated_by_json FROM argo_history WHERE app_uid = ? AND "
            "deploy_started_at = ? LIMIT 1",
            (app["uid"], op["started_at"]),
        )
        sync: dict[str, Any] = {"syncStrategy": {"hook": {}}}
        result: dict[str, Any] = {"resources": []}
        if "sources" in spec:
            sync["revisions"] = result["revisions"] = _op_revisions(op)
            result["sources"] = spec["sources"]
        else:
            sync["revision"] = result["revision"] = op["revision"]
            result["source"] = spec.get("source", {})
        state: dict[str, Any] = {
            "operation": {
                "sync": sync,
                "initiatedBy": json.loads(initiated[0][0])
                if initiated and initiated[0][0]
                else {"automated": True},
                "retry": {},
            },
            "phase": "Running" if running else op["phase"],
            "message": "one or more tasks are running"
            if running
            else op["message"] or "successfully synced (all tasks run)",
            "startedAt": op["started_at"],
        }
        if not running:
            state["finishedAt"] = op["finished_at"]
            state["syncResult"] = result
        return state


def _op_revisions(op: dict[str, Any] | None) -> list[str]:
    if op is None:
        return []
    if op["revisions_json"]:
        return json.loads(op["revisions_json"])
    return [op["revision"]] if op["revision"] else []


def _reconciled_at(now: Any) -> str:
    # The controller reconciles every three minutes.
    return ts(now - timedelta(minutes=now.minute % 3, seconds=now.second))


def _source_type(spec: dict[str, Any]) -> str:
    source = spec.get("source") or (spec.get("sources") or [{}])[0]
    if "chart" in source or "helm" in source:
        return "Helm"
    if "kustomize" in source:
        return "Kustomize"
    return "Directory"


def _repo_urls(spec: dict[str, Any]) -> list[str]:
    sources = spec.get("sources") or [spec.get("source") or {}]
    return [s.get("repoURL", "") for s in sources]


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics: =, ==, !=, in, notin, exists and !exists."""
    for term in re.split(r",(?![^(]*\))", selector):
        term = term.strip()
        if not term:
            continue
        if match := _SET_TERM.match(term):
            key, op, values = match.groups()
            allowed = {v.strip() for v in values.split(",")}
            if (labels.get(key) in allowed) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (p.strip() for p in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True
