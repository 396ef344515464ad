"""Typeform Responses API: every response of a form submitted since a watermark.

`GET /forms/{id}/responses` lists responses newest first, `page_size` at most 1000, with no next
link: the next page is asked for with `before=<token of the last response seen>`. `since` and
`until` are inclusive and filter on `submitted_at`. `before`/`after` cannot be combined with
`sort`, so Paved never sends `sort` and relies on the default newest-first order.

Typeform may list a response a day or more after it was submitted (after newer ones), so an
incremental read starts `reread_days` before the watermark and de-duplicates by `response_id`
(`token` for old responses); the warehouse keeps one row per key, so re-reading is harmless.

Typeform allows about 2 requests a second and answers 429 above: the client paces itself with
the injectable clock and sleep (tests never wait) and honours `Retry-After` when it comes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors.http import BaseClient, SourceError
from connectors.items import Item, Rejection, validate
from models.sources.typeform import RESPONSE, RESPONSE_PAGE, Response

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.typeform.com"
MAX_PAGE_SIZE = 1000
# Typeform's documented limit is 2 requests per second per account.
DEFAULT_MIN_INTERVAL_S = 0.5


class TypeformClient(BaseClient):
    """A client of the Typeform Responses API for one account (a personal access token)."""

    source = "typeform"
    token_variable = "TYPEFORM_TOKEN"

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        self.min_interval_s = min_interval_s
        self._last_request_at: float | None = None
        # A request hook runs before every attempt, retries included, so the pace holds even
        # while BaseClient retries a 5xx.
        self.http.event_hooks = {"request": [self._pace], "response": []}

    def _pace(self, request: httpx.Request) -> None:
        now = self.clock()
        if self._last_request_at is not None:
            wait = self._last_request_at + self.min_interval_s - now
            if wait > 0:
                log.debug("typeform: pacing %.2f s to stay under 2 requests/s", wait)
                self.stats.waited_s += wait
                self.sleep(wait)
                now += wait
        self._last_request_at = now

    def list_responses(
        self,
        form_id: str,
        *,
        since: datetime | None,
        until: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
        reread_days: float = 3,
    ) -> Iterator[Item[Response] | Rejection]:
        """Every response of `form_id` submitted from `since` minus `reread_days` (all of them
        when `since` is None) up to `until`, each once, newest first.

        Keys are `<form id>:<response_id>`. A response that does not validate is yielded as a
        :class:`Rejection`. Raises :class:`SourceError` when a page is not a responses page or
        the `before` token stops moving.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
        params: dict[str, Any] = {"page_size": page_size}
        if since is not None:
            params["since"] = _typeform_time(since - timedelta(days=reread_days))
        if until is not None:
            params["until"] = _typeform_time(until)
        url = f"/forms/{form_id}/responses"
        seen: set[str] = set()
        used_tokens: set[str] = set()
        page_number = 0
        while True:
            page_number += 1
            body = self.get_json(url, params=params)
            try:
                page = RESPONSE_PAGE.validate_python(body)
            except ValueError as exc:
                raise SourceError(
                    f"typeform: page {page_number} of form {form_id} is not a responses page "
                    f"({exc.__class__.__name__})"
                ) from None
            for index, payload in enumerate(page.items):
                result = validate(self.source, RESPONSE, payload, _response_id)
                if isinstance(result, Rejection):
                    where = result.key or f"page {page_number} item {index + 1}"
                    yield Rejection(self.source, f"{form_id}:{where}", payload, result.reason)
                    continue
                response_id = result.model.response_id
                if response_id in seen:
                    continue  # listed again: a late response re-read, or a page boundary
                seen.add(response_id)
                yield Item(f"{form_id}:{response_id}", result.model, payload)
            if len(page.items) < page_size:
                return
            token = _last_token(page.items)
            if token is None or token in used_tokens:
                raise SourceError(
                    f"typeform: the before token of form {form_id} did not advance after page "
                    f"{page_number}; stopping instead of reading the same page again"
                )
            used_tokens.add(token)
            params = {**params, "before": token}


def _typeform_time(moment: datetime) -> str:
    """UTC to the second, without an offset: the form Typeform documents for since/until."""
    if moment.tzinfo is None:
        raise ValueError("since/until must carry a time zone (use UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _response_id(payload: Any) -> str | None:
    return payload.get("response_id") or payload.get("token")


def _last_token(items: list[dict[str, Any]]) -> str | None:
    """The token of the oldest response of the page that has one (a malformed item may not)."""
    for payload in reversed(items):
        token = payload.get("token") if isinstance(payload, dict) else None
        if isinstance(token, str) and token:
            return token
    return None
