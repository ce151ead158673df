"""The code location loads cleanly, through Dagster's own loader, with no import side effects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from okr_core.dagster_home import WORKSPACE_FILE, prepare_dagster_home
from okr_pipelines.definitions import defs
from okr_pipelines.platform.assets import TENANT_DIRECTORY_KEY
from okr_pipelines.resources import AppDatabase

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).parent / "dagster"


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any OKR_* or DAGSTER_HOME the developer may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKR_") and k != "DAGSTER_HOME"}
    env.update(extra)
    return env


def test_definitions_hold_the_tenant_asset_sensor_and_database() -> None:
    assets = defs.resolve_asset_graph()
    assert assets.get(TENANT_DIRECTORY_KEY).partitions_def is not None
    assert defs.resolve_assets_def(TENANT_DIRECTORY_KEY).group_names_by_key == {
        TENANT_DIRECTORY_KEY: "platform"
    }
    assert defs.resolve_sensor_def("tenant_partitions_sensor").name == "tenant_partitions_sensor"
    assert isinstance((defs.resources or {})["app_db"], AppDatabase)


def test_importing_definitions_reads_no_settings_and_touches_no_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "okr-data"
    dagster_home = tmp_path / "dagster-home"
    env = clean_env(
        # Settings refuse the placeholder secret in production: reading them would raise.
        OKR_ENVIRONMENT="production",
        OKR_DATA_DIR=str(data_dir),
        # Nothing listens on port 1: connecting would fail.
        OKR_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nowhere",
        DAGSTER_HOME=str(dagster_home),
    )
    probe = "import okr_pipelines.definitions as d; d.defs.resolve_all_job_defs()"

    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert not data_dir.exists()
    assert not dagster_home.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dagster_validates_the_workspace(tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster-home"
    prepare_dagster_home(dagster_home)
    env = clean_env(DAGSTER_HOME=str(dagster_home), OKR_DATA_DIR=str(tmp_path / "okr-data"))

    done = subprocess.run(
        [str(DAGSTER), "definitions", "validate", "-w", str(WORKSPACE_FILE)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Validation successful for code location okr_pipelines" in output
    assert not (tmp_path / "okr-data").exists()
