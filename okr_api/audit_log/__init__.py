"""audit log feature."""
