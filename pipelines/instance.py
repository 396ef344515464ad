"""The Dagster instance Paved runs on: `$PAVED_HOME/dagster`, configured by the repo's
`dagster.yaml` (instance settings only), so the CLI, `make dagster` and the daemon share one
run history and nothing leaves `.tmp_dagster_home_*` folders behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from models.settings import Settings

DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME under PAVED_HOME with the project's dagster.yaml, and export it."""
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != DAGSTER_YAML.read_bytes():
        shutil.copyfile(DAGSTER_YAML, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
