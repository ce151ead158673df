"""ORM classes, one file per aggregate. Importing this package registers every table."""

from okr_core.models.api_key import ApiKey, ApiKeyUsage, ApiRateLimit
from okr_core.models.audit_event import AuditEvent
from okr_core.models.check_in import CheckIn, CheckInSource
from okr_core.models.group import Group, GroupMembership
from okr_core.models.integration import AuthKind, Integration, Source
from okr_core.models.key_result import Direction, KeyResult, KeyResultStatus
from okr_core.models.kr_binding import KrBinding, Metric
from okr_core.models.objective import Objective, ObjectiveStatus
from okr_core.models.sync_run import ErrorClass, SyncRun, SyncStatus, SyncTrigger
from okr_core.models.tenant import Tenant, TenantStatus
from okr_core.models.user import User, UserRole
from okr_core.models.webhook_event import WebhookEvent

__all__ = [
    "ApiKey",
    "ApiKeyUsage",
    "ApiRateLimit",
    "AuditEvent",
    "AuthKind",
    "CheckIn",
    "CheckInSource",
    "Direction",
    "ErrorClass",
    "Group",
    "GroupMembership",
    "Integration",
    "KeyResult",
    "KeyResultStatus",
    "KrBinding",
    "Metric",
    "Objective",
    "ObjectiveStatus",
    "Source",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "Tenant",
    "TenantStatus",
    "User",
    "UserRole",
    "WebhookEvent",
]
