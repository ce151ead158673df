"""Roles and their order: a higher role can do everything a lower one can."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    viewer = "viewer"
    okr_editor = "okr_editor"
    tenant_admin = "tenant_admin"
    platform_operator = "platform_operator"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """True when this role grants at least what ``other`` grants."""
        return self.rank >= other.rank


_RANKS = {
    Role.viewer: 10,
    Role.okr_editor: 20,
    Role.tenant_admin: 30,
    Role.platform_operator: 40,
}

TENANT_ROLES = (Role.viewer, Role.okr_editor, Role.tenant_admin)


def highest(roles: list[Role] | tuple[Role, ...] | set[Role]) -> Role | None:
    """The highest of several roles, or None when there are none."""
    return max(roles, key=lambda r: r.rank) if roles else None
