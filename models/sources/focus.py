"""Model of one row of a FinOps FOCUS 1.0-1.2 cost export (CSV or Parquet).

Only the columns Paved reads are modelled; they exist, with these names, in 1.0, 1.1 and 1.2.
Empty CSV cells are nulls. Ids must arrive as strings (read the file with string ids): a number
means the reader already lost leading zeros, so it is rejected rather than guessed back.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter, model_validator

from ._common import SourceModel, UtcDatetime


def _parse_tags(value: Any) -> Any:
    """Tags arrive as a JSON object in a string (CSV) or as a map (Parquet)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Tags is not a JSON object: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ValueError("Tags must be a JSON object")
    tags: dict[str, str] = {}
    for key, tag_value in value.items():
        # KeyValueFormat allows string, number, true, false or null values. A null value says
        # nothing to allocate on, so it is dropped; a valueless tag is `true` by the spec.
        if isinstance(tag_value, dict | list):
            raise ValueError(f"tag {key!r} has an object or array value")
        if tag_value is None:
            continue
        tags[key] = tag_value if isinstance(tag_value, str) else json.dumps(tag_value)
    return tags


class FocusRow(SourceModel):
    """One charge: amounts, currency, charge period [start, end) in UTC, service, ids and tags."""

    BilledCost: Decimal
    EffectiveCost: Decimal
    BillingCurrency: str = Field(min_length=1)
    ChargePeriodStart: UtcDatetime
    ChargePeriodEnd: UtcDatetime
    ChargeCategory: str = Field(min_length=1)  # Usage, Purchase, Tax, Credit or Adjustment
    ServiceName: str = Field(min_length=1)
    ResourceId: str | None = None
    ResourceName: str | None = None
    SubAccountId: str | None = None
    SubAccountName: str | None = None
    BillingAccountId: str | None = None
    ProviderName: str | None = None
    ServiceCategory: str | None = None
    RegionId: str | None = None
    ChargeDescription: str | None = None
    ListCost: Decimal | None = None
    ContractedCost: Decimal | None = None
    Tags: Annotated[dict[str, str], BeforeValidator(_parse_tags)] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _empty_cells_are_absent(cls, data: Any) -> Any:
        # An empty CSV cell is a null; dropping it makes a required column report "missing".
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data

    @model_validator(mode="after")
    def _period_is_ordered(self) -> FocusRow:
        if self.ChargePeriodEnd < self.ChargePeriodStart:
            raise ValueError("ChargePeriodEnd is before ChargePeriodStart")
        return self


FOCUS_ROW = TypeAdapter(FocusRow)
