"""Throughput of the public API against the framework's and the transfer's limits.

Starts the real app under uvicorn with two workers on a fresh PostgreSQL database, seeds one
tenant with 150 key results and an API key, and drives four requests with wrk (concurrency 32),
all in one run:

  (a) a bare endpoint of the same app (mounted only for the benchmark), small constant body;
  (b) a bare endpoint returning a constant body as large as a 100-row page;
  (c) GET /api/v1/public/key-results?limit=100 with key auth, rate limiting and telemetry;
  (d) the same request answered 304 through If-None-Match.

Prints requests per second, p50 and p99 per variant, the ratios c/b and d/a, and finally one
JSON object on the last line with the figures, the targets and "meets_targets".

    .venv/bin/python bench/api_throughput.py [--seconds 8] [--rounds 3] [--redis] [--no-page-cache]

Not a test: figures depend on the machine; nothing asserts them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "OKR_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TARGETS = {"c_over_b_min": 0.3, "d_over_a_min": 0.4, "c_p99_ms_max": 50.0}
LARGE_BODY_ENV = "OKR_BENCH_LARGE_BODY"
SMALL_BODY = b'{"status":"ok"}'


def bench_app() -> Any:
    """uvicorn factory: the real app plus the two bare endpoints of the benchmark."""
    from fastapi import Response

    from okr_api.app import create_app

    app = create_app()
    large = Path(os.environ[LARGE_BODY_ENV]).read_bytes()

    @app.get("/bench/bare", include_in_schema=False)
    async def bare() -> Response:
        return Response(SMALL_BODY, media_type="application/json")

    @app.get("/bench/bare-large", include_in_schema=False)
    async def bare_large() -> Response:
        return Response(large, media_type="application/json")

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(env: dict[str, str]) -> str:
    """Migrate, create a tenant with 150 key results and a key; return the key."""
    code = r"""
import sys
from okr_core import api_keys, key_results, objectives, tenants
from okr_core.actors import Actor
from okr_core.api_keys import ApiKeyCodec
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import upgrade
from okr_core.settings import load_settings
from okr_core.tenancy import tenant_context

settings = load_settings()
upgrade(settings)
actor = Actor.system("bench")
engine = make_engine(settings, as_owner=True)
with unit_of_work(make_session_factory(engine)) as session:
    tenant = tenants.create_tenant(session, slug="bench", name="Bench")
    with tenant_context(session, tenant.id):
        for o in range(5):
            objective = objectives.create_objective(
                session, actor=actor, title=f"Objective {o}", period="2026-Q4"
            )
            for k in range(30):
                key_results.create_key_result(
                    session, actor=actor, objective_id=objective.id,
                    title=f"Key result {o}.{k} with a realistic title", unit="%",
                    start_value=0, target_value=100, current_value=float(k * 3),
                )
        # The benchmark measures cost, not the limit: lift this tenant's limits.
        api_keys.set_rate_limits(
            session, actor=actor, per_key="100000000/minute", per_tenant="100000000/minute"
        )
        issued = api_keys.create_api_key(
            session, actor=actor, codec=ApiKeyCodec.from_settings(settings),
            name="bench", scopes=["key_results:read"],
        )
engine.dispose()
print(issued.secret)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True, cwd=ROOT
    )
    return result.stdout.strip().splitlines()[-1]


def _wrk(url: str, seconds: int, headers: dict[str, str]) -> dict[str, float]:
    command = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": round(rps, 1),
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
        "bad_responses": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": 1 if errors else 0,
    }


def _latency(output: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        return float("nan")
    value, unit = float(match[1]), match[2]
    return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description="Public API throughput benchmark.")
    parser.add_argument("--seconds", type=int, default=8, help="duration of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the four; medians")
    parser.add_argument("--redis", action="store_true", help="rate-limit counters in Redis")
    parser.add_argument(
        "--no-page-cache",
        action="store_true",
        help="measure (c) with the representation cache off: every page read from PostgreSQL",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk (scripts/system-deps.sh installs it)")
        return 2

    db_name = f"okr_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    data_dir = Path(tempfile.mkdtemp(prefix="okr-bench-"))
    env = {
        **os.environ,
        "OKR_DATABASE_URL": f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{db_name}",
        "OKR_DATA_DIR": str(data_dir),
        "OKR_SECRET_KEY": "bench-secret-" + uuid.uuid4().hex,
        "OKR_ENVIRONMENT": "local",
        "PYTHONPATH": str(ROOT),
    }
    if args.no_page_cache:
        env["OKR_PUBLIC_PAGE_CACHE_MB"] = "0"
    if args.redis:
        env["OKR_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    else:
        env.pop("OKR_REDIS_URL", None)
    server: subprocess.Popen[bytes] | None = None
    try:
        key = _seed(env)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        page_path = "/api/v1/public/key-results?limit=100"
        large_path = data_dir / "large-body.json"
        large_path.write_bytes(b"{}")
        env[LARGE_BODY_ENV] = str(large_path)

        def start() -> subprocess.Popen[bytes]:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bench.api_throughput:bench_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
                 "--no-access-log", "--log-level", "warning"],
                env=env, cwd=ROOT,
            )  # fmt: skip
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        return process
                except httpx.HTTPError:
                    time.sleep(0.1)
            raise RuntimeError("the API did not start")

        # A first start learns the real page, so the bare large body is exactly as large.
        server = start()
        auth = {"Authorization": f"Bearer {key}"}
        page = httpx.get(base + page_path, headers=auth, timeout=10)
        page.raise_for_status()
        large_path.write_bytes(page.content)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        server = start()
        etag = httpx.get(base + page_path, headers=auth, timeout=10).headers["ETag"]
        variants = {
            "a_bare_small": (f"{base}/bench/bare", {}),
            "b_bare_large": (f"{base}/bench/bare-large", {}),
            "c_key_results_page": (base + page_path, auth),
            "d_key_results_304": (base + page_path, {**auth, "If-None-Match": etag}),
        }
        for url, headers in variants.values():  # warm-up
            _wrk(url, 2, headers)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (url, headers) in variants.items():
                runs[name].append(_wrk(url, args.seconds, headers))
        figures = {
            name: {
                "rps": round(statistics.median(r["rps"] for r in results), 1),
                "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 3),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in results), 3),
                "bad_responses": sum(int(r["bad_responses"]) for r in results),
            }
            for name, results in runs.items()
        }
        a, b = figures["a_bare_small"], figures["b_bare_large"]
        c, d = figures["c_key_results_page"], figures["d_key_results_304"]
        ratios = {
            "c_over_b": round(c["rps"] / b["rps"], 3),
            "d_over_a": round(d["rps"] / a["rps"], 3),
        }
        meets = (
            ratios["c_over_b"] >= TARGETS["c_over_b_min"]
            and ratios["d_over_a"] >= TARGETS["d_over_a_min"]
            and c["p99_ms"] < TARGETS["c_p99_ms_max"]
            and all(f["bad_responses"] == 0 for f in figures.values())
        )
        for name, f in figures.items():
            print(
                f"{name:22} {f['rps']:>9.1f} req/s  "
                f"p50 {f['p50_ms']:>7.2f} ms  p99 {f['p99_ms']:>7.2f} ms"
            )
        print(f"c/b = {ratios['c_over_b']}  d/a = {ratios['d_over_a']}")
        result = {
            "machine": {
                "cpus": os.cpu_count(),
                "workers": 2,
                "concurrency": 32,
                "database": "postgresql",
                "rate_limit_storage": "redis" if args.redis else "memory",
                "page_cache": not args.no_page_cache,
                "page_bytes": len(page.content),
                "seconds": args.seconds,
                "rounds": args.rounds,
            },
            "figures": figures,
            "ratios": ratios,
            "targets": TARGETS,
            "meets_targets": meets,
        }
        print(json.dumps(result, sort_keys=True))
        return 0
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
