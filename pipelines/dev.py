"""`make dagster`: the Dagster UI and daemon on Paved's instance ($PAVED_HOME/dagster).

    python -m pipelines.dev

Prepares DAGSTER_HOME with the project's dagster.yaml, then becomes
`dagster dev -m pipelines.definitions -a defs -h 127.0.0.1 -p 3000` (loopback only): the
webserver and the daemon, on that one instance, so the daily schedule ticks and the run-status
sensors record each run. ``-a defs`` names the Definitions to load, so another Definitions
object imported into that module (to merge it) does not make the code location ambiguous.
"""

from __future__ import annotations

import os
import shutil
import sys

from models.settings import Settings
from pipelines.instance import prepare_dagster_home

CODE_LOCATION = ["-m", "pipelines.definitions", "-a", "defs"]
COMMAND = ["dev", *CODE_LOCATION, "-h", "127.0.0.1", "-p", "3000"]


def main() -> None:
    home = prepare_dagster_home(Settings())
    print(f"DAGSTER_HOME={home}", file=sys.stderr)
    # The dagster script installed next to this interpreter (the venv's), else on PATH.
    local = os.path.join(os.path.dirname(sys.executable), "dagster")
    dagster = local if os.path.exists(local) else shutil.which("dagster") or "dagster"
    os.execv(dagster, [dagster, *COMMAND])


if __name__ == "__main__":
    main()
