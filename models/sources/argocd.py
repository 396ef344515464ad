"""Models of Argo CD `Application` objects (`GET /api/v1/applications[/{name}]`).

A deployment is one `status.history` entry; it is keyed on (`metadata.uid`, `id`) because ids
restart when an app is recreated. Older servers omit `initiatedBy` and `deployStartedAt`;
multi-source apps carry `revisions`/`sources` instead of `revision`/`source`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, model_validator

from ._common import NullAsEmptyDict, NullAsEmptyList, SourceModel, UtcDatetime


class KustomizeOptions(SourceModel):
    """Kustomize overrides of a source; `images` are `name=image:tag` or `image:tag` strings."""

    images: Annotated[list[str], NullAsEmptyList] = Field(default_factory=list)


class HelmParameter(SourceModel):
    """One `--set name=value` Helm parameter."""

    name: str
    value: str | None = None


class HelmOptions(SourceModel):
    """Helm options of a source: parameters, value files and inline values."""

    parameters: Annotated[list[HelmParameter], NullAsEmptyList] = Field(default_factory=list)
    valueFiles: Annotated[list[str], NullAsEmptyList] = Field(default_factory=list)
    values: str | None = None
    valuesObject: dict[str, Any] | None = None
    releaseName: str | None = None


class ApplicationSource(SourceModel):
    """Where an application's manifests come from: a git path or a Helm chart, and overrides."""

    repoURL: str
    path: str | None = None
    targetRevision: str | None = None  # omitted means HEAD
    chart: str | None = None
    ref: str | None = None
    name: str | None = None
    kustomize: KustomizeOptions | None = None
    helm: HelmOptions | None = None


class ApplicationDestination(SourceModel):
    """The target cluster (by `server` URL or by `name`) and namespace."""

    server: str | None = None
    namespace: str | None = None
    name: str | None = None


class ApplicationSpec(SourceModel):
    """The desired state: one `source` or several `sources`, and the destination."""

    source: ApplicationSource | None = None
    sources: Annotated[list[ApplicationSource], NullAsEmptyList] = Field(default_factory=list)
    destination: ApplicationDestination
    project: str = "default"  # the API documents "" as the default project
    revisionHistoryLimit: int | None = None  # None means Argo CD's default, 10


class OperationInitiator(SourceModel):
    """Who started a sync: a user name, or `automated` for the controller."""

    username: str | None = None
    automated: bool | None = None


class RevisionHistory(SourceModel):
    """One successful sync recorded in `status.history` (one Paved deployment candidate)."""

    id: int
    revision: str | None = None
    revisions: list[str] | None = None
    source: ApplicationSource | None = None
    sources: list[ApplicationSource] | None = None
    deployStartedAt: UtcDatetime | None = None
    deployedAt: UtcDatetime
    initiatedBy: OperationInitiator | None = None

    @model_validator(mode="after")
    def _has_a_revision(self) -> RevisionHistory:
        if not self.revision and not self.revisions:
            raise ValueError("history entry has neither 'revision' nor 'revisions'")
        return self


class SyncStatus(SourceModel):
    """The current comparison of live and desired state."""

    status: str | None = None  # Synced, OutOfSync or Unknown
    revision: str | None = None
    revisions: list[str] | None = None


class HealthStatus(SourceModel):
    """The current health of the application."""

    status: str | None = None


class SyncOperation(SourceModel):
    """The requested sync of an operation."""

    revision: str | None = None
    revisions: list[str] | None = None


class Operation(SourceModel):
    """The operation requested (only syncs matter here) and who requested it."""

    sync: SyncOperation | None = None
    initiatedBy: OperationInitiator | None = None


class SyncOperationResult(SourceModel):
    """The revision(s) and source(s) a sync operation applied."""

    revision: str | None = None
    revisions: list[str] | None = None
    source: ApplicationSource | None = None
    sources: list[ApplicationSource] | None = None


class OperationState(SourceModel):
    """The latest operation only; the one place a failed sync is visible."""

    phase: str  # Running, Terminating, Failed, Error or Succeeded
    message: str | None = None
    startedAt: UtcDatetime
    finishedAt: UtcDatetime | None = None
    syncResult: SyncOperationResult | None = None
    operation: Operation | None = None


class ApplicationStatus(SourceModel):
    """The observed state: sync, health, sync history and the latest operation."""

    sync: SyncStatus | None = None
    health: HealthStatus | None = None
    history: Annotated[list[RevisionHistory], NullAsEmptyList] = Field(default_factory=list)
    operationState: OperationState | None = None


class ApplicationMetadata(SourceModel):
    """Kubernetes object metadata of an application."""

    name: str
    namespace: str | None = None
    uid: str
    labels: Annotated[dict[str, str], NullAsEmptyDict] = Field(default_factory=dict)
    annotations: Annotated[dict[str, str], NullAsEmptyDict] = Field(default_factory=dict)
    creationTimestamp: UtcDatetime | None = None


class Application(SourceModel):
    """An Argo CD Application: what is deployed where, and its history of successful syncs."""

    metadata: ApplicationMetadata
    spec: ApplicationSpec
    status: ApplicationStatus = Field(default_factory=ApplicationStatus)


class ApplicationList(SourceModel):
    """The body of `GET /api/v1/applications`: all apps, no pagination; `items` may be null.

    Items stay raw so each one is validated on its own with `APPLICATION` (a bad app becomes a
    rejection, not a lost list).
    """

    items: Annotated[list[dict[str, Any]], NullAsEmptyList] = Field(default_factory=list)


APPLICATION = TypeAdapter(Application)
APPLICATION_LIST = TypeAdapter(ApplicationList)
REVISION_HISTORY = TypeAdapter(RevisionHistory)
