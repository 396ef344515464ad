"""staging/* and marts/* assets (wired into pipelines/definitions.py)."""

from pipelines.marts.assets import assets

__all__ = ["assets"]
