"""Who is calling: the signed-in user of one tenant, with the role they hold right now."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from okr_core.actors import Actor
from okr_core.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    email: str
    display_name: str
    role: Role

    @property
    def actor(self) -> Actor:
        return Actor(type="user", id=str(self.user_id), label=self.email)

    def can(self, role: Role) -> bool:
        return self.role.includes(role)
