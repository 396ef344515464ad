"""Shared building blocks of the source models: the base class and the timestamp type.

Every source model names its fields exactly as the source spells them (`repoURL`, `BilledCost`,
`created_at`), so a model reads side by side with the payload it validates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict


class SourceModel(BaseModel):
    """Base of every source model.

    Unknown fields are ignored: the raw payload is stored as it came, so the model keeps only what
    Paved reads, and a source adding a field never breaks a load.
    """

    model_config = ConfigDict(extra="ignore")


def _reject_numbers(value: Any) -> Any:
    # Lax pydantic reads 1700000000 as a Unix time; no source here sends numbers for these fields,
    # so a number means the payload is not what we think it is.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("expected an ISO 8601 timestamp with a zone, got a number")
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _empty_list_if_none(value: Any) -> Any:
    return [] if value is None else value


def _empty_dict_if_none(value: Any) -> Any:
    return {} if value is None else value


# Go (Argo CD, OpenCost) and some JSON encoders write an empty list or map as null.
NullAsEmptyList = BeforeValidator(_empty_list_if_none)
NullAsEmptyDict = BeforeValidator(_empty_dict_if_none)

UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_reject_numbers), AfterValidator(_to_utc)]
"""A timestamp that must carry a zone or offset (a naive one is rejected), normalised to UTC."""
