"""Every /api/v1 integration and binding endpoint as data, for the access rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from okr_core.roles import Role


@dataclass(frozen=True)
class Ids:
    integration: uuid.UUID
    key_result: uuid.UUID
    github: uuid.UUID


@dataclass(frozen=True)
class Endpoint:
    operation_id: str
    method: str
    path: str  # {integration}, {key_result}
    role: Role  # the lowest role allowed
    body: dict[str, Any] | None = None
    addressed: bool = True  # names a resource by id (so another tenant's id answers 404)
    extra: dict[str, Any] = field(default_factory=dict)

    def url(self, ids: Ids) -> str:
        return self.path.replace("{integration}", str(ids.integration)).replace(
            "{key_result}", str(ids.key_result)
        )

    def request(self, client: TestClient, ids: Ids) -> httpx.Response:
        body = self.body
        if body is not None and body.get("integration_id") == "{github}":
            body = {**body, "integration_id": str(ids.github)}
        return client.request(self.method, self.url(ids), json=body)


CREATE_BODY = {
    "source": "github",
    "name": "Another GitHub",
    "base_url": "https://api.github.com",
    "auth_kind": "token",
    "account": "acme",
    "secret": "ghp_created-through-the-api-secret",
}
BINDING_BODY = {
    "integration_id": "{github}",
    "metric": "github_merged_prs",
    "parameters": {"repositories": ["acme/api"]},
}
INTEGRATIONS = "/api/v1/integrations"
BINDING = "/api/v1/key-results/{key_result}/binding"

ENDPOINTS = [
    Endpoint("integration_list", "GET", INTEGRATIONS, Role.okr_editor, addressed=False),
    Endpoint(
        "integration_create", "POST", INTEGRATIONS, Role.tenant_admin, CREATE_BODY, addressed=False
    ),
    Endpoint(
        "integration_status_list", "GET", f"{INTEGRATIONS}/status", Role.okr_editor, addressed=False
    ),
    Endpoint("integration_read", "GET", f"{INTEGRATIONS}/{{integration}}", Role.okr_editor),
    Endpoint(
        "integration_update",
        "PATCH",
        f"{INTEGRATIONS}/{{integration}}",
        Role.tenant_admin,
        {"sync_interval_minutes": 30},
    ),
    Endpoint("integration_delete", "DELETE", f"{INTEGRATIONS}/{{integration}}", Role.tenant_admin),
    Endpoint(
        "integration_sync_now", "POST", f"{INTEGRATIONS}/{{integration}}/sync", Role.tenant_admin
    ),
    Endpoint("integration_test", "POST", f"{INTEGRATIONS}/{{integration}}/test", Role.tenant_admin),
    Endpoint(
        "integration_webhook_secret_rotate",
        "POST",
        f"{INTEGRATIONS}/{{integration}}/webhook-secret",
        Role.tenant_admin,
    ),
    Endpoint("kr_binding_read", "GET", BINDING, Role.viewer),
    Endpoint("kr_binding_put", "PUT", BINDING, Role.okr_editor, BINDING_BODY),
    Endpoint("kr_binding_delete", "DELETE", BINDING, Role.okr_editor),
    Endpoint("kr_binding_preview", "POST", f"{BINDING}/preview", Role.okr_editor, BINDING_BODY),
]

WRITES = [e for e in ENDPOINTS if e.method != "GET"]
# These reach out to the source; their happy paths run against the sandboxes.
LIVE = {"integration_test", "kr_binding_preview"}
BELOW = {Role.okr_editor: Role.viewer, Role.tenant_admin: Role.okr_editor}
