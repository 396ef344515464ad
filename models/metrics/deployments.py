"""Production deployments (METRICS.md §2; docs/metrics.md 8-13).

Argo CD history entries and GitHub Deployments become one frame of production deployments:
self-heal re-syncs collapsed, the service commit resolved (through a manifest repo's image tag
when needed), and each service's first observed deployment marked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from models.metrics.frames import DEPLOYMENTS, UTC_TS, conform, maybe_in

DEFAULT_PRODUCTION_PATTERN = r"(^|[-_.])prod(uction)?($|[-_.])"
DEFAULT_PRODUCTION_ENVS = ("production", "prod")
DEFAULT_HELM_TAG_PARAMETER = "image.tag"

# A source as Argo CD records it, reduced to what resolution reads.
SOURCE = pl.Struct(
    {
        "repoURL": pl.Utf8,
        "kustomize": pl.Struct({"images": pl.List(pl.Utf8)}),
        "helm": pl.Struct({"parameters": pl.List(pl.Struct({"name": pl.Utf8, "value": pl.Utf8}))}),
    }
)
HEX_TAG = r"^[0-9a-f]{7,40}$"
# `https://host/org/name(.git)`, `git@host:org/name.git`: the last two path segments after a
# host, lower case. Any host, so GitHub Enterprise repos resolve too.
_REPO_URL = r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]+@)?[^/:]+[/:]([^/]+/[^/]+)$"


ORDER = "_order"
"""A deployments frame's column of each row's place in deployment order (added by
:func:`production_deployments`, ``ordered``): :func:`order_keys` then sorts by it, for the
frame or any part of it, instead of ordering again. Deployment order is a total order of unique
ids, so a part of the frame sorted by it is in deployment order too."""


def order_keys(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``frame`` sorted in deployment order: ``finished_at``, ties by id, its prefix (source and
    app uid or repo) then its number compared as a number (``...:9`` before ``...:10``); by
    :data:`ORDER` if the frame has it. With ``columns``, only those (and what ordering reads)
    are ordered and come back: a user of a few columns does not sort every column of 874 k
    rows.

    Only the rows that share a ``finished_at`` with another need the id's keys (26 k of the
    enterprise world's 874 k deployments): they are ordered among themselves, and every row is
    then sorted by ``finished_at`` and that place, two numbers (0.16 s instead of 0.5 s, which
    parsing every id took; a run orders the deployments six times, all but two by
    :data:`ORDER`)."""
    if columns:
        reads = [ORDER] if ORDER in frame.columns else ["finished_at", "deployment_id"]
        frame = frame.select(list(dict.fromkeys([*columns, *reads])))
    if ORDER in frame.columns:
        return frame.sort(ORDER)
    row, tie = "_order_row", "_order_tie"
    keyed = frame.with_row_index(row)
    ties = (
        keyed.filter(pl.col("finished_at").is_duplicated())
        .sort(
            pl.col("finished_at"),
            pl.col("deployment_id").str.replace(r":[^:]*$", ""),
            pl.col("deployment_id").str.extract(r":(\d+)$").cast(pl.Int64),
            pl.col("deployment_id"),
            nulls_last=True,
            maintain_order=True,
        )
        .select(row, pl.int_range(pl.len(), dtype=pl.UInt32).alias(tie))
    )
    return (
        keyed.join(ties, on=row, how="left")
        .sort("finished_at", tie, nulls_last=True, maintain_order=True)
        .drop(row, tie)
    )


def repo_key(column: str | pl.Expr) -> pl.Expr:
    """A repo (``org/name`` or a git URL) as the lower-case ``org/name`` joins compare."""
    expr = pl.col(column) if isinstance(column, str) else column
    cleaned = expr.str.strip_chars().str.to_lowercase().str.replace(r"/+$", "")
    cleaned = cleaned.str.replace(r"\.git$", "")
    return (
        pl.when(cleaned.str.contains(r"^[^/:@]+/[^/:@]+$"))
        .then(cleaned)
        .otherwise(cleaned.str.extract(_REPO_URL, 1))
    )


def with_repo_key(
    frame: pl.DataFrame, column: str = "repo", alias: str = "repo_key"
) -> pl.DataFrame:
    """``frame`` plus :func:`repo_key` of ``column``, computed once per distinct value (a
    frame of millions of commits holds a few thousand repos)."""
    distinct = frame.select(pl.col(column).unique()).with_columns(repo_key(column).alias(alias))
    mapping = dict(distinct.drop_nulls(column).iter_rows())
    return frame.with_columns(
        pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias(alias)
    )


def service_repos(services: pl.DataFrame) -> pl.DataFrame:
    """``(service, repo_key)`` of every service with a repo."""
    return (
        services.select("service", repo_key("repo").alias("repo_key"))
        .filter(pl.col("repo_key").is_not_null())
        .unique("service", keep="first", maintain_order=True)
    )


def repo_owners(services: pl.DataFrame) -> pl.DataFrame:
    """``(repo_key, service)``: the service a repo's records belong to, the first by ref when
    several components claim it (METRICS.md §1)."""
    return (
        service_repos(services)
        .sort("service")
        .unique("repo_key", keep="first", maintain_order=True)
        .select("repo_key", "service")
    )


def collapse_self_heal(argocd_history: pl.DataFrame) -> pl.DataFrame:
    """Consecutive observed entries of one app (uid, by history id) with the same ``revision``
    (or the same ``revisions`` list, multi-source) are one deployment: the first entry.

    Runs over everything observed, before any window filter: a re-sync just after the window
    opens of a deployment made before it is not a new deployment either.
    """
    # Sorted by app, an entry repeats the one before it when both are of its app (a shift of
    # the whole frame: no window per app).
    repeat = (
        (pl.col("app_uid") == pl.col("app_uid").shift(1))
        & pl.col("revision").eq_missing(pl.col("revision").shift(1))
        & pl.col("revisions").eq_missing(pl.col("revisions").shift(1))
    )
    return argocd_history.sort("app_uid", "history_id", maintain_order=True).filter(
        ~repeat.fill_null(False)
    )


def _decoded(frame: pl.DataFrame, column: str, dtype: pl.DataType) -> pl.Expr:
    """``column`` as ``dtype``: JSON text decoded, a column of that type as it is, another
    struct through its JSON."""
    found = frame.schema[column]
    if found == dtype:
        return pl.col(column)
    if found == pl.Utf8:
        return pl.col(column).str.json_decode(dtype)
    if isinstance(found, pl.Struct):
        return pl.col(column).struct.json_encode().str.json_decode(dtype)
    raise TypeError(f"{column} is {found}: expected JSON text or {dtype}")


def _decoded_sources(frame: pl.DataFrame) -> pl.Expr:
    """The entry's sources as a list of :data:`SOURCE` structs (``sources`` if set, else
    ``[source]``, else empty), each column JSON text or already decoded (:data:`models.
    mart_reads.ARGOCD_HISTORY` decodes them in DuckDB)."""
    single = _decoded(frame, "source", SOURCE)
    many = _decoded(frame, "sources", pl.List(SOURCE))
    return (
        pl.when(pl.col("sources").is_not_null())
        .then(many)
        .when(pl.col("source").is_not_null())
        .then(pl.concat_list(single))
        .otherwise(pl.lit([], dtype=pl.List(SOURCE)))
    )


def resolve_revision(
    argocd_history: pl.DataFrame,
    commits: pl.DataFrame | Callable[[pl.Series], pl.DataFrame],
    services: pl.DataFrame,
    *,
    helm_tag_parameter: str = DEFAULT_HELM_TAG_PARAMETER,
) -> pl.DataFrame:
    """``argocd_history`` plus ``resolved_revision``: the service commit each entry deployed.

    In order: the history revision of the source whose ``repoURL`` is the service's repo
    (``revisions[i]`` for the i-th of a multi-source app); else the first image tag of the
    entry's source(s), each source's kustomize ``images`` (the text after the last ``:`` of the
    last ``/`` segment) then its Helm parameter ``helm_tag_parameter``, that is 7-40 lower-case
    hex and a unique prefix of a commit of the service's repo; else NULL (unresolved).
    ``commits``: the commits (``repo``, ``sha``), or what gives those whose 7-character
    prefix is one of the tags' (at least: a reader narrows the 4 M before they are read).
    """
    return resolve_with_tags(
        argocd_history, commits, services, helm_tag_parameter=helm_tag_parameter
    ).history


@dataclass(frozen=True)
class Resolved:
    """:func:`resolve_with_tags`'s result: ``history`` as :func:`resolve_revision` gives it;
    ``tags``, the candidate image tags of each entry not resolved by its own repo's revision,
    as ``(_row, repo_key, _p7)`` (``_row`` its place in the input, ``_p7`` the tag's first 7
    characters); ``commits``, the commits ``(repo_key, sha, _p7)`` of the candidates' repos and
    prefixes, among which resolution looked. An entry resolves the same while the commits of
    its tags' ``(repo_key, _p7)`` stay the same."""

    history: pl.DataFrame
    tags: pl.DataFrame
    commits: pl.DataFrame


def resolve_with_tags(
    argocd_history: pl.DataFrame,
    commits: pl.DataFrame | Callable[[pl.Series], pl.DataFrame],
    services: pl.DataFrame,
    *,
    helm_tag_parameter: str = DEFAULT_HELM_TAG_PARAMETER,
) -> Resolved:
    """:func:`resolve_revision`, with what it looked at (:class:`Resolved`)."""
    history = argocd_history.with_row_index("_row").join(
        service_repos(services), on="service", how="left"
    )
    revisions = (
        pl.when(pl.col("revisions").is_not_null())
        .then(pl.col("revisions"))
        .otherwise(pl.concat_list(pl.col("revision")))
    )
    per_source = (
        history.select("_row", "repo_key", _sources=_decoded_sources(history), _revisions=revisions)
        .with_columns(_i=pl.int_ranges(0, pl.col("_sources").list.len()))
        .explode("_sources", "_i")
        .filter(pl.col("_sources").is_not_null())
        .with_columns(
            _revision=pl.col("_revisions").list.get(pl.col("_i"), null_on_oob=True),
            _repo_url=pl.col("_sources").struct.field("repoURL"),
        )
    )
    # A million sources name a few thousand repos: each URL's key is computed once.
    per_source = with_repo_key(per_source, "_repo_url", "_url").drop("_repo_url")
    own = (
        per_source.filter(
            (pl.col("_url") == pl.col("repo_key"))
            & pl.col("_revision").is_not_null()
            & (pl.col("_revision") != "")
        )
        .sort("_row", "_i")
        .group_by("_row", maintain_order=True)
        .agg(_own=pl.col("_revision").first())
    )
    images = (
        per_source.select(
            "_row",
            "repo_key",
            "_i",
            _tag=pl.col("_sources").struct.field("kustomize").struct.field("images"),
        )
        .with_columns(_j=pl.int_ranges(0, pl.col("_tag").list.len()), _kind=pl.lit(0))
        .explode("_tag", "_j")
        .with_columns(_segment=pl.col("_tag").str.extract(r"([^/]*)$", 1))
        .with_columns(
            _tag=pl.when(pl.col("_segment").str.contains(":"))
            .then(pl.col("_segment").str.extract(r":([^:]*)$", 1))
            .otherwise(None)
        )
        .drop("_segment")
    )
    helm = (
        per_source.select(
            "_row",
            "repo_key",
            "_i",
            _p=pl.col("_sources").struct.field("helm").struct.field("parameters"),
        )
        .with_columns(_j=pl.int_ranges(0, pl.col("_p").list.len()), _kind=pl.lit(1))
        .explode("_p", "_j")
        .filter(pl.col("_p").struct.field("name") == helm_tag_parameter)
        .with_columns(_tag=pl.col("_p").struct.field("value"))
        .drop("_p")
    )
    candidates = (
        pl.concat([images.select(helm.columns), helm], how="vertical")
        .filter(pl.col("_tag").str.contains(HEX_TAG) & pl.col("repo_key").is_not_null())
        .with_columns(_p7=pl.col("_tag").str.slice(0, 7))
    )
    # Only the commits whose 7-character prefix some tag of their repo has, narrowed by hash
    # first: not all 4 M made unique (0.4 s).
    prefixes = candidates.get_column("_p7").unique()
    found = commits(prefixes) if callable(commits) else commits
    repo_commits = (
        with_repo_key(found.select("repo", "sha"))
        .select("repo_key", "sha", _p7=pl.col("sha").str.slice(0, 7))
        .filter(maybe_in("_p7", prefixes))
        .join(candidates.select("repo_key", "_p7").unique(), on=["repo_key", "_p7"], how="semi")
        .unique()
    )
    by_tag = (
        candidates.join(repo_commits, on=["repo_key", "_p7"], how="inner")
        .filter(pl.col("sha").str.starts_with(pl.col("_tag")))
        .group_by("_row", "_i", "_kind", "_j")
        .agg(pl.col("sha").first(), _n=pl.len())
        .filter(pl.col("_n") == 1)
        .sort("_row", "_i", "_kind", "_j")
        .group_by("_row", maintain_order=True)
        .agg(_image=pl.col("sha").first())
    )
    resolved = (
        history.join(own, on="_row", how="left")
        .join(by_tag, on="_row", how="left")
        .with_columns(resolved_revision=pl.coalesce("_own", "_image"))
        .sort("_row")
        .drop("_row", "repo_key", "_own", "_image")
    )
    # An entry resolved by its own repo's revision does not depend on the commits.
    tags = candidates.join(own, on="_row", how="anti").select("_row", "repo_key", "_p7")
    return Resolved(resolved, tags, repo_commits)


def production_app(name: str | None, namespace: str | None, pattern: re.Pattern[str]) -> bool:
    """Whether an Argo CD app is production: its name or destination namespace matches."""
    return any(n is not None and pattern.search(n) is not None for n in (name, namespace))


def production_apps(apps: pl.DataFrame, production_pattern: str) -> pl.Series:
    """The ``app_uid`` of each production app of ``apps`` (:func:`production_app`)."""
    pattern = re.compile(production_pattern)
    names = apps.select("app_uid", "app_name", "namespace").unique("app_uid").iter_rows()
    uids = [uid for uid, name, namespace in names if production_app(name, namespace, pattern)]
    return pl.Series("app_uid", uids, dtype=pl.Utf8)


def production_deployments(
    argocd_history: pl.DataFrame,
    github_deployments: pl.DataFrame,
    services: pl.DataFrame,
    argocd_apps: pl.DataFrame | None = None,
    *,
    history_start: datetime,
    as_of: datetime | None = None,
    production_pattern: str = DEFAULT_PRODUCTION_PATTERN,
    production_envs: Sequence[str] = DEFAULT_PRODUCTION_ENVS,
    collapsed: bool = False,
    ordered: bool = False,
) -> pl.DataFrame:
    """One row per production deployment finished in ``[history_start, as_of]`` (DEPLOYMENTS),
    by service, each service's in deployment order. ``collapsed``: ``argocd_history`` is
    :func:`collapse_self_heal`'s already (collapsing is idempotent, and 0.3 s at a million
    entries). ``ordered``: with :data:`ORDER` too (the frame is put in deployment order
    here anyway).

    - Argo CD: entries of apps whose name or destination namespace matches
      ``production_pattern`` (``re.search``), self-heal re-syncs collapsed first; id
      ``argocd:<uid>:<history id>``, environment = app name, ``started_at`` =
      ``deployStartedAt``, ``finished_at`` = ``deployedAt``, revision = ``resolved_revision``
      (from :func:`resolve_revision`; NULL if the column is absent or unresolved).
    - GitHub: deployments whose environment is in ``production_envs`` (case-insensitive) and
      whose latest status is ``success``, only for services with no mapped production Argo CD
      app (``argocd_apps``, else the apps seen in ``argocd_history``); id
      ``github:<repo>:<deployment id>``, ``started_at`` = ``created_at``, ``finished_at`` = the
      status time, revision = ``sha``.
    """
    apps = argocd_apps if argocd_apps is not None else argocd_history
    apps = apps.select("app_uid", "app_name", "namespace", "service").unique("app_uid")
    production = production_apps(apps, production_pattern).implode()
    argo_services = (
        apps.filter(pl.col("app_uid").is_in(production) & pl.col("service").is_not_null())
        .get_column("service")
        .unique()
    )
    history = argocd_history.filter(pl.col("app_uid").is_in(production))
    if not collapsed:
        history = collapse_self_heal(history)
    resolved = (
        pl.col("resolved_revision")
        if "resolved_revision" in history.columns
        else pl.lit(None, dtype=pl.Utf8)
    )
    argo = history.select(
        deployment_id=pl.format("argocd:{}:{}", "app_uid", "history_id"),
        service="service",
        environment="app_name",
        source=pl.lit("argocd"),
        revision=resolved,
        started_at="deploy_started_at",
        finished_at="deployed_at",
    )
    envs = [e.lower() for e in production_envs]
    github = github_deployments.filter(
        pl.col("environment").str.to_lowercase().is_in(pl.Series(envs, dtype=pl.Utf8).implode())
        & (pl.col("latest_state") == "success")
        & ~pl.col("service").is_in(argo_services.implode())
        & pl.col("service").is_not_null()
    ).select(
        deployment_id=pl.format("github:{}:{}", "repo", "deployment_id"),
        service="service",
        environment="environment",
        source=pl.lit("github"),
        revision="sha",
        started_at="created_at",
        finished_at="latest_state_at",
    )
    casts = (pl.col("started_at", "finished_at").cast(UTC_TS), pl.col("revision").cast(pl.Utf8))
    both = pl.concat(
        [argo.with_columns(*casts), github.with_columns(*casts)], how="vertical"
    ).filter(pl.col("finished_at") >= history_start)
    if as_of is not None:
        both = both.filter(pl.col("finished_at") <= as_of)
    teams = services.select("service", "team").unique("service", keep="first")
    both = order_keys(both.join(teams, on="service", how="left"))
    frame = conform(both, DEPLOYMENTS)
    if ordered:
        frame = frame.with_row_index(ORDER).select(*DEPLOYMENTS, ORDER)
    return frame.sort("service", maintain_order=True)


def first_observed(deployments: pl.DataFrame) -> pl.DataFrame:
    """``deployments`` plus ``first_observed``: true for each service's first deployment in
    deployment order (resolved or not). Its changes may predate the collected history, so they
    are excluded from lead time. With :data:`ORDER`, the row of each service's lowest place,
    without ordering again."""
    if ORDER in deployments.columns:
        return deployments.with_columns(
            first_observed=pl.col(ORDER) == pl.col(ORDER).min().over("service")
        )
    ordered = order_keys(deployments).with_columns(
        first_observed=pl.int_range(pl.len()).over("service") == 0
    )
    return deployments.join(
        ordered.select("deployment_id", "first_observed"),
        on="deployment_id",
        how="left",
        maintain_order="left",
    )
