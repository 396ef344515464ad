"""The sandbox's ground truth: METRICS.md computed the plain way, straight from the world.

The pipeline's marts are compared against this value by value, so it is deliberately simple
Python (stdlib, plus pyarrow only to open Parquet cost exports), reads the world's tables
through :class:`~sandbox.world.store.World`, and shares no code with the product (an
import-linter contract forbids ``models``, ``connectors``, ``pipelines`` and ``dashboard``) nor
with the generator (it reads the tables, never ``sandbox.world.delivery``).

API::

    truth = compute_truth(world, poll_times=None, window_hours=24,
                          production_pattern=r"(^|[-_.])prod(uction)?($|[-_.])",
                          production_envs=("production", "prod"), min_group=5,
                          cost_tag_keys=("backstage.io/component", "service", "app"))
    write_truth(truth, folder)          # CSV files + summary.json
    main_truth(["--scale", "small", "--out", "DIR"])   # the `python -m sandbox truth` hook

Interpretations (where METRICS.md is silent; METRICS.md wins wherever it speaks):

Clock and collection window
  1. Only what exists at ``world.now`` counts: commits, PRs, deployments, statuses, incidents
     with their time <= now; an incident is resolved only if ``resolved_at <= now``
     (acknowledged if ``acknowledged_at <= now``, else triggered).
  2. Collection starts at ``meta.history_start`` (a date, 00:00 UTC): commits with
     ``committer_date >=`` it, PRs merged ``>=`` it, deployments finished ``>=`` it, incidents
     created ``>=`` it, survey responses submitted ``>=`` it, cost rows whose
     ``ChargePeriodStart >=`` it. Cost rows count only while ``ChargePeriodStart < now``.

Spine
  3. Service = Backstage Component, identified by ``component:default/<name>``; team = its owner
     as ``group:default/<name>``. The world's own ``service`` columns are never read.
  4. Mapping only through annotations: ``github.com/project-slug`` = repo ``full_name``
     (case-insensitive); ``argocd/app-name`` = app ``metadata.name`` (exact) or
     ``argocd/app-selector`` = equality requirements ``k=v[,k=v]`` all matching the app's labels
     (set-based/negative selectors match nothing); ``pagerduty.com/service-id`` = PD service id.
     A record claimed by several components goes to the first by entity ref.
  5. Unmapped records are counted per source in ``Truth.unmapped`` (ids in ``unmapped_ids``):
     ``argocd_apps`` (apps created by now that no component maps), ``argocd_history``
     (their observed entries deployed in the window), ``github_repos``, ``github_deployments``
     (production, successful, in the window, of unmapped repos), ``github_skipped_argocd``
     (GitHub deployments of services Argo CD deploys, ignored per METRICS.md §2),
     ``pagerduty_services``, ``pagerduty_incidents`` (created in the window).

Argo CD observation
  6. The API shows, at poll time ``t``, only apps with ``created_at <= t < deleted_at`` and of
     each only the last ``spec.revisionHistoryLimit`` (default 10) entries, by id, among those
     with ``deployed_at <= t``. What was observed is the union over ``poll_times`` (default:
     every day 06:00 UTC from history_start to now, plus now). Polls after now are refused.
  7. Entries deployed in [history_start, last poll] that no poll saw are ``lost_history`` (per
     app uid). A *gap* is a poll whose lowest id is > the highest id seen by earlier polls + 1
     (per uid; the first poll that sees anything cannot gap).

Deployments
  8. Production: an Argo CD app whose name or ``spec.destination.namespace`` matches the pattern
     (``re.search``); a GitHub deployment whose environment is in ``production_envs``
     (case-insensitive) and whose latest status as of now (max ``created_at``, then max id) is
     ``success``.
  9. GitHub deployments count only for services with no mapped production Argo CD app
     (METRICS.md §2 "for services not deployed by Argo CD").
  10. Argo CD: ``started_at = deployStartedAt``, ``finished_at = deployedAt``, environment = app
      name (a recreated app keeps its name, so both uids are one environment), id
      ``argocd:<uid>:<history id>``. GitHub: ``started_at`` = deployment ``created_at``,
      ``finished_at`` = the success status's ``created_at``, environment = the environment
      name as written, id ``github:<repo full_name>:<deployment id>``.
  11. Self-heal collapse: consecutive *observed* entries of one uid (by id) with the same
      ``revision`` (or the same ``revisions`` list for multi-source apps) are one deployment,
      the first entry. Collapse runs over everything observed before the window filter.
  12. Resolved revision: the history revision of the source whose ``repoURL`` is the service's
      repo (``https://github.com/org/name(.git)``, case-insensitive; for multi-source apps the
      ``revisions[i]`` of that source); else the first image tag of the history source(s) —
      kustomize ``images`` entries (the text after the last ``:`` of the last ``/`` segment),
      then the Helm parameter ``image.tag`` — that is 7-40 lowercase hex and a prefix of exactly
      one commit sha of the service's repo that Paved collected, i.e. that the default branch's
      commits listing returns from history_start to now: reachable, ``committer_date`` in
      [history_start, now], a pull request's commit once that PR is merged. Else unresolved
      (``revision`` NULL), even when the tag names a real commit committed before
      history_start. GitHub: the deployment's ``sha``.
  13. Order of a service's deployments: ``finished_at``, ties by id (prefix, then the number).
      The service's *first observed* deployment is the first in that order, resolved or not.
  14. Rollback: resolved revision a strict ancestor (through all parents) of the resolved
      revision of the previous deployment of the same service and environment; unresolved on
      either side is never a rollback.

Changes and lead time
  15. A change is a PR of the service's repo with ``base_ref`` = the repo's default branch and
      ``merged_at`` in [history_start, now] (``pr:<repo>:<number>``, commit = merge commit
      sha, start = min ``author_date`` of its PR commits, opened = ``created_at``), or a
      reachable commit with no PR (``pr_number`` NULL, the world's truth) and ``committer_date``
      in [history_start, now] (``push:<repo>:<sha>``, start = ``author_date``, ``merged_at`` =
      ``committer_date``, no ``opened_at``). Manifest repos (``kind='manifests'``) have none.
  16. Deployed at: the service's resolved deployments, in order, each *first ship* the commits
      reachable from their revision (all parents) that no earlier one shipped; a change is
      deployed by the deployment that first ships its commit (rollbacks and redeploys ship
      nothing new). Not shipped yet: no deployed_at, no reason, not counted.
  17. Lead time = deployed − start; PR stages: coding = opened − start, review = merged −
      opened, deploy wait = deployed − merged. Excluded changes keep their durations but carry
      ``excluded_reason`` and stay out of counts and quantiles: ``first_observed_deployment``
      (deployed by the first observed deployment; checked first), else ``clock_skew`` (lead
      time or any stage negative).

Failures, recovery, rework (window = ``window_hours``, bounds inclusive)
  18. Incident attribution: to the service's latest deployment (in the order of 13) with
      ``finished_at <= created_at``, if ``created_at − finished_at <= window``; else none.
  19. Failed, reason = the first that holds of: ``incident`` (an incident is attributed);
      ``rollback`` (the next deployment of the same service and environment is a rollback
      finishing within the window after this one); ``revert`` (a later deployment of the same
      service, any environment, finishing within the window first ships a commit whose message
      has ``This reverts commit <hex>`` where ``<hex>`` (7-40, a prefix) matches a commit this
      deployment first shipped).
  20. Recovery: with attributed incidents, max(resolved_at) − finished_at once all are resolved
      at now, else NULL (still open); otherwise the finish of the rollback deployment / the
      first reverting deployment − finished_at.
  21. Rework (first reason recorded): ``rollback``; ``revert`` (first ships a commit whose message
      contains ``This reverts commit``); ``incident_open`` (started while an incident of the
      service was open: ``created_at <= started_at < resolved_at``, or unresolved at now).
  22. Incidents: PD incidents mapped to a service; ``resolved_at`` is the world's (legacy
      incidents are served without it and ``last_status_change_at`` carries the same moment);
      ``time_to_restore_s`` for resolved ones only.

Monthly metrics
  23. UTC calendar months from history_start's month to now's month for every service (every
      component, deployed or not), every owning team, and the org (= mapped services only),
      zero-filled: counts 0, ``deploys_per_day`` 0.0, medians and rates NULL.
  24. Deployments, failures, recovery and rework by ``finished_at``; changes (only those that
      count for lead time) by ``deployed_at``; incidents by ``created_at``. ``deploys_per_day``
      divides by all days of the month, even a partial first or current one. Quantiles are
      interpolated (numpy ``linear`` = DuckDB ``quantile_cont``: ``lo + (hi − lo) · frac`` at
      position ``q · (n − 1)``); compare with a relative tolerance (float rounding).
      ``recovery_p50_s`` is over the month's failed deployments that have a recovery;
      ``mttr_p50_s``/``mttr_mean_s`` over its resolved incidents.

Surveys
  25. Responses: ``survey_truth`` rows submitted in [history_start, now]; Typeform ones only once
      the API lists them (``typeform_responses.visible_at <= now``).
  26. Respondent team: the catalog user's team found by email (case-insensitive), else the
      answered team (``survey_truth.team``, matched to a Group by name or display name); no
      team: org only. Scored questions only (``likert5`` and ``nps``, by the config's scales:
      ``ease_of_start``, ``platform_satisfaction`` likert5, ``platform_nps`` nps); answers out
      of range or skipped are ignored for the scores.
  27. A row per quarter × scope × scored key: the org (``scope_id`` ``org``, invited = all
      catalog users) and each team with at least one respondent (invited = its catalog members;
      a team with no respondents has no row and never counts as suppressed). ``respondents`` =
      the scope's respondents in the quarter; ``response_rate`` = respondents ÷ invited (may
      exceed 1 with contractors); ``mean_score``, ``top2box`` (share of 4-5) for likert5;
      ``enps`` = %9-10 − %0-6 in points for nps.
  28. Anonymity: a team with < ``min_group`` respondents is suppressed; if exactly one team is
      suppressed in the quarter, the team with the fewest respondents among the others (ties
      by ref) is too; the org is suppressed below ``min_group``. Suppressed rows keep
      respondents/invited/response_rate and NULL mean_score, top2box, enps and delta_prev.
  29. ``delta_prev`` = value (mean_score, or enps) − the same scope and key's value in the
      previous calendar quarter; NULL when either is missing or suppressed.

Cost
  30. FOCUS files are ``world.files('focus')`` (CSV read as text, Parquet via pyarrow).
      Allocation: the first key of ``cost_tag_keys`` whose value names a component (name or
      entity ref, case-insensitive) -> that service and its owner; else a ``team`` tag naming a
      Group (name or display name) -> team only; else unallocated (service and team NULL).
  31. Sums per ``ChargePeriodStart``'s UTC date × (service, team) × ``BillingCurrency`` as
      ``Decimal``: CSV amounts as written, Parquet doubles by their shortest repr, empty as 0.
      Currencies are never added together.
  32. Cost per deployment: a service's effective cost in a month and currency ÷ its deployments
      that month (exact Decimal quotient, 28 significant digits); NULL without deployments.

Output ids: changes ``pr:<repo>:<n>`` / ``push:<repo>:<sha>``; satisfaction org ``scope_id``
``org``. Everything is sorted, so the same world and clock give byte-identical files.
"""

from sandbox.truth.cli import main_truth
from sandbox.truth.compute import Truth, compute_truth
from sandbox.truth.export import write_truth

__all__ = ["Truth", "compute_truth", "main_truth", "write_truth"]
