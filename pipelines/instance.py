"""The Dagster instance Paved runs on: `$PAVED_HOME/dagster`, configured by the repo's
`dagster.yaml` (instance settings only), so the CLI, `make dagster` and the daemon share one
run history and nothing leaves `.tmp_dagster_home_*` folders behind."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import dagster as dg

from models.settings import Settings

DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME under PAVED_HOME with the project's dagster.yaml and its storage,
    and export it.

    The storage (SQLite tables and their migration stamps) is created here, in one process,
    before anything else opens the instance. Processes that create it at the same moment
    (`dagster dev`'s webserver and daemon, the daemon and its code server) can each stamp the
    schedule storage, which then has two migration heads, and every later open of the
    instance fails with "Version table 'alembic_version' has more than one head present".
    Opening an instance whose storage exists only reads the stamps.
    """
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != DAGSTER_YAML.read_bytes():
        shutil.copyfile(DAGSTER_YAML, target)
    os.environ["DAGSTER_HOME"] = str(home)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dagster's preview and beta warnings
        with dg.DagsterInstance.get():
            pass
    return home
