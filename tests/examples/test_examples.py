"""The SDK examples against a live server started here: a full sync that survives 429s by
honouring Retry-After, then an incremental sync that returns only what changed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
KEY_RESULTS = 8

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("examples")]

SEED = r"""
from okr_core import key_results, objectives, tenants
from okr_core.actors import Actor
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import upgrade
from okr_core.settings import load_settings
from okr_core.tenancy import tenant_context

settings = load_settings()
upgrade(settings)
engine = make_engine(settings, as_owner=True)
with unit_of_work(make_session_factory(engine)) as session:
    tenant = tenants.create_tenant(session, slug="examples", name="Examples")
    with tenant_context(session, tenant.id):
        for o in range(2):
            objective = objectives.create_objective(
                session, actor=Actor.cli(), title=f"Objective {o}", period="2026-Q4"
            )
            for k in range(4):
                key_results.create_key_result(
                    session, actor=Actor.cli(), objective_id=objective.id,
                    title=f"KR {o}.{k}", start_value=0, target_value=100,
                )
engine.dispose()
"""

RENAME = r"""
import sys
from sqlalchemy import select
from okr_core import key_results, tenants
from okr_core.actors import Actor
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.models import KeyResult
from okr_core.settings import load_settings
from okr_core.tenancy import tenant_context

engine = make_engine(load_settings(), as_owner=True)
with unit_of_work(make_session_factory(engine)) as session:
    tenant = tenants.get_tenant_by_slug(session, "examples")
    with tenant_context(session, tenant.id):
        kr = session.scalars(select(KeyResult).where(KeyResult.title == sys.argv[1])).one()
        key_results.update_key_result(
            session, actor=Actor.cli(), key_result_id=kr.id, changes={"title": sys.argv[2]}
        )
engine.dispose()
"""


@dataclass
class LiveApi:
    url: str
    env: dict[str, str]

    def new_key(self, name: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "okr_api.cli", "api-keys", "create", "--tenant", "examples",
             "--name", name, "--scope", "key_results:read"],
            env=self.env, capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        return result.stdout.strip().splitlines()[-1]

    def rename(self, title: str, new_title: str) -> None:
        subprocess.run(
            [sys.executable, "-c", RENAME, title, new_title], env=self.env, check=True, cwd=ROOT
        )


def _listening_socket() -> socket.socket:
    """A socket bound by the test and handed to uvicorn (``--fd``): no port can be taken in
    between, and a server answering on the port is certainly ours."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    data_dir = tmp_path_factory.mktemp("examples-api")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OKR_")} | {
        "OKR_DATA_DIR": str(data_dir),
        "OKR_ENVIRONMENT": "test",
        "OKR_SECRET_KEY": "examples-test-secret-key-0123456789",
        # Low enough that a sync of a few pages meets a 429 and must honour Retry-After.
        "OKR_PUBLIC_RATE_LIMIT_PER_KEY": "3/2 seconds",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([sys.executable, "-c", SEED], env=env, check=True, cwd=ROOT)
    sock = _listening_socket()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "okr_api.app:create_app", "--factory",
         "--fd", str(sock.fileno()), "--log-level", "warning"],
        env=env, cwd=ROOT, pass_fds=(sock.fileno(),),
    )  # fmt: skip
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("the API server did not start")
            time.sleep(0.2)
        yield LiveApi(url=url, env=env)
    finally:
        server.terminate()
        server.wait(timeout=30)
        sock.close()


def _run(command: list[str], api: LiveApi, key: str, cwd: Path) -> list[str]:
    env = {**api.env, "OKR_API_URL": api.url, "OKR_API_KEY": key}
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()


def _summary(lines: list[str]) -> tuple[int, int, int]:
    words = lines[-1].replace("(", "").replace(",", "").split()
    assert words[0] == "synced", lines[-1]
    return int(words[1]), int(words[4]), int(words[6])  # changed, pages, retries


def _check_example(
    api: LiveApi,
    tmp_path: Path,
    command: Callable[[Path], list[str]],
    cwd: Path,
    language: str,
    kr_title: str,
) -> None:
    key = api.new_key(f"{language} example")
    state = tmp_path / f"{language}-state.json"
    changed, pages, retries = _summary(_run(command(state), api, key, cwd))
    assert changed == KEY_RESULTS
    assert pages >= KEY_RESULTS // 2
    assert retries >= 1, "the sync never met a 429, so backoff was not exercised"
    assert "updated_since" in json.loads(state.read_text())
    # Incremental: from now on, only the key result renamed after the watermark comes back.
    state.write_text(json.dumps({"updated_since": datetime.now(UTC).isoformat()}))
    time.sleep(0.05)
    api.rename(kr_title, f"renamed by the {language} test")
    lines = _run(command(state), api, key, cwd)
    assert _summary(lines)[0] == 1
    assert lines[0].endswith(f"renamed by the {language} test")


def test_python_example(live_api: LiveApi, tmp_path: Path) -> None:
    folder = EXAMPLES / "python"
    _check_example(
        live_api,
        tmp_path,
        lambda state: [sys.executable, "sync.py", "--state", str(state), "--page-size", "2"],
        folder,
        "python",
        "KR 0.3",
    )


def test_javascript_example(live_api: LiveApi, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    _check_example(
        live_api,
        tmp_path,
        lambda state: [node, "sync.mjs", str(state), "2"],
        EXAMPLES / "js",
        "js",
        "KR 1.2",
    )


def test_go_example(live_api: LiveApi, tmp_path: Path) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain (Debian: golang-go)")
    live_api.env.setdefault("GOCACHE", str(tmp_path / "go-cache"))
    _check_example(
        live_api,
        tmp_path,
        lambda state: [go, "run", ".", str(state), "2"],
        EXAMPLES / "go",
        "go",
        "KR 1.3",
    )
