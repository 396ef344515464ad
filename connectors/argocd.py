"""The Argo CD connector: every Application with its sync history, and the pure helpers that turn
history into deployments and notice history lost between polls.

`GET /api/v1/applications` returns every app at once (no pagination; `items` is null when there
are none). Two parameters are deliberately never sent: `refresh` (any value makes argocd-server
reconcile the app, a side effect a read-only connector must not have) and `fields` (it cannot
return `status.history`, the one thing Paved needs).

A deployment is one `status.history` entry keyed on (`metadata.uid`, `id`). The history keeps only
the last `spec.revisionHistoryLimit` syncs, so the pipeline stores every entry it has ever seen and
calls :func:`detect_gap` on each poll: when the lowest id now present is above the last id seen
plus one, syncs were lost between polls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import httpx
from pydantic import ValidationError

from connectors.http import BaseClient, SourceError
from connectors.items import Item, Rejection, reason, validate
from models.sources.argocd import (
    APPLICATION,
    APPLICATION_LIST,
    Application,
    RevisionHistory,
)

log = logging.getLogger(__name__)

APPLICATIONS_PATH = "/api/v1/applications"
DEFAULT_HISTORY_LIMIT = 10  # Argo CD's default spec.revisionHistoryLimit
_MAX_DETAIL = 300  # characters of a server message kept in an error


class ArgoCDClient(BaseClient):
    """argocd-server's REST API, read-only, with a Bearer token (`ARGOCD_TOKEN`)."""

    source = "argocd"
    token_variable = "ARGOCD_TOKEN"

    # True when the last `list_applications(conditional=True)` got a 304.
    last_not_modified: bool = False

    def __enter__(self) -> Self:
        return self

    def list_applications(
        self,
        *,
        selector: str | None = None,
        projects: Sequence[str] | None = None,
        conditional: bool = False,
    ) -> Iterator[Item[Application] | Rejection]:
        """Every application visible to the token, as `Item(key=uid)` or a `Rejection`.

        `selector` is a Kubernetes label selector (`team=payments,tier!=test`); `projects`
        restricts to those Argo CD projects. With `conditional`, the ETag of the previous
        identical call on this client is sent; a 304 means nothing changed, so nothing is
        yielded, `last_not_modified` is set and `stats.not_modified` counts it.
        """
        params: dict[str, Any] = {}
        if selector:
            params["selector"] = selector
        if projects:
            params["projects"] = list(projects)
        response = self.get(APPLICATIONS_PATH, params=params or None, conditional=conditional)
        self.last_not_modified = response.status_code == 304
        if self.last_not_modified:
            log.info("argocd: applications not modified since the last poll (HTTP 304)")
            return
        body = self.json(response)
        try:
            listing = APPLICATION_LIST.validate_python(body)
        except ValidationError as exc:
            raise SourceError(
                f"argocd: GET {APPLICATIONS_PATH} did not return an application list "
                f"({reason(exc)})"
            ) from None
        for payload in listing.items:
            yield validate(self.source, APPLICATION, payload, _app_key)

    def error_for(self, response: httpx.Response) -> SourceError:
        """The base client's sentence, plus what argocd-server said (`message` of its
        `{error, code, message}` body), with the token scrubbed in case a server echoes it."""
        error = super().error_for(response)
        detail = _server_message(response)
        if not detail:
            return error
        if self._token:
            detail = detail.replace(self._token, "<ARGOCD_TOKEN>")
        return type(error)(f"{error} (Argo CD said: {detail})")


def _app_key(payload: Any) -> object:
    # The uid is the key; a payload without one is rejected, and its name is the next best
    # thing for the user reading `raw.rejected`.
    metadata = payload["metadata"]
    return metadata.get("uid") or metadata.get("name")


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    message = body.get("message") or body.get("error") or ""
    if not isinstance(message, str):
        return ""
    one_line = " ".join(message.split())
    return one_line[:_MAX_DETAIL] + ("…" if len(one_line) > _MAX_DETAIL else "")


# -- pure helpers the pipeline uses --------------------------------------------------------------
def history_entries(app: Application) -> list[tuple[str, int, RevisionHistory]]:
    """The app's sync history as (`uid`, `id`, entry), in id order: one deployment each."""
    uid = app.metadata.uid
    return [(uid, entry.id, entry) for entry in sorted(app.status.history, key=lambda e: e.id)]


@dataclass(frozen=True)
class Gap:
    """Syncs recorded by Argo CD but rotated out of `status.history` before Paved saw them."""

    last_seen_id: int
    lowest_id_now: int
    app: str | None = None
    uid: str | None = None
    history_limit: int | None = None

    @property
    def first_missing_id(self) -> int:
        return self.last_seen_id + 1

    @property
    def last_missing_id(self) -> int:
        return self.lowest_id_now - 1

    @property
    def missing(self) -> int:
        return self.lowest_id_now - self.last_seen_id - 1

    @property
    def message(self) -> str:
        """One sentence for the data-quality check, saying what was lost and what to change."""
        who = f"application {self.app!r}" if self.app else "an application"
        if self.uid:
            who += f" (uid {self.uid})"
        ids = (
            f"id {self.first_missing_id}"
            if self.missing == 1
            else f"ids {self.first_missing_id}..{self.last_missing_id}"
        )
        limit = (
            f"spec.revisionHistoryLimit (now {self.history_limit})"
            if self.history_limit is not None
            else "spec.revisionHistoryLimit"
        )
        plural = "sync" if self.missing == 1 else "syncs"
        return (
            f"argocd: {who} lost {self.missing} {plural} ({ids}) from its history between "
            f"two polls, so those deployments are missing: poll Argo CD more often or raise "
            f"{limit}"
        )


def detect_gap(
    last_seen_id: int | None,
    ids_now: Iterable[int],
    *,
    app: str | None = None,
    uid: str | None = None,
    history_limit: int | None = None,
) -> Gap | None:
    """A :class:`Gap` when the lowest history id now present is above `last_seen_id + 1`.

    `last_seen_id` is the highest id stored for this app's uid (None: never seen, as for a new
    or recreated app, whose ids restart under a new uid): nothing can have been lost then.
    An empty history loses nothing either.
    """
    ids = list(ids_now)
    if last_seen_id is None or not ids:
        return None
    lowest = min(ids)
    if lowest <= last_seen_id + 1:
        return None
    return Gap(last_seen_id, lowest, app=app, uid=uid, history_limit=history_limit)


def detect_gaps(apps: Iterable[Application], last_seen: Mapping[str, int]) -> list[Gap]:
    """:func:`detect_gap` for each app, looking up the last id seen by `metadata.uid`."""
    gaps = []
    for app in apps:
        gap = detect_gap(
            last_seen.get(app.metadata.uid),
            [entry.id for entry in app.status.history],
            app=app.metadata.name,
            uid=app.metadata.uid,
            history_limit=DEFAULT_HISTORY_LIMIT
            if app.spec.revisionHistoryLimit is None
            else app.spec.revisionHistoryLimit,
        )
        if gap is not None:
            gaps.append(gap)
    return gaps
