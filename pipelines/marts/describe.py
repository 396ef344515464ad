"""What each staging and mart table means, and its grain (the assets' descriptions)."""

from __future__ import annotations

STAGING: dict[str, str] = {
    "services": "Conformed services: one row per Backstage Component (entity ref), its owner "
    "team, attributes and the annotations that map sources to it.",
    "teams": "Conformed teams: one row per Backstage Group, its display name, parent and "
    "members (catalog users whose first group it is).",
    "users": "One row per Backstage User: the keyed hash of its email (never the email) and "
    "its team, to resolve survey respondents.",
    "commits": "The commit graph: one row per commit of a service repo's default branch, with "
    "its parents, author and committer dates and message.",
    "pull_requests": "One row per pull request (merged or not), with its base and the repo's "
    "default branch, created/merged times and merge commit.",
    "pr_commits": "One row per commit a merged pull request lists (its branch commits, which "
    "squash and rebase merges leave off the default branch).",
    "argocd_apps": "One row per Argo CD Application (uid) a component maps, with its "
    "destination namespace.",
    "argocd_history": "One row per observed sync history entry of a mapped Argo CD app (all "
    "polls' union, before self-heal collapse and the window filter).",
    "github_deployments": "One row per GitHub Deployment of a mapped repo with its latest "
    "status (max created_at, then max id).",
    "incidents": "One row per PagerDuty incident of a mapped service; resolved_at falls back to "
    "last_status_change_at for resolved incidents without it.",
    "survey_responses": "One row per survey response (Typeform, Google Forms): quarter, "
    "submission time, respondent hash and resolved team.",
    "survey_answers": "One row per answered question of a response: an integer value for "
    "scored answers, text otherwise (never published per respondent).",
    "cost_rows": "One row per FOCUS cost row: charge period start, tags (JSON), currency and "
    "exact effective and billed amounts.",
    "catalog_links": "One row per metadata.links entry of a Component, as written (URLs are "
    "checked when the marts are built).",
    "argocd_status": "One row per mapped Argo CD Application uid as the last poll saw it: sync "
    "and health status, creation and observation times.",
    "deployment_operations": "One row per observed deployment operation of a mapped target: "
    "every Argo CD operation state a poll saw (failed syncs included) and every GitHub "
    "deployment status.",
}

MARTS: dict[str, str] = {
    "services": "One row per service (Backstage Component): its team, attributes and the "
    "source identifiers mapped to it.",
    "teams": "One row per team (Backstage Group): display name, parent and catalog members.",
    "deployments": "One row per production deployment (Argo CD history entry after self-heal "
    "collapse, or successful GitHub Deployment), with its resolved revision and rollback, "
    "failure, rework and first-observed flags (METRICS.md §2, §5, §7).",
    "changes": "One row per change (merged PR or direct push to the default branch), the "
    "deployment that first shipped it, its lead time and PR stages, and why it is excluded "
    "from medians if it is (METRICS.md §3).",
    "incidents": "One row per incident of a mapped service: status, times, time to restore "
    "(resolved only) and the deployment it is attributed to (METRICS.md §5, §6).",
    "dora_metrics": "One row per grain (ISO week, month, quarter) x period x scope (org, team, "
    "service): the DORA metrics, zero-filled (counts 0, medians and rates NULL).",
    "dora_tiers": "One row per scope x metric x report year: the value over the trailing "
    "window ending as_of and its benchmark tier.",
    "benchmarks": "One row per report year x metric x level: the State of DevOps clusters "
    "(2021, 2023, 2024) and the product brief's good/bad rule of thumb (year 0).",
    "satisfaction": "One row per quarter x scope (org, team) x scored question: respondents, "
    "invited, response rate, scores, change vs the previous quarter, with anonymity and "
    "complementary suppression (METRICS.md §9).",
    "costs": "One row per UTC day x service-or-team x currency: effective and billed cost "
    "allocated by tags (unallocated: service and team NULL); currencies never summed.",
    "data_quality": "One row per source per ingestion run: fetched = loaded + rejected + "
    "unmapped, with the run's notes (Argo CD history gaps included).",
    "environments": "One row per service x deployment target (Argo CD application, or GitHub "
    "environment of the service's repo): production or not, sync and health status, the last "
    "deployed revision and time, the last operation and the last failed sync.",
    "service_links": "One row per service x link: the catalog's metadata.links and the "
    "well-known annotations (docs, runbook, logs, dashboards, source), and the repo, Argo CD "
    "and PagerDuty URLs built from the configured base URLs; http(s) URLs only.",
    "team_maturity": "One row per team owning a service: its platform maturity stage (1 manual "
    "to 5 automated), "
    "the reason in plain words, and the inputs of the scoring rule (docs/metrics.md).",
    "rejected_records": "One row per record a source returned that failed validation: its "
    "source, object, key, reason and run, and the first 500 characters of its payload.",
    "survey_choices": "One row per quarter x scope (org, team) x choice question (top_blocker, "
    "deploy_new_service_time) x choice: respondents who picked it, share and rank, suppressed "
    "exactly as marts.satisfaction (METRICS.md §9); free text never published.",
}
