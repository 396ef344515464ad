"""`make dagster`: the Dagster UI and daemon on Paved's instance ($PAVED_HOME/dagster).

    python -m pipelines.dev

Prepares DAGSTER_HOME with the project's dagster.yaml, then becomes
`dagster dev -m pipelines.definitions -h 127.0.0.1 -p 3000` (loopback only).
"""

from __future__ import annotations

import os
import shutil
import sys

from models.settings import Settings
from pipelines.instance import prepare_dagster_home

COMMAND = ["dev", "-m", "pipelines.definitions", "-h", "127.0.0.1", "-p", "3000"]


def main() -> None:
    home = prepare_dagster_home(Settings())
    print(f"DAGSTER_HOME={home}", file=sys.stderr)
    # The dagster script installed next to this interpreter (the venv's), else on PATH.
    local = os.path.join(os.path.dirname(sys.executable), "dagster")
    dagster = local if os.path.exists(local) else shutil.which("dagster") or "dagster"
    os.execv(dagster, [dagster, *COMMAND])


if __name__ == "__main__":
    main()
