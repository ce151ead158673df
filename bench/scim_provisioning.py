"""SCIM provisioning throughput, and whether a member add costs the same in any group size.

Starts the real app under uvicorn on a fresh PostgreSQL database, creates a tenant and a SCIM
token, then drives the workload over HTTP with one client (one keep-alive connection):

  1. create 10,000 users (POST /Users);
  2. create 100 groups (POST /Groups);
  3. add every user to a group with one single-member PATCH each: all into "All employees"
     (which so grows to 10,000 members);
  4. latency probe: the p50 of a member-add PATCH on a group of 10 members and on the group
     of 10,000 (remove a member unmeasured, add it back measured; interleaved, 300 each).

Prints operations per second per phase and the two p50s, then one JSON object on the last line
with the figures, the targets (p50 ratio at most 1.5, at least 500 operations per second over
the whole workload) and "meets_targets".

    .venv/bin/python bench/scim_provisioning.py [--users 10000] [--groups 100] [--workers 1]
    .venv/bin/python bench/scim_provisioning.py --base-url http://host:8000 --token okrscim_...

Not a test: figures depend on the machine; nothing asserts them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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
TARGETS = {"max_p50_ratio": 1.5, "min_ops_per_second": 500.0}
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HEADERS = {"Content-Type": "application/scim+json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(env: dict[str, str]) -> str:
    """Migrate, create the tenant and a SCIM token; return the token."""
    code = r"""
from okr_core import scim_tokens, tenants
from okr_core.actors import Actor
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import upgrade
from okr_core.settings import load_settings
from okr_core.tenancy import tenant_context

settings = load_settings()
upgrade(settings)
engine = make_engine(settings, as_owner=True)
with unit_of_work(make_session_factory(engine)) as session:
    tenant = tenants.create_tenant(session, slug="bench", name="Bench")
    with tenant_context(session, tenant.id):
        _, token = scim_tokens.create_token(
            session, actor=Actor.system("bench"), name="bench",
            secret=settings.secret_key.get_secret_value(),
        )
engine.dispose()
print(token)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True, cwd=ROOT
    )
    return result.stdout.strip().splitlines()[-1]


def _start(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "okr_api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--no-access-log", "--log-level", "warning"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the API did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process (the benchmark's backend among them)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            if not comm.startswith("postgres"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


ANALYZED_TABLES = ("identity_links", "user_emails", "users", "group_memberships")


class AutovacuumStandIn:
    """Analyze the provisioning tables every few seconds while autovacuum is off.

    Production PostgreSQL runs autovacuum, and migration 0004 lowers the analyze thresholds
    of these tables so a first sync is analyzed within a minute. This machine's cluster runs
    with autovacuum off; without statistics the planner takes the tables for tiny and scans a
    tenant's users on every look-up. This thread does what autovacuum would.
    """

    def __init__(self, database_url: str, every_seconds: float) -> None:
        self.url = database_url
        self.every = every_seconds
        self.stop = threading.Event()
        self.runs = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.every):
                for table in ANALYZED_TABLES:
                    conn.execute(f"ANALYZE {table}")
                self.runs += 1

    def __enter__(self) -> AutovacuumStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def _autovacuum_is_on(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return bool(row and row[0] == "on")


def _phase(name: str, ops: int, seconds: float) -> dict[str, Any]:
    rate = ops / seconds if seconds else 0.0
    print(f"{name:<28} {ops:>7} ops  {seconds:8.2f} s  {rate:9.1f} ops/s", flush=True)
    return {"ops": ops, "seconds": round(seconds, 3), "ops_per_second": round(rate, 1)}


class Reply:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ScimClient:
    """One keep-alive HTTP/1.1 connection, as an identity provider's connector keeps; the
    standard library's client, so the client's own cost stays small next to the server's."""

    def __init__(self, base: str, token: str) -> None:
        url = httpx.URL(base)
        self.prefix = url.path.rstrip("/") + "/scim/v2"
        self.connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", **HEADERS}

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        payload = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, self.prefix + path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        return Reply(response.status, response.read())

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, json: Any) -> Reply:
        return self.request("POST", path, json)

    def patch(self, path: str, json: Any) -> Reply:
        return self.request("PATCH", path, json)

    def close(self) -> None:
        self.connection.close()


def _check(response: Reply, expected: int) -> Reply:
    if response.status_code != expected:
        raise RuntimeError(f"{response.status_code} {response.body[:300]!r}")
    return response


def _member_patch(op: str, user_id: str) -> dict[str, Any]:
    if op == "add":
        return {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": user_id}]}]}  # fmt: skip
    return {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{user_id}"]'}]}  # fmt: skip


def run(base: str, token: str, users: int, groups: int, probes: int) -> dict[str, Any]:
    client = ScimClient(base, token)
    phases: dict[str, Any] = {}
    total_ops, total_seconds = 0, 0.0

    started = time.perf_counter()
    user_ids = []
    for index in range(users):
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"user{index:05d}@bench.example.com",
            "externalId": f"ext-{index}",
            "name": {"givenName": "Bench", "familyName": f"User {index}"},
            "emails": [{"value": f"user{index:05d}@bench.example.com", "type": "work",
                        "primary": True}],
            "active": True,
        }  # fmt: skip
        user_ids.append(_check(client.post("/Users", json=body), 201).json()["id"])
    elapsed = time.perf_counter() - started
    phases["create_users"] = _phase("create users", users, elapsed)
    total_ops, total_seconds = total_ops + users, total_seconds + elapsed

    started = time.perf_counter()
    group_ids = []
    for index in range(groups):
        name = "All employees" if index == 0 else f"Team {index:03d}"
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
        group_ids.append(_check(client.post("/Groups", json=body), 201).json()["id"])
    elapsed = time.perf_counter() - started
    phases["create_groups"] = _phase("create groups", groups, elapsed)
    total_ops, total_seconds = total_ops + groups, total_seconds + elapsed

    big = group_ids[0]
    started = time.perf_counter()
    for user_id in user_ids:
        _check(client.patch(f"/Groups/{big}", json=_member_patch("add", user_id)), 204)
    elapsed = time.perf_counter() - started
    phases["add_members"] = _phase("add members (1 per PATCH)", users, elapsed)
    total_ops, total_seconds = total_ops + users, total_seconds + elapsed

    # A group of 10 members (the probe's add brings it back to 10).
    small = group_ids[1] if groups > 1 else big
    for user_id in user_ids[:10]:
        _check(client.patch(f"/Groups/{small}", json=_member_patch("add", user_id)), 204)
    samples: dict[str, list[float]] = {"small": [], "big": []}
    for index in range(probes):
        for label, group_id in (("small", small), ("big", big)):
            user_id = user_ids[index % 10] if label == "small" else user_ids[-1 - index]
            _check(client.patch(f"/Groups/{group_id}", json=_member_patch("remove", user_id)), 204)
            t0 = time.perf_counter()
            _check(client.patch(f"/Groups/{group_id}", json=_member_patch("add", user_id)), 204)
            samples[label].append((time.perf_counter() - t0) * 1000)
    size_big = client.get(f"/Groups/{big}").json().get("members", [])
    size_small = client.get(f"/Groups/{small}").json().get("members", [])
    p50_small = statistics.median(samples["small"])
    p50_big = statistics.median(samples["big"])
    print(f"member-add p50: group of {len(size_small)}: {p50_small:.2f} ms, "
          f"group of {len(size_big)}: {p50_big:.2f} ms", flush=True)  # fmt: skip
    client.close()
    overall = total_ops / total_seconds if total_seconds else 0.0
    ratio = p50_big / p50_small if p50_small else float("inf")
    print(f"whole workload: {total_ops} ops in {total_seconds:.1f} s = {overall:.1f} ops/s")
    return {
        "users": users,
        "groups": groups,
        "phases": phases,
        "workload_ops": total_ops,
        "workload_seconds": round(total_seconds, 2),
        "ops_per_second": round(overall, 1),
        "member_add_p50_ms_group_of_10": round(p50_small, 3),
        "member_add_p50_ms_group_of_10000": round(p50_big, 3),
        "member_counts": {"small": len(size_small), "big": len(size_big)},
        "member_add_p95_ms_group_of_10": round(statistics.quantiles(samples["small"], n=20)[-1], 3),
        "member_add_p95_ms_group_of_10000": round(
            statistics.quantiles(samples["big"], n=20)[-1], 3
        ),
        "p50_ratio": round(ratio, 3),
        "targets": TARGETS,
        "meets_targets": ratio <= TARGETS["max_p50_ratio"]
        and overall >= TARGETS["min_ops_per_second"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="SCIM provisioning benchmark.")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--probes", type=int, default=300, help="latency samples per group size")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (own server)")
    parser.add_argument(
        "--analyze-every", type=float, default=20.0,
        help="seconds between ANALYZEs when the cluster's autovacuum is off",
    )  # fmt: skip
    parser.add_argument("--base-url", help="an already running service (then also --token)")
    parser.add_argument("--token", help="a SCIM token of that service's tenant")
    args = parser.parse_args()
    if args.base_url:
        if not args.token:
            parser.error("--base-url needs --token")
        result = run(args.base_url.rstrip("/"), args.token, args.users, args.groups, args.probes)
        print(json.dumps(result))
        return 0

    db_name = f"okr_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    env = {
        **os.environ,
        "OKR_DATABASE_URL": f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{db_name}",
        "OKR_DATA_DIR": tempfile.mkdtemp(prefix="okr-bench-"),
        "OKR_SECRET_KEY": "bench-secret-" + uuid.uuid4().hex,
        "OKR_ENVIRONMENT": "local",
        "PYTHONPATH": str(ROOT),
    }
    server: subprocess.Popen[bytes] | None = None
    try:
        token = _seed(env)
        port = _free_port()
        server = _start(env, port, args.workers)
        cpu_server, cpu_pg = _cpu_seconds(server.pid), _postgres_cpu_seconds()
        cpu_client = time.process_time()
        database_url = env["OKR_DATABASE_URL"]
        stand_in = None
        if not _autovacuum_is_on(database_url):
            stand_in = AutovacuumStandIn(database_url, every_seconds=args.analyze_every)
            stand_in.__enter__()
        try:
            result = run(f"http://127.0.0.1:{port}", token, args.users, args.groups, args.probes)
        finally:
            if stand_in is not None:
                stand_in.__exit__(None, None, None)
        result["autovacuum"] = (
            "on"
            if stand_in is None
            else f"off; analyzed by the bench every {args.analyze_every:g} s ({stand_in.runs} runs)"
        )
        ops = result["workload_ops"] + 4 * args.probes + 12
        cpu = {
            "api_server": _cpu_seconds(server.pid) - cpu_server,
            "postgresql_all": _postgres_cpu_seconds() - cpu_pg,
            "client": time.process_time() - cpu_client,
        }
        result["cpu_ms_per_request"] = {k: round(v * 1000 / ops, 3) for k, v in cpu.items()}
        result["load_average_1m"] = os.getloadavg()[0]
        print("CPU ms per request: " + ", ".join(
            f"{k} {v}" for k, v in result["cpu_ms_per_request"].items()))  # fmt: skip
        result["server"] = {"workers": args.workers, "database": "postgresql"}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
