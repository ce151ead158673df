"""/api/v1 integrations, their status, and the binding of key results to source metrics.

Who may do what:

* tenant admins connect, reconfigure, pause, sync, test, rotate the webhook secret of and
  disconnect integrations;
* OKR editors (and admins) read integrations and their status (never credentials) and bind key
  results, with a preview, since binding is part of writing OKRs;
* viewers read a key result's binding and the lineage of its automated check-ins, but not the
  integrations themselves.

Every route needs a signed-in user (401 otherwise) and cookie-authenticated writes the CSRF
token; other organisations' ids answer 404 exactly like ids that do not exist. Credentials are
write-only: no answer, log line, audit entry or error message carries them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from okr_api.auth.csrf import csrf_protect
from okr_api.auth.dependencies import Editor, TenantAdmin, current_principal
from okr_api.database import SessionDep
from okr_api.integrations.bindings import router as bindings_router
from okr_api.integrations.schemas import (
    ConnectionTestRead,
    IntegrationCreate,
    IntegrationCreated,
    IntegrationRead,
    IntegrationStatusRead,
    IntegrationUpdate,
    Page,
    WebhookSecretIssued,
    problem_responses,
)
from okr_api.integrations.service import (
    CipherDep,
    integration_read,
    secret_issued,
    test_connection,
)
from okr_core import integration_status, integrations

router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(current_principal), Depends(csrf_protect)]
)
integrations_router = APIRouter(prefix="/integrations", tags=["integrations"])

IntegrationId = Annotated[uuid.UUID, Path(description="The integration's id.")]


@integrations_router.get("", operation_id="integration_list", responses=problem_responses(401, 403))
def list_integrations(
    principal: Editor, session: SessionDep, request: Request
) -> Page[IntegrationRead]:
    """The organisation's integrations, by source and name. Credentials are never included."""
    rows = integrations.list_integrations(session)
    return Page(data=[integration_read(request, row) for row in rows])


@integrations_router.post(
    "",
    operation_id="integration_create",
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
)
def create_integration(
    principal: TenantAdmin,
    session: SessionDep,
    cipher: CipherDep,
    request: Request,
    response: Response,
    body: IntegrationCreate,
) -> IntegrationCreated:
    """Connect Jira or GitHub. The first sync is due at once (unless created paused).

    The answer carries the webhook URL and secret **once**: configure the vendor's webhook with
    them now (or rotate the secret later to get a new one).
    """
    issued = integrations.create_integration(
        session,
        actor=principal.actor,
        cipher=cipher,
        source=body.source.value,
        name=body.name,
        base_url=body.base_url,
        auth_kind=body.auth_kind,
        account=body.account,
        secret=body.secret.get_secret_value(),
        sync_interval_minutes=body.sync_interval_minutes,
        is_paused=body.is_paused,
    )
    response.headers["Location"] = f"/api/v1/integrations/{issued.integration.id}"
    read = integration_read(request, issued.integration)
    return IntegrationCreated(**read.model_dump(), webhook=secret_issued(request, issued))


@integrations_router.get(
    "/status", operation_id="integration_status_list", responses=problem_responses(401, 403)
)
def list_statuses(principal: Editor, session: SessionDep) -> Page[IntegrationStatusRead]:
    """Per integration: last attempt, last success, next scheduled sync, success rates over 24
    hours and 7 days (from sync runs) and the last error with what to fix."""
    statuses = integration_status.integration_statuses(session)
    return Page(data=[IntegrationStatusRead.of(status) for status in statuses])


@integrations_router.get(
    "/{integration_id}",
    operation_id="integration_read",
    responses=problem_responses(401, 403, 404, 422),
)
def read_integration(
    principal: Editor, session: SessionDep, request: Request, integration_id: IntegrationId
) -> IntegrationRead:
    return integration_read(request, integrations.get_integration(session, integration_id))


@integrations_router.patch(
    "/{integration_id}",
    operation_id="integration_update",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def update_integration(
    principal: TenantAdmin,
    session: SessionDep,
    cipher: CipherDep,
    request: Request,
    integration_id: IntegrationId,
    body: IntegrationUpdate,
) -> IntegrationRead:
    """Change the fields sent: the interval, `is_paused` (pause or resume), the name, where and
    how to connect. `secret` replaces the stored credentials; it is never returned."""
    row = integrations.update_integration(
        session,
        actor=principal.actor,
        cipher=cipher,
        integration_id=integration_id,
        changes=body.changes(),
    )
    return integration_read(request, row)


@integrations_router.delete(
    "/{integration_id}",
    operation_id="integration_delete",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
def delete_integration(
    principal: TenantAdmin, session: SessionDep, integration_id: IntegrationId
) -> Response:
    """Disconnect: removes the integration and unbinds its key results (their values and
    check-ins stay)."""
    integrations.delete_integration(session, actor=principal.actor, integration_id=integration_id)
    return Response(status_code=204)


@integrations_router.post(
    "/{integration_id}/sync",
    operation_id="integration_sync_now",
    status_code=202,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def sync_now(
    principal: TenantAdmin, session: SessionDep, request: Request, integration_id: IntegrationId
) -> IntegrationRead:
    """ "Sync now": the integration is due at once and the scheduler starts it within a minute.

    A paused integration answers 409: resume it first.
    """
    row = integrations.request_sync(session, actor=principal.actor, integration_id=integration_id)
    return integration_read(request, row)


@integrations_router.post(
    "/{integration_id}/test",
    operation_id="integration_test",
    responses=problem_responses(401, 403, 404, 422),
)
def test_integration(
    principal: TenantAdmin, session: SessionDep, cipher: CipherDep, integration_id: IntegrationId
) -> ConnectionTestRead:
    """Try the stored settings against the source now. A refused or unreachable source is an
    answer, not an error: `ok` is false and `detail` says what to fix."""
    row = integrations.get_integration(session, integration_id)
    return test_connection(row, cipher)


@integrations_router.post(
    "/{integration_id}/webhook-secret",
    operation_id="integration_webhook_secret_rotate",
    responses=problem_responses(401, 403, 404, 422),
)
def rotate_webhook_secret(
    principal: TenantAdmin,
    session: SessionDep,
    cipher: CipherDep,
    request: Request,
    integration_id: IntegrationId,
) -> WebhookSecretIssued:
    """Issue a new webhook secret, shown only in this answer; the old one stops working."""
    issued = integrations.rotate_webhook_secret(
        session, actor=principal.actor, cipher=cipher, integration_id=integration_id
    )
    return secret_issued(request, issued)


router.include_router(integrations_router)
router.include_router(bindings_router)
