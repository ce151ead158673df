"""Prepare a Dagster instance directory (``DAGSTER_HOME``) for the demo and local runs.

Pure standard library on purpose: the CLI lives in ``okr_api``, which may import neither Dagster
nor ``okr_pipelines``, yet it has to lay out the instance before starting ``dagster-webserver``
and ``dagster-daemon``. The instance configuration itself is the plain file
``deploy/dagster.yaml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "deploy" / "dagster.yaml"
WORKSPACE_FILE = REPO_ROOT / "workspace.yaml"
INSTANCE_CONFIG = "dagster.yaml"


def prepare_dagster_home(dagster_home: Path, template: Path = DEFAULT_TEMPLATE) -> None:
    """Create ``dagster_home`` and copy ``template`` in as its ``dagster.yaml`` if it has none.

    An existing ``dagster.yaml`` is kept, so an operator's edits survive the next demo start.
    """
    if not template.is_file():
        raise FileNotFoundError(f"Dagster instance template {template} does not exist")
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / INSTANCE_CONFIG
    if not target.exists():
        shutil.copyfile(template, target)
