"""The webhook tests share the integration tests' fixtures (app, worlds, clients)."""

from tests.okr_api.integrations.conftest import (
    _cheap_password_hashing,
    app,
    cipher,
    world_a,
    world_b,
)

__all__ = ["_cheap_password_hashing", "app", "cipher", "world_a", "world_b"]
