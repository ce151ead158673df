"""What both extract assets do for one tenant partition (a one-off sync from the UI)."""

import uuid
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue
from sqlalchemy import select

from okr_core.extraction import SyncResult, sync_integration
from okr_core.models import Integration, Source, SyncTrigger
from okr_core.tenancy import tenant_context
from okr_core.warehouse import source_dir
from okr_pipelines.policies import SOURCE_RETRY
from okr_pipelines.resources import AppDatabase


def tenant_id_of(partition_key: str) -> uuid.UUID:
    try:
        return uuid.UUID(partition_key)
    except ValueError as exc:
        raise Failure(
            description=f"partition key {partition_key!r} is not a tenant id",
            allow_retries=False,
        ) from exc


def integrations_of(app_db: AppDatabase, tenant_id: uuid.UUID, source: Source) -> list[uuid.UUID]:
    """The tenant's integrations of one source that are not paused."""
    with app_db.session() as session, tenant_context(session, tenant_id):
        return list(
            session.scalars(
                select(Integration.id)
                .where(Integration.source == source, Integration.is_paused.is_(False))
                .order_by(Integration.created_at, Integration.id)
            )
        )


def sync_metadata(results: list[SyncResult]) -> dict[str, Any]:
    """Per-tenant materialization metadata: counts, watermark, sync runs (never a secret)."""
    watermarks = [r.watermark_at for r in results if r.watermark_at is not None]
    return {
        "integrations": len(results),
        "records_read": sum(r.records_read for r in results),
        "records_written": sum(r.records_written for r in results),
        "requests": sum(r.requests for r in results),
        "transient_retries": sum(r.retries for r in results),
        "watermark_at": max(watermarks).isoformat() if watermarks else "",
        "sync_runs": MetadataValue.json(
            [
                {
                    "sync_run_id": str(r.sync_run_id),
                    "integration_id": str(r.integration_id),
                    "status": r.status.value,
                    **r.details,
                }
                for r in results
            ]
        ),
    }


def failed_integrations(results: list[SyncResult]) -> list[dict[str, Any]]:
    return [
        {
            "integration_id": str(r.integration_id),
            "error_class": r.error_class.value if r.error_class else None,
            "message": r.message,
        }
        for r in results
        if not r.succeeded
    ]


def sync_partition(
    context: AssetExecutionContext, app_db: AppDatabase, source: Source
) -> MaterializeResult[None]:
    """Sync every active integration of ``source`` for the partition's tenant."""
    tenant_id = tenant_id_of(context.partition_key)
    results = [
        sync_integration(
            app_db.factory,
            tenant_id=tenant_id,
            integration_id=integration_id,
            cipher=app_db.cipher,
            warehouse_dir=app_db.settings.warehouse_dir,
            trigger=SyncTrigger.manual,
            retry=SOURCE_RETRY,
            dagster_run_id=context.run.run_id,
        )
        for integration_id in integrations_of(app_db, tenant_id, source)
    ]
    failed = failed_integrations(results)
    if failed:
        raise Failure(
            description="; ".join(str(f["message"]) for f in failed),
            metadata={
                "failed_tenants": MetadataValue.json(
                    [{"tenant_id": str(tenant_id), "integrations": failed}]
                )
            },
            allow_retries=False,
        )
    folder = source_dir(app_db.settings.warehouse_dir, tenant_id, source.value)
    return MaterializeResult(
        metadata={**sync_metadata(results), "path": MetadataValue.path(str(folder))}
    )
