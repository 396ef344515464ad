"""Source models read the real recorded payloads and reject what is not a source object.

Every file under shared/reference-payloads is either parsed here (with real values checked) or
listed in NOT_PARSED with the reason, so a new recording cannot be silently left untested. The
negative cases pin the rules of CONVENTIONS.md and SOURCES.md: timestamps carry a zone and end
up in UTC, fields of newer API versions are optional, nulls where Go writes empty lists are empty.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from models.sources import (
    argocd,
    backstage,
    focus,
    github,
    googleforms,
    opencost,
    pagerduty,
    typeform,
)

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-payloads"


def _path(rel: str) -> Path:
    if not REF.is_dir():
        pytest.skip(f"reference payloads not found at {REF} (the shared folder is not mounted)")
    return REF / rel


def _json(rel: str) -> Any:
    return json.loads(_path(rel).read_text())


def _body(rel: str) -> Any:
    return _json(rel)["response"]["body"]


def _csv_rows(rel: str) -> list[dict[str, str]]:
    with _path(rel).open(newline="") as handle:
        return list(csv.DictReader(handle))


def _incidents(rel: str) -> list[pagerduty.Incident]:
    page = pagerduty.INCIDENT_LIST.validate_python(_body(rel))
    return [pagerduty.INCIDENT.validate_python(item) for item in page.incidents]


def _log_entries(body: Any) -> list[pagerduty.LogEntry]:
    page = pagerduty.LOG_ENTRY_LIST.validate_python(body)
    return [pagerduty.LOG_ENTRY.validate_python(item) for item in page.log_entries]


def _incident_with_log(rel: str) -> tuple[pagerduty.Incident, list[pagerduty.LogEntry]]:
    exchange = _json(rel)
    incident = pagerduty.INCIDENT.validate_python(exchange["incident"])
    return incident, _log_entries(exchange["incident_log_entries_response"])


def _incident_and_log_entries(rel: str) -> list[BaseModel]:
    incident, entries = _incident_with_log(rel)
    return [incident, *entries]


def _typeform_responses(rel: str) -> list[typeform.Response]:
    page = typeform.RESPONSE_PAGE.validate_python(_body(rel))
    return [typeform.RESPONSE.validate_python(item) for item in page.items]


def _allocations(body: Any) -> list[opencost.Allocation]:
    response = opencost.ALLOCATION_RESPONSE.validate_python(body)
    return [opencost.ALLOCATION.validate_python(a) for step in response.data for a in step.values()]


# Each parser returns the models read from one file; the items are validated one by one, as the
# connectors do.
PARSERS: dict[str, Callable[[str], Sequence[BaseModel]]] = {
    "github/commits_list_page1_2026.json": lambda r: github.COMMITS.validate_python(_body(r)),
    "github/commits_since_until_2013.json": lambda r: github.COMMITS.validate_python(_body(r)),
    "github/compare_basehead_perpage3_2025.json": lambda r: [
        github.COMPARISON.validate_python(_body(r))
    ],
    "github/pulls_state_all_items_2022.json": lambda r: github.PULL_REQUESTS.validate_python(
        _body(r)
    ),
    "github/deployments_list_2020.json": lambda r: github.DEPLOYMENTS.validate_python(_body(r)),
    "github/deployment_statuses_list_2020.json": lambda r: (
        github.DEPLOYMENT_STATUSES.validate_python(_body(r))
    ),
    "github/rate_limit_endpoint.json": lambda r: [github.RATE_LIMIT.validate_python(_body(r))],
    "argocd/application_get_guestbook_roadie_2021.json": lambda r: [
        argocd.APPLICATION.validate_python(_body(r))
    ],
    "argocd/application_velero_history_truncated_argocd_testdata_2024.json": lambda r: [
        argocd.APPLICATION.validate_python(_body(r))
    ],
    "pagerduty/devlake_tap_incidents_keon_test_2022.json": _incidents,
    "pagerduty/openapi_example_list_incidents.json": _incidents,
    "pagerduty/openapi_example_get_incident.json": lambda r: [
        pagerduty.INCIDENT.validate_python(_body(r)["incident"])
    ],
    "pagerduty/openapi_example_incident_log_entries.json": lambda r: _log_entries(_body(r)),
    "pagerduty/devlake_tap_incident6_resolved_with_log_entries.json": _incident_and_log_entries,
    "typeform/responses_items_airbyte_test_account.json": _typeform_responses,
    "backstage/entity_component_roadie_mock_argocd_annotation.json": lambda r: [
        backstage.ENTITY.validate_python(_body(r))
    ],
    "backstage/catalog-info.backstage-repo.yaml": lambda r: [
        backstage.ENTITY.validate_python(doc) for doc in yaml.safe_load_all(_path(r).read_text())
    ],
    "focus/SYNTHETIC_focus1.2_aws_sample_4rows.csv": lambda r: [
        focus.FOCUS_ROW.validate_python(row) for row in _csv_rows(r)
    ],
    "opencost/allocation_compute_window2d_by_namespace.json": lambda r: _allocations(_body(r)),
    "opencost/allocation_compute_window2d_by_namespace.RAW_BODY.json": lambda r: _allocations(
        _json(r)
    ),
    "googleforms/form_responses_sheet_export_real.csv": lambda r: [
        googleforms.parse_sheet_row(row, zone="America/New_York") for row in _csv_rows(r)
    ],
}

NOT_PARSED: dict[str, str] = {
    "github/actions_runs_created_2024.json": "workflow runs are not a Paved source",
    "github/conditional_304_not_modified_2013.json": "empty 304 body: a connector concern",
    "github/pagination_link_headers_octokit_2022.json": "bodies reduced to item numbers",
    "github/primary_rate_limit_403_2013.json": "error body: a connector concern",
    "github/secondary_rate_limit_403_retry_after_2018.json": "error body: a connector concern",
    "argocd/swagger_excerpt_applications.json": "API schema, not a payload",
    "backstage/openapi_excerpt_catalog.json": "API schema, not a payload",
    "pagerduty/openapi_excerpt_incidents.json": "API schema, not a payload",
    "googleforms/discovery_excerpt_responses_list.json": "Forms API schema; Paved reads CSV",
    "googleforms/CONSTRUCTED_responses_list_shape.json": "constructed, and Paved reads CSV",
    "focus/focus_v1.2_columns.json": "column spec: test_focus_row_columns_exist_since_focus_1_0",
    "focus/spec_v1.2_commitment_discount_usage_scenario_1.csv": (
        "column subset: test_focus_spec_scenario_lacks_only_mandatory_currency_and_service"
    ),
}


def test_every_reference_payload_is_parsed_or_explained() -> None:
    on_disk = {
        str(p.relative_to(_path("")))
        for p in _path("").rglob("*")
        if p.is_file() and p.name != "SOURCES.md"
    }
    assert on_disk == set(PARSERS) | set(NOT_PARSED)


@pytest.mark.parametrize("rel", sorted(PARSERS))
def test_reference_payload_parses(rel: str) -> None:
    parsed = PARSERS[rel](rel)
    assert parsed, f"{rel} yielded no objects"


# --- real values come through -------------------------------------------------------------------


def test_github_commits_keep_sha_dates_and_parents() -> None:
    first = github.COMMITS.validate_python(_body("github/commits_list_page1_2026.json"))[0]
    assert first.sha == "0791cc7b1a706ab5d7c607ddff35de4d486ba3e9"
    assert first.commit.author.date == datetime(2023, 8, 28, 18, 27, 45, tzinfo=UTC)
    assert first.commit.message == "Fixing lint errors in release branch"
    assert [p.sha for p in first.parents] == ["9f7850bf6572ea8572b8b136b8b3d3e09cb38403"]


def test_github_compare_lists_a_merge_commit_with_two_parents() -> None:
    comparison = github.COMPARISON.validate_python(
        _body("github/compare_basehead_perpage3_2025.json")
    )
    assert (comparison.status, comparison.ahead_by, comparison.behind_by) == ("ahead", 4, 0)
    assert comparison.merge_base_commit.sha == "4303c5b90e2216d927155e9609436ccb8984c495"
    assert [len(c.parents) for c in comparison.commits] == [1, 2, 1]


def test_github_closed_unmerged_pull_request_has_no_merged_at_but_a_merge_sha() -> None:
    merged, unmerged = github.PULL_REQUESTS.validate_python(
        _body("github/pulls_state_all_items_2022.json")
    )
    assert merged.number == 4
    assert merged.merged_at == datetime(2018, 7, 26, 2, 32, 41, tzinfo=UTC)
    assert merged.merge_commit_sha == "3ddd58c390b0f928a5782c235f90ad0c9c21312c"
    assert (merged.head.ref, merged.base.ref) == ("pre_allocate", "master")
    assert unmerged.number == 8
    assert unmerged.merged_at is None
    assert unmerged.merge_commit_sha == "74ba726f34abe487b7defac6bb9bebf24d342377"
    assert unmerged.head.repo is None  # the fork was deleted


def test_github_deployments_and_statuses_keep_ids_and_states() -> None:
    deployments = github.DEPLOYMENTS.validate_python(_body("github/deployments_list_2020.json"))
    assert [(d.id, d.environment) for d in deployments] == [
        (263877258, "test"),
        (262350588, "production"),
    ]
    statuses = github.DEPLOYMENT_STATUSES.validate_python(
        _body("github/deployment_statuses_list_2020.json")
    )
    assert statuses[0].id == 388454671
    assert {s.state for s in statuses} == {"queued"}


def test_github_rate_limit_reset_is_a_utc_time() -> None:
    limits = github.RATE_LIMIT.validate_python(_body("github/rate_limit_endpoint.json"))
    core = limits.resources["core"]
    assert (core.limit, core.remaining) == (5000, 4988)
    assert core.reset_at == datetime.fromtimestamp(1734072198, UTC)


def test_argocd_truncated_history_keeps_ids_14_to_23() -> None:
    app = argocd.APPLICATION.validate_python(
        _body("argocd/application_velero_history_truncated_argocd_testdata_2024.json")
    )
    assert app.metadata.uid == "94978696-4fd4-40b3-a1de-38d9df9e9316"
    assert [h.id for h in app.status.history] == list(range(14, 24))
    first = app.status.history[0]
    assert first.revision == "ea8759964626a583667a2bfd08f334ec2070040a"
    assert first.deployStartedAt == datetime(2024, 3, 4, 22, 0, 5, tzinfo=UTC)
    assert first.deployedAt == datetime(2024, 3, 4, 22, 0, 6, tzinfo=UTC)
    assert first.source is not None
    assert first.source.repoURL == "https://github.com/foo/manifests-velero.git"
    assert first.initiatedBy is None
    assert app.spec.destination.name == "gke-alpha-01-europe-west1"
    assert app.spec.revisionHistoryLimit is None  # Argo CD's default of 10 applies
    assert app.metadata.labels["project"] == "sre"


def test_argocd_guestbook_has_two_history_entries_and_a_succeeded_operation() -> None:
    app = argocd.APPLICATION.validate_python(
        _body("argocd/application_get_guestbook_roadie_2021.json")
    )
    assert [h.id for h in app.status.history] == [0, 1]
    assert app.spec.destination.server == "https://kubernetes.default.svc"
    operation = app.status.operationState
    assert operation is not None
    assert operation.phase == "Succeeded"
    assert operation.operation is not None and operation.operation.initiatedBy is not None
    assert operation.operation.initiatedBy.username == "iain"
    assert operation.syncResult is not None
    assert operation.syncResult.revision == "53e28ff20cc530b9ada2173fbbd64d48338583ba"


def test_pagerduty_real_incidents_keep_ids_and_fall_back_to_last_status_change() -> None:
    incidents = _incidents("pagerduty/devlake_tap_incidents_keon_test_2022.json")
    assert [(i.id, i.status) for i in incidents] == [
        ("Q3YON8WNWTZMRQ", "triggered"),
        ("Q3CZAU7Q4008QD", "acknowledged"),
        ("Q1OHFWFP3GPXOG", "resolved"),
    ]
    resolved = incidents[2]
    assert resolved.resolved_at is None  # recorded before the field existed (2023)
    assert resolved.effective_resolved_at == datetime(2022, 11, 3, 6, 51, 44, tzinfo=UTC)
    assert resolved.service.id == "PIKL83L"
    assert incidents[0].effective_resolved_at is None


def test_pagerduty_resolve_log_entry_matches_last_status_change() -> None:
    incident, entries = _incident_with_log(
        "pagerduty/devlake_tap_incident6_resolved_with_log_entries.json"
    )
    resolve = entries[0]  # newest first
    assert resolve.type == "resolve_log_entry"
    assert resolve.created_at == incident.last_status_change_at


def test_pagerduty_list_without_total_reads_total_as_none() -> None:
    page = pagerduty.INCIDENT_LIST.validate_python(
        _body("pagerduty/openapi_example_list_incidents.json")
    )
    assert (page.limit, page.offset, page.more, page.total) == (1, 0, True, None)
    incident = pagerduty.INCIDENT.validate_python(page.incidents[0])
    assert incident.resolved_at == datetime(2015, 10, 6, 21, 38, 23, tzinfo=UTC)
    assert incident.priority is not None and incident.priority.summary == "P2"


def test_typeform_answers_come_through_by_field_ref() -> None:
    responses = _typeform_responses("typeform/responses_items_airbyte_test_account.json")
    by_id = {r.response_id: r for r in responses}
    response = by_id["w9yrjygpz00o1vop20h68tlw9yriwyqr"]
    values = {a.field.ref: typeform.answer_value(a) for a in response.answers}
    assert values["ef34b985c51e4131"] == "Mr X"
    assert values["0c3cabd70157cf16"] == "mrx@airbyte.com"
    assert values["7207397713e2b5e3"] == "Yes"
    assert response.submitted_at == datetime(2021, 6, 27, 15, 18, 12, tzinfo=UTC)
    scores = by_id["x9ege1s9u758nla0bx9ege1bg63u7daz"].answers
    assert [typeform.answer_value(a) for a in scores if a.type == "number"] == [1, 1, 1, 1, 1, 5]
    multi = by_id["fr2wm964fnyxpdx9a8tfr2wmlph34hqi"].answers[0]
    assert typeform.answer_value(multi) == [
        "Dec 12-16",
        "Dec 19-23",
        "Jan 9-14",
        "Jan 16-20",
        "Jan 22-26",
        "Jan30 - Feb3",
        "Feb 19-24",
    ]


def test_backstage_component_keeps_the_join_annotations() -> None:
    entity = backstage.ENTITY.validate_python(
        _body("backstage/entity_component_roadie_mock_argocd_annotation.json")
    )
    assert isinstance(entity, backstage.Component)
    assert entity.ref == "component:default/sample-service"
    assert entity.metadata.annotations["argocd/app-name"] == "guestbook"
    assert entity.metadata.uid == "e8a73cc9-21d4-449e-b97a-5d3ce0b21323"
    assert (entity.spec.type, entity.spec.owner) == ("service", "david@roadie.io")


def test_backstage_catalog_info_yaml_defaults_the_namespace() -> None:
    (entity,) = PARSERS["backstage/catalog-info.backstage-repo.yaml"](
        "backstage/catalog-info.backstage-repo.yaml"
    )
    assert isinstance(entity, backstage.Component)
    assert entity.metadata.namespace == "default"
    assert entity.metadata.annotations["github.com/project-slug"] == "backstage/backstage"
    assert entity.metadata.links[0].url == "http://backstage.io"
    assert backstage.full_entity_ref(entity.spec.owner, default_kind="group") == (
        "group:default/cncf"
    )


def test_focus_sample_keeps_decimals_id_strings_and_tags() -> None:
    rows = [
        focus.FOCUS_ROW.validate_python(r)
        for r in _csv_rows("focus/SYNTHETIC_focus1.2_aws_sample_4rows.csv")
    ]
    first = rows[0]
    assert first.BilledCost == Decimal("560.920320")
    assert first.EffectiveCost == Decimal("0")
    assert first.SubAccountId == "200000000011"
    assert first.Tags == {"Environment": "prod", "CostCenter": "cc-1042", "Owner": "team-payments"}
    assert first.ChargePeriodStart == datetime(2026, 5, 1, tzinfo=UTC)
    assert rows[2].ServiceName == "AmazonCloudWatch"
    assert rows[2].BillingCurrency == "USD"


def test_focus_row_columns_exist_since_focus_1_0() -> None:
    columns = {c["col"]: c for c in _json("focus/focus_v1.2_columns.json")["columns"]}
    for name, field in focus.FocusRow.model_fields.items():
        assert name in columns, f"{name} is not a FOCUS 1.2 column"
        assert columns[name]["intro"] in {"0.5", "1.0-preview", "1.0"}, f"{name} is newer than 1.0"
        if field.is_required():
            assert columns[name]["level"] == "Mandatory" and columns[name]["nulls"] == "False"


def test_focus_spec_scenario_lacks_only_mandatory_currency_and_service() -> None:
    # The spec's scenario shows a column subset; a row without a currency cannot be summed safely.
    (row,) = _csv_rows("focus/spec_v1.2_commitment_discount_usage_scenario_1.csv")
    with pytest.raises(ValidationError) as caught:
        focus.FOCUS_ROW.validate_python(row)
    missing = {e["loc"][0] for e in caught.value.errors() if e["type"] == "missing"}
    assert missing == {"BillingCurrency", "ServiceName"}
    completed = focus.FOCUS_ROW.validate_python(
        {**row, "BillingCurrency": "USD", "ServiceName": "Compute"}
    )
    assert (completed.BilledCost, completed.EffectiveCost) == (Decimal("0.00"), Decimal("1.00"))
    assert completed.ResourceId == "<my-resource-id>"


def test_opencost_allocations_read_costs_and_windows() -> None:
    response = opencost.ALLOCATION_RESPONSE.validate_python(
        _json("opencost/allocation_compute_window2d_by_namespace.RAW_BODY.json")
    )
    assert (response.code, response.status, len(response.data)) == (200, "success", 1)
    step = {k: opencost.ALLOCATION.validate_python(v) for k, v in response.data[0].items()}
    assert set(step) == {"kube-system", "opencost", "prometheus"}
    assert step["kube-system"].totalCost == pytest.approx(0.425469)
    assert step["opencost"].properties is not None
    assert step["opencost"].properties.namespace == "opencost"
    assert step["opencost"].end == datetime(2023, 1, 20, 11, 38, tzinfo=UTC)


def test_google_forms_real_export_is_localised_to_utc() -> None:
    rows = _csv_rows("googleforms/form_responses_sheet_export_real.csv")
    response = googleforms.parse_sheet_row(rows[1], zone="America/New_York")
    assert response.submitted_at == datetime(2018, 9, 6, 4, 6, 16, tzinfo=UTC)  # EDT is UTC-4
    assert response.answers == {"Full Name": "Bernadette Melugin"}  # trailing spaces trimmed
    assert response.email is None


# --- timestamps -----------------------------------------------------------------------------------

COMMIT = {
    "sha": "0791cc7b1a706ab5d7c607ddff35de4d486ba3e9",
    "commit": {
        "author": {"name": "A", "email": "a@example.com", "date": "2023-08-28T18:27:45Z"},
        "committer": {"date": "2023-08-28T18:27:45Z"},
        "message": "Fix",
    },
    "parents": [],
}
INCIDENT = {
    "id": "PT4KHLK",
    "incident_number": 1,
    "title": "Down",
    "status": "triggered",
    "created_at": "2024-01-01T10:00:00Z",
    "last_status_change_at": "2024-01-01T10:00:00Z",
    "service": {"id": "PIJ90N7"},
}
HISTORY = {"id": 1, "revision": "abc1234", "deployedAt": "2024-01-01T10:00:00Z"}
RESPONSE = {
    "response_id": "r1",
    "token": "r1",
    "landed_at": "2024-01-01T10:00:00Z",
    "submitted_at": "2024-01-01T10:01:00Z",
}
FOCUS_ROW = {
    "BilledCost": "1.50",
    "EffectiveCost": "1.25",
    "BillingCurrency": "EUR",
    "ChargePeriodStart": "2026-05-01T00:00:00Z",
    "ChargePeriodEnd": "2026-05-02T00:00:00Z",
    "ChargeCategory": "Usage",
    "ServiceName": "Compute",
}


def _with(base: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `base` with the value at `path` replaced."""
    copy = json.loads(json.dumps(base))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


TIMESTAMP_CASES = [
    pytest.param(github.COMMIT, COMMIT, ("commit", "author", "date"), id="github-author-date"),
    pytest.param(pagerduty.INCIDENT, INCIDENT, ("created_at",), id="pagerduty-created-at"),
    pytest.param(argocd.REVISION_HISTORY, HISTORY, ("deployedAt",), id="argocd-deployed-at"),
    pytest.param(typeform.RESPONSE, RESPONSE, ("submitted_at",), id="typeform-submitted-at"),
    pytest.param(focus.FOCUS_ROW, FOCUS_ROW, ("ChargePeriodStart",), id="focus-charge-start"),
]


@pytest.mark.parametrize(("adapter", "base", "path"), TIMESTAMP_CASES)
def test_a_naive_timestamp_is_rejected_as_lacking_a_zone(
    adapter: Any, base: dict[str, Any], path: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(_with(base, path, "2024-01-01T09:00:00"))
    assert [e["type"] for e in caught.value.errors()] == ["timezone_aware"]
    assert "timezone" in str(caught.value)


@pytest.mark.parametrize(("adapter", "base", "path"), TIMESTAMP_CASES)
def test_a_numeric_timestamp_is_rejected(
    adapter: Any, base: dict[str, Any], path: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError, match="got a number"):
        adapter.validate_python(_with(base, path, 1704099600))


def test_a_timestamp_with_an_offset_is_normalised_to_utc() -> None:
    incident = pagerduty.INCIDENT.validate_python(
        _with(INCIDENT, ("created_at",), "2018-08-16T14:55:17-07:00")
    )
    assert incident.created_at == datetime(2018, 8, 16, 21, 55, 17, tzinfo=UTC)
    assert incident.created_at.utcoffset() is not None
    assert incident.created_at.tzinfo is UTC


# --- GitHub -------------------------------------------------------------------------------------


def test_a_commit_without_sha_is_rejected() -> None:
    commit = {k: v for k, v in COMMIT.items() if k != "sha"}
    with pytest.raises(ValidationError) as caught:
        github.COMMIT.validate_python(commit)
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("sha",), "missing")]


@pytest.mark.parametrize("sha", ["0791cc7", "0791CC7B1A706AB5D7C607DDFF35DE4D486BA3E9", "", 12345])
def test_a_commit_with_a_malformed_sha_is_rejected(sha: Any) -> None:
    with pytest.raises(ValidationError):
        github.COMMIT.validate_python(_with(COMMIT, ("sha",), sha))


def test_unknown_github_fields_are_ignored() -> None:
    commit = github.COMMIT.validate_python({**COMMIT, "node_id": "C_x", "stats": {"total": 3}})
    assert "node_id" not in commit.model_dump()


# --- Argo CD ------------------------------------------------------------------------------------


def test_argocd_null_items_parse_to_an_empty_list() -> None:
    assert argocd.APPLICATION_LIST.validate_python({"items": None}).items == []
    assert argocd.APPLICATION_LIST.validate_python({"metadata": {}}).items == []


def test_argocd_null_history_and_missing_status_parse_to_no_history() -> None:
    app = {
        "metadata": {"name": "a", "uid": "u1"},
        "spec": {"destination": {"namespace": "prod"}},
    }
    assert argocd.APPLICATION.validate_python(app).status.history == []
    with_null = {**app, "status": {"history": None}}
    assert argocd.APPLICATION.validate_python(with_null).status.history == []


def test_argocd_multi_source_history_entry_with_initiator_parses() -> None:
    entry = argocd.REVISION_HISTORY.validate_python(
        {
            "id": 7,
            "revisions": ["a1b2c3d", "1.4.2"],
            "sources": [
                {
                    "repoURL": "https://github.com/acme/deploy.git",
                    "kustomize": {"images": ["ghcr.io/acme/api:a1b2c3d"]},
                },
                {
                    "repoURL": "https://charts.acme.dev",
                    "chart": "api",
                    "helm": {"parameters": [{"name": "image.tag", "value": "a1b2c3d"}]},
                },
            ],
            "deployStartedAt": "2024-05-01T10:00:00Z",
            "deployedAt": "2024-05-01T10:00:09Z",
            "initiatedBy": {"automated": True},
        }
    )
    assert entry.revision is None and entry.revisions == ["a1b2c3d", "1.4.2"]
    assert entry.sources is not None
    kustomize, helm = entry.sources[0].kustomize, entry.sources[1].helm
    assert kustomize is not None and kustomize.images == ["ghcr.io/acme/api:a1b2c3d"]
    assert helm is not None and helm.parameters[0].value == "a1b2c3d"
    assert entry.initiatedBy is not None and entry.initiatedBy.automated is True


def test_argocd_history_entry_without_any_revision_is_rejected() -> None:
    with pytest.raises(ValidationError, match="neither 'revision' nor 'revisions'"):
        argocd.REVISION_HISTORY.validate_python({"id": 1, "deployedAt": "2024-01-01T10:00:00Z"})


def test_argocd_app_without_uid_is_rejected() -> None:
    app = {"metadata": {"name": "a"}, "spec": {"destination": {}}}
    with pytest.raises(ValidationError, match="uid"):
        argocd.APPLICATION.validate_python(app)


# --- PagerDuty ----------------------------------------------------------------------------------


def test_pagerduty_null_total_is_fine() -> None:
    page = pagerduty.INCIDENT_LIST.validate_python(
        {"incidents": [], "limit": 100, "offset": 0, "more": False, "total": None}
    )
    assert page.total is None


@pytest.mark.parametrize(
    ("status", "resolved_at", "expected"),
    [
        ("resolved", "2024-01-01T11:30:00Z", datetime(2024, 1, 1, 11, 30, tzinfo=UTC)),
        ("resolved", None, datetime(2024, 1, 1, 10, 0, tzinfo=UTC)),
        ("acknowledged", None, None),
    ],
)
def test_pagerduty_effective_resolved_at_prefers_resolved_at(
    status: str, resolved_at: str | None, expected: datetime | None
) -> None:
    incident = pagerduty.INCIDENT.validate_python(
        {**INCIDENT, "status": status, "resolved_at": resolved_at}
    )
    assert incident.effective_resolved_at == expected


# --- Typeform -----------------------------------------------------------------------------------


def _answer(type_: str, value: Any) -> dict[str, Any]:
    return {"field": {"id": "f1", "type": "x", "ref": "q"}, "type": type_, type_: value}


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("text", "Flaky CI", "Flaky CI"),
        ("email", "a@example.com", "a@example.com"),
        ("number", 4, 4),
        ("boolean", False, False),
        ("date", "2024-03-01", "2024-03-01"),
        ("url", "https://example.com", "https://example.com"),
        ("phone_number", "+15551234567", "+15551234567"),
        ("choice", {"id": "c1", "label": "Days"}, "Days"),
        ("choice", {"other": "It depends"}, "It depends"),
        ("choices", {"labels": ["CI", "Reviews"]}, ["CI", "Reviews"]),
        ("choices", {"labels": ["CI"], "other": "Docs"}, ["CI", "Docs"]),
    ],
)
def test_typeform_answer_value_reads_the_key_named_by_type(
    type_: str, value: Any, expected: Any
) -> None:
    assert typeform.answer_value(typeform.ANSWER.validate_python(_answer(type_, value))) == expected


def test_typeform_answer_without_its_value_is_rejected() -> None:
    answer = {"field": {"id": "f1", "type": "short_text"}, "type": "text"}
    with pytest.raises(ValidationError, match="has no 'text' value"):
        typeform.ANSWER.validate_python(answer)


def test_typeform_unknown_answer_type_parses_with_no_value() -> None:
    answer = typeform.ANSWER.validate_python(_answer("multi_format", {"audio": "x"}))
    assert typeform.answer_value(answer) is None


def test_typeform_response_id_defaults_to_token() -> None:
    response = typeform.RESPONSE.validate_python({**RESPONSE, "response_id": None, "token": "t9"})
    assert response.response_id == "t9"


# --- Backstage ----------------------------------------------------------------------------------


def test_entity_ref_is_lower_case() -> None:
    assert backstage.entity_ref("Component", "Default", "Payments-API") == (
        "component:default/payments-api"
    )


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("team-a", "group:default/team-a"),
        ("group:team-a", "group:default/team-a"),
        ("ops/team-a", "group:ops/team-a"),
        ("User:Ops/Jane", "user:ops/jane"),
    ],
)
def test_full_entity_ref_fills_kind_and_namespace(ref: str, expected: str) -> None:
    assert backstage.full_entity_ref(ref, default_kind="Group") == expected


@pytest.mark.parametrize("ref", ["", "group:", "group:ns/"])
def test_full_entity_ref_rejects_malformed_refs(ref: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        backstage.full_entity_ref(ref, default_kind="group")


def _entity(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("kind", "spec", "model"),
    [
        ("Component", {"type": "service", "lifecycle": "production", "owner": "a"}, "Component"),
        ("Group", {"type": "team", "children": [], "members": ["jane"]}, "Group"),
        ("User", {"profile": {"email": "j@acme.dev"}, "memberOf": ["team-a"]}, "User"),
        ("System", {"owner": "team-a"}, "System"),
        ("API", {"type": "openapi", "definition": "..."}, "Entity"),
    ],
)
def test_backstage_spec_is_typed_by_kind(kind: str, spec: dict[str, Any], model: str) -> None:
    entity = backstage.ENTITY.validate_python(_entity(kind, spec))
    assert type(entity).__name__ == model
    assert entity.ref == f"{kind.lower()}:default/x"


def test_backstage_user_and_group_keep_membership() -> None:
    user = backstage.ENTITY.validate_python(
        _entity("User", {"profile": {"email": "j@acme.dev"}, "memberOf": ["team-a"]})
    )
    assert isinstance(user, backstage.User)
    assert user.spec.profile is not None and user.spec.profile.email == "j@acme.dev"
    assert user.spec.memberOf == ["team-a"]
    group = backstage.ENTITY.validate_python(
        _entity("group", {"type": "team", "parent": "eng", "children": None})
    )
    assert isinstance(group, backstage.Group)
    assert (group.spec.parent, group.spec.children, group.spec.members) == ("eng", [], [])


def test_backstage_component_without_owner_is_rejected() -> None:
    with pytest.raises(ValidationError, match="owner"):
        backstage.ENTITY.validate_python(
            _entity("Component", {"type": "service", "lifecycle": "production"})
        )


def test_backstage_entity_without_kind_is_rejected() -> None:
    with pytest.raises(ValidationError, match="needs a string 'kind'"):
        backstage.ENTITY.validate_python({"apiVersion": "v1", "metadata": {"name": "x"}})


def test_backstage_by_query_page_reads_the_cursor() -> None:
    page = backstage.ENTITIES_BY_QUERY_PAGE.validate_python(
        {"items": [_entity("System", {"owner": "a"})], "totalItems": 3, "pageInfo": {}}
    )
    assert page.totalItems == 3 and page.pageInfo.nextCursor is None
    assert isinstance(backstage.ENTITY.validate_python(page.items[0]), backstage.System)


# --- FOCUS --------------------------------------------------------------------------------------


def test_focus_tags_json_string_parses_and_ids_stay_strings() -> None:
    row = focus.FOCUS_ROW.validate_python(
        {
            **FOCUS_ROW,
            "SubAccountId": "000123456789",
            "ResourceId": "0042",
            "Tags": '{"app": "payments", "replicas": 3, "pci": true, "stale": null}',
        }
    )
    assert row.SubAccountId == "000123456789"
    assert row.ResourceId == "0042"
    assert row.Tags == {"app": "payments", "replicas": "3", "pci": "true"}


def test_focus_tags_may_arrive_as_a_map_from_parquet() -> None:
    row = focus.FOCUS_ROW.validate_python({**FOCUS_ROW, "Tags": {"team": "core"}})
    assert row.Tags == {"team": "core"}


def test_focus_empty_cells_are_nulls() -> None:
    row = focus.FOCUS_ROW.validate_python(
        {**FOCUS_ROW, "ResourceId": "", "Tags": "", "ListCost": ""}
    )
    assert (row.ResourceId, row.Tags, row.ListCost) == (None, {}, None)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("SubAccountId", 123456789, "string"),
        ("Tags", "not json", "not a JSON object"),
        ("Tags", '["a"]', "must be a JSON object"),
        ("Tags", '{"a": {"b": 1}}', "object or array"),
        ("BilledCost", "twelve", "decimal"),
        ("BilledCost", "NaN", "finite"),
        ("ChargePeriodEnd", "2026-04-30T00:00:00Z", "before ChargePeriodStart"),
        ("BillingCurrency", "", "Field required"),
    ],
)
def test_focus_garbage_is_rejected_with_a_reason(column: str, value: Any, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        focus.FOCUS_ROW.validate_python({**FOCUS_ROW, column: value})


# --- OpenCost -----------------------------------------------------------------------------------


def test_opencost_null_numbers_and_special_keys_parse() -> None:
    response = opencost.ALLOCATION_RESPONSE.validate_python(
        {
            "code": 200,
            "status": "success",
            "data": [
                {
                    opencost.IDLE_KEY: {
                        "name": opencost.IDLE_KEY,
                        "start": "2024-01-01T00:00:00Z",
                        "end": "2024-01-02T00:00:00Z",
                        "cpuCost": None,
                        "totalCost": 1.5,
                        "properties": {"labels": None},
                    }
                },
                None,
            ],
        }
    )
    idle = opencost.ALLOCATION.validate_python(response.data[0][opencost.IDLE_KEY])
    assert (idle.cpuCost, idle.totalCost) == (None, 1.5)
    assert idle.properties is not None and idle.properties.labels == {}
    assert response.data[1] == {}


def test_opencost_null_data_is_an_empty_list() -> None:
    assert opencost.ALLOCATION_RESPONSE.validate_python({"code": 200, "data": None}).data == []


# --- Google Forms -------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["Email Address", "Email address"])
def test_google_forms_reads_either_email_spelling(column: str) -> None:
    row = {"Timestamp": "9/6/2018 0:06:16", column: "jane@acme.dev", "What blocks you most?": "CI"}
    response = googleforms.parse_sheet_row(row, zone="UTC")
    assert response.email == "jane@acme.dev"
    assert response.answers == {"What blocks you most?": "CI"}


def test_google_forms_row_with_both_email_columns_takes_the_filled_one() -> None:
    row = {"Timestamp": "9/6/2018 0:06:16", "Email Address": "", "Email address": "j@acme.dev"}
    response = googleforms.parse_sheet_row(row, zone="UTC")
    assert response.email == "j@acme.dev"
    assert response.answers == {}


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("1/15/2024 9:30:00", datetime(2024, 1, 15, 8, 30, tzinfo=UTC)),  # CET, UTC+1
        ("7/15/2024 9:30:00", datetime(2024, 7, 15, 7, 30, tzinfo=UTC)),  # CEST, UTC+2
    ],
)
def test_google_forms_timestamp_is_localised_with_the_sheet_zone(
    timestamp: str, expected: datetime
) -> None:
    response = googleforms.parse_sheet_row({"Timestamp": timestamp}, zone="Europe/Paris")
    assert response.submitted_at == expected


def test_google_forms_splits_only_checkbox_columns() -> None:
    row = {
        "Timestamp": "9/6/2018 0:06:16",
        "What blocks you most?": "Flaky CI, Slow reviews",
        "What would you improve?": "Docs, mostly",
    }
    response = googleforms.parse_sheet_row(
        row, zone="UTC", checkbox_columns={"What blocks you most?"}
    )
    assert response.answers == {
        "What blocks you most?": ["Flaky CI", "Slow reviews"],
        "What would you improve?": "Docs, mostly",
    }


def test_google_forms_custom_locale_format() -> None:
    row = {"Timestamp": "06/09/2018 00:06:16"}
    response = googleforms.parse_sheet_row(
        row, zone="Europe/London", timestamp_format="%d/%m/%Y %H:%M:%S"
    )
    assert response.submitted_at == datetime(2018, 9, 5, 23, 6, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "zone", "reason"),
    [
        ({"Timestamp": "2018-09-06T00:06:16Z"}, "UTC", "does not match the sheet format"),
        ({"Timestamp": ""}, "UTC", "no 'Timestamp' value"),
        ({"Full Name": "Bob"}, "UTC", "no 'Timestamp' value"),
        ({"Timestamp": "9/6/2018 0:06:16"}, "Mars/Olympus", "unknown IANA time zone"),
        ({"Timestamp": "9/6/2018 0:06:16", None: ["extra"]}, "UTC", "more cells"),
    ],
)
def test_google_forms_bad_rows_are_rejected_with_a_reason(
    row: dict[str, Any], zone: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        googleforms.parse_sheet_row(row, zone=zone)
