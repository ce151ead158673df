"""The webhook tests share the integration tests' fixtures (app, worlds, clients)."""

from tests.okr_api.integrations.conftest import app, cipher, world_a, world_b

__all__ = ["app", "cipher", "world_a", "world_b"]
