"""Sync throughput of one tenant with 50,000 Jira issues, through the real client and sandbox.

Starts the Jira sandbox in a child process (``python -m okr_sandboxes``, so the server does not
share this interpreter), migrates a fresh SQLite app database and binds one key result to a JQL
matching every issue. Then, in one run:

  (a) baseline: page the same query with plain httpx (same fields, 100 per page), discarding
      the bodies (``okr_sandboxes.bench.page_with_httpx``); measured before and after (b),
      the mean is used;
  (b) full sync: ``okr_core.extraction.sync_integration`` (the ``jira`` client paged by hand,
      records converted, upserted into Parquet, watermark committed): records per second and
      the ratio to (a). Target: at least 0.7;
  (c) 1% of the issues change (500 updates through the sandbox's admin API), then a re-sync:
      its time as a ratio to (b). Target: at most 0.05.

Also reported (not targets): the time to compute and write the key-result values afterwards.
Prints one JSON object on its last line with the figures, the targets and "meets_targets".

    .venv/bin/python bench/sync_throughput.py [--issues 50000] [--changed 0.01]

Not a test: figures depend on the machine; nothing asserts them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from okr_core import key_results, objectives, tenants  # noqa: E402
from okr_core.actors import Actor  # noqa: E402
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work  # noqa: E402
from okr_core.db.migrate import upgrade  # noqa: E402
from okr_core.extraction import sync_integration  # noqa: E402
from okr_core.kr_values import refresh_tenant_values  # noqa: E402
from okr_core.models import AuthKind, Integration, KrBinding, Metric, Source  # noqa: E402
from okr_core.periods import period_of  # noqa: E402
from okr_core.secrets import CredentialCipher  # noqa: E402
from okr_core.settings import Settings  # noqa: E402
from okr_core.sources.jira.client import restrict  # noqa: E402
from okr_core.sources.jira.records import BASE_FIELDS  # noqa: E402
from okr_core.tenancy import tenant_context  # noqa: E402
from okr_sandboxes import JiraSandbox, spawn_sandboxes  # noqa: E402
from okr_sandboxes.bench import page_with_httpx  # noqa: E402

JQL = "project in (ENG, OPS)"
TARGETS = {"full_sync_ratio_to_httpx_min": 0.7, "resync_time_ratio_max": 0.05}
ACTOR = Actor.system("bench")


def seed(settings: Settings, sandbox: JiraSandbox) -> tuple[uuid.UUID, uuid.UUID]:
    cipher = CredentialCipher.from_settings(settings)
    factory = make_session_factory(make_engine(settings))
    with unit_of_work(factory) as session:
        tenant = tenants.create_tenant(session, slug="bench", name="Bench")
        with tenant_context(session, tenant.id):
            objective = objectives.create_objective(
                session,
                actor=ACTOR,
                title="Ship",
                period=period_of(datetime.now(UTC).date()).name,
            )
            kr = key_results.create_key_result(
                session,
                actor=ACTOR,
                objective_id=objective.id,
                title="Issues",
                start_value=0,
                target_value=100_000,
            )
            integration = Integration(
                source=Source.jira,
                name="Jira",
                base_url=sandbox.base_url,
                auth_kind=AuthKind.api_token,
                account=sandbox.email,
                credentials_ciphertext=cipher.encrypt({"api_token": sandbox.api_token}),
            )
            session.add(integration)
            session.flush()
            session.add(
                KrBinding(
                    key_result_id=kr.id,
                    integration_id=integration.id,
                    metric=Metric.jira_issue_count,
                    parameters={"jql": JQL},
                )
            )
        return tenant.id, integration.id


def timed_sync(
    settings: Settings,
    factory: sessionmaker[Session],
    tenant_id: uuid.UUID,
    integration_id: uuid.UUID,
) -> tuple[float, Any]:
    started = time.perf_counter()
    result = sync_integration(
        factory,
        tenant_id=tenant_id,
        integration_id=integration_id,
        cipher=CredentialCipher.from_settings(settings),
        warehouse_dir=settings.warehouse_dir,
    )
    seconds = time.perf_counter() - started
    if not result.succeeded:
        raise SystemExit(f"sync failed: {result.message}")
    return seconds, result


def timed_values(settings: Settings, tenant_id: uuid.UUID) -> float:
    factory = make_session_factory(make_engine(settings))
    started = time.perf_counter()
    with unit_of_work(factory) as session, tenant_context(session, tenant_id):
        refresh_tenant_values(
            session, warehouse_dir=settings.warehouse_dir, as_of=datetime.now(UTC)
        )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=50_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of issues changed")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="okr-bench-sync-") as directory,
        spawn_sandboxes(
            ["--no-github", "--tenant", "bench", "--issues", str(args.issues)], timeout=600
        ) as spawned,
    ):
        sandbox = spawned.jira[0]
        settings = Settings(environment="test", data_dir=Path(directory), database_url="")
        upgrade(settings)
        tenant_id, integration_id = seed(settings, sandbox)
        # One engine for every sync, as a worker process holds one (a fresh engine per sync
        # would also time SQLAlchemy compiling its statements again).
        factory = make_session_factory(make_engine(settings))
        query = restrict(JQL)
        fields = ",".join(BASE_FIELDS)
        page_with_httpx(sandbox, query, fields=fields)  # warm the server's render cache

        before = page_with_httpx(sandbox, query, fields=fields)
        full_seconds, full = timed_sync(settings, factory, tenant_id, integration_id)
        after = page_with_httpx(sandbox, query, fields=fields)
        baseline_rate = (before.issues + after.issues) / (before.seconds + after.seconds)
        full_rate = full.records_read / full_seconds
        values_full = timed_values(settings, tenant_id)

        keys = [f"ENG-{n}" for n in range(1, args.issues + 1)]
        changed = keys[: max(1, int(args.issues * args.changed))]
        for key in changed:
            try:
                sandbox.update_issue(key, summary=f"bench change {key}")
            except RuntimeError:
                continue
        sandbox.reset_requests()
        resync_seconds, resync = timed_sync(settings, factory, tenant_id, integration_id)
        requests = sandbox.requests()
        values_resync = timed_values(settings, tenant_id)

    ratio = full_rate / baseline_rate
    resync_ratio = resync_seconds / full_seconds
    figures = {
        "issues": full.records_read,
        "httpx_discard_issues_per_second": round(baseline_rate),
        "httpx_discard_seconds": round((before.seconds + after.seconds) / 2, 3),
        "full_sync_seconds": round(full_seconds, 3),
        "full_sync_records_per_second": round(full_rate),
        "full_sync_ratio_to_httpx": round(ratio, 3),
        "changed_issues": len(changed),
        "resync_seconds": round(resync_seconds, 3),
        "resync_records_read": resync.records_read,
        "resync_requests": requests["total"],
        "resync_time_ratio": round(resync_ratio, 4),
        "values_after_full_sync_seconds": round(values_full, 3),
        "values_after_resync_seconds": round(values_resync, 3),
    }
    meets = (
        ratio >= TARGETS["full_sync_ratio_to_httpx_min"]
        and resync_ratio <= TARGETS["resync_time_ratio_max"]
    )
    for key, value in figures.items():
        print(f"{key:38} {value}")
    print(json.dumps({"figures": figures, "targets": TARGETS, "meets_targets": meets}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
