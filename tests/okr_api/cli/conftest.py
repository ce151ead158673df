"""CLI fixtures: ``okr-hub`` invoked in-process against a fresh SQLite data directory."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from okr_api.cli.main import app
from okr_core.settings import Settings

Invoke = Callable[..., Result]


@pytest.fixture
def cli_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings equal to what the CLI reads from the environment set by ``okr_hub``."""
    return Settings(data_dir=tmp_path_factory.mktemp("cli-data"), database_url="")


@pytest.fixture
def okr_hub(cli_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``okr-hub ARGS`` with OKR_DATA_DIR pointing at an empty directory (embedded SQLite)."""
    monkeypatch.setenv("OKR_DATA_DIR", str(cli_settings.data_dir))
    monkeypatch.setenv("OKR_DATABASE_URL", "")
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


@pytest.fixture
def migrated(okr_hub: Invoke) -> Invoke:
    result = okr_hub("db", "upgrade")
    assert result.exit_code == 0, result.output
    return okr_hub
