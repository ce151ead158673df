"""The SCIM resources we serve, the policy we read clients' payloads under, and discovery.

``ServiceProviderConfig``, ``ResourceTypes`` and ``Schemas`` are built from the same models
the endpoints validate with, so they cannot drift from what the service really does.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Pagination,
    Patch,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)

ScimUser = User[EnterpriseUser]
ScimGroup = Group

MEDIA_TYPE = "application/scim+json"
ENTERPRISE_URN = str(EnterpriseUser.__schema__)
USER_URN = str(User.__schema__)
GROUP_URN = str(Group.__schema__)

MAX_RESULTS = 200
DEFAULT_PAGE_SIZE = 100
MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_OPERATIONS = 1000
MAX_MEMBERS_PER_REQUEST = 10_000

# How much clients may depart from the RFCs, chosen for what Okta and Entra ID really send:
# unknown attributes and schema URIs are ignored, a remove's value selects the members to
# remove (Entra), and an add on an unmatched filter creates the described value (Entra's
# emails[type eq "work"].value on a user without a work e-mail).
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

SERVICE_PROVIDER_CONFIG = ServiceProviderConfig(
    documentation_uri=None,
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=True),
    etag=ETag(supported=True),
    pagination=Pagination(
        cursor=False,
        index=True,
        default_pagination_method=Pagination.DefaultPaginationMethod.index,
        default_page_size=DEFAULT_PAGE_SIZE,
        max_page_size=MAX_RESULTS,
    ),
    authentication_schemes=[
        AuthenticationScheme(
            type="oauthbearertoken",
            name="Bearer token",
            description=(
                "A SCIM token created by a tenant admin on the Provisioning page (or with "
                "`okr-hub scim-tokens create`), sent as `Authorization: Bearer <token>`."
            ),
            primary=True,
        )
    ],
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[
        ResourceType.from_resource(ScimUser),
        ResourceType.from_resource(Group),
    ],
    config=SERVICE_PROVIDER_CONFIG,
    policy=POLICY,
)

# What filters may name (everything else is refused with invalidFilter). Documented in the
# README; the Schemas endpoint lists every attribute we store and return.
FILTERABLE_USER_ATTRIBUTES = (
    "id",
    "userName",
    "externalId",
    "displayName",
    "active",
    "name.givenName",
    "name.familyName",
    "emails.value",
    "emails.type",
    "emails.primary",
    "groups.value",
    "meta.created",
    "meta.lastModified",
    f"{ENTERPRISE_URN}:employeeNumber",
    f"{ENTERPRISE_URN}:department",
    f"{ENTERPRISE_URN}:manager.value",
)
FILTERABLE_GROUP_ATTRIBUTES = (
    "id",
    "displayName",
    "externalId",
    "members.value",
    "members.display",
    "meta.created",
    "meta.lastModified",
)


def with_location(payload: dict[str, Any], location: str) -> dict[str, Any]:
    meta = dict(payload.get("meta") or {})
    meta["location"] = location
    return {**payload, "meta": meta}
