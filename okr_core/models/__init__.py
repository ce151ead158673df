"""ORM classes, one file per aggregate. Importing this package registers every table."""

from okr_core.models.audit_event import AuditEvent
from okr_core.models.check_in import CheckIn, CheckInSource
from okr_core.models.group import Group, GroupMembership
from okr_core.models.key_result import Direction, KeyResult, KeyResultStatus
from okr_core.models.objective import Objective, ObjectiveStatus
from okr_core.models.tenant import Tenant, TenantStatus
from okr_core.models.user import User, UserRole

__all__ = [
    "AuditEvent",
    "CheckIn",
    "CheckInSource",
    "Direction",
    "Group",
    "GroupMembership",
    "KeyResult",
    "KeyResultStatus",
    "Objective",
    "ObjectiveStatus",
    "Tenant",
    "TenantStatus",
    "User",
    "UserRole",
]
