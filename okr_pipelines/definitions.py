"""The ``okr_pipelines`` code location, loaded by ``workspace.yaml``.

Importing this module only builds definitions: no settings are read, no engine is built and no
file is written. ``AppDatabase`` reads the ``OKR_*`` environment when a run or tick starts.
"""

from dagster import Definitions

from okr_pipelines.platform.assets import tenant_directory
from okr_pipelines.resources import AppDatabase
from okr_pipelines.sensors import tenant_partitions_sensor

defs = Definitions(
    assets=[tenant_directory],
    sensors=[tenant_partitions_sensor],
    resources={"app_db": AppDatabase()},
)
