"""The GitHub REST sandbox: repositories, commits, compare, pull requests (and their commits),
deployments and deployment statuses, and /rate_limit, as of the world clock.

Quirks served as the real API has them: `Link` pagination whose URLs switch to
`/repositories/{id}/...` with rels in varying order and no `next` on the last page; `per_page`
capped at 100; a real per-token quota of `rate_limit` requests an hour with the
`x-ratelimit-*` headers on every response; ETags, and `If-None-Match` answered by a 304 that
costs no quota; primary exhaustion (403 or 429, remaining 0) and secondary limits (403 or 429
with a message, a `retry-after`, sometimes no rate headers); 404 for unknown repositories; the
optional `/api/v3` prefix of GitHub Enterprise; API version 2026-03-10 drops
`merge_commit_sha`.
"""

from __future__ import annotations

import random
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sandbox.servers import github_git as git
from sandbox.servers.base import HTTPError, Request, Response, SandboxServer
from sandbox.servers.faults import Faults
from sandbox.servers.github_shapes import Shapes
from sandbox.servers.util import Kept, parse_time, ts
from sandbox.world.store import World

DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
VERSIONS = ("2022-11-28", "2026-03-10")
PRODUCTION_ENVIRONMENTS = ("production", "prod")
_REPO = r"(?:/api/v3)?(?:/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)|/repositories/(?P<rid>\d+))"
_REPO_RE = re.compile(_REPO)
# Branch listings and web-flow sets kept: a client reads a listing's pages one after another,
# several listings at most at once.
KEPT_LISTINGS = 64
# GitHub lists at most this many commits of a pull request.
PULL_COMMITS_LIMIT = 250
# A pull request's commits at the clock (parameters: repository id, clock).
_PULL_COMMITS = (
    "FROM pull_commits pc JOIN commits c ON c.repo_id = pc.repo_id AND c.sha = pc.sha "
    "WHERE pc.repo_id = ? AND c.committer_date <= ?"
)


class GitHubServer(SandboxServer):
    """GitHub (or GitHub Enterprise) REST API v3 for the world's organisation."""

    name = "github"
    server_header = "github.com"
    etags = True

    def __init__(
        self,
        world: World,
        token: str | None,
        faults: Faults | None = None,
        *,
        rate_limit: int = 5000,
    ) -> None:
        self.rate_limit = rate_limit
        self._used = 0
        self._reset = 0
        org = world.meta["org"]
        self.repos = {row["id"]: row for row in world.rows("SELECT * FROM repos")}
        self._by_name = {row["full_name"].lower(): row for row in self.repos.values()}
        self._logins = {
            email.lower(): name
            for name, email in world.query("SELECT name, email FROM users WHERE email IS NOT NULL")
        }
        self.graphs = git.Graphs(world)
        # A branch listing's commits (per repository, clock and window) and a repository's
        # web-flow merge commits, kept for the last few asked: every page of a listing needs
        # them, and re-reading them per page made each page cost as much as all before it.
        self._kept = Kept(KEPT_LISTINGS)
        self._shapes: Shapes | None = None
        self._org = org
        super().__init__(world, token, faults)

    @property
    def shapes(self) -> Shapes:
        if self._shapes is None:
            self._shapes = Shapes(self.url, self._org)
        return self._shapes

    def register(self) -> None:
        self.route("GET", r"(?:/api/v3)?/rate_limit", self._rate_limit)
        self.route("GET", _REPO, self._repository)
        self.route("GET", _REPO + r"/commits", self._commits)
        self.route("GET", _REPO + r"/commits/(?P<ref>[^/]+)", self._commit)
        self.route("GET", _REPO + r"/compare/(?P<basehead>.+)", self._compare)
        self.route("GET", _REPO + r"/pulls", self._pulls)
        self.route("GET", _REPO + r"/pulls/(?P<number>\d+)", self._pull)
        self.route("GET", _REPO + r"/pulls/(?P<number>\d+)/commits", self._pull_commits)
        self.route("GET", _REPO + r"/deployments", self._deployments)
        self.route("GET", _REPO + r"/deployments/(?P<id>\d+)", self._deployment)
        self.route("GET", _REPO + r"/deployments/(?P<id>\d+)/statuses", self._statuses)

    # -- auth, errors, rate limits -----------------------------------------------------------
    def authorized(self, req: Request) -> bool:
        scheme, _, value = (req.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() in ("bearer", "token") and value.strip() == self.token

    def error(self, status: int, message: str, req: Request) -> Response:
        return Response(
            status, {"message": message, "documentation_url": DOCS, "status": str(status)}
        )

    def unauthorized(self, req: Request) -> Response:
        missing = not req.headers.get("Authorization")
        return self.error(401, "Requires authentication" if missing else "Bad credentials", req)

    def exhausted(self, req: Request, reset: int | None = None) -> Response:
        """Primary quota exhausted: 403 (sometimes 429), remaining 0, wait for the reset."""
        status = 403 if reset is not None else self.faults.pick([403, 403, 429])
        reset = reset if reset is not None else int(time.time()) + self.faults.reset_seconds
        user_id = self.shapes.user("sandbox")["id"]  # type: ignore[index]
        message = (
            f"API rate limit exceeded for user ID {user_id}. If you reach out to GitHub "
            f"Support for help, please include the request ID {_request_id()} and "
            f"timestamp {ts(self.world.now)}."
        )
        response = Response(
            status,
            {"message": message, "documentation_url": RATE_DOCS, "status": str(status)},
            flags={"rate-set"},
        )
        response.headers.update(
            {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Used": str(self.rate_limit),
                "X-RateLimit-Resource": "core",
            }
        )
        return response

    def too_many_requests(self, req: Request) -> Response:
        """A secondary rate limit: a message, maybe a retry-after, maybe no rate headers."""
        status = self.faults.pick([403, 429])
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before "
            "you try again. If you reach out to GitHub Support for help, please include "
            f"the request ID {_request_id()}."
        )
        response = Response(
            status,
            {
                "message": message,
                "documentation_url": RATE_DOCS + "#about-secondary-rate-limits",
                "status": str(status),
            },
        )
        if self.faults.uniform() < 0.75:
            response.headers["Retry-After"] = str(self.faults.retry_after_seconds)
        if self.faults.uniform() < 0.5:
            response.flags.add("no-rate-headers")
        return response

    def before(self, req: Request) -> Response | None:
        version = req.headers.get("X-GitHub-Api-Version")
        if version and version not in VERSIONS:
            return self.error(400, f"Unsupported 'X-GitHub-Api-Version' provided: {version}", req)
        if req.path.endswith("/rate_limit"):
            return None
        with self._lock:
            self._roll_window()
            if self._used >= self.rate_limit:
                return self.exhausted(req, reset=self._reset)
        return None

    def _roll_window(self) -> None:
        if time.time() >= self._reset:
            self._reset = int(time.time()) + 3600
            self._used = 0

    def finalize(self, req: Request, response: Response, *, not_modified: bool) -> None:
        response.headers.setdefault("Cache-Control", "private, max-age=60, s-maxage=60")
        response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        response.headers["x-github-api-version-selected"] = self._version(req)
        response.headers["X-GitHub-Request-Id"] = _request_id()
        if "rate-set" in response.flags:
            return
        with self._lock:
            self._roll_window()
            if not not_modified and not req.path.endswith("/rate_limit"):
                self._used += 1
            used, reset = self._used, self._reset
        if "no-rate-headers" in response.flags:
            return
        response.headers.update(
            {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(self.rate_limit - used, 0)),
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Used": str(used),
                "X-RateLimit-Resource": "core",
            }
        )

    @staticmethod
    def _version(req: Request) -> str:
        return req.headers.get("X-GitHub-Api-Version") or VERSIONS[0]

    def corrupt(self, item: dict) -> None:
        # Either the id goes missing or a timestamp is not one.
        if self.faults.uniform() < 0.5:
            for key in ("sha", "number", "id"):
                if key in item:
                    del item[key]
                    return
        if "commit" in item:
            item["commit"]["committer"]["date"] = "not-a-date"
        else:
            item["created_at"] = "2026-13-45T99:99:99Z"

    # -- helpers -----------------------------------------------------------------------------
    def _repo(self, req: Request) -> dict[str, Any]:
        if req.params.get("rid"):
            row = self.repos.get(int(req.params["rid"]))
        else:
            row = self._by_name.get(f"{req.params['owner']}/{req.params['name']}".lower())
        if row is None or (row["created_at"] or "") > self.world.now_ts:
            raise HTTPError(self.error(404, "Not Found", req))
        return row

    def _paging(self, req: Request) -> tuple[int, int]:
        per_page = min(max(req.int_arg("per_page", 30), 1), 100)
        return max(req.int_arg("page", 1), 1), per_page

    def _time_arg(self, req: Request, name: str) -> str | None:
        value = req.arg(name)
        if not value:
            return None
        try:
            return ts(parse_time(value))
        except ValueError:
            raise HTTPError(self.error(422, f"Invalid value for parameter '{name}'", req)) from None

    def _listing(
        self,
        req: Request,
        repo: dict[str, Any],
        body: list[Any],
        page: int,
        per_page: int,
        total: int,
    ) -> Response:
        response = Response(200, body)
        last = -(-total // per_page)
        if last > 1 or page > 1:
            response.headers["Link"] = self._link(req, repo["id"], page, max(last, 1))
        return response

    def _link(self, req: Request, repo_id: int, page: int, last: int) -> str:
        match = _REPO_RE.match(req.path)
        rest = req.path[match.end() :] if match else ""
        prefix = "/api/v3" if req.path.startswith("/api/v3") else ""
        query = [(k, v) for k, v in parse_qsl(urlsplit(req.target).query, True) if k != "page"]

        def url(number: int) -> str:
            params = urlencode([*query, ("page", str(number))])
            return f"{self.url}{prefix}/repositories/{repo_id}{rest}?{params}"

        rels: list[tuple[str, int]] = []
        if page > 1:
            rels += [("prev", min(page - 1, last)), ("first", 1)]
        if page < last:
            rels += [("next", page + 1), ("last", last)]
        # The real API lists the rels in no fixed order; a stable shuffle per page mimics it.
        random.Random(f"{req.path}:{page}").shuffle(rels)
        return ", ".join(f'<{url(n)}>; rel="{rel}"' for rel, n in rels)

    def render_commits(self, repo: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict]:
        web_flow = self._web_flow(repo["id"]) if rows else frozenset()
        return [
            self.shapes.commit(
                r,
                repo["full_name"],
                self._logins.get((r["author_email"] or "").lower()),
                r["sha"] in web_flow,
            )
            for r in rows
        ]

    # -- endpoints ---------------------------------------------------------------------------
    def _rate_limit(self, req: Request) -> Response:
        with self._lock:
            self._roll_window()
            core = {
                "limit": self.rate_limit,
                "used": self._used,
                "remaining": max(self.rate_limit - self._used, 0),
                "reset": self._reset,
            }
        search = {"limit": 30, "used": 0, "remaining": 30, "reset": int(time.time()) + 60}
        graphql = {**core, "used": 0, "remaining": self.rate_limit}
        body = {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}
        return Response(200, body, {"Cache-Control": "no-cache"})

    def _repository(self, req: Request) -> dict[str, Any]:
        return self.shapes.repo(self._repo(req), self.world.now_ts)

    def _commits(self, req: Request) -> Response:
        repo = self._repo(req)
        page, per_page = self._paging(req)
        since, until = self._time_arg(req, "since"), self._time_arg(req, "until")
        now = self.world.now_ts
        ref = req.arg("sha") or repo["default_branch"]
        if ref == repo["default_branch"]:
            listing = self._branch_listing(repo["id"], now, since, until)
            total = len(listing)

            def fetch(offset: int, limit: int) -> list[dict]:
                seqs = list(listing[offset : offset + limit])
                return self.render_commits(repo, git.commits_by_seq(self.world, repo["id"], seqs))
        else:
            rows = self._history_of(req, repo, ref, since, until)
            total = len(rows)

            def fetch(offset: int, limit: int) -> list[dict]:
                return self.render_commits(repo, rows[offset : offset + limit])

        items = self.paged(fetch, (page - 1) * per_page, per_page)
        return self._listing(req, repo, items, page, per_page, total)

    def _branch_listing(
        self, repo_id: int, now: str, since: str | None, until: str | None
    ) -> tuple[int, ...]:
        """The commits a branch listing pages through, read once per listing and clock."""
        return self._kept.get(
            ("listing", repo_id, now, since, until),
            lambda: git.branch_listing(self.world, repo_id, now, since=since, until=until),
        )

    def _web_flow(self, repo_id: int) -> frozenset[str]:
        """The repository's merge commits GitHub made itself (merge and squash merges): they
        carry the web-flow committer and a verified signature."""
        return self._kept.get(
            ("web_flow", repo_id),
            lambda: frozenset(
                sha
                for (sha,) in self.world.query(
                    "SELECT merge_commit_sha FROM pulls WHERE repo_id = ? AND merge_method IN "
                    "('merge', 'squash') AND merge_commit_sha IS NOT NULL",
                    [repo_id],
                )
            ),
        )

    def _history_of(
        self, req: Request, repo: dict[str, Any], ref: str, since: str | None, until: str | None
    ) -> list[dict[str, Any]]:
        now = self.world.now_ts
        head = git.find_commit(self.world, repo["id"], ref, now)
        if head is None:
            raise HTTPError(self.error(404, f"No commit found for SHA: {ref}", req))
        shas = sorted(self.graphs.ancestors(repo["id"], head["sha"]))
        rows = list(git.commits_by_sha(self.world, repo["id"], shas).values())
        rows = [
            r
            for r in rows
            if (not since or r["committer_date"] >= since)
            and (not until or r["committer_date"] <= until)
        ]
        rows.sort(key=lambda r: (r["committer_date"], r["seq"]), reverse=True)
        return rows

    def _resolve(self, req: Request, repo: dict[str, Any], ref: str) -> dict[str, Any]:
        now = self.world.now_ts
        if ref in (repo["default_branch"], "HEAD"):
            found = git.branch_head(self.world, repo["id"], now)
        else:
            found = git.find_commit(self.world, repo["id"], ref, now)
        if found is None:
            raise HTTPError(self.error(404, f"No commit found for SHA: {ref}", req))
        return found

    def _commit(self, req: Request) -> dict[str, Any]:
        repo = self._repo(req)
        row = self._resolve(req, repo, req.params["ref"])
        return {**self.render_commits(repo, [row])[0], "stats": {}, "files": []}

    def _compare(self, req: Request) -> Response:
        repo = self._repo(req)
        base_ref, sep, head_ref = req.params["basehead"].partition("...")
        if not sep:
            raise HTTPError(self.error(404, "Not Found", req))
        base, head = self._resolve(req, repo, base_ref), self._resolve(req, repo, head_ref)
        of_base = self.graphs.ancestors(repo["id"], base["sha"])
        of_head = self.graphs.ancestors(repo["id"], head["sha"])
        ahead, behind = of_head - of_base, of_base - of_head
        if base["sha"] == head["sha"]:
            status = "identical"
        elif not behind:
            status = "ahead"
        elif not ahead:
            status = "behind"
        else:
            status = "diverged"
        common = git.commits_by_sha(self.world, repo["id"], sorted(of_base & of_head))
        if not common:
            raise HTTPError(self.error(404, "Not Found", req))  # unrelated histories
        merge_base = max(common.values(), key=lambda r: (r["committer_date"], r["seq"]))
        rows = sorted(
            git.commits_by_sha(self.world, repo["id"], sorted(ahead)).values(),
            key=lambda r: (r["committer_date"], r["seq"]),
        )
        page, per_page = self._paging(req)
        if "per_page" not in req.query:
            per_page = 250
        window = rows[(page - 1) * per_page : page * per_page]
        full = repo["full_name"]
        spec = req.params["basehead"]
        base_commit, merge_commit = self.render_commits(repo, [base, merge_base])
        body = {
            "url": f"{self.url}/repos/{full}/compare/{spec}",
            "html_url": f"{self.url}/{full}/compare/{spec}",
            "permalink_url": f"{self.url}/{full}/compare/{base['sha'][:7]}...{head['sha'][:7]}",
            "diff_url": f"{self.url}/{full}/compare/{spec}.diff",
            "patch_url": f"{self.url}/{full}/compare/{spec}.patch",
            "base_commit": base_commit,
            "merge_base_commit": merge_commit,
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": self.render_commits(repo, window),
            "files": [],
        }
        return self._listing(req, repo, body, page, per_page, len(rows))  # type: ignore[arg-type]

    def _pull_rows_sql(self, req: Request, repo_id: int) -> tuple[str, list[Any]]:
        now = self.world.now_ts
        sql, params = "FROM pulls WHERE repo_id = ? AND created_at <= ?", [repo_id, now]
        state = req.arg("state", "open")
        if state == "open":
            sql += " AND (closed_at IS NULL OR closed_at > ?)"
            params.append(now)
        elif state == "closed":
            sql += " AND closed_at <= ?"
            params.append(now)
        elif state != "all":
            raise HTTPError(self.error(422, "Validation Failed", req))
        if req.arg("base"):
            sql += " AND base_ref = ?"
            params.append(req.arg("base"))
        return sql, params

    def _pulls(self, req: Request) -> Response:
        repo = self._repo(req)
        page, per_page = self._paging(req)
        now = self.world.now_ts
        sql, params = self._pull_rows_sql(req, repo["id"])
        total = self.world.query(f"SELECT COUNT(*) {sql}", params)[0][0]
        sort = req.arg("sort", "created")
        direction = req.arg("direction") or ("desc" if sort in ("created", "updated") else "asc")
        if direction not in ("asc", "desc"):
            raise HTTPError(self.error(422, "Validation Failed", req))
        key = "created_at"
        if sort == "updated":
            key = (
                "CASE WHEN closed_at IS NOT NULL AND closed_at <= ? THEN closed_at "
                "ELSE created_at END"
            )
        order_params = [now] if sort == "updated" else []

        def fetch(offset: int, limit: int) -> list[dict]:
            rows = self.world.rows(
                f"SELECT * {sql} ORDER BY {key} {direction}, number {direction} LIMIT ? OFFSET ?",
                [*params, *order_params, limit, offset],
            )
            return [self._render_pull(req, repo, row) for row in rows]

        items = self.paged(fetch, (page - 1) * per_page, per_page)
        return self._listing(req, repo, items, page, per_page, total)

    def _render_pull(self, req: Request, repo: dict[str, Any], row: dict[str, Any]) -> dict:
        base = self.world.query(
            "SELECT sha FROM commits WHERE repo_id = ? AND reachable = 1 AND committer_date <= ? "
            "ORDER BY committer_date DESC, seq DESC LIMIT 1",
            (repo["id"], row["created_at"]),
        )
        base_sha = base[0][0] if base else row["head_sha"]
        return self.shapes.pull(
            row,
            self.shapes.repo(repo, self.world.now_ts),
            self.world.now_ts,
            base_sha,
            with_merge_sha=self._version(req) == VERSIONS[0],
        )

    def _pull_row(self, req: Request, repo: dict[str, Any]) -> dict[str, Any]:
        rows = list(
            self.world.rows(
                "SELECT * FROM pulls WHERE repo_id = ? AND number = ?",
                (repo["id"], int(req.params["number"])),
            )
        )
        if not rows or rows[0]["created_at"] > self.world.now_ts:
            raise HTTPError(self.error(404, "Not Found", req))
        return rows[0]

    def _pull(self, req: Request) -> dict[str, Any]:
        repo = self._repo(req)
        row = self._pull_row(req, repo)
        body = self._render_pull(req, repo, row)
        count = len(self._pull_commit_rows(repo, row))
        return {
            **body,
            "merged": body["merged_at"] is not None,
            "mergeable": None,
            "comments": 0,
            "review_comments": 0,
            "commits": count,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }

    def _pull_commit_rows(self, repo: dict[str, Any], row: dict[str, Any]) -> list[dict]:
        return list(
            self.world.rows(
                f"SELECT {git.COMMIT_COLUMNS} {_PULL_COMMITS} AND pc.number = ? "
                f"ORDER BY pc.idx LIMIT {PULL_COMMITS_LIMIT}",
                (repo["id"], self.world.now_ts, row["number"]),
            )
        )

    def pull_commit_rows_by_number(self, full_name: str) -> tuple[dict, dict[int, list[dict]]]:
        """The repository's row, and the commit rows `GET .../pulls/{number}/commits` lists for
        each of its pull requests at the clock (oldest first, at most 250), in one query: for a
        reader of every pull request's commits (bench.inprocess), who renders each list with
        :meth:`render_commits` as the endpoint does."""
        repo = self._by_name[full_name.lower()]
        out: dict[int, list[dict]] = {}
        for row in self.world.rows(
            f"SELECT pc.number AS listed_in, {git.COMMIT_COLUMNS} {_PULL_COMMITS} "
            "ORDER BY pc.number, pc.idx",
            (repo["id"], self.world.now_ts),
        ):
            rows = out.setdefault(row.pop("listed_in"), [])
            if len(rows) < PULL_COMMITS_LIMIT:
                rows.append(row)
        return repo, out

    def _pull_commits(self, req: Request) -> Response:
        repo = self._repo(req)
        rows = self._pull_commit_rows(repo, self._pull_row(req, repo))
        page, per_page = self._paging(req)

        def fetch(offset: int, limit: int) -> list[dict]:
            return self.render_commits(repo, rows[offset : offset + limit])

        items = self.paged(fetch, (page - 1) * per_page, per_page)
        return self._listing(req, repo, items, page, per_page, len(rows))

    def _deployment_sql(self, req: Request, repo_id: int) -> tuple[str, list[Any]]:
        sql = "FROM gh_deployments WHERE repo_id = ? AND created_at <= ?"
        params: list[Any] = [repo_id, self.world.now_ts]
        for name in ("environment", "sha", "ref", "task"):
            if req.arg(name):
                sql += f" AND {name} = ?"
                params.append(req.arg(name))
        return sql, params

    def _render_deployment(self, repo: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        latest = self.world.query(
            "SELECT MAX(created_at) FROM gh_deployment_statuses WHERE deployment_id = ? "
            "AND created_at <= ?",
            (row["id"], self.world.now_ts),
        )[0][0]
        production = (row["environment"] or "").lower() in PRODUCTION_ENVIRONMENTS
        return self.shapes.deployment(
            row, repo["full_name"], latest or row["created_at"], production
        )

    def _deployments(self, req: Request) -> Response:
        repo = self._repo(req)
        page, per_page = self._paging(req)
        sql, params = self._deployment_sql(req, repo["id"])
        total = self.world.query(f"SELECT COUNT(*) {sql}", params)[0][0]

        def fetch(offset: int, limit: int) -> list[dict]:
            rows = self.world.rows(
                f"SELECT * {sql} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            return [self._render_deployment(repo, row) for row in rows]

        items = self.paged(fetch, (page - 1) * per_page, per_page)
        return self._listing(req, repo, items, page, per_page, total)

    def _deployment_row(self, req: Request, repo: dict[str, Any]) -> dict[str, Any]:
        rows = list(
            self.world.rows(
                "SELECT * FROM gh_deployments WHERE id = ? AND repo_id = ? AND created_at <= ?",
                (int(req.params["id"]), repo["id"], self.world.now_ts),
            )
        )
        if not rows:
            raise HTTPError(self.error(404, "Not Found", req))
        return rows[0]

    def _deployment(self, req: Request) -> dict[str, Any]:
        repo = self._repo(req)
        return self._render_deployment(repo, self._deployment_row(req, repo))

    def _statuses(self, req: Request) -> Response:
        repo = self._repo(req)
        deployment = self._deployment_row(req, repo)
        page, per_page = self._paging(req)
        sql = "FROM gh_deployment_statuses WHERE deployment_id = ? AND created_at <= ?"
        params = [deployment["id"], self.world.now_ts]
        total = self.world.query(f"SELECT COUNT(*) {sql}", params)[0][0]

        def fetch(offset: int, limit: int) -> list[dict]:
            rows = self.world.rows(
                f"SELECT * {sql} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            return [self.shapes.deployment_status(r, deployment, repo["full_name"]) for r in rows]

        items = self.paged(fetch, (page - 1) * per_page, per_page)
        return self._listing(req, repo, items, page, per_page, total)


def _request_id() -> str:
    parts = [
        secrets.token_hex(2),
        secrets.token_hex(3),
        secrets.token_hex(4),
        secrets.token_hex(4),
        secrets.token_hex(4),
    ]
    return ":".join(p.upper() for p in parts)
