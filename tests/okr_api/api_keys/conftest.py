"""API key management tests reuse the public API fixtures (keys, data, no background flush)."""

from tests.okr_api.public.conftest import app, public, runtime

__all__ = ["app", "public", "runtime"]
