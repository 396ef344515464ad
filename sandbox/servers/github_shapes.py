"""GitHub REST JSON shapes (API version 2022-11-28): users, repositories, commits, pull
requests, deployments and deployment statuses, rendered from world rows as of the clock.

Shapes follow the recordings in reference-payloads/github (PyGithub replay data, octokit
fixtures); URLs point at the sandbox, as GitHub Enterprise's point at its own host.
"""

from __future__ import annotations

from typing import Any

import orjson

from sandbox.servers.util import node_id, stable_hex, stable_int


class Shapes:
    """Renders objects with URLs under `api` (the API base) and `web` (the html host)."""

    def __init__(self, api: str, org: str) -> None:
        self.api = api
        self.web = api  # the sandbox serves no html; the links only need to look right
        self.org = org
        # Users recur on every commit: each is rendered once (responses are encoded as they
        # are built and never changed in place; a corrupted item is a deep copy).
        self._users: dict[tuple[str, str], dict[str, Any]] = {}

    def user(self, login: str | None, *, kind: str = "User") -> dict[str, Any] | None:
        if not login:
            return None
        cached = self._users.get((login, kind))
        if cached is None:
            cached = self._users[(login, kind)] = self._render_user(login, kind)
        return cached

    def _render_user(self, login: str, kind: str) -> dict[str, Any]:
        number = 41898282 if login == "web-flow" else stable_int("user", login, digits=8)
        url = f"{self.api}/users/{login}"
        return {
            "login": login,
            "id": number,
            "node_id": node_id(kind, number),
            "avatar_url": f"{self.web}/avatars/u/{number}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.web}/{login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def repo(self, row: dict[str, Any], now_ts: str) -> dict[str, Any]:
        full_name = row["full_name"]
        owner, _, name = full_name.partition("/")
        url = f"{self.api}/repos/{full_name}"
        return {
            "id": row["id"],
            "node_id": node_id("Repository", row["id"]),
            "name": name,
            "full_name": full_name,
            "private": True,
            "owner": self.user(owner, kind="Organization"),
            "html_url": f"{self.web}/{full_name}",
            "description": f"{row['service'] or name} ({row['kind']})",
            "fork": False,
            "url": url,
            "commits_url": f"{url}/commits{{/sha}}",
            "pulls_url": f"{url}/pulls{{/number}}",
            "deployments_url": f"{url}/deployments",
            "created_at": row["created_at"],
            "updated_at": now_ts,
            "pushed_at": now_ts,
            "default_branch": row["default_branch"],
            "visibility": "private",
            "archived": False,
            "disabled": False,
            "permissions": {
                "admin": False,
                "maintain": False,
                "push": False,
                "triage": False,
                "pull": True,
            },
        }

    def commit(
        self, row: dict[str, Any], full_name: str, login: str | None, web_flow: bool
    ) -> dict[str, Any]:
        """A commit as `GET /commits` lists it; `web_flow` for merge/squash commits made on
        github.com (committed by GitHub, authored by the merger or the PR author)."""
        sha = row["sha"]
        url = f"{self.api}/repos/{full_name}"
        author = {
            "name": row["author_name"],
            "email": row["author_email"],
            "date": row["author_date"],
        }
        if web_flow:
            committer = {
                "name": "GitHub",
                "email": "noreply@github.com",
                "date": row["committer_date"],
            }
        else:
            committer = {**author, "date": row["committer_date"]}
        tree = stable_hex("tree", sha)
        return {
            "sha": sha,
            "node_id": "C_kwDO" + node_id("Commit", stable_int(sha, digits=12))[:28],
            "commit": {
                "author": author,
                "committer": committer,
                "message": row["message"],
                "tree": {"sha": tree, "url": f"{url}/git/trees/{tree}"},
                "url": f"{url}/git/commits/{sha}",
                "comment_count": 0,
                "verification": {
                    "verified": web_flow,
                    "reason": "valid" if web_flow else "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": row["committer_date"] if web_flow else None,
                },
            },
            "url": f"{url}/commits/{sha}",
            "html_url": f"{self.web}/{full_name}/commit/{sha}",
            "comments_url": f"{url}/commits/{sha}/comments",
            "author": self.user(login),
            "committer": self.user("web-flow" if web_flow else login),
            "parents": [
                {
                    "sha": p,
                    "url": f"{url}/commits/{p}",
                    "html_url": f"{self.web}/{full_name}/commit/{p}",
                }
                for p in orjson.loads(row["parents_json"] or "[]")
            ],
        }

    def pull(
        self,
        row: dict[str, Any],
        repo: dict[str, Any],
        now_ts: str,
        base_sha: str,
        *,
        with_merge_sha: bool,
    ) -> dict[str, Any]:
        """A pull request as the list endpoint shows it at the clock."""
        number, full_name = row["number"], repo["full_name"]
        closed = row["closed_at"] is not None and row["closed_at"] <= now_ts
        merged = closed and row["merged_at"] is not None and row["merged_at"] <= now_ts
        url = f"{self.api}/repos/{full_name}"
        html = f"{self.web}/{full_name}/pull/{number}"
        pull_id = stable_int("pull", repo["id"], number)
        if merged:
            merge_sha = row["merge_commit_sha"]
        else:
            # GitHub keeps a test merge commit for open and closed-unmerged PRs: a sha that
            # is on no branch, which is why only merged_at says a PR was merged.
            merge_sha = stable_hex("test-merge", full_name, number)
        org_user = self.user(self.org, kind="Organization")
        body: dict[str, Any] = {
            "url": f"{url}/pulls/{number}",
            "id": pull_id,
            "node_id": node_id("PullRequest", pull_id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{url}/issues/{number}",
            "number": number,
            "state": "closed" if closed else "open",
            "locked": False,
            "title": row["title"],
            "user": self.user(row["user_login"]),
            "body": None,
            "created_at": row["created_at"],
            "updated_at": row["closed_at"] if closed else row["created_at"],
            "closed_at": row["closed_at"] if closed else None,
            "merged_at": row["merged_at"] if merged else None,
            "merge_commit_sha": merge_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": [],
            "milestone": None,
            "draft": False,
            "commits_url": f"{url}/pulls/{number}/commits",
            "review_comments_url": f"{url}/pulls/{number}/comments",
            "review_comment_url": f"{url}/pulls/comments{{/number}}",
            "comments_url": f"{url}/issues/{number}/comments",
            "statuses_url": f"{url}/statuses/{row['head_sha']}",
            "head": {
                "label": f"{self.org}:{row['head_ref']}",
                "ref": row["head_ref"],
                "sha": row["head_sha"],
                "user": self.user(row["user_login"]),
                "repo": repo,
            },
            "base": {
                "label": f"{self.org}:{row['base_ref']}",
                "ref": row["base_ref"],
                "sha": base_sha,
                "user": org_user,
                "repo": repo,
            },
            "_links": {
                "self": {"href": f"{url}/pulls/{number}"},
                "html": {"href": html},
                "issue": {"href": f"{url}/issues/{number}"},
                "comments": {"href": f"{url}/issues/{number}/comments"},
                "review_comments": {"href": f"{url}/pulls/{number}/comments"},
                "review_comment": {"href": f"{url}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/pulls/{number}/commits"},
                "statuses": {"href": f"{url}/statuses/{row['head_sha']}"},
            },
            "author_association": "MEMBER",
            "auto_merge": None,
            "active_lock_reason": None,
        }
        if not with_merge_sha:
            del body["merge_commit_sha"]
        return body

    def deployment(
        self, row: dict[str, Any], full_name: str, updated_at: str, production: bool
    ) -> dict[str, Any]:
        url = f"{self.api}/repos/{full_name}/deployments/{row['id']}"
        return {
            "url": url,
            "id": row["id"],
            "node_id": node_id("Deployment", row["id"]),
            "sha": row["sha"],
            "ref": row["ref"],
            "task": row["task"],
            "payload": {},
            "original_environment": row["environment"],
            "environment": row["environment"],
            "description": None,
            "creator": self.user(row["creator"]),
            "created_at": row["created_at"],
            "updated_at": updated_at,
            "statuses_url": f"{url}/statuses",
            "repository_url": f"{self.api}/repos/{full_name}",
            "transient_environment": False,
            "production_environment": production,
            "performed_via_github_app": None,
        }

    def deployment_status(
        self, row: dict[str, Any], deployment: dict[str, Any], full_name: str
    ) -> dict[str, Any]:
        url = f"{self.api}/repos/{full_name}/deployments/{deployment['id']}"
        log = f"{self.web}/{full_name}/actions/runs/{stable_int('run', row['id'])}"
        return {
            "url": f"{url}/statuses/{row['id']}",
            "id": row["id"],
            "node_id": node_id("DeploymentStatus", row["id"]),
            "state": row["state"],
            "creator": self.user(deployment["creator"]),
            "description": row["description"] or "",
            "environment": deployment["environment"],
            "target_url": log,
            "created_at": row["created_at"],
            "updated_at": row["created_at"],
            "deployment_url": url,
            "repository_url": f"{self.api}/repos/{full_name}",
            "environment_url": "",
            "log_url": log,
            "performed_via_github_app": None,
        }
