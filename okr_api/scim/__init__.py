"""scim feature."""
