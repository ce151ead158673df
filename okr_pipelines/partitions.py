"""Partitions shared by every tenant-scoped asset.

Tenants are dynamic partitions keyed by the tenant's id (``str(uuid)``): ids never change, while
slugs can, and Dagster partition keys cannot be renamed. ``tenant_partitions_sensor`` keeps the
set equal to the active tenants in the app database.
"""

from dagster import DynamicPartitionsDefinition

TENANT_PARTITIONS_NAME = "tenant"

tenant_partitions = DynamicPartitionsDefinition(name=TENANT_PARTITIONS_NAME)
