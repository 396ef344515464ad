"""The production deployments continued from the previous run's, where that gives what
computing them whole gives (rebuild-profile.md, "The production deployments continued").

:func:`models.metrics.deployments.production_deployments` over the Argo CD history, collapsed
and resolved, and the GitHub deployments gives the rows finished by a run's clock: at the
enterprise scale 874 k rows from a million entries, ~1.5 s of each run, though a day adds
~1,700 rows after yesterday's clock and changes none before it. So a run stores what it gave,
and the next one computes only the rows finished after the stored clock ``a``, from the
entries deployed after ``a`` (and each app's entry before them, which collapsing compares
with) and the GitHub deployments whose latest status came after ``a``, and appends them,
numbered on (:data:`models.metrics.deployments.ORDER`) from the stored ones: deployment order
puts every row finished after ``a`` after every row finished by it.

That gives exactly what the whole computation gives when:

- the code, the services' teams and repos, the apps and which are production, the production
  environments, the Helm tag parameter and the history's start are the same (``context``), and
  the run's clock is not before ``a``;
- the production apps' entries deployed by ``a`` (or without a time) and the GitHub
  deployments whose latest status came by ``a`` are those stored, unchanged (their count and
  the sum of their row hashes, :func:`models.mart_reads.deployment_inputs`): every stored row
  comes from those alone;
- in each app, the entries deployed after ``a`` come after the others in history id order
  (collapsing compares each entry with the one before it by id);
- the commits among which the stored rows' image tags were resolved are the same: those of
  each tag's repo and 7-character prefix, as distinct ``(repo_key, sha)`` pairs, counted and
  hashed (:func:`models.mart_reads.tagged_pairs`). A new commit can make a tag resolve, or
  make it ambiguous. The digest is taken over the commits resolution reads: the run that
  stores it reads its tags' commits, and the next one checks it over the commits it reads to
  resolve its own tags, which it reads with the stored tags' in one scan
  (:data:`models.mart_reads.COMMITS_OF_PREFIXES_AND_TAGS`).

Otherwise the rows are computed whole, as the first time. Only then is the whole history
read: a run that continues reads the entries after ``a`` and the sums, from DuckDB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from models.mart_reads import (
    COMMITS_OF_PREFIXES,
    COMMITS_OF_PREFIXES_AND_TAGS,
    DEPLOYMENT_ROWS,
    GITHUB_DEPLOYMENTS,
    PAIRS,
    PREFIXES,
    PRODUCTION_APPS,
    PRODUCTION_HISTORY,
    STORED_TAGS_DIGEST,
    Reader,
    deployment_inputs,
    github_deployments_after,
    history_after,
)
from models.metrics.deployments import (
    ORDER,
    collapse_self_heal,
    production_deployments,
    resolve_with_tags,
    service_repos,
    with_repo_key,
)
from models.metrics.frames import DEPLOYMENTS, conform, sorted_by

TAGS: dict[str, pl.DataType] = {"repo_key": pl.Utf8(), "p7": pl.Utf8()}
"""A stored row's image tag, as resolution matches it: its repo and its first 7 characters."""


@dataclass(frozen=True)
class Rules:
    """What the rows depend on besides the inputs: the configurable rules and the history's
    start (part of the ``context``)."""

    history_start: datetime
    production_pattern: str
    production_envs: Sequence[str]
    helm_tag_parameter: str


@dataclass(frozen=True)
class DeploymentsState:
    """What a run leaves for the next one's, to store beside the marts: ``rows`` (the
    production deployments with :data:`ORDER`) and ``tags`` (:data:`TAGS`) are all of them, or
    those to append to the stored ones (``appended_to``: the stored tags' digest, checked
    against staging this run, which the new tags' is added to; None to replace them);
    ``inputs`` is the inputs' digest at the run's clock ``as_of`` (:func:`_digests`);
    ``commits`` holds the ``(repo_key, sha)`` pairs resolution looked among this run
    (:attr:`Computed.commits`), a superset of the tags' commits, which the tags' digest is
    taken over (:func:`models.mart_reads.tagged_pairs`). A state with ``context`` None stores
    nothing (the next run computes whole)."""

    context: str | None
    as_of: datetime
    inputs: str
    appended_to: str | None
    rows: pl.DataFrame
    tags: pl.DataFrame
    commits: pl.DataFrame


@dataclass(frozen=True)
class StoredDeployments:
    """What the caller knows of the stored rows: ``code``, its fingerprint of the code that
    computes them; the stored ``context``, clock ``as_of``, ``inputs`` digest and ``tags``
    digest (the count and hash sum of the commits of the stored tags when stored), None
    without stored rows; and ``keep``, which stores what a run leaves (and is told how many
    rows it computed, and why whole if it did)."""

    code: str
    context: str | None
    as_of: datetime | None
    inputs: str | None
    tags: str | None
    keep: Callable[[DeploymentsState, int, str | None], None]


def deployments_context(
    code: str, services: pl.DataFrame, apps: pl.DataFrame, production: pl.Series, rules: Rules
) -> str:
    """The context the stored rows hold in: the code, every service's team and repo, the
    apps (and which are production), the rules."""
    lines = [code, repr(rules)]
    teams = services.select("service", "team").unique("service", keep="first").sort("service")
    lines += [f"team\t{s}\t{t}" for s, t in teams.iter_rows()]
    lines += [f"repo\t{s}\t{r}" for s, r in service_repos(services).sort("service").iter_rows()]
    chosen = set(production.to_list())
    listed = apps.select("app_uid", "app_name", "namespace", "service").unique().sort("app_uid")
    lines += [f"app\t{row}\t{row[0] in chosen}" for row in listed.iter_rows()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _digests(read: Reader, uids: dict[str, pl.DataFrame], *clocks: datetime) -> list[str]:
    """The inputs' digest at each of ``clocks``: of the production apps' entries (``uids``:
    the frame of their uids, by name) and of the GitHub deployments, what the rows finished by
    it are computed from (:func:`models.mart_reads.deployment_inputs`)."""
    sums = read(deployment_inputs(*clocks), **uids).row(0, named=True)
    return [f"{sums[f'argo_{i}']}/{sums[f'github_{i}']}" for i in range(len(clocks))]


def _after(history: pl.DataFrame, a: datetime) -> pl.DataFrame | None:
    """The entries to compute after the clock ``a``: each app's entries deployed after it and
    the one before them by history id (which the collapse compares the first with, flagged
    ``_before``); None if an app has an entry deployed after ``a`` before one that is not."""
    late = pl.col("deployed_at") > a
    later = history.filter(late)
    if later.is_empty():
        return later.with_columns(_before=pl.lit(False))
    # Per app: the first id deployed after the clock, the last one not (a group-by, not a
    # sort of the million entries).
    bounds = (
        history.lazy()
        .filter(~late.fill_null(False))
        .join(later.lazy().select("app_uid").unique(), on="app_uid", how="semi")
        .group_by("app_uid")
        .agg(history_id=pl.col("history_id").max())
        .join(
            later.lazy().group_by("app_uid").agg(_first=pl.col("history_id").min()),
            on="app_uid",
        )
        .collect()
    )
    if (bounds.get_column("history_id") >= bounds.get_column("_first")).any():
        return None
    before = history.join(bounds.select("app_uid", "history_id"), on=["app_uid", "history_id"])
    return pl.concat(
        [before.with_columns(_before=pl.lit(True)), later.with_columns(_before=pl.lit(False))],
        how="vertical",
    )


@dataclass(frozen=True)
class Computed:
    """Production deployments computed from some entries: the rows, the tags of the entries
    deployed by the clock that resolution depended on (:data:`TAGS`), and the commits
    ``(repo_key, sha)`` of every candidate tag's repo and prefix, among which it looked (read
    once: the tags' digest is taken over them, not over every commit again)."""

    rows: pl.DataFrame
    tags: pl.DataFrame
    commits: pl.DataFrame


def commits_of_prefixes(read: Reader) -> Callable[[pl.Series], pl.DataFrame]:
    """What gives resolution the commits whose 7-character prefix is one of the tags'
    (:data:`models.mart_reads.COMMITS_OF_PREFIXES`), read from staging."""

    def commits(prefixes: pl.Series) -> pl.DataFrame:
        return read(COMMITS_OF_PREFIXES, **{PREFIXES: prefixes.to_frame("p7")})

    return commits


@dataclass
class _WithStoredTags:
    """What gives a continued run's resolution the commits of its tags' prefixes, read with
    those of the stored tags' (:data:`models.mart_reads.COMMITS_OF_PREFIXES_AND_TAGS`), and
    keeps them (``found``) for the stored tags' check (:meth:`tags_digest`)."""

    read: Reader
    found: pl.DataFrame | None = None

    def __call__(self, prefixes: pl.Series) -> pl.DataFrame:
        self.found = self.read(COMMITS_OF_PREFIXES_AND_TAGS, **{PREFIXES: prefixes.to_frame("p7")})
        return self.found

    def tags_digest(self) -> str:
        """The stored tags' digest over the commits now (as the stored one was taken:
        :func:`models.mart_reads.tagged_pairs`)."""
        found = self.found if self.found is not None else self(pl.Series("p7", [], pl.Utf8))
        pairs = with_repo_key(found.select("repo", "sha")).select("repo_key", "sha")
        [(n, h)] = self.read(STORED_TAGS_DIGEST, **{PAIRS: pairs}).rows()
        return f"{n}|{h}"


def computed_deployments(
    history: pl.DataFrame,
    github: pl.DataFrame,
    services: pl.DataFrame,
    apps: pl.DataFrame,
    commits: Callable[[pl.Series], pl.DataFrame],
    rules: Rules,
    as_of: datetime,
) -> Computed:
    """The production deployments (as :func:`production_deployments` gives them, ``ordered``:
    by service, :data:`ORDER` from 0) of the production apps' entries ``history``, collapsed
    and resolved (``_before`` rows, if flagged, only compared with), and ``github``."""
    collapsed = collapse_self_heal(history)
    if "_before" in collapsed.columns:
        collapsed = collapsed.filter(~pl.col("_before")).drop("_before")
    resolved = resolve_with_tags(
        collapsed, commits, services, helm_tag_parameter=rules.helm_tag_parameter
    )
    rows = production_deployments(
        resolved.history,
        github,
        services,
        apps,
        history_start=rules.history_start,
        as_of=as_of,
        production_pattern=rules.production_pattern,
        production_envs=rules.production_envs,
        collapsed=True,
        ordered=True,
    )
    deployed = collapsed.select(
        _row=pl.int_range(pl.len(), dtype=pl.UInt32), _at=pl.col("deployed_at")
    )
    tags = (
        resolved.tags.with_columns(pl.col("_row").cast(pl.UInt32))
        .join(deployed, on="_row", how="inner")
        .filter(pl.col("_at") <= as_of)
        .select("repo_key", p7="_p7")
        .unique()
    )
    return Computed(rows, conform(tags, TAGS), resolved.commits.select("repo_key", "sha"))


def whole_deployments(
    read: Reader,
    services: pl.DataFrame,
    apps: pl.DataFrame,
    production: pl.Series,
    rules: Rules,
    as_of: datetime,
) -> Computed:
    """:func:`computed_deployments` of every production app's entry in staging
    (``production``: those apps' uids) and every GitHub deployment: the first time, or when
    the stored rows cannot be continued."""
    github = read(GITHUB_DEPLOYMENTS)
    history = read(PRODUCTION_HISTORY, **{PRODUCTION_APPS: production.to_frame("app_uid")})
    commits = commits_of_prefixes(read)
    return computed_deployments(history, github, services, apps, commits, rules, as_of)


@dataclass(frozen=True)
class Continued:
    """The production deployments (as :func:`production_deployments` gives them, ``ordered``),
    the state to store, how many rows were computed, and why whole (None if continued)."""

    deployments: pl.DataFrame
    state: DeploymentsState
    computed: int
    why: str | None


def production_deployments_continued(
    services: pl.DataFrame,
    apps: pl.DataFrame,
    production: pl.Series,
    read: Reader,
    *,
    rules: Rules,
    as_of: datetime,
    stored: StoredDeployments,
) -> Continued:
    """:func:`production_deployments` (``ordered``) of the production apps' entries and the
    GitHub deployments in staging (``production``: those apps' uids; read through ``read``),
    continuing the stored rows where that is exact (see the module doc), else computed whole.
    A continued run reads only the GitHub deployments whose latest status came after the
    stored clock."""
    context = deployments_context(stored.code, services, apps, production, rules)
    uids = {PRODUCTION_APPS: production.to_frame("app_uid")}
    a = stored.as_of
    *before, now = _digests(read, uids, *([a] if a is not None else []), as_of)

    def state(appended_to: str | None, found: Computed) -> DeploymentsState:
        rows, tags, commits = found.rows, found.tags, found.commits
        return DeploymentsState(context, as_of, now, appended_to, rows, tags, commits)

    why = _why_whole(stored, context, as_of, before[0] if before else None)
    if why is None and a is not None:
        late = read(github_deployments_after(a))
        why, tail = _tail(read, a, uids, late, services, apps, rules, as_of, stored.tags)
        if tail is not None:
            kept = conform(read(DEPLOYMENT_ROWS), {**DEPLOYMENTS, ORDER: tail.rows.schema[ORDER]})
            order = (pl.col(ORDER) + kept.height).cast(tail.rows.schema[ORDER])
            rows = tail.rows.with_columns(order)
            # By service, then ORDER (unique), by one 64-bit key (874 k rows: 0.12-0.17 s
            # against 0.41-0.43 s comparing the names).
            every = sorted_by(pl.concat([kept, rows], how="vertical"), "service", ORDER)
            found = Computed(rows, tail.tags, tail.commits)
            return Continued(every, state(stored.tags, found), rows.height, None)
    found = whole_deployments(read, services, apps, production, rules, as_of)
    return Continued(found.rows, state(None, found), found.rows.height, why)


def _why_whole(
    stored: StoredDeployments, context: str, as_of: datetime, inputs: str | None
) -> str | None:
    """Why the rows are computed whole, as far as the stored state and the inputs' digest at
    the stored clock (``inputs``) tell (None if they may continue)."""
    if stored.context is None or stored.as_of is None:
        return "no stored deployments"
    if stored.context != context:
        return "another code, catalog, set of apps or rules"
    if as_of < stored.as_of:
        return "the clock moved back"
    if inputs != stored.inputs:
        return "an entry or GitHub deployment before the stored clock changed"
    return None


def _tail(
    read: Reader,
    a: datetime,
    uids: dict[str, pl.DataFrame],
    late: pl.DataFrame,
    services: pl.DataFrame,
    apps: pl.DataFrame,
    rules: Rules,
    as_of: datetime,
    tags: str | None,
) -> tuple[str | None, Computed | None]:
    """The rows finished after the stored clock ``a``, computed from the entries to compute
    after it (:func:`_after`) and the GitHub deployments whose latest status came after it
    (``late``); or why the rows are computed whole instead (the stored image tags' commits,
    digested as ``tags``, changed)."""
    after = _after(read(history_after(a), **uids), a)
    if after is None:
        return "an entry after the stored clock comes before an older one", None
    looked = _WithStoredTags(read)
    tail = computed_deployments(after, late, services, apps, looked, rules, as_of)
    if looked.tags_digest() != tags:
        return "a commit an image tag may name arrived", None
    return None, tail
