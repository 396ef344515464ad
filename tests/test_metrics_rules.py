"""Every rule of METRICS.md (and docs/metrics.md's refinements), one test each, named after it.

Each test builds tiny staging frames by hand and compares the metric function's output with the
exact frame the rule demands, so a test fails as soon as a rule drifts: which deployment an
incident belongs to, when a change counts as deployed, what an empty week shows, who is
suppressed in a survey, which costs stay unallocated.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.metrics import (
    RULE_OF_THUMB,
    attribute_incidents,
    benchmarks,
    build_ancestry,
    changes,
    collapse_self_heal,
    cost_per_deployment,
    costs,
    deployed_at_by_ancestry,
    dora_metrics,
    dora_tiers,
    failed_deployments,
    first_observed,
    flag_rollbacks,
    frequency_band,
    lead_times,
    mart_schema,
    production_deployments,
    recovery_times,
    resolve_revision,
    rework_deployments,
    satisfaction,
)
from models.metrics import frames as F
from models.metrics.changes import lead_times_again
from models.metrics.deployments import ORDER, order_keys

SHOP = "component:default/shop"
CART = "component:default/cart"
IDLE = "component:default/idle"
PAYMENTS = "group:default/payments"
PLATFORM = "group:default/platform"
START = datetime(2024, 1, 1, tzinfo=UTC)
H = 3600.0


def t(text: str) -> datetime:
    """``2024-01-02 10:00`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sha(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def make(schema: Mapping[str, pl.DataType], rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """A frame of ``schema`` from partial rows (absent columns are NULL)."""
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=dict(schema))


SERVICES = make(
    F.SERVICES,
    [
        {"service": CART, "name": "cart", "team": PAYMENTS, "repo": "acme/cart"},
        {"service": IDLE, "name": "idle", "team": PLATFORM, "repo": None},
        {"service": SHOP, "name": "shop", "team": PAYMENTS, "repo": "Acme/Shop"},
    ],
)
TEAMS = make(
    F.TEAMS,
    [
        {"team": PAYMENTS, "name": "Payments Team", "members": 10},
        {"team": PLATFORM, "name": "Platform", "members": 4},
    ],
)


def commit_rows(
    repo: str, parents: Mapping[str, Sequence[str]], *, messages: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Commits of ``repo`` named by label -> parent labels, one hour apart in that order."""
    rows = []
    for i, (label, ps) in enumerate(parents.items()):
        moment = START + timedelta(hours=i)
        rows.append(
            {
                "repo": repo,
                "sha": sha(label),
                "parents": [sha(p) for p in ps],
                "author_date": moment,
                "author_email": "dev@acme.test",
                "committer_date": moment,
                "message": (messages or {}).get(label, f"change {label}"),
            }
        )
    return rows


def dep(
    deployment_id: str,
    finished: str,
    revision: str | None = None,
    *,
    service: str = SHOP,
    environment: str = "shop-prod",
    started: str | None = None,
    **flags: Any,
) -> dict[str, Any]:
    return {
        "deployment_id": deployment_id,
        "service": service,
        "team": PAYMENTS,
        "environment": environment,
        "source": deployment_id.split(":", 1)[0],
        "revision": sha(revision) if revision else None,
        "started_at": t(started or finished) - (timedelta(0) if started else timedelta(minutes=5)),
        "finished_at": t(finished),
        **flags,
    }


def deployments_frame(rows: Sequence[Mapping[str, Any]], **extra: pl.DataType) -> pl.DataFrame:
    return make({**F.DEPLOYMENTS, **extra}, rows)


# -- deployments ---------------------------------------------------------------------------------


def history_row(uid: str, hid: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "app_uid": uid,
        "app_name": "shop-prod",
        "namespace": "shop",
        "service": SHOP,
        "history_id": hid,
        "deploy_started_at": START + timedelta(hours=hid) - timedelta(minutes=2),
        "deployed_at": START + timedelta(hours=hid),
    }
    row.update(values)
    return row


def test_self_heal_resync_is_one_deployment() -> None:
    history = make(
        F.ARGOCD_HISTORY,
        [
            history_row("u1", 1, revision="a"),
            history_row("u1", 2, revision="a"),  # self-heal re-sync: same revision
            history_row("u1", 3, revision="b"),
            history_row("u1", 4, revision="a"),  # back to a: a new deployment
            history_row("u1", 5, revision="a"),
            history_row("u2", 1, revision="a"),  # another app uid starts its own run
            history_row("u3", 1, revisions=["1.4.2", "m1"]),  # multi-source: the list counts
            history_row("u3", 2, revisions=["1.4.2", "m1"]),
            history_row("u3", 3, revisions=["1.4.2", "m2"]),
        ],
    )
    kept = collapse_self_heal(history.sample(fraction=1.0, shuffle=True, seed=3))
    assert_frame_equal(
        kept.select("app_uid", "history_id"),
        pl.DataFrame(
            {"app_uid": ["u1", "u1", "u1", "u2", "u3", "u3"], "history_id": [1, 3, 4, 1, 1, 3]}
        ),
    )


@pytest.mark.parametrize(
    ("app_name", "namespace", "production"),
    [
        ("shop-prod", "apps", True),
        ("shop", "production", True),
        ("shop.prod.eu", "apps", True),
        ("prod", None, True),
        ("shop-staging", "staging", False),
        ("reproduce", "apps", False),
        ("products", "apps", False),
    ],
)
def test_argocd_app_is_production_when_its_name_or_namespace_matches_the_pattern(
    app_name: str, namespace: str | None, production: bool
) -> None:
    history = make(F.ARGOCD_HISTORY, [history_row("u1", 1, app_name=app_name, namespace=namespace)])
    empty_github = F.empty(F.GITHUB_DEPLOYMENTS)
    found = production_deployments(history, empty_github, SERVICES, history_start=START)
    assert found.height == (1 if production else 0)


def test_github_counts_successful_production_deployments_of_services_argo_does_not_deploy() -> None:
    def gh(n: int, repo: str, service: str, env: str, state: str) -> dict[str, Any]:
        return {
            "repo": repo,
            "service": service,
            "deployment_id": n,
            "sha": sha(f"gh{n}"),
            "environment": env,
            "created_at": t("2024-01-02 10:00"),
            "latest_state": state,
            "latest_state_at": t("2024-01-02 10:07"),
        }

    github = make(
        F.GITHUB_DEPLOYMENTS,
        [
            gh(11, "acme/cart", CART, "Production", "success"),
            gh(12, "acme/cart", CART, "staging", "success"),
            gh(13, "acme/cart", CART, "prod", "failure"),
            gh(14, "acme/shop", SHOP, "production", "success"),  # shop is deployed by Argo CD
        ],
    )
    apps = make(
        F.ARGOCD_APPS,
        [{"app_uid": "u1", "app_name": "shop-prod", "namespace": "shop", "service": SHOP}],
    )
    found = production_deployments(
        F.empty(F.ARGOCD_HISTORY), github, SERVICES, apps, history_start=START
    )
    expected = make(
        F.DEPLOYMENTS,
        [
            {
                "deployment_id": "github:acme/cart:11",
                "service": CART,
                "team": PAYMENTS,
                "environment": "Production",
                "source": "github",
                "revision": sha("gh11"),
                "started_at": t("2024-01-02 10:00"),
                "finished_at": t("2024-01-02 10:07"),
            }
        ],
    )
    assert_frame_equal(found, expected)


def test_manifest_repo_revision_is_resolved_through_the_image_tag() -> None:
    shop_commits = commit_rows("acme/shop", {"c1": [], "c2": ["c1"]})
    twin = "abcdef1" + "0" * 33
    shop_commits += [
        {**shop_commits[1], "sha": twin, "parents": [sha("c2")]},
        {**shop_commits[1], "sha": "abcdef1" + "1" * 33, "parents": [twin]},
    ]
    commits = make(F.COMMITS, shop_commits)
    c1, c2 = sha("c1"), sha("c2")
    manifest = {"repoURL": "https://github.com/acme/deploy.git", "targetRevision": "main"}

    def kustomize(image: str) -> str:
        return json.dumps({**manifest, "kustomize": {"images": [image]}})

    def helm(tag: str) -> str:
        chart = {"repoURL": "https://charts.acme.test", "chart": "shop"}
        chart["helm"] = {"parameters": [{"name": "replicaCount", "value": "3"}]}  # type: ignore[assignment]
        chart["helm"]["parameters"].append({"name": "image.tag", "value": tag})  # type: ignore[index]
        return json.dumps([chart, {**manifest, "ref": "values"}])

    own = json.dumps({"repoURL": "https://github.com/Acme/Shop.git", "path": "deploy"})
    cases = [
        ({"revision": c1, "source": own}, c1),  # the service's own repo: its revision
        ({"revision": sha("m1"), "source": kustomize(f"ghcr.io/acme/shop:{c2[:7]}")}, c2),
        ({"revision": sha("m2"), "source": kustomize(f"reg:5000/acme/shop:{c1[:9]}")}, c1),
        ({"revisions": ["1.4.2", sha("m3")], "sources": helm(c1[:10])}, c1),
        ({"revision": sha("m4"), "source": kustomize("ghcr.io/acme/shop:latest")}, None),
        ({"revision": sha("m5"), "source": kustomize("ghcr.io/acme/shop:deadbeef")}, None),
        ({"revision": sha("m6"), "source": kustomize("ghcr.io/acme/shop:abcdef1")}, None),
        ({"revision": sha("m7"), "source": kustomize("ghcr.io/acme/shop:abcdef10")}, twin),
        ({"revision": sha("m8"), "source": kustomize(f"ghcr.io/acme/shop:{c2[:6]}")}, None),
        (
            {
                "revisions": ["1.0.0", c2],
                "sources": json.dumps(
                    [
                        {"repoURL": "https://charts.acme.test"},
                        {"repoURL": "git@github.com:acme/shop"},
                    ]
                ),
            },
            c2,
        ),
    ]
    history = make(
        F.ARGOCD_HISTORY, [history_row("u1", i + 1, **row) for i, (row, _) in enumerate(cases)]
    )
    resolved = resolve_revision(history, commits, SERVICES)
    assert resolved.get_column("resolved_revision").to_list() == [want for _, want in cases]
    assert resolved.columns == [*history.columns, "resolved_revision"]


def test_first_observed_deployment_is_the_first_of_each_service_in_finish_then_id_order() -> None:
    deployments = deployments_frame(
        [
            dep("argocd:u1:10", "2024-01-02 10:00"),
            dep("argocd:u1:9", "2024-01-02 10:00"),  # same finish: 9 before 10, as numbers
            dep("argocd:u1:11", "2024-01-01 09:00"),
            dep("github:acme/cart:5", "2024-01-03 10:00", service=CART),
        ]
    )
    flagged = first_observed(deployments)
    assert flagged.get_column("first_observed").to_list() == [False, False, True, True]


def test_ordered_production_deployments_number_their_places_and_flag_the_first_alike() -> None:
    """production_deployments(ordered=True) numbers each row's place in deployment order
    (ORDER), and first_observed reads the flag off it: the same flags as ordering again."""
    history = make(
        F.ARGOCD_HISTORY,
        [
            history_row("u1", 10, revision="b", deployed_at=t("2024-01-02 10:00")),
            history_row("u1", 9, revision="a", deployed_at=t("2024-01-02 10:00")),  # 9 first
            history_row("u1", 11, revision="c", deployed_at=t("2024-01-03 09:00")),
            history_row("u2", 1, service=CART, app_name="cart-prod", revision="d"),
            history_row("u2", 2, service=CART, app_name="cart-prod", revision="e"),
        ],
    )
    github = F.empty(F.GITHUB_DEPLOYMENTS)
    plain = production_deployments(history, github, SERVICES, history_start=START)
    ordered = production_deployments(history, github, SERVICES, history_start=START, ordered=True)
    assert_frame_equal(ordered.drop(ORDER), plain)
    assert plain.height == 5
    places = order_keys(plain.drop(ORDER, strict=False)).get_column("deployment_id").to_list()
    assert ordered.sort(ORDER).get_column("deployment_id").to_list() == places
    assert_frame_equal(first_observed(ordered).drop(ORDER), first_observed(plain))
    assert first_observed(ordered).filter("first_observed").get_column(
        "deployment_id"
    ).sort().to_list() == ["argocd:u1:9", "argocd:u2:1"]


@pytest.mark.parametrize("seed", range(5))
def test_deployment_order_is_finish_then_id_prefix_then_id_number_on_random_ties(
    seed: int,
) -> None:
    """order_keys orders only the tied rows by their ids' keys: the same order as sorting every
    row by all four keys (finish, id prefix, id number as a number, id), nulls last."""
    rng = random.Random(seed)
    finishes = [t("2024-01-02 10:00") + timedelta(seconds=s) for s in range(4)] + [None]
    ids = [
        f"{rng.choice(['argocd:u1', 'argocd:u2', 'github:acme/cart'])}:{rng.randrange(1, 30)}"
        for _ in range(300)
    ] + ["no-number", "argocd:u1:x"]
    frame = pl.DataFrame(
        {
            "deployment_id": ids,
            "finished_at": [rng.choice(finishes) for _ in ids],
            "row": range(len(ids)),
        },
        schema={"deployment_id": pl.Utf8, "finished_at": F.UTC_TS, "row": pl.Int64},
    )

    def key(row: dict[str, Any]) -> tuple[object, ...]:
        finished, id_ = row["finished_at"], row["deployment_id"]
        prefix, _, last = id_.rpartition(":")
        number = int(last) if prefix and last.isdigit() else None
        return (
            finished is None,
            finished or START,
            prefix or id_,
            number is None,
            number or 0,
            id_,
        )

    expected = pl.DataFrame(sorted(frame.iter_rows(named=True), key=key), schema=frame.schema)
    assert_frame_equal(order_keys(frame), expected)


def test_rollback_is_a_strict_ancestor_of_the_previous_deployment_in_the_same_environment() -> None:
    commits = make(
        F.COMMITS,
        commit_rows(
            "acme/shop",
            {"a": [], "b": ["a"], "c": ["b"], "x": ["b"], "m": ["c", "x"], "d": ["m"]},
        ),
    )
    deployments = deployments_frame(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "c"),
            dep("argocd:u1:2", "2024-01-02 11:00", "d"),
            dep("argocd:u1:3", "2024-01-02 12:00", "x"),  # behind d through the merge's 2nd parent
            dep("argocd:u1:4", "2024-01-02 13:00", "x"),  # same revision: not a strict ancestor
            dep("argocd:u1:5", "2024-01-02 14:00", "d"),  # forward again
            dep("argocd:u9:1", "2024-01-02 15:00", "a", environment="shop-prod-eu"),  # first there
            dep("argocd:u1:6", "2024-01-02 16:00", None),  # unresolved: never a rollback
            dep("argocd:u1:7", "2024-01-02 17:00", "a"),  # previous is unresolved
            dep("argocd:u1:8", "2024-01-02 18:00", "zzz"),  # revision outside the graph
        ]
    )
    flagged = flag_rollbacks(deployments, commits, SERVICES)
    assert flagged.get_column("is_rollback").to_list() == [
        False,
        False,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]


def test_rollback_to_a_revision_committed_before_the_history_is_found_through_its_children() -> (
    None
):
    # x was committed before the history's start: not collected, but c1 names it as a parent.
    commits = make(F.COMMITS, commit_rows("acme/shop", {"c1": ["x"], "c2": ["c1"], "c3": ["c2"]}))
    deployments = deployments_frame(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "x"),  # first observed, outside the graph
            dep("argocd:u1:2", "2024-01-02 11:00", "c3"),
            dep("argocd:u1:3", "2024-01-02 12:00", "x"),  # behind c3 through c1: a rollback
            dep("argocd:u1:4", "2024-01-02 13:00", "c3"),
            dep("argocd:u1:5", "2024-01-02 14:00", "y"),  # outside, and no commit names it
            dep("argocd:u1:6", "2024-01-02 15:00", "c1"),  # previous outside: not a rollback
            dep("argocd:u1:7", "2024-01-02 16:00", "x"),  # c1's own parent: a rollback
        ]
    )
    flagged = flag_rollbacks(deployments, commits, SERVICES)
    rollbacks = flagged.filter("is_rollback").get_column("deployment_id").to_list()
    assert rollbacks == ["argocd:u1:3", "argocd:u1:7"]


# -- changes and lead time -----------------------------------------------------------------------


def test_change_start_survives_squash_rebase_and_merge_and_pushes_are_the_rest() -> None:
    repo = "acme/shop"

    def c(label: str, author: str, committer: str, parents: Sequence[str], msg: str) -> dict:
        return {
            "repo": repo,
            "sha": sha(label),
            "parents": [sha(p) for p in parents],
            "author_date": t(author),
            "author_email": "dev@acme.test",
            "committer_date": t(committer),
            "message": msg,
        }

    branch = [
        c("p0", "2023-12-30 09:00", "2023-12-30 10:00", [], "before the window"),
        c("p1", "2024-01-02 09:00", "2024-01-02 10:00", ["p0"], "hotfix typo"),
        c("q1", "2024-01-04 10:00", "2024-01-04 10:00", ["p1"], "Squash (#1)"),
        c("r1'", "2024-01-05 08:00", "2024-01-06 10:00", ["q1"], "feat: a"),
        c("r2'", "2024-01-05 09:00", "2024-01-06 10:00", ["r1'"], "feat: b"),
        c("b1", "2024-01-07 08:00", "2024-01-07 08:00", ["r2'"], "branch work"),
        c("m3", "2024-01-08 10:00", "2024-01-08 10:00", ["r2'", "b1"], "Merge pull request #3"),
        c("p2", "2024-01-05 07:00", "2024-01-09 10:00", ["m3"], "feat: a"),  # same message only
    ]
    pr_commit_rows = [
        c("s1", "2024-01-03 08:00", "2024-01-03 08:00", ["p1"], "wip"),
        c("s2", "2024-01-03 12:00", "2024-01-03 12:00", ["s1"], "more"),
        c("r1", "2024-01-05 08:00", "2024-01-05 08:00", ["q1"], "feat: a"),
        c("r2", "2024-01-05 09:00", "2024-01-05 09:00", ["r1"], "feat: b"),
        c("b1", "2024-01-07 08:00", "2024-01-07 08:00", ["r2'"], "branch work"),
        c("u1", "2024-01-08 08:00", "2024-01-08 08:00", ["m3"], "never merged"),
    ]
    numbers = {"s1": 1, "s2": 1, "r1": 2, "r2": 2, "b1": 3, "u1": 4}

    def pr(n: int, created: str, merged: str | None, merge_sha: str | None, base: str = "main"):
        return {
            "repo": repo,
            "number": n,
            "base_ref": base,
            "default_branch": "main",
            "created_at": t(created),
            "merged_at": t(merged) if merged else None,
            "merge_commit_sha": sha(merge_sha) if merge_sha else None,
        }

    pulls = make(
        F.PULL_REQUESTS,
        [
            pr(1, "2024-01-03 13:00", "2024-01-04 10:00", "q1"),  # squash
            pr(2, "2024-01-05 10:00", "2024-01-06 10:00", "r2'"),  # rebase
            pr(3, "2024-01-07 09:00", "2024-01-08 10:00", "m3"),  # merge commit
            pr(4, "2024-01-08 09:00", None, None),  # still open
            pr(5, "2024-01-08 09:00", "2024-01-08 11:00", "zz", base="release"),
        ],
    )
    pr_commits = make(
        F.PR_COMMITS,
        [
            {**row, "number": numbers[label]}
            for row, label in zip(pr_commit_rows, numbers, strict=True)
        ],
    )
    found = changes(make(F.COMMITS, branch), pulls, pr_commits, history_start=START)
    expected = make(
        F.CHANGES,
        [
            {
                "change_id": f"push:{repo}:{sha('p1')}",
                "kind": "push",
                "commit_sha": sha("p1"),
                "started_at": t("2024-01-02 09:00"),
                "merged_at": t("2024-01-02 10:00"),
            },
            {
                "change_id": f"pr:{repo}:1",
                "kind": "pr",
                "pr_number": 1,
                "commit_sha": sha("q1"),
                "started_at": t("2024-01-03 08:00"),
                "opened_at": t("2024-01-03 13:00"),
                "merged_at": t("2024-01-04 10:00"),
            },
            {
                "change_id": f"pr:{repo}:2",
                "kind": "pr",
                "pr_number": 2,
                "commit_sha": sha("r2'"),
                "started_at": t("2024-01-05 08:00"),
                "opened_at": t("2024-01-05 10:00"),
                "merged_at": t("2024-01-06 10:00"),
            },
            {
                "change_id": f"pr:{repo}:3",
                "kind": "pr",
                "pr_number": 3,
                "commit_sha": sha("m3"),
                "started_at": t("2024-01-07 08:00"),
                "opened_at": t("2024-01-07 09:00"),
                "merged_at": t("2024-01-08 10:00"),
            },
            {
                "change_id": f"push:{repo}:{sha('p2')}",
                "kind": "push",
                "commit_sha": sha("p2"),
                "started_at": t("2024-01-05 07:00"),
                "merged_at": t("2024-01-09 10:00"),
            },
        ],
    ).with_columns(repo=pl.lit(repo))
    assert_frame_equal(found, expected)


def test_a_change_is_deployed_by_the_first_deployment_whose_revision_contains_its_commit() -> None:
    commits = make(
        F.COMMITS,
        commit_rows(
            "acme/shop",
            {"a": [], "b": ["a"], "c": ["b"], "x": ["b"], "m": ["c", "x"], "d": ["m"]},
        ),
    )
    deployments = deployments_frame(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "b"),
            dep("argocd:u1:2", "2024-01-03 10:00", "m"),  # ships c, and x through the merge
            dep("argocd:u1:3", "2024-01-04 10:00", "c"),  # a rollback ships nothing new
            dep("argocd:u1:4", "2024-01-05 10:00", "d"),
            dep("argocd:u1:5", "2024-01-06 10:00", None),  # unresolved ships nothing
        ]
    )
    shipped = deployed_at_by_ancestry(deployments, commits, SERVICES)
    rows = [("a", 1), ("b", 1), ("c", 2), ("x", 2), ("m", 2), ("d", 4)]
    expected = make(
        F.SHIPPED,
        [
            {
                "service": SHOP,
                "sha": sha(label),
                "deployment_id": f"argocd:u1:{n}",
                "finished_at": deployments.get_column("finished_at")[n - 1],
            }
            for label, n in rows
        ],
    )
    assert_frame_equal(shipped.sort("deployment_id", "sha"), expected.sort("deployment_id", "sha"))


@pytest.mark.parametrize("seed", range(12))
def test_deployed_at_by_ancestry_agrees_with_a_plain_walk_on_random_graphs(seed: int) -> None:
    rng = random.Random(seed)
    labels: dict[str, list[str]] = {}
    for i in range(120):
        older = list(labels)
        parents = rng.sample(older, k=min(len(older), rng.choice((1, 1, 1, 2, 2, 3))))
        labels[f"n{i}"] = parents
    commit_frame = make(F.COMMITS, commit_rows("acme/shop", labels))
    revisions = [rng.choice([*labels, None, "outside"]) for _ in range(40)]
    moments = sorted(rng.randrange(0, 400) for _ in revisions)
    deployments = deployments_frame(
        [
            dep(f"argocd:u1:{i + 1}", f"{START + timedelta(hours=m):%Y-%m-%d %H:%M}", rev)
            for i, (rev, m) in enumerate(zip(revisions, moments, strict=True))
        ]
    )
    # The plain definition: in order, each deployment takes what its revision reaches that no
    # earlier one took.
    parents = {sha(k): [sha(p) for p in v] for k, v in labels.items()}
    taken: dict[str, str] = {}
    for i, rev in enumerate(revisions):
        if rev is None or sha(rev) not in parents:
            continue
        todo = [sha(rev)]
        while todo:
            node = todo.pop()
            if node in taken:
                continue
            taken[node] = f"argocd:u1:{i + 1}"
            todo.extend(parents[node])
    ancestry = build_ancestry(deployments, commit_frame, SERVICES)
    shipped = deployed_at_by_ancestry(deployments, commit_frame, SERVICES, ancestry=ancestry)
    assert dict(shipped.select("sha", "deployment_id").iter_rows()) == taken
    # ... and the pruned ancestor check agrees with the plain one.
    flags = flag_rollbacks(deployments, commit_frame, SERVICES, ancestry=ancestry)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(parents[start])
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(parents[node])
        return False

    expected = [False]
    for previous, current in itertools.pairwise(revisions):
        known = previous in labels and current in labels
        expected.append(
            bool(known and current != previous and reaches(sha(previous), sha(current)))  # type: ignore[arg-type]
        )
    assert flags.get_column("is_rollback").to_list() == expected


def lead_time_inputs(
    rows: Sequence[Mapping[str, Any]], shipped_by: Mapping[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(changes, shipped, deployments) with D1 the first observed deployment of shop."""
    deployments = first_observed(
        deployments_frame(
            [
                dep("argocd:u1:1", "2024-01-10 10:00", "a"),
                dep("argocd:u1:2", "2024-01-12 10:00", "b"),
            ]
        )
    )
    finished = dict(deployments.select("deployment_id", "finished_at").iter_rows())
    shipped = make(
        F.SHIPPED,
        [
            {"service": SHOP, "sha": s, "deployment_id": d, "finished_at": finished[d]}
            for s, d in shipped_by.items()
        ],
    )
    return make(F.CHANGES, rows), shipped, deployments


def change(n: int, started: str, opened: str | None, merged: str, kind: str = "pr") -> dict:
    return {
        "change_id": f"{kind}:Acme/Shop:{n}",
        "repo": "Acme/Shop",
        "kind": kind,
        "pr_number": n if kind == "pr" else None,
        "commit_sha": f"sha{n}",
        "started_at": t(started),
        "opened_at": t(opened) if opened else None,
        "merged_at": t(merged),
    }


def test_lead_time_of_a_pr_splits_into_coding_review_and_deploy_wait() -> None:
    rows = [change(1, "2024-01-10 12:00", "2024-01-11 00:00", "2024-01-11 06:00")]
    found = lead_times(*lead_time_inputs(rows, {"sha1": "argocd:u1:2"}), SERVICES)
    assert found.select(
        "service", "deployment_id", "lead_time_s", "coding_s", "review_s", "deploy_wait_s"
    ).row(0) == (SHOP, "argocd:u1:2", 46 * H, 12 * H, 6 * H, 28 * H)
    assert found.schema == pl.Schema(mart_schema("changes"))


def test_a_kept_change_is_computed_again_when_its_deployment_is_gone_or_walked_again() -> None:
    # Kept rows (as a run by delta reads them back) shipped by D2, by D1 (the first observed),
    # by a deployment no longer there, and by none yet: all but D2's are computed again, and
    # D2's too once the walk walked D2 again. The walk names the one gone (Walked.again:
    # test_walk.test_deployments_gone_from_the_end_are_forgotten).
    rows = [
        change(n, "2024-01-10 12:00", "2024-01-11 00:00", "2024-01-11 06:00") for n in (1, 2, 3, 4)
    ]
    by = {"sha1": "argocd:u1:2", "sha2": "argocd:u1:1", "sha3": "argocd:u1:2"}
    changes, shipped, deployments = lead_time_inputs(rows, by)
    kept = lead_times(changes, shipped, deployments, SERVICES).with_columns(
        deployment_id=pl.Series(["argocd:u1:2", "argocd:u1:1", "argocd:u1:9", None])
    )
    fresh = make(F.CHANGES, [])

    def split(walked: list[str]) -> tuple[list[str], list[str]]:
        again, still = lead_times_again(fresh, kept, pl.Series(walked, dtype=pl.Utf8), deployments)
        return sorted(again.get_column("change_id")), sorted(still.get_column("change_id"))

    gone = ["argocd:u1:9"]
    again = ["pr:Acme/Shop:2", "pr:Acme/Shop:3", "pr:Acme/Shop:4"]
    assert split(gone) == (again, ["pr:Acme/Shop:1"])
    assert split([*gone, "argocd:u1:2"])[1] == []


def test_first_observed_deployment_is_excluded_from_lead_time() -> None:
    rows = [
        change(1, "2023-06-01 09:00", "2023-06-01 10:00", "2023-06-02 10:00"),
        change(2, "2024-01-10 12:00", "2024-01-11 00:00", "2024-01-11 06:00"),
    ]
    found = lead_times(
        *lead_time_inputs(rows, {"sha1": "argocd:u1:1", "sha2": "argocd:u1:2"}), SERVICES
    )
    assert found.select("change_id", "lead_time_s", "excluded_reason").rows() == [
        (
            "pr:Acme/Shop:1",
            (t("2024-01-10 10:00") - t("2023-06-01 09:00")).total_seconds(),
            "first_observed_deployment",
        ),
        ("pr:Acme/Shop:2", 46 * H, None),
    ]


def test_negative_duration_is_flagged_clock_skew_and_never_clamped() -> None:
    rows = [
        # coding is negative: the PR was opened before its first commit was authored
        change(1, "2024-01-11 02:00", "2024-01-11 00:00", "2024-01-11 06:00"),
        # a push authored after the deployment that ships it
        change(2, "2024-01-12 11:00", None, "2024-01-12 09:00", kind="push"),
        # negative and first observed: first observed wins
        change(3, "2024-01-10 11:00", None, "2024-01-10 09:00", kind="push"),
    ]
    found = lead_times(
        *lead_time_inputs(
            rows, {"sha1": "argocd:u1:2", "sha2": "argocd:u1:2", "sha3": "argocd:u1:1"}
        ),
        SERVICES,
    )
    assert found.select("pr_number", "lead_time_s", "coding_s", "excluded_reason").rows() == [
        (None, -H, None, "first_observed_deployment"),
        (1, 32 * H, -2 * H, "clock_skew"),
        (None, -H, None, "clock_skew"),
    ]


def test_change_not_shipped_yet_has_no_deployed_at_no_durations_and_no_reason() -> None:
    rows = [change(1, "2024-01-10 12:00", "2024-01-11 00:00", "2024-01-11 06:00")]
    found = lead_times(*lead_time_inputs(rows, {}), SERVICES)
    assert found.select(
        "deployment_id", "deployed_at", "lead_time_s", "coding_s", "excluded_reason"
    ).row(0) == (None, None, None, None, None)


# -- failures, recovery, rework -------------------------------------------------------------------


def incident(iid: str, created: str, resolved: str | None = None, service: str = SHOP) -> dict:
    return {
        "incident_id": iid,
        "service": service,
        "source": "pagerduty",
        "title": iid,
        "urgency": "high",
        "status": "resolved" if resolved else "triggered",
        "created_at": t(created),
        "resolved_at": t(resolved) if resolved else None,
    }


def test_incident_after_window_is_not_attributed() -> None:
    deployments = deployments_frame(
        [
            dep("argocd:u1:1", "2024-01-02 10:00"),
            dep("argocd:u1:2", "2024-01-02 12:00"),
            dep("argocd:u1:10", "2024-01-05 12:00"),
            dep("argocd:u1:9", "2024-01-05 12:00"),  # same finish: :10 is the later one
        ]
    )
    incidents = make(
        F.INCIDENTS,
        [
            incident("before-any", "2024-01-02 09:00", "2024-01-02 09:30"),
            incident("after-first", "2024-01-02 11:00", "2024-01-02 11:30"),
            incident("at-finish", "2024-01-02 12:00"),
            incident("window-edge", "2024-01-03 12:00", "2024-01-03 13:00"),
            incident("past-window", "2024-01-03 12:00:01"),
            incident("tie", "2024-01-05 13:00"),
            incident("other-service", "2024-01-02 11:00", service=CART),
        ],
    )
    found = attribute_incidents(incidents, deployments, window_hours=24)
    assert found.select("incident_id", "deployment_id", "time_to_restore_s").rows() == [
        ("before-any", None, 1800.0),
        ("after-first", "argocd:u1:1", 1800.0),
        ("at-finish", "argocd:u1:2", None),
        ("window-edge", "argocd:u1:2", H),
        ("past-window", None, None),
        ("tie", "argocd:u1:10", None),
        ("other-service", None, None),
    ]


def failure_inputs(
    rows: Sequence[Mapping[str, Any]], messages: Mapping[str, str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(deployments with is_rollback, shipped, commits) over a linear graph a..h."""
    labels = "abcdefgh"
    graph = {c: ([labels[i - 1]] if i else []) for i, c in enumerate(labels)}
    commits = make(F.COMMITS, commit_rows("acme/shop", graph, messages=messages))
    deployments = deployments_frame(rows)
    flagged = flag_rollbacks(deployments, commits, SERVICES)
    shipped = deployed_at_by_ancestry(flagged, commits, SERVICES)
    return flagged, shipped, commits


def test_rollback_marks_the_previous_deployment_failed() -> None:
    deployments, shipped, commits = failure_inputs(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "b"),
            dep("argocd:u1:2", "2024-01-02 11:00", "c"),
            dep("argocd:u1:3", "2024-01-02 12:00", "b"),  # rollback within the window
            dep("argocd:u1:4", "2024-01-04 10:00", "d"),
            dep("argocd:u2:1", "2024-01-04 11:00", "a", environment="shop-prod-eu"),
            dep("argocd:u1:5", "2024-01-05 10:01", "c"),  # rollback, but 24 h 1 min later
        ]
    )
    found = failed_deployments(
        deployments,
        F.empty(F.INCIDENTS).with_columns(deployment_id=pl.lit(None, pl.Utf8)),
        shipped,
        commits,
        SERVICES,
        window_hours=24,
    )
    assert found.select(
        "deployment_id", "is_rollback", "is_failed", "failure_reason", "recovery_deployment_id"
    ).rows() == [
        ("argocd:u1:1", False, False, None, None),
        ("argocd:u1:2", False, True, "rollback", "argocd:u1:3"),
        ("argocd:u1:3", True, False, None, None),
        ("argocd:u1:4", False, False, None, None),
        ("argocd:u2:1", False, False, None, None),
        ("argocd:u1:5", True, False, None, None),
    ]


def test_revert_within_the_window_marks_it_failed() -> None:
    messages = {
        "d": f'Revert "change b"\n\nThis reverts commit {sha("b")[:12]}.',
        "g": f"Revert\n\nThis reverts commit {sha('f')}.",
    }
    deployments, shipped, commits = failure_inputs(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "a"),
            dep("argocd:u1:2", "2024-01-02 11:00", "c"),  # first ships b and c
            dep("github:acme/shop:7", "2024-01-03 11:00", "d", environment="other"),  # reverts b
            dep("argocd:u1:3", "2024-01-04 10:00", "f"),  # ships e, f
            dep("argocd:u1:4", "2024-01-05 10:00:01", "g"),  # reverts f, 24 h 1 s later
        ],
        messages,
    )
    incidents = attribute_incidents(F.empty(F.INCIDENTS), deployments)
    found = failed_deployments(deployments, incidents, shipped, commits, SERVICES)
    assert found.select("deployment_id", "failure_reason", "recovery_deployment_id").rows() == [
        ("argocd:u1:1", None, None),
        ("argocd:u1:2", "revert", "github:acme/shop:7"),
        ("github:acme/shop:7", None, None),
        ("argocd:u1:3", None, None),
        ("argocd:u1:4", None, None),
    ]


def test_incident_is_the_first_failure_reason_and_recovery_waits_for_every_incident() -> None:
    deployments, shipped, commits = failure_inputs(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "b"),
            dep("argocd:u1:2", "2024-01-02 11:00", "c"),
            dep("argocd:u1:3", "2024-01-02 12:00", "b"),  # rolls back 2, which had incidents
            dep("argocd:u1:4", "2024-01-03 10:00", "d"),
            dep("argocd:u1:5", "2024-01-04 10:00", "e"),
            dep("argocd:u1:6", "2024-01-04 10:30", "d"),  # rolls back 5
        ]
    )
    incidents = attribute_incidents(
        make(
            F.INCIDENTS,
            [
                incident("i1", "2024-01-02 11:10", "2024-01-02 12:00"),
                incident("i2", "2024-01-02 11:20", "2024-01-02 14:00"),
                incident("i3", "2024-01-03 10:10", "2024-01-03 11:00"),
                incident("i4", "2024-01-03 10:20"),  # still open: 4 is not recovered
            ],
        ),
        deployments,
    )
    failed = failed_deployments(deployments, incidents, shipped, commits, SERVICES)
    found = recovery_times(failed, incidents)
    assert found.select("deployment_id", "failure_reason", "recovered_at", "recovery_s").rows() == [
        ("argocd:u1:1", None, None, None),
        ("argocd:u1:2", "incident", t("2024-01-02 14:00"), 3 * H),
        ("argocd:u1:3", None, None, None),
        ("argocd:u1:4", "incident", None, None),
        ("argocd:u1:5", "rollback", t("2024-01-04 10:30"), 1800.0),
        ("argocd:u1:6", None, None, None),
    ]


def test_rework_when_a_deploy_starts_during_an_open_incident() -> None:
    def started(n: int, when: str, service: str = SHOP) -> dict[str, Any]:
        return dep(f"argocd:u1:{n}", when, service=service, started=when, is_rollback=False)

    deployments = deployments_frame(
        [
            started(1, "2024-01-02 09:59"),  # before the incident
            started(2, "2024-01-02 10:00"),  # at its creation: open
            started(3, "2024-01-02 11:59"),
            started(4, "2024-01-02 12:00"),  # at its resolution: closed
            started(5, "2024-01-03 15:00"),  # while an unresolved incident is open
            started(6, "2024-01-02 11:00", service=CART),  # another service
        ],
        is_rollback=pl.Boolean(),
    )
    incidents = make(
        F.INCIDENTS,
        [
            incident("i1", "2024-01-02 10:00", "2024-01-02 12:00"),
            incident("i2", "2024-01-03 10:00"),
            incident("i3", "2024-01-02 09:00", "2024-01-02 09:30"),
        ],
    )
    commits = make(F.COMMITS, commit_rows("acme/shop", {"a": []}))
    found = rework_deployments(deployments, F.empty(F.SHIPPED), commits, SERVICES, incidents)
    assert found.select("is_rework", "rework_reason").rows() == [
        (False, None),
        (True, "incident_open"),
        (True, "incident_open"),
        (False, None),
        (True, "incident_open"),
        (False, None),
    ]


def test_rework_is_a_rollback_or_a_revert_shipped_first_reason_wins() -> None:
    messages = {"d": f"Revert\n\nThis reverts commit {sha('c')[:7]}."}
    deployments, shipped, commits = failure_inputs(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "c"),
            dep("argocd:u1:2", "2024-01-02 11:00", "d"),  # ships the revert commit
            dep("argocd:u1:3", "2024-01-02 12:00", "c"),  # rollback (during an incident too)
        ],
        messages,
    )
    incidents = make(F.INCIDENTS, [incident("i1", "2024-01-02 11:30")])
    found = rework_deployments(deployments, shipped, commits, SERVICES, incidents)
    assert found.select("rework_reason").to_series().to_list() == [None, "revert", "rollback"]


# -- DORA metrics ---------------------------------------------------------------------------------


def scored_deployments(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    return deployments_frame(
        [{"is_failed": False, "is_rework": False, **r} for r in rows],
        is_failed=pl.Boolean(),
        recovery_s=pl.Float64(),
        is_rework=pl.Boolean(),
    )


def mart_changes(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    return make(mart_schema("changes"), rows)


def mart_incidents(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    return make(mart_schema("incidents"), rows)


def test_empty_week_counts_zero_deployments_and_null_lead_time() -> None:
    deployments = scored_deployments([dep("argocd:u1:1", "2024-01-03 10:00")])
    chg = mart_changes(
        [
            {
                "change_id": "c1",
                "service": SHOP,
                "deployed_at": t("2024-01-03 10:00"),
                "lead_time_s": 5 * H,
            }
        ]
    )
    found = dora_metrics(
        deployments,
        chg,
        mart_incidents([]),
        SERVICES,
        history_start=START,
        as_of=t("2024-01-21 18:00"),
        grains=["week"],
    )
    assert found.height == 3 * (3 + 2 + 1)  # 3 weeks × (3 services + 2 teams + the org)
    row = found.filter(
        (pl.col("scope") == "org") & (pl.col("period_start") == date(2024, 1, 8))
    ).drop("grain", "period_start", "scope", "scope_id")
    assert row.row(0, named=True) == {
        "deployments": 0,
        "deployment_days": 0,
        "deploys_per_day": 0.0,
        "changes": 0,
        "lead_time_p50_s": None,
        "lead_time_p90_s": None,
        "failed_deployments": 0,
        "change_failure_rate": None,
        "recovery_p50_s": None,
        "incidents": 0,
        "mttr_p50_s": None,
        "rework_deployments": 0,
        "rework_rate": None,
        "mttr_mean_s": None,
    }
    idle = found.filter(pl.col("scope_id") == IDLE).get_column("deployments").to_list()
    assert idle == [0, 0, 0]  # a service never deployed still has its rows
    assert found.schema == pl.Schema(mart_schema("dora_metrics"))


def test_periods_are_iso_weeks_from_monday_calendar_months_and_quarters() -> None:
    deployments = scored_deployments(
        [
            dep("argocd:u1:1", "2024-01-07 23:59"),  # a Sunday: the week of Monday 1 January
            dep("argocd:u1:2", "2024-01-08 00:00"),  # Monday: the next week
            dep("argocd:u1:3", "2024-01-08 09:00"),
        ]
    )
    found = dora_metrics(
        deployments,
        mart_changes([]),
        mart_incidents([]),
        SERVICES,
        history_start=START,
        as_of=t("2024-01-10 00:00"),
    ).filter(pl.col("scope") == "org")
    assert found.select("grain", "period_start", "deployments", "deployment_days").rows() == [
        ("month", date(2024, 1, 1), 3, 2),
        ("quarter", date(2024, 1, 1), 3, 2),
        ("week", date(2024, 1, 1), 1, 1),
        ("week", date(2024, 1, 8), 2, 1),
    ]
    per_day = dict(found.select("grain", "deploys_per_day").rows()[:2])
    assert per_day == {"month": 3 / 31, "quarter": 3 / 91}  # every day of the period counts


def test_medians_are_interpolated_like_quantile_cont() -> None:
    chg = mart_changes(
        [
            {
                "change_id": f"c{i}",
                "service": SHOP,
                "deployed_at": t("2024-01-03 10:00"),
                "lead_time_s": v * H,
            }
            for i, v in enumerate((1, 2, 3, 10))
        ]
        + [  # excluded changes stay out of counts and quantiles
            {
                "change_id": "x",
                "service": SHOP,
                "deployed_at": t("2024-01-03 10:00"),
                "lead_time_s": 99 * H,
                "excluded_reason": "clock_skew",
            }
        ]
    )
    found = dora_metrics(
        scored_deployments([]),
        chg,
        mart_incidents([]),
        SERVICES,
        history_start=START,
        as_of=START,
        grains=["month"],
    ).filter(pl.col("scope") == "org")
    assert found.select("changes", "lead_time_p50_s", "lead_time_p90_s").row(0) == pytest.approx(
        (4, 2.5 * H, 7.9 * H)
    )


def test_open_incidents_are_counted_not_timed() -> None:
    incidents = mart_incidents(
        [
            {
                "incident_id": "i1",
                "service": SHOP,
                "created_at": t("2024-01-02 10:00"),
                "time_to_restore_s": H,
            },
            {
                "incident_id": "i2",
                "service": SHOP,
                "created_at": t("2024-01-03 10:00"),
                "time_to_restore_s": 3 * H,
            },
            {"incident_id": "i3", "service": SHOP, "created_at": t("2024-01-04 10:00")},
        ]
    )
    found = dora_metrics(
        scored_deployments([]),
        mart_changes([]),
        incidents,
        SERVICES,
        history_start=START,
        as_of=START,
        grains=["month"],
    ).filter(pl.col("scope_id") == SHOP)
    assert found.select("incidents", "mttr_p50_s").row(0) == (3, 2 * H)


def test_mttr_mean_is_the_mean_of_resolved_incidents_beside_the_median() -> None:
    restores = [H, 2 * H, 6 * H, None]  # the last one still open: counted, not timed
    incidents = mart_incidents(
        [
            {
                "incident_id": f"i{n}",
                "service": SHOP,
                "created_at": t(f"2024-01-0{n + 2} 10:00"),
                "time_to_restore_s": restore,
            }
            for n, restore in enumerate(restores)
        ]
    )
    found = dora_metrics(
        scored_deployments([]),
        mart_changes([]),
        incidents,
        SERVICES,
        history_start=START,
        as_of=START,
        grains=["month"],
    ).filter(pl.col("scope_id") == SHOP)
    assert found.select("incidents", "mttr_p50_s", "mttr_mean_s").row(0) == (4, 2 * H, 3 * H)


def test_cfr_is_never_above_one() -> None:
    # One deployment with two incidents, rolled back and reverted: failed once.
    deployments, shipped, commits = failure_inputs(
        [
            dep("argocd:u1:1", "2024-01-02 10:00", "b"),
            dep("argocd:u1:2", "2024-01-02 11:00", "d"),
            dep("argocd:u1:3", "2024-01-02 12:00", "b"),
        ],
        {"e": f"This reverts commit {sha('c')}"},
    )
    incidents = attribute_incidents(
        make(
            F.INCIDENTS,
            [
                incident("i1", "2024-01-02 11:05", "2024-01-02 11:30"),
                incident("i2", "2024-01-02 11:10", "2024-01-02 11:40"),
            ],
        ),
        deployments,
    )
    scored = recovery_times(
        failed_deployments(deployments, incidents, shipped, commits, SERVICES), incidents
    ).with_columns(is_rework=pl.lit(False))
    found = dora_metrics(
        scored,
        mart_changes([]),
        incidents,
        SERVICES,
        history_start=START,
        as_of=START,
        grains=["month"],
    )
    org = found.filter(pl.col("scope") == "org")
    assert org.select("deployments", "failed_deployments", "change_failure_rate").row(0) == (
        3,
        1,
        1 / 3,
    )
    assert found.get_column("change_failure_rate").drop_nulls().max() <= 1  # type: ignore[operator]


# -- tiers and benchmarks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weekly", "monthly", "band"),
    [
        ([5, 5, 6, 4, 5], [22, 20], "on_demand"),
        ([1, 2, 1, 0, 1], [5, 4], "daily_to_weekly"),
        ([0, 1, 0, 0, 1, 0], [1, 1, 0], "weekly_to_monthly"),
        ([0, 0, 0, 1, 0, 0], [0, 1, 0], "monthly_to_six_monthly"),
        ([0, 0, 0, 0], [0, 0], "fewer_than_six_monthly"),
        ([6, 4, 4, 6], [20], "on_demand"),  # an even count's median is between the middle two
        ([2, 0, 1, 0], [1, 2], "weekly_to_monthly"),  # 0.5 deployment days a week
    ],
)
def test_frequency_tier_follows_the_median_deployment_days_per_week_then_month(
    weekly: list[int], monthly: list[int], band: str
) -> None:
    assert frequency_band(weekly, monthly) == band


def test_tiers_name_their_report_year_over_the_trailing_window() -> None:
    as_of = date(2024, 3, 31)
    days = [as_of - timedelta(days=i) for i in range(90)]
    weekdays = [d for d in days if d.weekday() < 5]
    deployments = scored_deployments(
        [
            dep(
                f"argocd:u1:{i}",
                f"{d} 10:00",
                service=CART,
                is_failed=i % 10 == 0,
                recovery_s=2 * H if i % 10 == 0 else None,
            )
            for i, d in enumerate(weekdays)
        ]
        + [dep("argocd:u1:999", "2023-12-01 10:00", service=CART)]  # before the window
    )
    chg = mart_changes(
        [
            {
                "change_id": "c1",
                "service": CART,
                "deployed_at": t("2024-03-01 10:00"),
                "lead_time_s": 2 * H,
            }
        ]
    )
    found = dora_tiers(deployments, chg, mart_incidents([]), SERVICES, as_of=as_of).filter(
        pl.col("scope_id") == CART
    )
    rows = {
        (r["report_year"], r["metric"]): (r["value"], r["tier"])
        for r in found.iter_rows(named=True)
    }
    n = len(weekdays)
    cfr = sum(1 for i in range(n) if i % 10 == 0) / n
    assert rows == {
        (0, "deployment_frequency"): (n / 90, "good"),
        (0, "lead_time"): (2 * H, "good"),
        (0, "change_failure_rate"): (cfr, "between"),
        (0, "time_to_restore"): (None, None),
        (2021, "deployment_frequency"): (n / 90, "elite"),
        (2021, "lead_time"): (2 * H, "high"),
        (2021, "change_failure_rate"): (cfr, "elite"),
        (2021, "time_to_restore"): (None, None),
        (2023, "deployment_frequency"): (n / 90, "elite"),
        (2023, "lead_time"): (2 * H, "elite"),
        (2023, "change_failure_rate"): (cfr, "medium"),
        (2023, "failed_deployment_recovery_time"): (2 * H, "high"),
        (2024, "deployment_frequency"): (n / 90, "elite"),
        (2024, "lead_time"): (2 * H, "elite"),
        (2024, "change_failure_rate"): (cfr, "high"),
        (2024, "failed_deployment_recovery_time"): (2 * H, "high"),
    }
    assert set(found.get_column("as_of")) == {as_of}
    assert found.schema == pl.Schema(mart_schema("dora_tiers"))


def test_deployment_frequency_is_the_exact_quotient_of_deployments_by_window_days() -> None:
    as_of, n = date(2024, 3, 31), 5  # 5 * (1 / 90) is one ulp below 5 / 90
    assert n * (1 / 90) != n / 90
    deployments = scored_deployments(
        [
            dep(f"argocd:u1:{i}", f"{as_of - timedelta(days=i)} 10:00", service=CART)
            for i in range(n)
        ]
    )
    found = dora_tiers(
        deployments, mart_changes([]), mart_incidents([]), SERVICES, as_of=as_of
    ).filter(
        (pl.col("scope_id") == CART)
        & (pl.col("metric") == "deployment_frequency")
        & (pl.col("report_year") == 0)
    )
    assert found.get_column("value").to_list() == [n / 90]


def test_benchmarks_are_rows_per_report_year_metric_and_level() -> None:
    rows = benchmarks()
    assert rows.schema == pl.Schema(mart_schema("benchmarks"))
    assert rows.select("report_year", "metric", "level").is_duplicated().sum() == 0
    per_year = rows.group_by("report_year").agg(pl.col("level").unique().sort())
    assert dict(per_year.iter_rows()) == {
        2021: ["elite", "high", "low", "medium"],
        2023: ["elite", "high", "low", "medium"],
        2024: ["elite", "high", "low", "medium"],
        RULE_OF_THUMB: ["bad", "good"],
    }
    rule = rows.filter(pl.col("report_year") == RULE_OF_THUMB)
    assert rule.filter(pl.col("metric") == "change_failure_rate").select(
        "level", "lower", "upper"
    ).rows() == [
        ("good", None, 0.05),
        ("bad", 0.15, None),
    ]


# -- surveys --------------------------------------------------------------------------------------


def survey(
    per_team: Mapping[str | None, Sequence[int]],
    quarter: str = "2024-Q1",
    key: str = "platform_satisfaction",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    responses, answers = [], []
    for team, values in per_team.items():
        for i, value in enumerate(values):
            rid = f"{quarter}-{team}-{i}"
            responses.append(
                {"source": "typeform", "response_id": rid, "quarter": quarter, "team": team}
            )
            answers.append(
                {"source": "typeform", "response_id": rid, "question_key": key, "value": value}
            )
    return make(F.SURVEY_RESPONSES, responses), make(F.SURVEY_ANSWERS, answers)


SURVEY_TEAMS = make(
    F.TEAMS,
    [
        {"team": "group:default/a", "members": 8},
        {"team": "group:default/b", "members": 6},
        {"team": "group:default/c", "members": 3},
        {"team": "group:default/d", "members": 10},
        {"team": "group:default/e", "members": 4},
    ],
)


def test_anonymity_with_complementary_suppression() -> None:
    responses, answers = survey(
        {
            "group:default/a": [5, 4, 4, 3, 5, 4],
            "group:default/b": [3, 3, 4, 4, 2],
            "group:default/c": [1, 2, 5],  # below 5: suppressed
            "group:default/d": [4] * 8,
        }
    )
    found = satisfaction(
        responses, answers, SURVEY_TEAMS, scales={"platform_satisfaction": "likert5"}
    )
    expected = make(
        mart_schema("satisfaction"),
        [
            {
                "scope": "org",
                "scope_id": "org",
                "respondents": 22,
                "invited": 31,
                "mean_score": 81 / 22,
                "top2box": 16 / 22,
                "suppressed": False,
            },
            {
                "scope": "team",
                "scope_id": "group:default/a",
                "respondents": 6,
                "invited": 8,
                "mean_score": 25 / 6,
                "top2box": 5 / 6,
                "suppressed": False,
            },
            # b is not small, but the next smallest: with c alone hidden, org - a - d - b = c
            {
                "scope": "team",
                "scope_id": "group:default/b",
                "respondents": 5,
                "invited": 6,
                "suppressed": True,
            },
            {
                "scope": "team",
                "scope_id": "group:default/c",
                "respondents": 3,
                "invited": 3,
                "suppressed": True,
            },
            {
                "scope": "team",
                "scope_id": "group:default/d",
                "respondents": 8,
                "invited": 10,
                "mean_score": 4.0,
                "top2box": 1.0,
                "suppressed": False,
            },
        ],
    ).with_columns(
        quarter=pl.lit("2024-Q1"),
        question_key=pl.lit("platform_satisfaction"),
        response_rate=pl.col("respondents") / pl.col("invited"),
    )
    assert_frame_equal(found, expected, check_exact=False)
    # Two small teams are 3 people together: the org minus a would reveal them, so a is hidden.
    responses, answers = survey(
        {"group:default/a": [5] * 6, "group:default/c": [1, 2], "group:default/e": [3]}
    )
    found = satisfaction(
        responses, answers, SURVEY_TEAMS, scales={"platform_satisfaction": "likert5"}
    )
    assert found.select("scope_id", "suppressed").rows() == [
        ("org", False),
        ("group:default/a", True),
        ("group:default/c", True),
        ("group:default/e", True),
    ]
    # The org itself below the threshold.
    responses, answers = survey({None: [4, 4], "group:default/a": [5, 5]})
    found = satisfaction(
        responses, answers, SURVEY_TEAMS, scales={"platform_satisfaction": "likert5"}
    )
    assert found.select("scope_id", "suppressed", "mean_score").rows() == [
        ("org", True, None),
        ("group:default/a", True, None),
    ]


def test_enps_and_top2box_ignore_answers_out_of_range() -> None:
    responses, answers = survey({"group:default/a": [10, 9, 9, 7, 3, 11]}, key="platform_nps")
    _, likert_a = survey({"group:default/a": [5, 4, 3, 2, 5, 6]}, key="ease_of_start")
    likert_a = likert_a.with_columns(response_id=responses.get_column("response_id"))
    found = satisfaction(
        responses, pl.concat([answers, likert_a]), SURVEY_TEAMS, min_group=5
    ).filter(pl.col("scope") == "team")
    assert found.select("question_key", "respondents", "mean_score", "top2box", "enps").rows() == [
        ("ease_of_start", 6, 3.8, 0.6, None),
        ("platform_nps", 6, None, None, 40.0),
        ("platform_satisfaction", 6, None, None, None),
    ]


def test_delta_prev_compares_with_the_previous_quarter_unless_suppressed() -> None:
    q4_r, q4_a = survey(
        {"group:default/a": [3] * 6, "group:default/c": [2], "group:default/d": [4] * 8},
        quarter="2023-Q4",
    )  # c alone is small, so a (the next smallest) is suppressed in 2023-Q4 too
    q1_r, q1_a = survey(
        {"group:default/a": [4, 3] * 3, "group:default/d": [5] * 8}, quarter="2024-Q1"
    )
    found = satisfaction(
        pl.concat([q4_r, q1_r]),
        pl.concat([q4_a, q1_a]),
        SURVEY_TEAMS,
        scales={"platform_satisfaction": "likert5"},
    )
    assert found.select("quarter", "scope_id", "suppressed", "mean_score", "delta_prev").rows() == [
        ("2023-Q4", "org", False, 52 / 15, None),
        ("2023-Q4", "group:default/a", True, None, None),
        ("2023-Q4", "group:default/c", True, None, None),
        ("2023-Q4", "group:default/d", False, 4.0, None),
        ("2024-Q1", "org", False, 61 / 14, pytest.approx(61 / 14 - 52 / 15)),
        ("2024-Q1", "group:default/a", False, 3.5, None),
        ("2024-Q1", "group:default/d", False, 5.0, 1.0),
    ]


def test_an_enps_as_high_as_last_quarters_moves_by_exactly_zero() -> None:
    # 5 promoters less 2 detractors of 7, then 4 less 1 of 7: the same eNPS, 300/7.
    q1_r, q1_a = survey({"group:default/a": [10, 9, 9, 10, 9, 3, 5]}, key="platform_nps")
    q2_r, q2_a = survey(
        {"group:default/a": [10, 9, 9, 10, 7, 8, 0]}, key="platform_nps", quarter="2024-Q2"
    )
    found = satisfaction(
        pl.concat([q1_r, q2_r]), pl.concat([q1_a, q2_a]), SURVEY_TEAMS, min_group=5
    ).filter((pl.col("scope") == "team") & (pl.col("question_key") == "platform_nps"))
    assert found.select("quarter", "enps", "delta_prev").rows() == [
        ("2024-Q1", 300 / 7, None),
        ("2024-Q2", 300 / 7, 0.0),
    ]


# -- cost -----------------------------------------------------------------------------------------


def cost(day: str, tags: Mapping[str, Any] | None, amount: str, currency: str = "USD") -> dict:
    return {
        "source": "focus",
        "charge_period_start": t(f"{day} 00:00"),
        "tags": None if tags is None else json.dumps(tags),
        "billing_currency": currency,
        "effective_cost": Decimal(amount),
        "billed_cost": Decimal(amount) * 2,
    }


def cost_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    return costs(make(F.COST_ROWS, rows), SERVICES, TEAMS, start=START, end=t("2024-02-01 00:00"))


def test_untagged_cost_stays_unallocated() -> None:
    found = cost_frame(
        [
            cost("2024-01-02", None, "1.10"),
            cost("2024-01-02", {}, "2.20"),
            cost("2024-01-02", {"owner": "shop", "team": "nobody"}, "3.30"),
            cost("2024-01-02", {"service": "shop"}, "4.40"),
        ]
    )
    expected = make(
        mart_schema("costs"),
        [
            {
                "service": None,
                "team": None,
                "effective_cost": Decimal("6.60"),
                "billed_cost": Decimal("13.20"),
            },
            {
                "service": SHOP,
                "team": PAYMENTS,
                "effective_cost": Decimal("4.40"),
                "billed_cost": Decimal("8.80"),
            },
        ],
    ).with_columns(date=pl.lit(date(2024, 1, 2)), currency=pl.lit("USD"))
    assert_frame_equal(found, expected)


def test_currencies_are_never_summed() -> None:
    found = cost_frame(
        [
            cost("2024-01-02", {"service": "shop"}, "1.5", "USD"),
            cost("2024-01-02", {"service": "shop"}, "2.5", "EUR"),
            cost("2024-01-02", {"service": "shop"}, "0.25", "USD"),
        ]
    )
    assert found.select("currency", "effective_cost").rows() == [
        ("EUR", Decimal("2.5")),
        ("USD", Decimal("1.75")),
    ]


def test_cost_is_allocated_by_the_first_tag_key_naming_a_service_else_by_team() -> None:
    found = cost_frame(
        [
            cost("2024-01-03", {"service": "nope", "app": "SHOP"}, "1"),  # first key that names one
            cost(
                "2024-01-03",
                {"backstage.io/component": "component:default/cart", "service": "shop"},
                "2",
            ),
            cost("2024-01-03", {"team": "Payments Team"}, "4"),  # display name: team only
            cost("2024-01-03", {"team": "group:default/platform"}, "8"),
            cost("2023-12-31", {"service": "shop"}, "16"),  # before the window
            cost("2024-02-01", {"service": "shop"}, "32"),  # at its (exclusive) end
        ]
    )
    assert found.select("service", "team", "effective_cost").rows() == [
        (None, PAYMENTS, Decimal(4)),
        (None, PLATFORM, Decimal(8)),
        (CART, PAYMENTS, Decimal(2)),
        (SHOP, PAYMENTS, Decimal(1)),
    ]


def test_cost_per_deployment_divides_a_services_monthly_cost_by_its_deployments() -> None:
    spent = cost_frame(
        [
            cost("2024-01-03", {"service": "shop"}, "10"),
            cost("2024-01-04", {"service": "cart"}, "5"),
        ]
    )
    deployments = deployments_frame(
        [
            dep("argocd:u1:1", "2024-01-05 10:00"),
            dep("argocd:u1:2", "2024-01-06 10:00"),
            dep("argocd:u1:3", "2024-01-07 10:00"),
        ]
    )
    found = cost_per_deployment(spent, deployments)
    assert found.select("service", "deployments", "cost_per_deployment").rows() == [
        (CART, 0, None),
        (SHOP, 3, Decimal("3.333333333333333333")),
    ]
