"""ORM classes, one file per aggregate. Importing this package registers every table."""

from okr_core.models.api_key import ApiKey, ApiKeyUsage, ApiRateLimit
from okr_core.models.audit_event import AuditEvent
from okr_core.models.check_in import CheckIn, CheckInSource
from okr_core.models.group import Group, GroupMembership
from okr_core.models.group_role_mapping import GroupRoleMapping
from okr_core.models.identity_link import SCIM_PROVIDER, IdentityLink, UserEmail
from okr_core.models.integration import AuthKind, Integration, Source
from okr_core.models.key_result import Direction, KeyResult, KeyResultStatus
from okr_core.models.kr_binding import KrBinding, Metric
from okr_core.models.notification import Notification
from okr_core.models.objective import Objective, ObjectiveStatus
from okr_core.models.ownership_flag import OwnershipFlag
from okr_core.models.provisioning_settings import DeletionMode, ProvisioningSettings
from okr_core.models.scim_token import ScimToken
from okr_core.models.sync_run import ErrorClass, SyncRun, SyncStatus, SyncTrigger
from okr_core.models.tenant import Tenant, TenantStatus
from okr_core.models.user import User, UserRole
from okr_core.models.webhook_event import WebhookEvent

__all__ = [
    "SCIM_PROVIDER",
    "ApiKey",
    "ApiKeyUsage",
    "ApiRateLimit",
    "AuditEvent",
    "AuthKind",
    "CheckIn",
    "CheckInSource",
    "DeletionMode",
    "Direction",
    "ErrorClass",
    "Group",
    "GroupMembership",
    "GroupRoleMapping",
    "IdentityLink",
    "Integration",
    "KeyResult",
    "KeyResultStatus",
    "KrBinding",
    "Metric",
    "Notification",
    "Objective",
    "ObjectiveStatus",
    "OwnershipFlag",
    "ProvisioningSettings",
    "ScimToken",
    "Source",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "Tenant",
    "TenantStatus",
    "User",
    "UserEmail",
    "UserRole",
    "WebhookEvent",
]
