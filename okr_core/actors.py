"""Who did something: recorded on every audit event, never holding a secret."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    type: str  # "user", "system", "cli", later "api_key", "scim_token"
    id: str | None
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(type="system", id=None, label=label)

    @classmethod
    def cli(cls) -> Actor:
        return cls(type="cli", id=None, label="okr-hub CLI")
