"""``platform/tenants/directory``: each tenant's directory entry, one file per tenant partition.

It is the smallest real per-tenant asset: it proves that a tenant partition can be materialised
from the UI and that the work stays inside the tenant (every count runs in the tenant's context,
so on PostgreSQL row-level security backs the ORM filter).
"""

import json
import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okr_core.errors import NotFound
from okr_core.models import KeyResult, Objective, User
from okr_core.tenancy import tenant_context
from okr_core.tenants import get_tenant
from okr_pipelines.partitions import tenant_partitions
from okr_pipelines.resources import AppDatabase

TENANT_DIRECTORY_KEY = AssetKey(["platform", "tenants", "directory"])


def tenant_file(warehouse_dir: Path, tenant_id: uuid.UUID) -> Path:
    """Where the snapshot of one tenant lives, inside that tenant's warehouse folder."""
    return warehouse_dir / f"tenant={tenant_id}" / "platform" / "tenant.json"


def directory_snapshot(session: Session, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The tenant's name and status with counts of its own users, objectives and key results."""
    tenant = get_tenant(session, tenant_id)
    with tenant_context(session, tenant_id):
        counts = {
            "users": session.scalar(select(func.count(User.id))) or 0,
            "objectives": session.scalar(select(func.count(Objective.id))) or 0,
            "key_results": session.scalar(select(func.count(KeyResult.id))) or 0,
        }
    return {
        "tenant_id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "status": tenant.status.value,
        "counts": counts,
        "snapshot_at": datetime.now(UTC).isoformat(),
    }


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` in one step, so a reader or a crashed rerun never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _tenant_id(partition_key: str) -> uuid.UUID:
    try:
        return uuid.UUID(partition_key)
    except ValueError as exc:
        raise Failure(
            description=f"partition key {partition_key!r} is not a tenant id",
            allow_retries=False,
        ) from exc


@asset(
    key=TENANT_DIRECTORY_KEY,
    group_name="platform",
    partitions_def=tenant_partitions,
    kinds={"python", "json"},
)
def tenant_directory(
    context: AssetExecutionContext, app_db: AppDatabase
) -> MaterializeResult[None]:
    """One JSON document per tenant: slug, name, status and counts of its users, objectives
    and key results, written to ``warehouse/tenant=<id>/platform/tenant.json``.

    Grain: one row (document) per tenant partition. Reruns replace the file, never append.
    """
    tenant_id = _tenant_id(context.partition_key)
    try:
        with app_db.session() as session:
            document = directory_snapshot(session, tenant_id)
    except NotFound as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    path = tenant_file(app_db.settings.warehouse_dir, tenant_id)
    write_json_atomically(path, document)
    counts = document["counts"]
    return MaterializeResult(
        metadata={
            "slug": document["slug"],
            "status": document["status"],
            "users": counts["users"],
            "objectives": counts["objectives"],
            "key_results": counts["key_results"],
            "path": MetadataValue.path(str(path)),
        }
    )
