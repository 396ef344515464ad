"""Performance probe (not a test): time deployed-at by ancestry on a synthetic commit graph.

    .venv/bin/python -m bench.ancestry --commits 1000000 --deployments 100000

The graph imitates the worlds Paved sees: per repository a default branch where every fourth
commit is a merge bringing in a two-commit branch, deployments of the head every few commits,
and a few rollbacks to the revision two deployments back. It prints the time of each
step and the rate per million commits, to extrapolate to the enterprise world's size.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime

import polars as pl

from models.metrics.ancestry import build_ancestry, deployed_at_by_ancestry, flag_rollbacks


def _sha(ids: pl.Expr) -> pl.Expr:
    """A 40-digit pseudo-random sha for each integer id (decimal digits are hex digits)."""
    return pl.concat_str(
        ids.hash(1).cast(pl.Utf8).str.zfill(20), ids.hash(2).cast(pl.Utf8).str.zfill(20)
    )


def synthetic(
    commits: int, deployments: int, repos: int, seed: int = 7
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(commits, deployments, services) frames of ``repos`` repositories, built vectorised.

    Per repository: a main line of ``m`` commits where every fourth is a merge commit whose
    second parent ends a two-commit branch forked from the previous main commit (so a third of
    the commits arrive through merges); deployments of the main line every few commits, 3 % of
    them rollbacks to the revision two deployments back.
    """
    m = max(4, round(commits / repos / 1.5))
    per_repo_deploys = max(1, deployments // repos)
    every = max(1, m // per_repo_deploys)
    main = (
        pl.DataFrame({"r": pl.int_range(repos, eager=True)})
        .join(pl.DataFrame({"j": pl.int_range(m, eager=True)}), how="cross")
        .with_columns(
            id=pl.col("r") * m + pl.col("j"),
            merge=(pl.col("j") % 4 == 3),
            q=pl.col("r") * (m // 4 + 1) + pl.col("j") // 4,
        )
    )
    branch_base = repos * m
    b1 = pl.col("q") * 2 + branch_base
    previous = pl.col("id") - 1
    main_rows = main.select(
        "r",
        sha=_sha(pl.col("id")),
        parents=pl.when(pl.col("j") == 0)
        .then(pl.lit([], dtype=pl.List(pl.Utf8)))
        .when(pl.col("merge"))
        .then(pl.concat_list(_sha(previous), _sha(b1 + 1)))
        .otherwise(pl.concat_list(_sha(previous))),
    )
    merges = main.filter(pl.col("merge"))
    branch_rows = pl.concat(
        [
            merges.select("r", sha=_sha(b1), parents=pl.concat_list(_sha(previous))),
            merges.select("r", sha=_sha(b1 + 1), parents=pl.concat_list(_sha(b1))),
        ]
    )
    commits_frame = pl.concat([main_rows, branch_rows]).select(
        repo=pl.format("org/repo-{}", "r"), sha="sha", parents="parents"
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    deploys = (
        main.filter(pl.col("j") % every == every - 1)
        .with_columns(k=pl.int_range(pl.len()).over("r"))
        .with_columns(
            rollback=(pl.col("k") > 2)
            & (pl.col("id").hash(seed) % 100 < 3),  # pseudo-random, reproducible
        )
        .with_columns(
            target=pl.when(pl.col("rollback"))
            .then(pl.col("id") - 2 * every)
            .otherwise(pl.col("id"))
        )
    )
    deployments_frame = deploys.select(
        deployment_id=pl.format("argocd:{}:{}", "r", pl.col("k") + 1),
        service=pl.format("component:default/repo-{}", "r"),
        environment=pl.format("repo-{}-prod", "r"),
        source=pl.lit("argocd"),
        revision=_sha(pl.col("target")),
        started_at=pl.lit(start) + pl.duration(minutes=pl.col("k") * 10 + 1, seconds=pl.col("r")),
        finished_at=pl.lit(start) + pl.duration(minutes=pl.col("k") * 10 + 4, seconds=pl.col("r")),
    )
    services = pl.DataFrame({"r": pl.int_range(repos, eager=True)}).select(
        service=pl.format("component:default/repo-{}", "r"), repo=pl.format("org/repo-{}", "r")
    )
    return commits_frame, deployments_frame, services


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time deployed-at by ancestry.")
    parser.add_argument("--commits", type=int, default=1_000_000)
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--repos", type=int, default=200)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    commits, deployments, services = synthetic(args.commits, args.deployments, args.repos)
    t1 = time.perf_counter()
    cpu1 = time.process_time()
    ancestry = build_ancestry(deployments, commits, services)
    t2 = time.perf_counter()
    shipped = deployed_at_by_ancestry(deployments, commits, services, ancestry=ancestry)
    t3 = time.perf_counter()
    flagged = flag_rollbacks(deployments, commits, services, ancestry=ancestry)
    t4 = time.perf_counter()
    cpu = time.process_time() - cpu1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rollbacks = int(flagged.get_column("is_rollback").sum())
    print(
        f"graph: {commits.height:,} commits, {deployments.height:,} deployments, "
        f"{args.repos} repos (generated in {t1 - t0:.1f} s)"
    )
    print(f"index + first-ship walk: {t2 - t1:.2f} s")
    print(f"shipped frame ({shipped.height:,} rows): {t3 - t2:.2f} s")
    print(f"rollback flags ({rollbacks:,} rollbacks): {t4 - t3:.2f} s")
    total = t4 - t1
    print(f"CPU time of the three steps (all threads): {cpu:.2f} s")
    print(
        f"total {total:.2f} s; {total / commits.height * 1e6:.2f} s per million commits "
        f"(7M commits: ~{total / commits.height * 7e6:.0f} s); peak RSS {peak:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
