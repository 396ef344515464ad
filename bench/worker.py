"""One run of one measurement, in a process of its own (started by :mod:`bench.harness`).

    python -m bench.worker NAME CONTEXT_JSON OUT_FILE

writes the :class:`~bench.measures.common.Outcome` as JSON to OUT_FILE, with this process's peak
RSS (``VmHWM``: the high-water mark of its own address space since it started, imports
included; nothing the harness or the sandbox servers did counts).
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import cast

from bench.measures import BY_NAME
from bench.measures.common import Context, Outcome


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] not in BY_NAME:
        print("usage: python -m bench.worker NAME CONTEXT_JSON OUT_FILE", file=sys.stderr)
        return 2
    name, context, out = args
    module, _, function = BY_NAME[name].target.partition(":")
    run = getattr(importlib.import_module(module), function)
    outcome = cast(Outcome, run(Context.from_json(context)))
    Path(out).write_text(json.dumps({**asdict(outcome), "peak_rss_bytes": peak_rss_bytes()}))
    return 0


def peak_rss_bytes() -> int | None:
    """``VmHWM`` from /proc (Linux), or None where there is none.

    Preferred to the ``ru_maxrss`` the parent gets from ``wait4``: when the parent starts a
    child with vfork, Linux folds the parent's high-water mark into the child's at exec.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


if __name__ == "__main__":
    raise SystemExit(main())
