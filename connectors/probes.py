"""Reachability probes for `paved doctor`: one cheap, read-only request per configured source.

A probe never raises and never echoes a token: it answers (ok, one line in plain words).
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from models.settings import Settings

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str


def _bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}  # type: ignore[attr-defined]


def _get(url: str, headers: dict[str, str], params: dict[str, str] | None = None) -> Probe:
    try:
        response = httpx.get(url, headers=headers, params=params, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        # The exception text names the URL, never the headers.
        return Probe(False, f"unreachable: {type(exc).__name__} for {url}")
    if response.status_code in (401, 403):
        return Probe(False, f"the token was refused (HTTP {response.status_code}) by {url}")
    if response.status_code >= 400:
        return Probe(False, f"HTTP {response.status_code} from {url}")
    return Probe(True, f"reachable ({url})")


def _files(pattern: str | None, what: str) -> Probe:
    matches = glob.glob(pattern or "", recursive=True)
    if not matches:
        return Probe(False, f"no {what} match {pattern!r}")
    return Probe(True, f"{len(matches)} {what} found")


PROBES: dict[str, Callable[[Settings], Probe]] = {
    "github": lambda s: _get(
        f"{s.github_api_url}/rate_limit",
        {
            **_bearer(s.github_token),
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    ),
    # Never `refresh`: any value makes Argo CD reconcile the app.
    "argocd": lambda s: _get(
        f"{s.argocd_url}/api/v1/applications",
        _bearer(s.argocd_token),
        {"fields": "items.metadata.name"},
    ),
    "pagerduty": lambda s: _get(
        f"{s.pagerduty_api_url}/incidents",
        {
            "Authorization": f"Token token={s.pagerduty_token.get_secret_value()}"
            if s.pagerduty_token
            else "",
            "Accept": "application/vnd.pagerduty+json;version=2",
        },
        {"limit": "1"},
    ),
    "typeform": lambda s: _get(
        f"{s.typeform_api_url}/forms/{s.typeform_form_ids[0]}/responses",
        _bearer(s.typeform_token),
        {"page_size": "1"},
    ),
    "googleforms": lambda s: _files(s.survey_csv, "Google Forms CSV exports"),
    "backstage": lambda s: (
        _files(s.catalog_path, "catalog-info.yaml files")
        if s.catalog_path and not s.backstage_url
        else _get(
            f"{s.backstage_url}/api/catalog/entities/by-query",
            _bearer(s.backstage_token),
            {"filter": "kind=component", "limit": "1"},
        )
    ),
    "focus": lambda s: _files(s.cost_path, "FOCUS cost files"),
    "opencost": lambda s: _get(
        f"{s.opencost_url}/allocation", {}, {"window": "1d", "aggregate": "namespace"}
    ),
}


def probe(settings: Settings, source: str) -> Probe:
    return PROBES[source](settings)
