"""API key management tests reuse the public API fixtures (keys, data, no background flush)."""

from tests.okr_api.public.conftest import app, okrs_a, okrs_b, public, runtime

__all__ = ["app", "okrs_a", "okrs_b", "public", "runtime"]
