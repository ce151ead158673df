"""One sync cycle for 1,000 tenants (small data each) on this machine: wall time, Dagster runs.

Starts the Jira and GitHub sandboxes in a child process with one site per tenant (so the server
does not share this interpreter), migrates a fresh app database (SQLite by default, PostgreSQL
with ``--postgresql``) and a fresh Dagster instance (SQLite storage under a temporary
``DAGSTER_HOME``), and seeds 1,000 tenants, each with a Jira and a GitHub integration due now
and two key results bound to them. Then one cycle, timed from the sensor tick to the last run's
end, exactly as the daemon would drive it except that runs execute in this process one after
the other (no run-worker process start, which the batching amortises anyway):

  1. ``sync_due_sensor`` is evaluated once: it claims the due integrations and returns one run
     request per source per batch of up to 100 tenants;
  2. each request runs ``sync_batch_job`` (``execute_in_process`` with its run config): sync,
     SQL models, values written back, one materialization per asset per tenant partition.

The first cycle also backfills every key result's history (one check-in per day of the
quarter); a second, steady-state cycle is measured after it (``--cycles 1`` skips it).
Prints one JSON object on its last line with the figures, the targets (under 5 minutes, at
most 20 runs) and "meets_targets" (judged on the first cycle).

    .venv/bin/python bench/sync_fleet.py [--tenants 1000] [--postgresql] [--cycles 2]
        [--profile DIR]

``--breakdown`` adds the first cycle's CPU seconds per phase, measured with ``time.thread_time``
around each call in every thread (cheap, unlike a profiler that inflates Python-heavy code):
the source syncs, the bindings read, the input fingerprints, the landed tables read, the SQL
models, their outputs (Parquet written by older versions; stale ones removed now), the values
write and checks, and the Dagster events of the runs. Phases a version of the code does not
have are left out. ``time.thread_time`` counts the calling thread only: DuckDB's own worker
threads (none now, two before) are not in "SQL models"; compare the process's ``cpu_seconds``.

``--profile DIR`` writes cProfile statistics of the first cycle, in CPU seconds of each thread
(``time.thread_time``: waiting for the GIL, the network or PostgreSQL costs nothing):
``main.prof`` (the sensor, the runs' Dagster event writes) and ``tenants.prof`` (every tenant's
sync in the worker threads, merged), readable with ``python -m pstats``. Profiling slows the
cycle down; steer by the shares, not the seconds. The figures also report this process's CPU
time, so the rest of a cycle's wall time is PostgreSQL, the sandboxes and waiting.

Not a test: figures depend on the machine; nothing asserts them.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dagster import DagsterInstance, SensorResult, build_sensor_context  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from okr_core import key_results, objectives, sync_runner, tenants  # noqa: E402
from okr_core.actors import Actor  # noqa: E402
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work  # noqa: E402
from okr_core.db.migrate import upgrade  # noqa: E402
from okr_core.models import (  # noqa: E402
    AuthKind,
    CheckIn,
    Integration,
    KrBinding,
    Metric,
    Source,
    SyncRun,
    SyncStatus,
)
from okr_core.periods import period_of  # noqa: E402
from okr_core.secrets import CredentialCipher  # noqa: E402
from okr_core.settings import Settings  # noqa: E402
from okr_core.tenancy import tenant_context  # noqa: E402
from okr_pipelines.jobs import sync_batch_job  # noqa: E402
from okr_pipelines.partitions import TENANT_PARTITIONS_NAME  # noqa: E402
from okr_pipelines.resources import AppDatabase  # noqa: E402
from okr_pipelines.sensors import sync_due_sensor  # noqa: E402
from okr_sandboxes import spawn_sandboxes  # noqa: E402

TARGETS = {"cycle_seconds_max": 300.0, "runs_max": 20}
PG_ADMIN_URL = os.environ.get(
    "OKR_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ACTOR = Actor.system("bench")


def seed(settings: Settings, spawned: Any) -> list[uuid.UUID]:
    cipher = CredentialCipher.from_settings(settings)
    factory = make_session_factory(make_engine(settings))
    period = period_of(datetime.now(UTC).date()).name
    due = datetime.now(UTC) - timedelta(minutes=1)
    ids: list[uuid.UUID] = []
    with unit_of_work(factory) as session:
        for jira, github in zip(spawned.jira, spawned.github, strict=True):
            tenant = tenants.create_tenant(session, slug=jira.site, name=f"Tenant {jira.site}")
            ids.append(tenant.id)
            with tenant_context(session, tenant.id):
                objective = objectives.create_objective(
                    session, actor=ACTOR, title="Deliver", period=period
                )
                jira_integration = Integration(
                    source=Source.jira,
                    name="Jira",
                    base_url=jira.base_url,
                    auth_kind=AuthKind.api_token,
                    account=jira.email,
                    credentials_ciphertext=cipher.encrypt({"api_token": jira.api_token}),
                    next_sync_at=due,
                )
                github_integration = Integration(
                    source=Source.github,
                    name="GitHub",
                    base_url=github.base_url,
                    auth_kind=AuthKind.token,
                    account=github.owner,
                    credentials_ciphertext=cipher.encrypt({"token": github.token}),
                    next_sync_at=due,
                )
                session.add_all([jira_integration, github_integration])
                session.flush()
                for title, integration, metric, parameters in (
                    ("Issues", jira_integration, Metric.jira_issue_count, {"jql": "project = ENG"}),
                    (
                        "Merged PRs",
                        github_integration,
                        Metric.github_merged_prs,
                        {"repositories": ["acme/api", "acme/web"]},
                    ),
                ):
                    kr = key_results.create_key_result(
                        session,
                        actor=ACTOR,
                        objective_id=objective.id,
                        title=title,
                        start_value=0,
                        target_value=100,
                    )
                    session.add(
                        KrBinding(
                            key_result_id=kr.id,
                            integration_id=integration.id,
                            metric=metric,
                            parameters=parameters,
                        )
                    )
    return ids


def make_due(settings: Settings, tenant_ids: list[uuid.UUID]) -> None:
    factory = make_session_factory(make_engine(settings))
    with unit_of_work(factory) as session:
        for tenant_id in tenant_ids:
            with tenant_context(session, tenant_id):
                session.execute(
                    update(Integration).values(
                        next_sync_at=datetime.now(UTC) - timedelta(minutes=1)
                    )
                )


def cycle(instance: DagsterInstance, resource: AppDatabase) -> dict[str, Any]:
    started = time.perf_counter()
    cpu_started = time.process_time()
    with build_sensor_context(instance=instance, resources={"app_db": resource}) as context:
        result = sync_due_sensor(context)
    tick = time.perf_counter() - started
    assert isinstance(result, SensorResult), result
    requests = result.run_requests or []
    failed_runs = 0
    run_seconds: list[float] = []
    for request in requests:
        run_started = time.perf_counter()
        outcome = sync_batch_job.execute_in_process(
            run_config=request.run_config,
            instance=instance,
            resources={"app_db": resource},
            tags=request.tags,
            raise_on_error=False,
        )
        run_seconds.append(time.perf_counter() - run_started)
        failed_runs += not outcome.success
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "sensor_tick_seconds": round(tick, 2),
        "runs": len(requests),
        "failed_runs": failed_runs,
        "slowest_run_seconds": round(max(run_seconds, default=0.0), 1),
        "tenants_per_second": 0.0,
    }


def counts(settings: Settings, tenant_ids: list[uuid.UUID]) -> dict[str, int]:
    factory = make_session_factory(make_engine(settings))
    totals = {"sync_runs_succeeded": 0, "sync_runs_failed": 0, "check_ins": 0}
    with unit_of_work(factory) as session:
        for tenant_id in tenant_ids:
            with tenant_context(session, tenant_id):
                totals["sync_runs_succeeded"] += (
                    session.scalar(
                        select(func.count()).where(SyncRun.status == SyncStatus.succeeded)
                    )
                    or 0
                )
                totals["sync_runs_failed"] += (
                    session.scalar(select(func.count()).where(SyncRun.status == SyncStatus.failed))
                    or 0
                )
                totals["check_ins"] += session.scalar(select(func.count(CheckIn.id))) or 0
    return totals


BREAKDOWN_TARGETS = (
    ("sync_runner", "sync_integration", "source syncs (okr_core.extraction)"),
    ("sync_runner", "tenant_specs", "bindings read"),
    ("sync_runner", "compute", "SQL models (DuckDB)"),
    ("sync_runner", "warehouse_sources", "landed tables read"),
    ("sync_runner", "inputs_fingerprint", "input fingerprints"),
    ("sync_runner", "write_table_atomically", "model outputs (Parquet)"),
    ("sync_runner", "_forget_model_outputs", "model outputs (stale ones removed)"),
    ("sync_runner", "write_values", "values write (check-ins)"),
    ("sync_runner", "evaluate", "value checks"),
    ("jobs", "_record", "Dagster materialization events"),
)


@contextmanager
def cpu_breakdown(totals: dict[str, float] | None) -> Iterator[None]:
    """Add each phase's CPU seconds (per thread, summed over threads) to ``totals``."""
    if totals is None:
        yield
        return
    from okr_pipelines import jobs

    modules = {"sync_runner": sync_runner, "jobs": jobs}
    lock = threading.Lock()
    originals: list[tuple[Any, str, Any]] = []

    def wrap(function: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    totals[label] = totals.get(label, 0.0) + time.thread_time() - started

        return timed

    for module_name, name, label in BREAKDOWN_TARGETS:
        module = modules[module_name]
        original = getattr(module, name, None)
        if original is None:  # a phase this version of the code does not have
            continue
        originals.append((module, name, original))
        setattr(module, name, wrap(original, label))
    try:
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


@contextmanager
def profiled(directory: Path | None) -> Iterator[None]:
    """Profile the main thread and, per tenant, the worker threads' ``sync_tenant`` calls."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    original: Callable[..., Any] = sync_runner.sync_tenant
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def sync_tenant(*args: Any, **kwargs: Any) -> Any:
        profile = cProfile.Profile(time.thread_time)
        try:
            return profile.runcall(original, *args, **kwargs)
        finally:
            with lock:
                profiles.append(profile)

    main_profile = cProfile.Profile(time.thread_time)
    sync_runner.sync_tenant = sync_tenant
    main_profile.enable()
    try:
        yield
    finally:
        main_profile.disable()
        sync_runner.sync_tenant = original
        main_profile.dump_stats(str(directory / "main.prof"))
        if profiles:
            merged = pstats.Stats(profiles[0])
            for profile in profiles[1:]:
                merged.add(profile)
            merged.dump_stats(str(directory / "tenants.prof"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--issues", type=int, default=30, help="Jira issues per tenant")
    parser.add_argument("--pulls", type=int, default=12, help="pull requests per tenant")
    parser.add_argument("--postgresql", action="store_true", help="app database on PostgreSQL")
    parser.add_argument("--cycles", type=int, default=2, choices=(1, 2))
    parser.add_argument(
        "--breakdown", action="store_true", help="CPU seconds per phase of the first cycle"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="write cProfile stats of the first cycle here"
    )
    args = parser.parse_args()

    names = [arg for i in range(args.tenants) for arg in ("--tenant", f"fleet-{i:04d}")]
    database = None
    with (
        tempfile.TemporaryDirectory(prefix="okr-bench-fleet-") as directory,
        spawn_sandboxes(
            [*names, "--issues", str(args.issues), "--pulls", str(args.pulls)], timeout=900
        ) as spawned,
    ):
        database_url = ""
        if args.postgresql:
            database = f"okr_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            database_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
        try:
            settings = Settings(
                environment="test", data_dir=Path(directory) / "data", database_url=database_url
            )
            upgrade(settings)
            seed_started = time.perf_counter()
            tenant_ids = seed(settings, spawned)
            seed_seconds = time.perf_counter() - seed_started
            resource = AppDatabase(data_dir=str(settings.data_dir), database_url=database_url)
            dagster_home = Path(directory) / "dagster"
            dagster_home.mkdir()
            with DagsterInstance.from_config(str(dagster_home)) as instance:
                instance.add_dynamic_partitions(
                    TENANT_PARTITIONS_NAME, [str(t) for t in tenant_ids]
                )
                breakdown: dict[str, float] | None = {} if args.breakdown else None
                with profiled(args.profile), cpu_breakdown(breakdown):
                    first = cycle(instance, resource)
                if breakdown is not None:
                    first["cpu_breakdown"] = {k: round(v, 1) for k, v in breakdown.items()}
                after_first = counts(settings, tenant_ids)
                second = None
                if args.cycles == 2:
                    make_due(settings, tenant_ids)
                    second = cycle(instance, resource)
                runs = instance.get_runs_count()
        finally:
            if database is not None:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    for result in (first, second):
        if result is not None:
            result["tenants_per_second"] = round(args.tenants / result["seconds"], 1)
    figures: dict[str, Any] = {
        "tenants": args.tenants,
        "app_database": "postgresql" if args.postgresql else "sqlite",
        "seed_seconds": round(seed_seconds, 1),
        "first_cycle": first,
        "steady_cycle": second,
        "dagster_runs_total": runs,
        **after_first,
    }
    meets = (
        first["seconds"] < TARGETS["cycle_seconds_max"]
        and first["runs"] <= TARGETS["runs_max"]
        and first["failed_runs"] == 0
        and (second is None or (second["seconds"] < TARGETS["cycle_seconds_max"]))
    )
    for key, value in figures.items():
        print(f"{key:22} {value}")
    print(json.dumps({"figures": figures, "targets": TARGETS, "meets_targets": meets}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
