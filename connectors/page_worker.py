"""A process beside the client that turns listing pages into the payloads Paved stores.

The client's own Python (requests, validation, batching, the warehouse write) runs behind one
GIL, on one core. Parsing a page of JSON, dropping its API links and encoding each item for the
raw layer is about half of that work, and needs nothing of the client: a listing read to its
end (:meth:`connectors.github.GitHubClient._pages`) hands each next page's bytes to this
process, which works on the second core while the client fetches and validates.

The client keeps everything that talks to the API (retries, rate limits, statistics, the next
links) and validates every item itself, from the encoded payload. The worker only transforms:

- in: a pickled ``(key_field, body)`` per page;
- out: first ``("ready", None)``; then ``("items", [(key, encoded), ...])``,
  ``("not-json", why)`` or ``("not-list", type name)``, in the order the pages came; ``None``
  in answers ``("bye", peak RSS in kB)`` and the process ends.

Messages are framed as an 8-byte length and a pickle, over the process's stdin and stdout.
The module imports only :mod:`connectors.payloads` and orjson, so the worker starts in a
fraction of a second (it is run as ``python -m connectors.page_worker API``, not forked: the
client's process holds threads and a DuckDB connection).
"""

from __future__ import annotations

import fcntl
import logging
import pickle
import resource
import struct
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import orjson

from connectors.payloads import drop_api_links, encode

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<Q")
# Each pipe's buffer: Linux's largest without privileges (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20

Transformed = tuple[str, Any]


def transform(body: bytes, api: str, key_field: str) -> Transformed:
    """One page: its items' natural keys (None where an item has none) and encoded payloads,
    API links dropped; or why the page is not a list of items."""
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return ("not-json", exc.__class__.__name__)
    if type(items) is not list:
        return ("not-list", type(items).__name__)
    out = []
    for payload in items:
        drop_api_links(payload, api)
        key = payload.get(key_field) if type(payload) is dict else None
        out.append((key, encode(payload)))
    return ("items", out)


class WorkerStopped(Exception):
    """The worker process ended before answering."""


def _write(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise WorkerStopped("the page worker ended")
    (size,) = _LENGTH.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise WorkerStopped("the page worker ended mid-answer")
    return pickle.loads(data)


class PageWorker:
    """The client's side of one worker process: pages are submitted by one thread (the one
    reading ahead) and their results received, in order, by another (the caller's)."""

    # What the process runs (``python -m``): this module.
    module = __name__

    def __init__(self, api: str) -> None:
        self.api = api
        self.peak_rss_kb: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._pending = 0

    def start(self) -> bool:
        """Start the process if it is not running; False if it cannot be started (the client
        then parses pages itself)."""
        if self._process is not None:
            return self._process.poll() is None
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", self.module, self.api],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as exc:
            log.warning("github: no page worker (%s); pages are parsed in process", exc)
            return False
        # The worker says it is ready once its imports are done: one that cannot start (a
        # Python that cannot import this module) is found out here, not mid-listing.
        try:
            assert self._process.stdout is not None
            ready = _read(self._process.stdout)
        except WorkerStopped:
            ready = None
        if ready != ("ready", None):
            log.warning("github: the page worker did not start; pages are parsed in process")
            self._process.kill()
            self._process.wait()
            return False
        # Room for a few pages in each pipe (Linux's default is 64 kB, a fifth of a page of
        # commits), so handing a page over does not wait for the worker to finish the one
        # before; where the size cannot be set, the default works, only slower.
        for stream in (self._process.stdin, self._process.stdout):
            with suppress(OSError, AttributeError):
                fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
        return True

    def submit(self, key_field: str, body: bytes) -> None:
        assert self._process is not None and self._process.stdin is not None
        with self._lock:
            self._pending += 1
        try:
            _write(self._process.stdin, (key_field, body))
        except (BrokenPipeError, OSError):
            raise WorkerStopped("the page worker ended") from None

    def receive(self) -> Transformed:
        assert self._process is not None and self._process.stdout is not None
        result = _read(self._process.stdout)
        with self._lock:
            self._pending -= 1
        return result

    def drain(self) -> None:
        """Receive (and drop) the results of pages submitted but not received: a listing
        left early leaves nothing for the next one to receive by mistake."""
        while self._pending:
            self.receive()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                self._pending = 0
                assert process.stdin is not None and process.stdout is not None
                _write(process.stdin, None)
                while (answer := _read(process.stdout))[0] != "bye":
                    pass
                self.peak_rss_kb = answer[1]
            process.wait(timeout=10)
        except (WorkerStopped, OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        finally:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with suppress(OSError):  # a dead worker's pipe: nothing left to flush to
                        stream.close()


def _peak_rss_kb() -> int:
    """This process's peak RSS: ``VmHWM`` where Linux gives it (``ru_maxrss`` of a process
    started by vfork may count its parent's peak), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def serve(api: str, requests: IO[bytes], results: IO[bytes]) -> None:
    """The worker's loop: say it is ready, then transform each page until told to stop."""
    _write(results, ("ready", None))
    while True:
        try:
            message = _read(requests)
        except WorkerStopped:  # the client went away
            return
        if message is None:
            _write(results, ("bye", _peak_rss_kb()))
            return
        key_field, body = message
        _write(results, transform(body, api, key_field))


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
