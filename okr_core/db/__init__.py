"""Persistence: declarative base, engine and session factories, migrations."""
