"""Fault injection for the sandbox servers: the bad days real APIs have, on demand.

Each server owns one :class:`Faults`; tests change its fields at runtime
(``sb.servers["github"].faults.burst_429 = 2``). Every fault drawn is counted in
``injected[kind]`` so a test can check it really happened, and the draws come from
``random.Random(seed)`` so a run is reproducible.

Kinds counted in ``injected``: ``error`` (a 5xx), ``burst_5xx`` (the next N requests answer
5xx), ``burst_429`` (a short rate limit with a retry delay), ``exhaust`` (the API's
quota-exhausted response with a reset a few seconds ahead), ``slow`` (a response delayed by
``slow_seconds``: every one, or a ``slow_rate`` share of them), ``truncate`` (the connection
closed mid-body), ``reset`` (the connection reset, TCP RST, mid-body), ``malformed_page`` (a 200
whose JSON body is cut short, its length announced as sent), ``malformed`` (one item of a page
corrupted), ``duplicate`` (the last item of the previous page served again), ``offset_drift``
(PagerDuty: an incident appeared before the offset, shifting the page by one), ``throttle``
(Typeform's ~2 requests/s limiter, when ``rate_limit_per_second`` is set).

``hostile`` holds items to serve in place of the first items of the next page of a listing
whose path matches (a regex), each once, counted as ``hostile``: the hostile-input tests send
their corpus through the real protocol this way (a page never grows past its limit).

``script`` lists the faults of the next requests, one per request in order (``""`` for none),
so a test can make every kind happen on a server that gets only a handful of requests.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    """What goes wrong, and how often. All off by default."""

    error_rate: float = 0.0
    burst_5xx: int = 0
    burst_429: int = 0
    exhaust: int = 0
    slow_seconds: float = 0.0
    slow_rate: float = 1.0  # the share of requests slowed while slow_seconds is set
    truncate_rate: float = 0.0
    reset_rate: float = 0.0
    malformed_page_rate: float = 0.0
    malformed_rate: float = 0.0
    duplicate_rate: float = 0.0
    offset_drift: float = 0.0
    # Typeform allows about 2 requests per second; off by default so tests never wait.
    rate_limit_per_second: float | None = None
    # Delays advertised by the injected 429s and exhaustions, in seconds.
    retry_after_seconds: int = 1
    reset_seconds: int = 3
    seed: int = 0
    script: list[str] = field(default_factory=list)
    hostile: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._rng_seed = self.seed
        self._last_request = 0.0

    def _random(self) -> random.Random:
        # A seed changed at runtime restarts the sequence, so `faults.seed = 3` is reproducible.
        if self._rng_seed != self.seed:
            self._rng = random.Random(self.seed)
            self._rng_seed = self.seed
        return self._rng

    def chance(self, kind: str, rate: float) -> bool:
        """Draw a fault of `kind` with probability `rate`, counting it when it happens."""
        if rate <= 0:
            return False
        with self._lock:
            hit = self._random().random() < rate
            if hit:
                self.injected[kind] += 1
            return hit

    def count(self, kind: str) -> None:
        """Record a fault that is always on while its setting is (e.g. `slow`)."""
        with self._lock:
            self.injected[kind] += 1

    def take(self, kind: str) -> bool:
        """Use up one of the next-N-requests faults (`burst_429`, `exhaust`) if any is left."""
        with self._lock:
            left = getattr(self, kind)
            if left <= 0:
                return False
            setattr(self, kind, left - 1)
            self.injected[kind] += 1
            return True

    def scripted(self) -> str:
        """The next request's scripted fault ("" for none), counted when there is one."""
        with self._lock:
            if not self.script:
                return ""
            kind = self.script.pop(0)
            if kind:
                self.injected[kind] += 1
            return kind

    def take_hostile(self, path: str) -> list[dict[str, Any]]:
        """The hostile items meant for a listing at ``path``, removed from the queue."""
        with self._lock:
            taken = [item for pattern, item in self.hostile if re.fullmatch(pattern, path)]
            if taken:
                self.hostile = [(p, i) for p, i in self.hostile if not re.fullmatch(p, path)]
                self.injected["hostile"] += len(taken)
            return taken

    def unscript(self, kind: str) -> None:
        """Put back a scripted fault that did not apply (a body fault on a 304 or an error)."""
        with self._lock:
            self.script.insert(0, kind)
            self.injected[kind] -= 1

    def pick(self, options: list[Any]) -> Any:
        """A seeded choice among the variants of a fault (e.g. 403 or 429)."""
        with self._lock:
            return self._random().choice(options)

    def uniform(self) -> float:
        with self._lock:
            return self._random().random()

    def throttled(self) -> bool:
        """True when this request comes sooner than `rate_limit_per_second` allows."""
        if not self.rate_limit_per_second:
            return False
        with self._lock:
            now = time.monotonic()
            too_soon = now - self._last_request < 1.0 / self.rate_limit_per_second
            if too_soon:
                self.injected["throttle"] += 1
            else:
                self._last_request = now
            return too_soon

    def clear(self) -> None:
        """Turn every fault off (the counters stay, as a record of what happened)."""
        with self._lock:
            self.error_rate = self.truncate_rate = self.malformed_rate = 0.0
            self.duplicate_rate = self.offset_drift = self.slow_seconds = 0.0
            self.reset_rate = self.malformed_page_rate = 0.0
            self.slow_rate = 1.0
            self.burst_5xx = self.burst_429 = self.exhaust = 0
            self.rate_limit_per_second = None
            self.script = []
            self.hostile = []
