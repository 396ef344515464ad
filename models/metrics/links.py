"""Service links: where to go from a service (docs/metrics.md "Portal views").

From the catalog: every ``metadata.links`` entry, and the well-known annotations: the repo
(``github.com/project-slug``), the Argo CD application(s) (``argocd/app-name`` or
``argocd/app-selector``), the PagerDuty service (``pagerduty.com/service-id``), the TechDocs
(``backstage.io/techdocs-ref``), the source (``backstage.io/source-location``), a runbook
(``pagerduty.com/runbook``, ``runbook``, ``runbook.url`` and the like) and dashboards
(``grafana/overview-dashboard``, ``grafana/dashboard-selector`` when it is a URL). Repo, Argo CD
and PagerDuty URLs are built from the configured base URLs. Only absolute http(s) URLs are
kept: anything else (``javascript:``, ``data:``, a relative path) is dropped with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import polars as pl

from models.metrics.frames import empty, to_mart

CATALOG_LINKS: dict[str, pl.DataType] = {
    "service": pl.Utf8(),
    "url": pl.Utf8(),
    "title": pl.Utf8(),
    "icon": pl.Utf8(),
    "type": pl.Utf8(),
}
"""One row per ``metadata.links`` entry of a Component, as written (unchecked)."""

DROPPED: dict[str, pl.DataType] = {"service": pl.Utf8(), "title": pl.Utf8(), "reason": pl.Utf8()}
"""One row per link left out, with why (never its URL: it may be hostile)."""

KINDS = ("repo", "argocd", "pagerduty", "docs", "runbook", "logs", "dashboard", "source", "link")
# A metadata.links entry's kind: its `type`, else its `icon`, else words of its title.
_LINK_WORDS = {
    "runbook": "runbook",
    "playbook": "runbook",
    "log": "logs",
    "logs": "logs",
    "dashboard": "dashboard",
    "grafana": "dashboard",
    "metrics": "dashboard",
    "docs": "docs",
    "documentation": "docs",
    "techdocs": "docs",
    "wiki": "docs",
    "repo": "repo",
    "repository": "repo",
    "github": "repo",
    "source": "source",
    "code": "source",
    "argocd": "argocd",
    "pagerduty": "pagerduty",
}
RUNBOOK_ANNOTATIONS = ("pagerduty.com/runbook", "runbook", "runbook.url", "backstage.io/runbook")
DASHBOARD_ANNOTATIONS = ("grafana/overview-dashboard", "grafana/dashboard-selector")


@dataclass(frozen=True)
class LinkBases:
    """Where the sources' web pages live: the GitHub web URL (not the API's), the Argo CD
    server, the PagerDuty web app, and Backstage (for TechDocs); None if not configured."""

    github_web: str | None = "https://github.com"
    argocd: str | None = None
    pagerduty_web: str | None = "https://app.pagerduty.com"
    backstage: str | None = None


def github_web_url(api_url: str) -> str:
    """The web URL of a GitHub API URL: ``api.github.com`` -> ``github.com``; GitHub
    Enterprise's ``https://host/api/v3`` -> ``https://host``; anything else as is."""
    base = api_url.rstrip("/")
    parts = urlsplit(base)
    if parts.hostname == "api.github.com":
        return f"{parts.scheme}://github.com"
    for suffix in ("/api/v3", "/api"):
        if parts.path.endswith(suffix):
            return base[: -len(suffix)]
    return base


def pagerduty_web_url(api_url: str) -> str:
    """The web app of a PagerDuty API URL: ``api.pagerduty.com`` -> ``app.pagerduty.com``
    (``api.eu.pagerduty.com`` -> ``app.eu.pagerduty.com``); anything else as is."""
    base = api_url.rstrip("/")
    parts = urlsplit(base)
    host = parts.hostname or ""
    if host.startswith("api.") and host.endswith("pagerduty.com"):
        return f"{parts.scheme}://app.{host[len('api.') :]}"
    return base


def web_url_problem(url: str) -> str | None:
    """Why ``url`` is not kept as a link, or None: only absolute http(s) URLs with a host."""
    text = url.strip()
    if not text:
        return "empty URL"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return f"not an http(s) URL (scheme {scheme!r})" if scheme else "not an absolute URL"
    if not parts.netloc:
        return "URL without a host"
    return None


def link_kind(type_: str | None, icon: str | None, title: str | None) -> str:
    """The kind of a ``metadata.links`` entry: its type, else its icon, else a word of its
    title, among the known kinds; else ``link``."""
    for text in (type_, icon):
        if text and (kind := _LINK_WORDS.get(text.strip().lower())) is not None:
            return kind
    for word in (title or "").lower().replace("-", " ").split():
        if (kind := _LINK_WORDS.get(word)) is not None:
            return kind
    return "link"


def _strip_prefix(value: str) -> str:
    """A Backstage location (``url:https://...``) as a URL."""
    return value[len("url:") :] if value.startswith("url:") else value


def _annotation_links(
    name: str, annotations: dict[str, str], bases: LinkBases
) -> list[tuple[str, str, str]]:
    """(kind, title, url) of the well-known annotations, URLs not yet checked."""
    out: list[tuple[str, str, str]] = []
    slug = annotations.get("github.com/project-slug", "").strip()
    if slug and bases.github_web:
        out.append(("repo", f"GitHub: {slug}", f"{bases.github_web.rstrip('/')}/{slug}"))
    app, selector = annotations.get("argocd/app-name"), annotations.get("argocd/app-selector")
    if bases.argocd and app:
        url = f"{bases.argocd.rstrip('/')}/applications/{quote(app.strip(), safe='')}"
        out.append(("argocd", f"Argo CD: {app.strip()}", url))
    elif bases.argocd and selector:
        labels = quote(selector.strip(), safe="=,")
        out.append(
            (
                "argocd",
                f"Argo CD: {selector.strip()}",
                f"{bases.argocd}/applications?labels={labels}",
            )
        )
    pd_id = annotations.get("pagerduty.com/service-id", "").strip()
    if pd_id and bases.pagerduty_web:
        url = f"{bases.pagerduty_web.rstrip('/')}/service-directory/{quote(pd_id, safe='')}"
        out.append(("pagerduty", f"PagerDuty: {pd_id}", url))
    docs = annotations.get("backstage.io/techdocs-ref", "").strip()
    if docs.startswith("url:"):
        out.append(("docs", "TechDocs", _strip_prefix(docs)))
    elif docs and bases.backstage:
        out.append(
            ("docs", "TechDocs", f"{bases.backstage.rstrip('/')}/docs/default/component/{name}")
        )
    source = annotations.get("backstage.io/source-location", "").strip()
    if source:
        out.append(("source", "Source", _strip_prefix(source)))
    for key in RUNBOOK_ANNOTATIONS:
        if value := annotations.get(key, "").strip():
            out.append(("runbook", "Runbook", value))
    for key in DASHBOARD_ANNOTATIONS:
        value = annotations.get(key, "").strip()
        # A dashboard selector is a Grafana query, not a URL: a link only when it is one.
        if value and (key != "grafana/dashboard-selector" or web_url_problem(value) is None):
            out.append(("dashboard", "Grafana dashboard", value))
    return out


def service_links(
    services: pl.DataFrame, catalog_links: pl.DataFrame, bases: LinkBases
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``marts.service_links``, dropped links with reasons).

    ``services`` is staged services (``_annotations``: the component's annotations as JSON
    text); ``catalog_links`` is CATALOG_LINKS. One row per service x distinct (kind, url),
    the first title kept, sorted by service, kind, url.
    """
    rows: list[tuple[str, str, str | None, str]] = []
    dropped: list[tuple[str, str | None, str]] = []

    def keep(service: str, kind: str, title: str | None, url: str | None) -> None:
        problem = web_url_problem(url or "")
        if problem is None and url is not None:
            rows.append((service, kind, title, url.strip()))
        else:
            dropped.append((service, title, f"{kind} link dropped: {problem}"))

    annotated = services.select("service", "name", "_annotations")
    for service, name, text in annotated.iter_rows():
        annotations = json.loads(text or "{}")
        clean = {str(k): str(v) for k, v in annotations.items() if v is not None}
        for kind, title, url in _annotation_links(name or "", clean, bases):
            keep(service, kind, title, url)
    for service, url, title, icon, type_ in catalog_links.select(list(CATALOG_LINKS)).iter_rows():
        keep(service, link_kind(type_, icon, title), title, url)
    frame = (
        pl.DataFrame(rows, schema=["service", "kind", "title", "url"], orient="row")
        if rows
        else empty(CATALOG_LINKS).select("service", kind="type", title="title", url="url")
    )
    frame = frame.unique(["service", "kind", "url"], keep="first", maintain_order=True)
    out = to_mart(frame.sort("service", "kind", "url"), "service_links")
    gone = pl.DataFrame(dropped, schema=DROPPED, orient="row") if dropped else empty(DROPPED)
    return out, gone
