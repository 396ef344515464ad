"""The portal views' rules (docs/metrics.md "Portal views"), one test each, on hand-made frames.

Pinned down: which links a service gets and how their URLs are built from the configured base
URLs, that only http(s) links are published (a ``javascript:`` link is dropped, its reason noted
in data quality, its URL never shown); how an environment's state, last deployment and last
failed sync are chosen for Argo CD apps and GitHub environments, and production by the
deployments' own rule; and that a rejected record's excerpt can hold no email nor secret.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import polars as pl
import pytest

from models.metrics import mart_schema
from models.metrics.environments import ARGOCD_STATUS, OPERATIONS, _latest, environments
from models.metrics.frames import ARGOCD_HISTORY, empty
from models.metrics.links import (
    CATALOG_LINKS,
    LinkBases,
    github_web_url,
    link_kind,
    pagerduty_web_url,
    service_links,
)
from models.metrics.rejected import payload_excerpt, rejected_records
from models.respondents import respondent_hash
from pipelines.marts.warehouse import dropped_links_note, with_note

SHOP = "component:default/shop"
CART = "component:default/cart"
TEAM = "group:default/payments"
BASES = LinkBases(
    github_web="https://github.com",
    argocd="https://argocd.acme.dev",
    pagerduty_web="https://app.pagerduty.com",
    backstage="https://backstage.acme.dev",
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def services(annotations: dict[str, dict[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "service": list(annotations),
            "name": [ref.split("/")[-1] for ref in annotations],
            "team": [TEAM] * len(annotations),
            "_annotations": [json.dumps(a) for a in annotations.values()],
        }
    )


def links(rows: list[tuple[str, str, str | None, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CATALOG_LINKS, orient="row") if rows else empty(CATALOG_LINKS)


# -- links -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("api", "web"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.acme.dev/api/v3", "https://ghe.acme.dev"),
        ("https://ghe.acme.dev/api/v3/", "https://ghe.acme.dev"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_github_web_url_of_the_api_url(api: str, web: str) -> None:
    assert github_web_url(api) == web


@pytest.mark.parametrize(
    ("api", "web"),
    [
        ("https://api.pagerduty.com", "https://app.pagerduty.com"),
        ("https://api.eu.pagerduty.com", "https://app.eu.pagerduty.com"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ],
)
def test_pagerduty_web_url_of_the_api_url(api: str, web: str) -> None:
    assert pagerduty_web_url(api) == web


def test_repo_argocd_and_pagerduty_links_are_built_from_the_base_urls() -> None:
    svc = services(
        {
            SHOP: {
                "github.com/project-slug": "acme/shop",
                "argocd/app-name": "shop-prod",
                "pagerduty.com/service-id": "PABC123",
                "backstage.io/techdocs-ref": "dir:.",
                "backstage.io/source-location": "url:https://github.com/acme/shop/tree/main/",
            },
            CART: {"argocd/app-selector": "app.kubernetes.io/part-of=cart"},
        }
    )
    found, dropped = service_links(svc, links([]), BASES)
    assert found.schema == pl.Schema(mart_schema("service_links"))
    assert found.rows() == [
        (CART, "argocd", "Argo CD: app.kubernetes.io/part-of=cart",
         "https://argocd.acme.dev/applications?labels=app.kubernetes.io%2Fpart-of=cart"),
        (SHOP, "argocd", "Argo CD: shop-prod", "https://argocd.acme.dev/applications/shop-prod"),
        (SHOP, "docs", "TechDocs", "https://backstage.acme.dev/docs/default/component/shop"),
        (SHOP, "pagerduty", "PagerDuty: PABC123",
         "https://app.pagerduty.com/service-directory/PABC123"),
        (SHOP, "repo", "GitHub: acme/shop", "https://github.com/acme/shop"),
        (SHOP, "source", "Source", "https://github.com/acme/shop/tree/main/"),
    ]  # fmt: skip
    assert dropped.is_empty()


def test_a_source_not_configured_gives_no_link() -> None:
    svc = services({SHOP: {"argocd/app-name": "shop-prod", "backstage.io/techdocs-ref": "dir:."}})
    found, _ = service_links(svc, links([]), LinkBases(argocd=None, backstage=None))
    assert found.is_empty()


@pytest.mark.parametrize(
    ("type_", "icon", "title", "kind"),
    [
        ("runbook", "docs", "Runbook", "runbook"),
        (None, "dashboard", "Grafana", "dashboard"),
        (None, None, "Service logs", "logs"),
        ("Wiki", None, None, "docs"),
        (None, None, "Status page", "link"),
    ],
)
def test_link_kind_is_its_type_else_its_icon_else_a_word_of_its_title(
    type_: str | None, icon: str | None, title: str | None, kind: str
) -> None:
    assert link_kind(type_, icon, title) == kind


def test_only_http_links_are_published_and_a_javascript_link_is_dropped_with_its_reason() -> None:
    catalog = links(
        [
            (SHOP, "https://runbooks.acme.dev/shop", "Runbook", None, "runbook"),
            (SHOP, "javascript:alert(document.cookie)", "Logs", None, "logs"),
            (SHOP, "/relative/path", "Wiki", None, None),
            (SHOP, "ftp://files.acme.dev/x", None, None, None),
        ]
    )
    found, dropped = service_links(services({SHOP: {}}), catalog, BASES)
    assert found.rows() == [(SHOP, "runbook", "Runbook", "https://runbooks.acme.dev/shop")]
    assert dropped.rows() == [
        (SHOP, "Logs", "logs link dropped: not an http(s) URL (scheme 'javascript')"),
        (SHOP, "Wiki", "docs link dropped: not an absolute URL"),
        (SHOP, None, "link link dropped: not an http(s) URL (scheme 'ftp')"),
    ]
    note = dropped_links_note(dropped)
    assert "javascript:" not in note and "alert" not in note
    assert note.startswith("3 link(s) dropped: component:default/shop 'Logs': logs link dropped")


def test_dropped_links_are_noted_on_the_catalogs_latest_run() -> None:
    quality = pl.DataFrame(
        {
            "source": ["backstage", "github", "backstage"],
            "run_id": ["r1", "r1", "r2"],
            "run_at": [t("2024-01-01 06:00"), t("2024-01-01 06:00"), t("2024-01-02 06:00")],
            "notes": [None, None, "2 entities skipped"],
        }
    )
    found = with_note(quality, "backstage", "1 link(s) dropped")
    assert found.get_column("notes").to_list() == [
        None,
        None,
        "2 entities skipped; 1 link(s) dropped",
    ]
    assert with_note(quality, "typeform", "x").equals(quality)


def test_a_dashboard_selector_is_a_link_only_when_it_is_a_url() -> None:
    svc = services(
        {
            SHOP: {"grafana/dashboard-selector": "tags @> 'service:shop'"},
            CART: {"grafana/dashboard-selector": "https://grafana.acme.dev/d/cart"},
        }
    )
    found, dropped = service_links(svc, links([]), BASES)
    assert found.rows() == [
        (CART, "dashboard", "Grafana dashboard", "https://grafana.acme.dev/d/cart")
    ]
    assert dropped.is_empty()


def test_a_runbook_annotation_and_a_duplicate_link_give_one_row_each() -> None:
    svc = services({SHOP: {"pagerduty.com/runbook": "https://runbooks.acme.dev/shop"}})
    catalog = links([(SHOP, "https://runbooks.acme.dev/shop", "Shop runbook", None, "runbook")])
    found, _ = service_links(svc, catalog, BASES)
    assert found.rows() == [(SHOP, "runbook", "Runbook", "https://runbooks.acme.dev/shop")]


# -- environments ------------------------------------------------------------------------------
def status(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ARGOCD_STATUS, orient="row")


def history(rows: list[tuple[str, str, int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (uid, name, "ns", SHOP, hid, rev, None, None, None, t(at), t(at))
            for uid, name, hid, rev, at in rows
        ],
        schema=ARGOCD_HISTORY,
        orient="row",
    )


def ops(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=OPERATIONS, orient="row") if rows else empty(OPERATIONS)


SERVICES = pl.DataFrame({"service": [SHOP], "team": [TEAM]})


def test_an_argocd_environment_is_its_newest_uid_and_the_history_of_every_uid() -> None:
    apps = status(
        [
            ("u1", "shop-prod", "shop", SHOP, t("2024-01-01 00:00"), t("2024-01-05 06:00"),
             "Synced", "Healthy"),
            ("u2", "shop-prod", "shop", SHOP, t("2024-01-06 00:00"), t("2024-01-09 06:00"),
             "OutOfSync", "Degraded"),
            ("u3", "shop-staging", "shop-stg", SHOP, t("2024-01-01 00:00"),
             t("2024-01-09 06:00"), "Synced", "Healthy"),
        ]
    )  # fmt: skip
    hist = history(
        [
            ("u1", "shop-prod", 7, "aaa", "2024-01-04 10:00"),
            ("u2", "shop-prod", 1, "bbb", "2024-01-07 10:00"),
            ("u3", "shop-staging", 3, "ccc", "2024-01-08 10:00"),
        ]
    )
    found = environments(apps, hist, ops([]), SERVICES)
    assert found.schema == pl.Schema(mart_schema("environments"))
    assert found.select(
        "target", "is_production", "sync_status", "health_status", "last_revision",
        "last_deployed_at",
    ).rows() == [
        ("shop-prod", True, "OutOfSync", "Degraded", "bbb", t("2024-01-07 10:00")),
        ("shop-staging", False, "Synced", "Healthy", "ccc", t("2024-01-08 10:00")),
    ]  # fmt: skip
    assert found.get_column("team").to_list() == [TEAM, TEAM]


def test_the_last_failed_sync_stays_after_a_later_success() -> None:
    apps = status(
        [("u1", "shop-prod", "shop", SHOP, t("2024-01-01 00:00"), t("2024-01-09 06:00"),
          "Synced", "Healthy")]
    )  # fmt: skip
    operations = ops(
        [
            ("argocd", SHOP, "shop-prod", "shop-prod", "u1", 0, "Failed", "image: Required value",
             t("2024-01-05 10:00"), t("2024-01-05 10:03"), "bbb"),
            ("argocd", SHOP, "shop-prod", "shop-prod", "u1", 0, "Succeeded", "successfully synced",
             t("2024-01-05 10:20"), t("2024-01-05 10:25"), "bbb"),
        ]
    )  # fmt: skip
    row = environments(apps, history([]), operations, SERVICES).row(0, named=True)
    assert (row["last_operation_phase"], row["last_operation_message"]) == (
        "Succeeded",
        "successfully synced",
    )
    assert (row["last_failed_at"], row["last_failed_message"]) == (
        t("2024-01-05 10:03"),
        "image: Required value",
    )
    assert row["last_revision"] is None  # no history entry observed


def test_a_github_environment_is_the_state_of_its_latest_deployment() -> None:
    target = "acme/shop:Production"

    def status_row(deployment: str, seq: int, state: str, started: str, at: str) -> tuple:
        return ("github", SHOP, target, "Production", deployment, seq, state, f"{state}!",
                t(started), t(at), f"sha{deployment}")  # fmt: skip

    operations = ops(
        [
            status_row("1", 10, "in_progress", "2024-01-02 10:00", "2024-01-02 10:01"),
            status_row("1", 11, "success", "2024-01-02 10:00", "2024-01-02 10:05"),
            status_row("2", 20, "failure", "2024-01-03 10:00", "2024-01-03 10:04"),
            status_row("3", 30, "in_progress", "2024-01-04 10:00", "2024-01-04 10:01"),
        ]
    )
    found = environments(empty(ARGOCD_STATUS), history([]), operations, SERVICES)
    assert found.row(0, named=True) == {
        "service": SHOP,
        "team": TEAM,
        "source": "github",
        "target": target,
        "environment": "Production",
        "is_production": True,  # case-insensitive, as for deployments
        "sync_status": "in_progress",
        "health_status": None,
        "last_revision": "sha1",
        "last_deployed_at": t("2024-01-02 10:05"),
        "last_operation_phase": "in_progress",
        "last_operation_message": "in_progress!",
        "last_failed_at": t("2024-01-03 10:04"),
        "last_failed_message": "failure!",
    }


@pytest.mark.parametrize(
    ("name", "namespace", "production"),
    [
        ("shop-prod", "shop", True),
        ("shop", "production", True),
        ("shop.prod.eu", "shop", True),
        ("shop-staging", "shop", False),
        ("reproduce", "shop", False),
        ("products", "shop", False),
    ],
)
def test_an_argocd_environment_is_production_by_the_deployments_rule(
    name: str, namespace: str, production: bool
) -> None:
    apps = status([("u1", name, namespace, SHOP, None, t("2024-01-09 06:00"), "Synced", None)])
    found = environments(apps, history([]), ops([]), SERVICES)
    assert found.get_column("is_production").to_list() == [production]


# -- rejected records --------------------------------------------------------------------------
def test_an_excerpt_masks_emails_and_secrets_before_the_cut() -> None:
    token = "ghp_" + "s3cr3t" * 6
    payload = json.dumps({"pad": "x" * 480, "author": "Jane.Doe@acme.dev", "auth": token})
    found = payload_excerpt(payload, secrets=[token])
    assert found is not None and len(found) == 500
    assert "@" not in found and "Jane" not in found  # not half an address either
    full = payload_excerpt(payload, secrets=[token], limit=10_000)
    assert full is not None and "[email]" in full and "[secret]" in full and token not in full


def test_an_excerpt_keeps_a_respondents_hash() -> None:
    hashed = respondent_hash("jane@acme.dev", "salt")
    assert payload_excerpt(json.dumps({"email": hashed})) == json.dumps({"email": hashed})


def test_rejected_records_keep_source_object_key_reason_and_run() -> None:
    raw = pl.DataFrame(
        {
            "source": ["github", "github"],
            "object": ["commits", "pulls"],
            "key": ["acme/shop:abc", "acme/shop#1"],
            "reason": ["sha: missing", "number: missing"],
            "run_id": ["r1", "r2"],
            "rejected_at": [t("2024-01-01 06:00"), t("2024-01-02 06:00")],
            "payload": ['{"author": {"email": "a@b.io"}}', None],
        }
    )
    found = rejected_records(raw)
    assert found.schema == pl.Schema(mart_schema("rejected_records"))
    assert found.select("object", "payload_excerpt").rows() == [
        ("pulls", None),  # newest first
        ("commits", '{"author": {"email": "[email]"}}'),
    ]


def test_each_targets_latest_row_is_found_among_its_greatest_first_values_only() -> None:
    # Groups with nulls in the first order column, ties on it, and a group of nulls only:
    # the narrowed search gives the rows a sort of the whole frame gives.
    rng = random.Random(7)
    rows = [
        {
            "target": rng.choice("abcdefgh"),
            "at": rng.choice([None, 1, 2, 3, 3]) if rng.random() > 0.1 else None,
            "seq": rng.choice([None, 1, 2, 5]),
            "row": i,
        }
        for i in range(400)
    ]
    rows += [{"target": "z", "at": None, "seq": s, "row": 400 + i} for i, s in enumerate((2, 1))]
    rows.append({"target": "z", "at": None, "seq": None, "row": 402})
    frame = pl.DataFrame(
        rows, schema={"target": pl.Utf8, "at": pl.Int64, "seq": pl.Int64, "row": pl.Int64}
    )
    # Ordered to the row, as every caller's order ends in an id (a sort is not stable).
    order = ["at", "seq", "row"]
    whole = frame.sort(["target", *order], nulls_last=False).unique(
        ["target"], keep="last", maintain_order=True
    )
    assert _latest(frame, ["target"], order).equals(whole)
    assert whole.height == 9
