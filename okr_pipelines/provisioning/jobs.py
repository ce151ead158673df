"""``purge_expired_users_job``: erase soft-deleted users whose retention period is over.

SCIM ``DELETE`` follows the tenant's policy; under ``soft`` the person is deactivated and kept
for the tenant's retention period (``identity_links.purge_after``), then erased by
:func:`okr_core.deprovisioning.purge_expired`: personal data removed, a pseudonymous tombstone
kept for the audit trail. This job does that for every tenant (suspended ones too: retention is
a promise about personal data, not about access), and ``daily_user_purge_schedule`` runs it
once a day.

Each tenant is purged in its own unit of work bound to that tenant (so PostgreSQL row-level
security applies, and a tenant's erasures commit or roll back together): one tenant's failure
is recorded and the others go on. The run reports counts only, in its logs, its output metadata
and its tags; a failure is reported by tenant id and exception class, never by message, since
a database error can quote the row it failed on (an e-mail address, a name).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dagster import (
    DagsterLogManager,
    Failure,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    in_process_executor,
    job,
    op,
)
from sqlalchemy import select

from okr_core.actors import Actor
from okr_core.deprovisioning import purge_expired
from okr_core.models import Tenant
from okr_core.tenancy import bind_tenant
from okr_pipelines.policies import BATCH_INFRA_RETRY
from okr_pipelines.resources import AppDatabase

PURGE_ACTOR = Actor.system("retention purge")


@dataclass
class PurgeSummary:
    """What one purge run did, in counts and tenant ids only (no personal data)."""

    tenants_checked: int = 0
    users_erased: int = 0
    erased_by_tenant: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # tenant id -> exception class

    def metadata(self) -> dict[str, Any]:
        return {
            "tenants_checked": self.tenants_checked,
            "tenants_with_erasures": len(self.erased_by_tenant),
            "users_erased": self.users_erased,
            "tenants_failed": len(self.failed),
            "erased_by_tenant": MetadataValue.json(self.erased_by_tenant),
            "failed_tenants": MetadataValue.json(
                [{"tenant_id": t, "error_class": c} for t, c in sorted(self.failed.items())]
            ),
        }


def purge_all_tenants(
    app_db: AppDatabase, *, now: datetime, log: DagsterLogManager
) -> PurgeSummary:
    """Purge every tenant in its own unit of work; never stops at a failed tenant."""
    with app_db.session() as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
    summary = PurgeSummary()
    for tenant_id in tenant_ids:
        summary.tenants_checked += 1
        try:
            with app_db.session() as session:
                bind_tenant(session, tenant_id)
                erased = purge_expired(session, actor=PURGE_ACTOR, now=now)
        except Exception as exc:  # one tenant's failure must not stop the others
            summary.failed[str(tenant_id)] = type(exc).__name__
            log.warning(f"tenant {tenant_id}: purge failed ({type(exc).__name__}), rolled back")
            continue
        if erased:
            summary.erased_by_tenant[str(tenant_id)] = erased
            summary.users_erased += erased
            log.info(f"tenant {tenant_id}: erased {erased} user(s) whose retention was over")
    return summary


@op(
    out=Out(Nothing),
    retry_policy=BATCH_INFRA_RETRY,
    tags={"okr/kind": "retention_purge"},
    description=(
        "Erase soft-deleted users whose retention period is over, tenant by tenant, each in "
        "its own transaction."
    ),
)
def purge_expired_users(context: OpExecutionContext, app_db: AppDatabase) -> None:
    summary = purge_all_tenants(app_db, now=datetime.now(UTC), log=context.log)
    metadata = summary.metadata()
    context.instance.add_run_tags(
        context.run_id,
        {
            "okr/users_erased": str(summary.users_erased),
            "okr/tenants_failed": str(len(summary.failed)),
        },
    )
    context.log.info(
        f"checked {summary.tenants_checked} tenant(s): erased {summary.users_erased} user(s) "
        f"in {len(summary.erased_by_tenant)} tenant(s), {len(summary.failed)} tenant(s) failed"
    )
    if summary.failed:
        raise Failure(
            description=(
                f"the purge failed in {len(summary.failed)} of {summary.tenants_checked} "
                "tenant(s); the others were purged"
            ),
            metadata=metadata,
            allow_retries=False,
        )
    context.add_output_metadata(metadata)


@job(
    executor_def=in_process_executor,
    tags={"okr/kind": "retention_purge"},
    description="Erase soft-deleted users whose retention period is over, in every tenant.",
)
def purge_expired_users_job() -> None:
    purge_expired_users()
