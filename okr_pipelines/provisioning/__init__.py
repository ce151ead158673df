"""Provisioning housekeeping: the daily purge of soft-deleted users whose retention is over."""
