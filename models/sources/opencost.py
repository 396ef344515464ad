"""Models of the OpenCost allocation API (`GET /allocation?window=...&aggregate=...&step=...`).

`data` holds one map per step, from the aggregation key (or the special keys `__idle__` and
`__unallocated__`) to an allocation. OpenCost writes NaN as null, so every number may be null.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from ._common import NullAsEmptyDict, NullAsEmptyList, SourceModel, UtcDatetime

IDLE_KEY = "__idle__"
UNALLOCATED_KEY = "__unallocated__"


class AllocationProperties(SourceModel):
    """What the allocation is of: cluster, namespace, workload and their labels."""

    cluster: str | None = None
    node: str | None = None
    namespace: str | None = None
    controller: str | None = None
    controllerKind: str | None = None
    pod: str | None = None
    container: str | None = None
    labels: Annotated[dict[str, str], NullAsEmptyDict] = Field(default_factory=dict)
    namespaceLabels: Annotated[dict[str, str], NullAsEmptyDict] = Field(default_factory=dict)


class Window(SourceModel):
    """The requested window of one step."""

    start: UtcDatetime | None = None
    end: UtcDatetime | None = None


class Allocation(SourceModel):
    """The cost of one aggregate over one step, by resource, in the cluster's currency."""

    name: str
    properties: AllocationProperties | None = None
    window: Window | None = None
    start: UtcDatetime
    end: UtcDatetime
    minutes: float | None = None
    cpuCost: float | None = None
    gpuCost: float | None = None
    ramCost: float | None = None
    pvCost: float | None = None
    networkCost: float | None = None
    loadBalancerCost: float | None = None
    sharedCost: float | None = None
    externalCost: float | None = None
    totalCost: float | None = None
    totalEfficiency: float | None = None


class AllocationResponse(SourceModel):
    """The body of `GET /allocation`: `code`, `status` and one allocation map per step."""

    code: int
    status: str | None = None
    data: Annotated[list[Annotated[dict[str, Any], NullAsEmptyDict]], NullAsEmptyList]


ALLOCATION = TypeAdapter(Allocation)
ALLOCATION_RESPONSE = TypeAdapter(AllocationResponse)
