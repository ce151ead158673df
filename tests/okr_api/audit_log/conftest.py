"""Each request in its own savepoint, so a refused request does not undo the test's setup."""

from tests.okr_api.scim.conftest import app, scim, scim_a, scim_client_for

__all__ = ["app", "scim", "scim_a", "scim_client_for"]
