"""What computes each thing a run keeps of the previous one's: a fingerprint of the code.

A stored result (:mod:`pipelines.marts.kept`, :mod:`pipelines.marts.change_delta`) is reused
only while the code that computed it is the same: any change to one of its modules computes it
again once.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Sequence
from functools import cache

import duckdb
import polars as pl

from models.schema import MARTS


def _fingerprint(modules: Sequence[str], *texts: object) -> str:
    """A sha256 of what computes something: the source of each module named in ``modules``
    (any change there computes it again once), each of ``texts`` as text, and the versions
    of the libraries that run it. Modules are named, not passed: ``models.metrics.costs``
    as an attribute is the function the package re-exports under the module's name, whose
    text holds its address in memory, different in each process."""
    parts = [inspect.getsource(importlib.import_module(name)) for name in modules]
    parts += [str(text) for text in texts]
    parts.append(f"polars {pl.__version__} duckdb {duckdb.__version__}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# Each computed on first use, not at import (they read the modules' source files).


@cache
def costs_code() -> str:
    """What computes marts.costs: its metric function's module, the module that calls it, the
    frame shapes, the reads (models.mart_reads.cost_rows) and the mart's columns."""
    modules = ("models.metrics.costs", "models.marts", "models.metrics.frames", "models.mart_reads")
    return _fingerprint(modules, MARTS["costs"])


@cache
def dora_code() -> str:
    """What computes marts.dora_metrics from its inputs (the period digests hold the inputs)."""
    return _fingerprint(("models.metrics.dora", "models.metrics.frames"), MARTS["dora_metrics"])


@cache
def walk_code() -> str:
    """What the stored walk is computed with (the services' repos are added by walk_context)."""
    return _fingerprint(
        (
            "models.metrics.walk",
            "models.metrics.ancestry",
            "models.metrics.deployments",
            "models.metrics.frames",
            "models.mart_reads",
        )
    )


@cache
def changes_code() -> str:
    """What computes the change rows (models.metrics.changes, as models.marts calls it, over
    the reads of models.mart_reads and staging's queries) and finds those to compute again."""
    return _fingerprint(
        (
            "models.metrics.changes",
            "models.marts",
            "models.metrics.frames",
            "models.mart_reads",
            "models.staging.sources",
            "pipelines.marts.change_delta",
        ),
        MARTS["changes"],
    )


@cache
def deployments_code() -> str:
    """What computes the production deployments the next run continues (the services, apps
    and rules are added by deployments_context)."""
    return _fingerprint(
        (
            "models.metrics.deployments_continued",
            "models.metrics.deployments",
            "models.metrics.frames",
            "models.mart_reads",
        )
    )


@cache
def surveys_code() -> str:
    """What computes the survey marts of a quarter from its inputs (the quarter digests hold
    the inputs)."""
    return _fingerprint(
        (
            "models.metrics.survey_quarters",
            "models.metrics.surveys",
            "models.metrics.survey_choices",
            "models.metrics.frames",
            "models.mart_reads",
        ),
        MARTS["satisfaction"],
        MARTS["survey_choices"],
    )


@cache
def flags_code() -> str:
    """What computes the failure, recovery and rework flags from their inputs (the day digests
    hold the deployments, the reverts they ship and the incidents; the caller's walk says which
    deployments' first shipments moved) and what builds those inputs (models.marts)."""
    return _fingerprint(
        (
            "models.metrics.failures_continued",
            "models.metrics.failures",
            "models.metrics.deployments",
            "models.metrics.frames",
            "models.marts",
        ),
        MARTS["deployments"],
        MARTS["incidents"],
    )
