"""SCIM provisioning throughput, and whether a member add costs the same in any group size.

How the service is driven (all of it on this one machine):

* **Server.** The real app, ``uvicorn okr_api.app:create_app --factory --workers 2 --loop uvloop
  --http httptools`` (one worker per core of this 2-core machine; the event loop and HTTP
  parser named explicitly, so a missing uvloop or httptools fails the run instead of quietly
  measuring asyncio and h11), on a fresh PostgreSQL database, logging in as the application
  role (row-level security on), with a tenant and a SCIM token created first.
* **Client.** One process keeping a pool of ``--concurrency`` HTTP/1.1 keep-alive connections
  (8 by default, at most 8) with the standard library's ``http.client``, shared by as many
  threads, so that many requests are in flight, the way Okta and Entra ID provision over
  several connections. Every response's status is checked and its JSON parsed. (Until
  2026-11 the client was one ``httpx.Client``: about 1 ms of CPU per request in this process,
  on the same two cores as the server; ``http.client`` does the same requests for a fraction
  of that. See ``ScimClient``.)
* **Workload** (timed, one phase after the other):

  1. create 10,000 users (POST /Users), up to 8 in flight;
  2. create 100 groups (POST /Groups), up to 8 in flight;
  3. add every user to the group "All employees" with one single-member PATCH each, up to 8
     in flight (the group so grows to 10,000 members).

  Operations per second = 20,100 operations / the three phases' seconds.
* **Latency probe** (not in the throughput): the p50 of a member-add PATCH on a group of 10
  members and on the group of 10,000, **one request in flight** so both are measured alike:
  remove a member unmeasured, add it back measured, interleaving the two groups, 300 each.
* **CPU per request**: CPU seconds of the uvicorn processes, of the bench database's
  PostgreSQL backends (and of every PostgreSQL process, WAL writer and other users'
  backends included), and of this client, over the whole run, divided by every request sent.
  On a shared machine wall-clock figures move with other people's load; these move far less.
* **Statistics.** This cluster runs with autovacuum off; a thread analyzes the provisioning
  tables every 20 s, as autovacuum would (see ``AutovacuumStandIn``).

* **Rounds.** ``--rounds`` (3 by default) whole workloads, each on a fresh database and a fresh
  server, one after the other. This machine's speed moves between minutes (the same code
  measured 380 and 527 operations per second, and 2.0 and 3.1 ms of API CPU per request, on
  one quiet afternoon), so the reported figures are the medians, with every round's beside
  them.

Prints operations per second per phase, the two p50s and the CPU per request for every round,
then one JSON object on the last line with the median round's figures, the median throughput
and p50 ratio, every round's headline figures, the targets (p50 ratio at most 1.5, at least
500 operations per second over the whole workload), "meets_targets" (on the medians) and the
load averages.

    .venv/bin/python bench/scim_provisioning.py [--users 10000] [--groups 100]
        [--workers 2] [--concurrency 8] [--rounds 3]
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
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "OKR_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TARGETS = {"max_p50_ratio": 1.5, "min_ops_per_second": 500.0}
MAX_CONCURRENCY = 8
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
         "--loop", "uvloop", "--http", "httptools",
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


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (Linux /proc)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for each in pids:
        try:
            total += _proc_cpu(each)
        except OSError:
            continue
    return total


def _postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process (the benchmark's backends among them)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not (proc / "comm").read_text().startswith("postgres"):
                continue
            total += _proc_cpu(int(proc.name))
        except OSError:
            continue
    return total


def _backend_cpu(database_url: str, db_name: str) -> dict[int, float]:
    """CPU seconds so far of each backend connected to the bench database, by pid."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (db_name,),
            )
        ]
    cpu: dict[int, float] = {}
    for pid in pids:
        try:
            cpu[pid] = _proc_cpu(pid)
        except OSError:
            continue
    return cpu


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


class ScimClient:
    """A keep-alive pool of up to ``concurrency`` HTTP/1.1 connections (``http.client``), as an
    identity provider's connector keeps, driven by as many threads: up to ``concurrency``
    requests in flight. A request takes an idle connection (or opens one), and gives it back.

    The standard library's client, not httpx: the identity provider's CPU is not the
    product's, but here it shares the server's two cores, and per request ``http.client``
    costs this process a fraction of what ``httpx.Client`` does (whose pool, header models and
    retries are what an SDK needs, not a load generator). Same requests, same headers, same
    checks; a connection idle for ``IDLE_REOPEN_SECONDS`` is reopened rather than reused, so
    no request races the server's keep-alive timeout (uvicorn's is 5 s)."""

    IDLE_REOPEN_SECONDS = 2.0

    def __init__(self, base: str, token: str, concurrency: int) -> None:
        self.concurrency = concurrency
        self.requests = 0
        self._lock = threading.Lock()
        parts = urllib.parse.urlsplit(base.rstrip("/") + "/scim/v2")
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path
        self._headers = {"Authorization": f"Bearer {token}", **HEADERS}
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._opened: list[http.client.HTTPConnection] = []

    def _take(self) -> http.client.HTTPConnection:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                connection, since = self._idle.pop()
                if now - since < self.IDLE_REOPEN_SECONDS:
                    return connection
                connection.close()
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=60)
            self._opened.append(connection)
            return connection

    def request(self, method: str, path: str, expected: int, body: Any = None) -> Any:
        content = json.dumps(body).encode() if body is not None else None
        connection = self._take()
        try:
            connection.request(method, self._prefix + path, body=content, headers=self._headers)
            response = connection.getresponse()
            data = response.read()
        except BaseException:
            connection.close()
            raise
        with self._lock:
            self.requests += 1
            if not response.will_close:
                self._idle.append((connection, time.monotonic()))
        if response.status != expected:
            text = data.decode(errors="replace")[:300]
            raise RuntimeError(f"{method} {path}: {response.status} {text}")
        return json.loads(data) if data else None

    def each(self, count: int, send: Callable[[int], None]) -> float:
        """``send(0) .. send(count - 1)`` with up to ``concurrency`` in flight; seconds taken."""
        indexes = iter(range(count))
        failures: list[BaseException] = []

        def lane() -> None:
            while not failures:
                with self._lock:
                    index = next(indexes, None)
                if index is None:
                    return
                try:
                    send(index)
                except BaseException as error:
                    failures.append(error)

        lanes = [threading.Thread(target=lane) for _ in range(min(self.concurrency, count))]
        started = time.perf_counter()
        for thread in lanes:
            thread.start()
        for thread in lanes:
            thread.join()
        if failures:
            raise failures[0]
        return time.perf_counter() - started

    def close(self) -> None:
        with self._lock:
            for connection in self._opened:
                connection.close()
            self._idle.clear()


def _member_patch(op: str, user_id: str) -> dict[str, Any]:
    if op == "add":
        return {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": user_id}]}]}  # fmt: skip
    return {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{user_id}"]'}]}  # fmt: skip


def _user(index: int) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{index:05d}@bench.example.com",
        "externalId": f"ext-{index}",
        "name": {"givenName": "Bench", "familyName": f"User {index}"},
        "emails": [{"value": f"user{index:05d}@bench.example.com", "type": "work",
                    "primary": True}],
        "active": True,
    }  # fmt: skip


def _probe(
    client: ScimClient, small: str, big: str, user_ids: list[str], probes: int
) -> dict[str, list[float]]:
    """Member-add latency on both groups, one request in flight, interleaved."""
    samples: dict[str, list[float]] = {"small": [], "big": []}
    for index in range(probes):
        for label, group_id in (("small", small), ("big", big)):
            user_id = user_ids[index % 10] if label == "small" else user_ids[-1 - index]
            remove = _member_patch("remove", user_id)
            client.request("PATCH", f"/Groups/{group_id}", 204, remove)
            t0 = time.perf_counter()
            client.request("PATCH", f"/Groups/{group_id}", 204, _member_patch("add", user_id))
            samples[label].append((time.perf_counter() - t0) * 1000)
    return samples


def run(
    base: str, token: str, users: int, groups: int, probes: int, concurrency: int
) -> dict[str, Any]:
    client = ScimClient(base, token, concurrency)
    phases: dict[str, Any] = {}
    user_ids = [""] * users
    group_ids = [""] * groups

    def create_user(index: int) -> None:
        user_ids[index] = client.request("POST", "/Users", 201, _user(index))["id"]

    def create_group(index: int) -> None:
        name = "All employees" if index == 0 else f"Team {index:03d}"
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
        group_ids[index] = client.request("POST", "/Groups", 201, body)["id"]

    big = ""

    def add_member(index: int) -> None:
        client.request("PATCH", f"/Groups/{big}", 204, _member_patch("add", user_ids[index]))

    seconds = client.each(users, create_user)
    phases["create_users"] = _phase("create users", users, seconds)
    seconds = client.each(groups, create_group)
    phases["create_groups"] = _phase("create groups", groups, seconds)
    big = group_ids[0]
    seconds = client.each(users, add_member)
    phases["add_members"] = _phase("add members (1 per PATCH)", users, seconds)
    total_ops = users + groups + users
    total_seconds = sum(p["seconds"] for p in phases.values())

    # A group of 10 members (the probe's add brings it back to 10).
    small = group_ids[1] if groups > 1 else big
    for user_id in user_ids[:10]:
        client.request("PATCH", f"/Groups/{small}", 204, _member_patch("add", user_id))
    samples = _probe(client, small, big, user_ids, probes)
    size_big = len(client.request("GET", f"/Groups/{big}", 200).get("members", []))
    size_small = len(client.request("GET", f"/Groups/{small}", 200).get("members", []))
    requests = client.requests
    client.close()
    p50_small = statistics.median(samples["small"])
    p50_big = statistics.median(samples["big"])
    print(f"member-add p50 (1 in flight): group of {size_small}: {p50_small:.2f} ms, "
          f"group of {size_big}: {p50_big:.2f} ms", flush=True)  # fmt: skip
    overall = total_ops / total_seconds if total_seconds else 0.0
    ratio = p50_big / p50_small if p50_small else float("inf")
    print(f"whole workload: {total_ops} ops in {total_seconds:.1f} s = {overall:.1f} ops/s "
          f"({concurrency} in flight)", flush=True)  # fmt: skip
    return {
        "users": users,
        "groups": groups,
        "concurrency": concurrency,
        "phases": phases,
        "workload_ops": total_ops,
        "workload_seconds": round(total_seconds, 2),
        "ops_per_second": round(overall, 1),
        "member_add_p50_ms_group_of_10": round(p50_small, 3),
        "member_add_p50_ms_group_of_10000": round(p50_big, 3),
        "member_counts": {"small": size_small, "big": size_big},
        "member_add_p95_ms_group_of_10": round(statistics.quantiles(samples["small"], n=20)[-1], 3),
        "member_add_p95_ms_group_of_10000": round(
            statistics.quantiles(samples["big"], n=20)[-1], 3
        ),
        "p50_ratio": round(ratio, 3),
        "requests_sent": requests,
        "targets": TARGETS,
        "meets_targets": ratio <= TARGETS["max_p50_ratio"]
        and overall >= TARGETS["min_ops_per_second"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="SCIM provisioning benchmark.")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--probes", type=int, default=300, help="latency samples per group size")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (own server)")
    parser.add_argument(
        "--concurrency", type=int, default=MAX_CONCURRENCY,
        help=f"requests in flight during the workload (1-{MAX_CONCURRENCY})",
    )  # fmt: skip
    parser.add_argument(
        "--analyze-every", type=float, default=20.0,
        help="seconds between ANALYZEs when the cluster's autovacuum is off",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="whole workloads, each on a fresh database and server; the median is reported",
    )  # fmt: skip
    parser.add_argument("--base-url", help="an already running service (then also --token)")
    parser.add_argument("--token", help="a SCIM token of that service's tenant")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if args.base_url:
        if not args.token:
            parser.error("--base-url needs --token")
        result = run(
            args.base_url, args.token, args.users, args.groups, args.probes, args.concurrency
        )
        print(json.dumps(result))
        return 0

    rounds = [_one_round(args, index + 1, args.rounds) for index in range(args.rounds)]
    result = _summary(rounds)
    print(json.dumps(result))
    return 0


def _one_round(args: argparse.Namespace, index: int, total: int) -> dict[str, Any]:
    """One whole workload on a fresh database and a fresh server."""
    print(f"--- round {index} of {total}", flush=True)
    db_name = f"okr_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    database_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{db_name}"
    env = {
        **os.environ,
        "OKR_DATABASE_URL": database_url,
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
        load_before = os.getloadavg()
        cpu_server, cpu_pg = _cpu_seconds(server.pid), _postgres_cpu_seconds()
        backends_before = _backend_cpu(database_url, db_name)
        cpu_client = time.process_time()
        stand_in = None
        if not _autovacuum_is_on(database_url):
            stand_in = AutovacuumStandIn(database_url, every_seconds=args.analyze_every)
            stand_in.__enter__()
        try:
            result = run(
                f"http://127.0.0.1:{port}",
                token,
                args.users,
                args.groups,
                args.probes,
                args.concurrency,
            )
        finally:
            if stand_in is not None:
                stand_in.__exit__(None, None, None)
        result["autovacuum"] = (
            "on"
            if stand_in is None
            else f"off; analyzed by the bench every {args.analyze_every:g} s ({stand_in.runs} runs)"
        )
        backends_after = _backend_cpu(database_url, db_name)
        backend_seconds = sum(
            cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items()
        )
        requests = result["requests_sent"]
        cpu = {
            "api_server": _cpu_seconds(server.pid) - cpu_server,
            "postgresql_bench_backends": backend_seconds,
            "postgresql_all": _postgres_cpu_seconds() - cpu_pg,
            "client": time.process_time() - cpu_client,
        }
        result["cpu_ms_per_request"] = {k: round(v * 1000 / requests, 3) for k, v in cpu.items()}
        result["load_average"] = {
            "before_1m": round(load_before[0], 2),
            "after_1m": round(os.getloadavg()[0], 2),
            "after_5m": round(os.getloadavg()[1], 2),
        }
        result["cpus"] = os.cpu_count()
        print("CPU ms per request: " + ", ".join(
            f"{k} {v}" for k, v in result["cpu_ms_per_request"].items()))  # fmt: skip
        print(f"load average: {result['load_average']}", flush=True)
        result["server"] = {
            "workers": args.workers,
            "loop": "uvloop",
            "http": "httptools",
            "database": "postgresql",
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return result


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round (by throughput) with every round's headline figures beside it."""
    ordered = sorted(rounds, key=lambda r: r["ops_per_second"])
    median = ordered[len(ordered) // 2]
    ops = round(statistics.median(r["ops_per_second"] for r in rounds), 1)
    ratio = round(statistics.median(r["p50_ratio"] for r in rounds), 3)
    print(
        "rounds (ops/s, p50 ratio): "
        + ", ".join(f"{r['ops_per_second']} / {r['p50_ratio']}" for r in rounds)
        + f"; median {ops} ops/s, p50 ratio {ratio}",
        flush=True,
    )
    return {
        **median,
        "ops_per_second": ops,
        "p50_ratio": ratio,
        "rounds": [
            {
                "ops_per_second": r["ops_per_second"],
                "p50_ratio": r["p50_ratio"],
                "cpu_ms_per_request": r["cpu_ms_per_request"],
                "load_average": r["load_average"],
            }
            for r in rounds
        ],
        "meets_targets": ratio <= TARGETS["max_p50_ratio"] and ops >= TARGETS["min_ops_per_second"],
    }


if __name__ == "__main__":
    sys.exit(main())
