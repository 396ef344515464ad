"""The OpenCost sandbox: `GET /allocation` (also `/allocation/compute`, `/model/allocation`).

Served in the recorded shape `{code, status, data: [{<key>: allocation}, ...]}`, one map per
`step`, from the world's daily cost rows: a day's cost is spread evenly over the day, so a step
gets its share of every day it overlaps, and the day in progress only up to the clock. Keys
come from `aggregate` (`namespace`, `label:app`, `controller`, `cluster`, or several joined by
commas); rows without the label go to `__unallocated__`, rows of namespace `__idle__` to
`__idle__`. Numbers OpenCost cannot compute are null. No auth: it usually sits inside the
cluster network, so an optional Bearer token is accepted and ignored.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sandbox.servers.base import HTTPError, Request, Response, SandboxServer
from sandbox.servers.util import from_ts, parse_time, stable_int, ts

CLUSTER = "cluster-one"
IDLE, UNALLOCATED = "__idle__", "__unallocated__"
MAX_STEPS = 1000
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
# Prices used to turn costs back into plausible resource quantities.
CPU_HOUR, GIB_HOUR, PV_GIB_HOUR = 0.031611, 0.004237, 0.000054
COSTS = ("cpu_cost", "ram_cost", "pv_cost", "network_cost", "total_cost")


class OpenCostServer(SandboxServer):
    """The OpenCost API of the world's one cluster."""

    name = "opencost"
    server_header = "opencost"

    def register(self) -> None:
        for path in (r"/allocation", r"/allocation/compute", r"/model/allocation"):
            self.route("GET", path, self._allocation)

    def authorized(self, req: Request) -> bool:
        return True

    def error(self, status: int, message: str, req: Request) -> Response:
        return Response(status, {"code": status, "status": "", "data": None, "message": message})

    def corrupt(self, item: dict) -> None:
        item.pop("start", None)

    # -- arguments ---------------------------------------------------------------------------
    def _window(self, req: Request) -> tuple[datetime, datetime]:
        text = (req.arg("window") or "").strip()
        now = self.world.now
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        named = {
            "today": (midnight, now),
            "yesterday": (midnight - timedelta(days=1), midnight),
            "week": (midnight - timedelta(days=midnight.weekday()), now),
            "lastweek": (
                midnight - timedelta(days=midnight.weekday() + 7),
                midnight - timedelta(days=midnight.weekday()),
            ),
            "month": (midnight.replace(day=1), now),
        }
        if text in named:
            return named[text]
        if match := _DURATION.match(text):
            return now - int(match.group(1)) * _UNITS[match.group(2)], now
        start_text, sep, end_text = text.partition(",")
        try:
            if not sep:
                raise ValueError(text)
            start, end = parse_time(start_text), parse_time(end_text)
        except ValueError:
            raise HTTPError(
                self.error(
                    400,
                    f"Error parsing window ({text!r}): expected a "
                    "duration, a named window or 'start,end'",
                    req,
                )
            ) from None
        if end <= start:
            raise HTTPError(self.error(400, "Window end must be after its start", req))
        return start, end

    def _steps(
        self, req: Request, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        step_text = req.arg("step")
        if req.arg("accumulate") == "true" or not step_text:
            return [(start, end)]
        match = _DURATION.match(step_text)
        if not match:
            raise HTTPError(self.error(400, f"Error parsing step ({step_text!r})", req))
        step = int(match.group(1)) * _UNITS[match.group(2)]
        if (end - start) / step > MAX_STEPS:
            raise HTTPError(self.error(400, "Too many steps for the window", req))
        steps, cursor = [], start
        while cursor < end:
            steps.append((cursor, min(cursor + step, end)))
            cursor += step
        return steps

    # -- the endpoint ------------------------------------------------------------------------
    def _allocation(self, req: Request) -> dict[str, Any]:
        start, end = self._window(req)
        steps = self._steps(req, start, end)
        aggregate = [a.strip() for a in (req.arg("aggregate") or "").split(",") if a.strip()]
        include_idle = req.arg("includeIdle", "true") != "false"
        rows = list(
            self.world.rows(
                "SELECT * FROM opencost WHERE date >= ? AND date <= ? ORDER BY date",
                ((start - timedelta(days=1)).date().isoformat(), end.date().isoformat()),
            )
        )
        # Each step reads only the rows of the days it overlaps (rows are in date order): a
        # long window of daily steps stays linear in the rows, not rows times steps.
        days = [row["date"][:10] for row in rows]
        data = []
        for s, e in steps:
            first = bisect_left(days, (s - timedelta(days=1)).date().isoformat())
            last = bisect_right(days, e.date().isoformat())
            data.append(self._set(rows[first:last], s, e, aggregate, include_idle))
        return {"code": 200, "status": "success", "data": data}

    def _set(
        self,
        rows: list[dict[str, Any]],
        start: datetime,
        end: datetime,
        aggregate: list[str],
        include_idle: bool,
    ) -> dict[str, Any]:
        totals: dict[str, dict[str, float | None]] = defaultdict(dict)
        namespaces: dict[str, set[str]] = defaultdict(set)
        apps: dict[str, set[str]] = defaultdict(set)
        now = self.world.now
        for row in rows:
            if (row["app"] or "").startswith("__"):
                row = {**row, "app": None}  # the world's placeholder for "no app label"
            day = from_ts(f"{row['date'][:10]}T00:00:00Z")
            overlap = min(end, day + timedelta(days=1), now) - max(start, day)
            share = overlap.total_seconds() / 86400
            if share <= 0:
                continue
            key = self._key(row, aggregate)
            if key == IDLE and not include_idle:
                continue
            for column in COSTS:
                value = row[column]
                known = totals[key].get(column, 0.0)
                totals[key][column] = (
                    None if value is None or known is None else known + value * share
                )
            namespaces[key].add(row["namespace"])
            if row["app"]:
                apps[key].add(row["app"])
        shown_end = min(end, now)
        return {
            key: self._render(key, costs, namespaces[key], apps[key], start, end, shown_end)
            for key, costs in sorted(totals.items())
        }

    @staticmethod
    def _key(row: dict[str, Any], aggregate: list[str]) -> str:
        if row["namespace"] == IDLE:
            return IDLE
        parts = []
        for name in aggregate or ["cluster", "namespace", "controller"]:
            if name == "namespace":
                parts.append(row["namespace"])
            elif name == "cluster":
                parts.append(CLUSTER)
            elif name in ("controller", "label:app", "label:app.kubernetes.io/name"):
                if not row["app"]:
                    return UNALLOCATED
                parts.append(f"deployment:{row['app']}" if name == "controller" else row["app"])
            else:
                return UNALLOCATED
        return "/".join(parts)

    def _render(
        self,
        key: str,
        costs: dict[str, float | None],
        namespaces: set[str],
        apps: set[str],
        start: datetime,
        end: datetime,
        shown_end: datetime,
    ) -> dict[str, Any]:
        hours = max((shown_end - start).total_seconds() / 3600, 1 / 60)
        cpu, ram = costs.get("cpu_cost"), costs.get("ram_cost")
        pv, network, total = (
            costs.get("pv_cost"),
            costs.get("network_cost"),
            costs.get("total_cost"),
        )
        core_hours = _num(cpu / CPU_HOUR) if cpu is not None else None
        ram_byte_hours = _num(ram / GIB_HOUR * 2**30) if ram is not None else None
        pv_byte_hours = _num(pv / PV_GIB_HOUR * 2**30) if pv is not None else None
        idle = key == IDLE
        efficiency = None if idle else round(0.2 + stable_int(key, digits=4) % 700 / 1000, 6)
        properties: dict[str, Any] = {"cluster": CLUSTER}
        if len(namespaces) == 1 and not idle:
            properties["namespace"] = next(iter(namespaces))
        if len(apps) == 1 and not idle:
            app = next(iter(apps))
            properties.update(
                {"controller": app, "controllerKind": "deployment", "labels": {"app": app}}
            )
        return {
            "name": key,
            "properties": properties,
            "window": {"start": ts(start), "end": ts(end)},
            "start": ts(start),
            "end": ts(shown_end),
            "minutes": _num(hours * 60),
            "cpuCores": _div(core_hours, hours),
            "cpuCoreRequestAverage": _div(core_hours, hours),
            "cpuCoreUsageAverage": _mul(_div(core_hours, hours), efficiency),
            "cpuCoreHours": core_hours,
            "cpuCost": _num(cpu),
            "cpuCostAdjustment": 0.0,
            "cpuEfficiency": efficiency,
            "gpuCount": 0.0,
            "gpuHours": 0.0,
            "gpuCost": 0.0,
            "gpuCostAdjustment": 0.0,
            "networkTransferBytes": None if network is None else _num(network / 0.01 * 2**30),
            "networkReceiveBytes": None if network is None else 0.0,
            "networkCost": _num(network),
            "networkCostAdjustment": 0.0,
            "loadBalancerCost": 0.0,
            "loadBalancerCostAdjustment": 0.0,
            "pvBytes": _div(pv_byte_hours, hours),
            "pvByteHours": pv_byte_hours,
            "pvCost": _num(pv),
            "pvs": None,
            "pvCostAdjustment": 0.0,
            "ramBytes": _div(ram_byte_hours, hours),
            "ramByteRequestAverage": _div(ram_byte_hours, hours),
            "ramByteUsageAverage": _mul(_div(ram_byte_hours, hours), efficiency),
            "ramByteHours": ram_byte_hours,
            "ramCost": _num(ram),
            "ramCostAdjustment": 0.0,
            "ramEfficiency": efficiency,
            "sharedCost": 0.0,
            "externalCost": 0.0,
            "totalCost": _num(total),
            "totalEfficiency": efficiency,
            "rawAllocationOnly": None,
        }


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _div(value: float | None, by: float) -> float | None:
    return None if value is None else round(value / by, 6)


def _mul(value: float | None, by: float | None) -> float | None:
    return None if value is None or by is None else round(value * by, 6)
