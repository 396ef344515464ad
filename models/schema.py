"""The published SQL schema (CONTRACT.md): the `marts` tables users script against.

One definition, used to create the tables, to check a build before it is published, and to
document them. Columns are in contract order; additions go at the end of a table.
"""

from __future__ import annotations

MARTS: dict[str, dict[str, str]] = {
    "services": {
        "service": "VARCHAR NOT NULL PRIMARY KEY",
        "name": "VARCHAR",
        "team": "VARCHAR",
        "system": "VARCHAR",
        "lifecycle": "VARCHAR",
        "type": "VARCHAR",
        "repo": "VARCHAR",
        "argocd_app": "VARCHAR",
        "pagerduty_service_id": "VARCHAR",
        "depends_on": "VARCHAR[]",
    },
    "teams": {
        "team": "VARCHAR NOT NULL PRIMARY KEY",
        "name": "VARCHAR",
        "parent": "VARCHAR",
        "members": "INTEGER",
    },
    "deployments": {
        "deployment_id": "VARCHAR NOT NULL PRIMARY KEY",
        "service": "VARCHAR NOT NULL",
        "team": "VARCHAR",
        "environment": "VARCHAR",
        "source": "VARCHAR",
        "revision": "VARCHAR",
        "started_at": "TIMESTAMPTZ",
        "finished_at": "TIMESTAMPTZ",
        "is_rollback": "BOOLEAN",
        "is_failed": "BOOLEAN",
        "failure_reason": "VARCHAR",
        "is_rework": "BOOLEAN",
        "first_observed": "BOOLEAN",
    },
    "changes": {
        "change_id": "VARCHAR NOT NULL PRIMARY KEY",
        "service": "VARCHAR NOT NULL",
        "repo": "VARCHAR",
        "kind": "VARCHAR",
        "pr_number": "INTEGER",
        "commit_sha": "VARCHAR",
        "started_at": "TIMESTAMPTZ",
        "opened_at": "TIMESTAMPTZ",
        "merged_at": "TIMESTAMPTZ",
        "deployment_id": "VARCHAR",
        "deployed_at": "TIMESTAMPTZ",
        "lead_time_s": "DOUBLE",
        "coding_s": "DOUBLE",
        "review_s": "DOUBLE",
        "deploy_wait_s": "DOUBLE",
        "excluded_reason": "VARCHAR",
    },
    "incidents": {
        "incident_id": "VARCHAR NOT NULL PRIMARY KEY",
        "service": "VARCHAR",
        "team": "VARCHAR",
        "source": "VARCHAR",
        "title": "VARCHAR",
        "urgency": "VARCHAR",
        "status": "VARCHAR",
        "created_at": "TIMESTAMPTZ",
        "resolved_at": "TIMESTAMPTZ",
        "time_to_restore_s": "DOUBLE",
        "deployment_id": "VARCHAR",
    },
    "dora_metrics": {
        "grain": "VARCHAR NOT NULL",
        "period_start": "DATE NOT NULL",
        "scope": "VARCHAR NOT NULL",
        "scope_id": "VARCHAR NOT NULL",
        "deployments": "BIGINT",
        "deployment_days": "BIGINT",
        "deploys_per_day": "DOUBLE",
        "changes": "BIGINT",
        "lead_time_p50_s": "DOUBLE",
        "lead_time_p90_s": "DOUBLE",
        "failed_deployments": "BIGINT",
        "change_failure_rate": "DOUBLE",
        "recovery_p50_s": "DOUBLE",
        "incidents": "BIGINT",
        "mttr_p50_s": "DOUBLE",
        "rework_deployments": "BIGINT",
        "rework_rate": "DOUBLE",
        "mttr_mean_s": "DOUBLE",
    },
    "dora_tiers": {
        "as_of": "DATE NOT NULL",
        "window_days": "INTEGER",
        "scope": "VARCHAR NOT NULL",
        "scope_id": "VARCHAR NOT NULL",
        "report_year": "INTEGER NOT NULL",
        "metric": "VARCHAR NOT NULL",
        "value": "DOUBLE",
        "tier": "VARCHAR",
    },
    "benchmarks": {
        "report_year": "INTEGER NOT NULL",
        "metric": "VARCHAR NOT NULL",
        "level": "VARCHAR NOT NULL",
        "lower": "DOUBLE",
        "upper": "DOUBLE",
        "label": "VARCHAR",
    },
    "satisfaction": {
        "quarter": "VARCHAR NOT NULL",
        "scope": "VARCHAR NOT NULL",
        "scope_id": "VARCHAR NOT NULL",
        "question_key": "VARCHAR NOT NULL",
        "respondents": "INTEGER",
        "invited": "INTEGER",
        "response_rate": "DOUBLE",
        "mean_score": "DOUBLE",
        "top2box": "DOUBLE",
        "enps": "DOUBLE",
        "delta_prev": "DOUBLE",
        "suppressed": "BOOLEAN",
    },
    "costs": {
        "date": "DATE NOT NULL",
        "service": "VARCHAR",
        "team": "VARCHAR",
        "currency": "VARCHAR NOT NULL",
        "effective_cost": "DECIMAL(38, 10)",
        "billed_cost": "DECIMAL(38, 10)",
    },
    "data_quality": {
        "source": "VARCHAR NOT NULL",
        "run_id": "VARCHAR NOT NULL",
        "run_at": "TIMESTAMPTZ",
        "fetched": "BIGINT",
        "loaded": "BIGINT",
        "rejected": "BIGINT",
        "unmapped": "BIGINT",
        "notes": "VARCHAR",
    },
    "environments": {
        "service": "VARCHAR NOT NULL",
        "team": "VARCHAR",
        "source": "VARCHAR NOT NULL",
        "target": "VARCHAR NOT NULL",
        "environment": "VARCHAR",
        "is_production": "BOOLEAN",
        "sync_status": "VARCHAR",
        "health_status": "VARCHAR",
        "last_revision": "VARCHAR",
        "last_deployed_at": "TIMESTAMPTZ",
        "last_operation_phase": "VARCHAR",
        "last_operation_message": "VARCHAR",
        "last_failed_at": "TIMESTAMPTZ",
        "last_failed_message": "VARCHAR",
    },
    "service_links": {
        "service": "VARCHAR NOT NULL",
        "kind": "VARCHAR NOT NULL",
        "title": "VARCHAR",
        "url": "VARCHAR NOT NULL",
    },
    "team_maturity": {
        "team": "VARCHAR NOT NULL PRIMARY KEY",
        "stage": "INTEGER",
        "stage_name": "VARCHAR",
        "reason": "VARCHAR",
        "services": "INTEGER",
        "owner_share": "DOUBLE",
        "repo_share": "DOUBLE",
        "deploy_share": "DOUBLE",
        "pagerduty_share": "DOUBLE",
        "survey_coverage": "DOUBLE",
        "deployment_frequency_tier": "VARCHAR",
        "rework_rate": "DOUBLE",
        "as_of": "DATE",
    },
    "rejected_records": {
        "source": "VARCHAR NOT NULL",
        "object": "VARCHAR",
        "key": "VARCHAR",
        "reason": "VARCHAR",
        "run_id": "VARCHAR",
        "rejected_at": "TIMESTAMPTZ",
        "payload_excerpt": "VARCHAR",
    },
    "survey_choices": {
        "quarter": "VARCHAR NOT NULL",
        "scope": "VARCHAR NOT NULL",
        "scope_id": "VARCHAR NOT NULL",
        "question_key": "VARCHAR NOT NULL",
        "choice": "VARCHAR",
        "respondents": "INTEGER",
        "share": "DOUBLE",
        "rank": "INTEGER",
        "suppressed": "BOOLEAN NOT NULL",
    },
}


def column_type(table: str, column: str) -> str:
    """The type of ``marts.<table>.<column>`` without its constraints (``VARCHAR NOT NULL
    PRIMARY KEY`` -> ``VARCHAR``)."""
    return MARTS[table][column].replace(" NOT NULL", "").replace(" PRIMARY KEY", "").strip()


def primary_key(table: str) -> str | None:
    """The one column of ``marts.<table>`` declared PRIMARY KEY, if it has one."""
    keys = [name for name, kind in MARTS[table].items() if "PRIMARY KEY" in kind]
    return keys[0] if len(keys) == 1 else None


def create_table_sql(
    table: str, schema: str = "marts", *, temporary: bool = False, key_index: bool = True
) -> str:
    """``CREATE OR REPLACE`` of ``<schema>.<table>`` with the contract's columns and
    constraints; without its PRIMARY KEY if not ``key_index`` (DuckDB keeps an index for it,
    which every write of the table updates and every checkpoint stores)."""
    kinds = {
        name: kind if key_index else kind.replace(" PRIMARY KEY", "")
        for name, kind in MARTS[table].items()
    }
    columns = ",\n    ".join(f'"{name}" {kind}' for name, kind in kinds.items())
    kind = "TEMP TABLE" if temporary else "TABLE"
    return f"CREATE OR REPLACE {kind} {schema}.{table} (\n    {columns}\n)"
