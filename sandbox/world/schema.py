"""The sandbox world's storage: one SQLite file, written once by the generator.

The world is the *truth* of a synthetic organisation over a timeline: what really happened,
with every timestamp in UTC as ``YYYY-MM-DDTHH:MM:SSZ`` text (sorts as time). The servers in
``sandbox.servers`` render it through each real API *as of a clock* (``now``): a record whose
time is after ``now`` is not there yet, an incident resolved after ``now`` is still open, and an
Argo CD app shows only the last ``revisionHistoryLimit`` history entries deployed by ``now``.
Advancing the clock is how incremental runs are tested. ``sandbox.truth`` reads the same tables
to compute the expected metrics with its own plain code.

Why SQLite: the enterprise world (millions of commits) must be served page by page without
holding it in memory, from many server threads at once; SQLite with per-thread read-only
connections and a few indexes does exactly that, and ships with Python.

Tables (``*_json`` columns hold JSON text; booleans are 0/1):

meta(key, value)
    seed, scale, org (GitHub org login), start (first day of history), end (the default clock:
    the moment the world was "observed"), horizon (last generated moment; the clock may advance
    up to it), history_start (the PAVED_HISTORY_START the demo uses), cfr_window_hours.
groups(name, display_name, parent, email)
    Backstage Groups (namespace ``default``); ``parent`` NULL for the root.
users(name, email, display_name, team)
    Backstage Users; ``team`` is the Group they are a member of.
systems(name, owner, description)
components(name, owner, system, lifecycle, type, description, annotations_json, links_json,
           depends_on_json, labels_json)
    Backstage Components: the services. ``depends_on_json`` lists entity refs.
    ``annotations_json`` has the METRICS.md §1 annotations a service has (some miss some).
repos(id, full_name, default_branch, service, kind, created_at)
    ``kind``: ``app`` (a service's code) or ``manifests`` (a GitOps repo whose commits bump
    image tags). ``service`` NULL for shared manifest repos.
commits(repo_id, seq, sha, author_name, author_email, author_date, committer_date, message,
        parents_json, reachable, pr_number)
    Every commit of every repo. ``seq`` orders a repo's commits in creation order (the order
    ``git log`` would list them reversed). ``reachable`` = 1 if reachable from the default
    branch head (what ``GET /commits?sha=<default>`` lists); PR branch commits of squash and
    rebase merges are not. ``pr_number`` = the PR the commit was authored on, if any.
pulls(repo_id, number, title, user_login, created_at, closed_at, merged_at, merge_commit_sha,
      head_sha, head_ref, base_ref, merge_method)
    ``merge_method``: merge, squash, rebase, or NULL (closed unmerged / still open at horizon).
    ``merge_commit_sha`` is the merge commit, the squash commit, or the last rebased commit.
    The state at a clock: open while ``closed_at`` is NULL or after it.
pull_commits(repo_id, number, idx, sha)
    The PR's own branch commits in order (what ``GET /pulls/{n}/commits`` lists).
gh_deployments(id, repo_id, sha, ref, environment, task, creator, created_at)
gh_deployment_statuses(id, deployment_id, state, description, created_at)
argo_apps(uid, name, namespace, project, service, labels_json, spec_json, created_at,
          deleted_at)
    Argo CD Applications; ``spec_json`` is the Application ``spec`` (source or sources,
    destination, revisionHistoryLimit). An app recreated gets a new uid and restarts its ids.
argo_history(app_uid, id, revision, revisions_json, source_json, sources_json,
             deploy_started_at, deployed_at, initiated_by_json)
    Every successful sync ever made (the full truth; the API shows a truncated tail).
argo_operations(app_uid, seq, phase, message, started_at, finished_at, revision,
                revisions_json)
    Every sync operation, failed ones included; the API shows the latest started by the clock.
pd_services(id, name, service)
    PagerDuty services; ``service`` is the component mapped to it (NULL = unmapped).
pd_incidents(id, incident_number, title, urgency, pd_service_id, created_at, acknowledged_at,
             resolved_at, legacy, caused_by)
    ``legacy`` = 1 for incidents created before the API had ``resolved_at``/``updated_at``:
    they are served without those fields. ``caused_by`` (generator truth, a deployment key
    ``argocd:<uid>:<id>`` or ``github:<repo>:<id>``) is never served: it lets tests tell real
    causes from the rule-based attribution.
typeform_forms(id, title, quarter, fields_json)
typeform_responses(form_id, response_id, token, landed_at, submitted_at, visible_at,
                   answers_json, hidden_json)
    ``visible_at``: when the API starts returning the response. Typeform may list a response
    late, after newer ones, which is why the connector re-reads a trailing window.
survey_truth(source, response_id, quarter, submitted_at, email, team, answers_json)
    What each respondent really answered (both sources), keyed by question key; the ground
    truth reads this instead of re-parsing the exports.
opencost(date, namespace, app, cpu_cost, ram_cost, pv_cost, network_cost, total_cost)
files(path, kind)
    Files written beside the database: Google Forms CSV exports, FOCUS CSV/Parquet exports,
    catalog-info.yaml files. ``path`` is relative to the world folder.
"""

from __future__ import annotations

DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE groups (name TEXT PRIMARY KEY, display_name TEXT, parent TEXT, email TEXT);
CREATE TABLE users (name TEXT PRIMARY KEY, email TEXT, display_name TEXT, team TEXT);
CREATE TABLE systems (name TEXT PRIMARY KEY, owner TEXT, description TEXT);
CREATE TABLE components (
    name TEXT PRIMARY KEY, owner TEXT, system TEXT, lifecycle TEXT, type TEXT,
    description TEXT, annotations_json TEXT, links_json TEXT, depends_on_json TEXT,
    labels_json TEXT);
CREATE TABLE repos (
    id INTEGER PRIMARY KEY, full_name TEXT UNIQUE, default_branch TEXT, service TEXT,
    kind TEXT, created_at TEXT);
CREATE TABLE commits (
    repo_id INTEGER, seq INTEGER, sha TEXT, author_name TEXT, author_email TEXT,
    author_date TEXT, committer_date TEXT, message TEXT, parents_json TEXT,
    reachable INTEGER, pr_number INTEGER, PRIMARY KEY (repo_id, seq));
CREATE TABLE pulls (
    repo_id INTEGER, number INTEGER, title TEXT, user_login TEXT, created_at TEXT,
    closed_at TEXT, merged_at TEXT, merge_commit_sha TEXT, head_sha TEXT, head_ref TEXT,
    base_ref TEXT, merge_method TEXT, PRIMARY KEY (repo_id, number));
CREATE TABLE pull_commits (
    repo_id INTEGER, number INTEGER, idx INTEGER, sha TEXT,
    PRIMARY KEY (repo_id, number, idx));
CREATE TABLE gh_deployments (
    id INTEGER PRIMARY KEY, repo_id INTEGER, sha TEXT, ref TEXT, environment TEXT,
    task TEXT, creator TEXT, created_at TEXT);
CREATE TABLE gh_deployment_statuses (
    id INTEGER PRIMARY KEY, deployment_id INTEGER, state TEXT, description TEXT,
    created_at TEXT);
CREATE TABLE argo_apps (
    uid TEXT PRIMARY KEY, name TEXT, namespace TEXT, project TEXT, service TEXT,
    labels_json TEXT, spec_json TEXT, created_at TEXT, deleted_at TEXT);
CREATE TABLE argo_history (
    app_uid TEXT, id INTEGER, revision TEXT, revisions_json TEXT, source_json TEXT,
    sources_json TEXT, deploy_started_at TEXT, deployed_at TEXT, initiated_by_json TEXT,
    PRIMARY KEY (app_uid, id));
CREATE TABLE argo_operations (
    app_uid TEXT, seq INTEGER, phase TEXT, message TEXT, started_at TEXT, finished_at TEXT,
    revision TEXT, revisions_json TEXT, PRIMARY KEY (app_uid, seq));
CREATE TABLE pd_services (id TEXT PRIMARY KEY, name TEXT, service TEXT);
CREATE TABLE pd_incidents (
    id TEXT PRIMARY KEY, incident_number INTEGER, title TEXT, urgency TEXT,
    pd_service_id TEXT, created_at TEXT, acknowledged_at TEXT, resolved_at TEXT,
    legacy INTEGER, caused_by TEXT);
CREATE TABLE typeform_forms (id TEXT PRIMARY KEY, title TEXT, quarter TEXT, fields_json TEXT);
CREATE TABLE typeform_responses (
    form_id TEXT, response_id TEXT, token TEXT, landed_at TEXT, submitted_at TEXT,
    visible_at TEXT, answers_json TEXT, hidden_json TEXT, PRIMARY KEY (form_id, response_id));
CREATE TABLE survey_truth (
    source TEXT, response_id TEXT, quarter TEXT, submitted_at TEXT, email TEXT, team TEXT,
    answers_json TEXT, PRIMARY KEY (source, response_id));
CREATE TABLE opencost (
    date TEXT, namespace TEXT, app TEXT, cpu_cost REAL, ram_cost REAL, pv_cost REAL,
    network_cost REAL, total_cost REAL, PRIMARY KEY (date, namespace, app));
CREATE TABLE files (path TEXT PRIMARY KEY, kind TEXT);
"""

# Built after the bulk load: cheaper than maintaining them row by row.
INDEXES = """
CREATE INDEX commits_by_sha ON commits (sha);
CREATE INDEX commits_listing ON commits (repo_id, reachable, committer_date);
CREATE INDEX pulls_by_closed ON pulls (repo_id, closed_at);
CREATE INDEX gh_deployments_by_repo ON gh_deployments (repo_id, created_at);
CREATE INDEX gh_statuses_by_deployment ON gh_deployment_statuses (deployment_id, created_at);
CREATE INDEX argo_history_by_time ON argo_history (app_uid, deployed_at);
CREATE INDEX pd_incidents_by_created ON pd_incidents (created_at);
CREATE INDEX typeform_by_submitted ON typeform_responses (form_id, submitted_at);
"""
