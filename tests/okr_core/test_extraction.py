"""Incremental extraction: only changes are read, crashes repeat without doubling, deleted and
moved issues leave the counts right, new bindings are pulled in full."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pyarrow.compute as pc
import pytest
from sqlalchemy import Engine, select, update

from okr_core.binding_preview import preview_binding
from okr_core.db.engine import make_engine, make_session_factory, unit_of_work
from okr_core.db.migrate import upgrade
from okr_core.extraction import Landing, SyncResult, sync_integration
from okr_core.kr_values import refresh_tenant_values
from okr_core.models import (
    CheckIn,
    ErrorClass,
    Integration,
    KeyResult,
    KrBinding,
    Metric,
    SyncRun,
    SyncStatus,
)
from okr_core.secrets import CredentialCipher
from okr_core.settings import Settings
from okr_core.sources.retry import RetryPolicy
from okr_core.tenancy import tenant_context
from okr_core.warehouse import (
    GITHUB_PULL_REQUESTS,
    JIRA_BINDING_ISSUES,
    JIRA_ISSUES,
    filter_in,
    locked,
    read_table,
    source_dir,
    table_files,
)
from okr_sandboxes import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from tests.okr_core.migration_support import BACKENDS, fresh_database
from tests.okr_core.sources import support

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)
SERVER_INFO = "GET /rest/api/{version}/serverInfo"


@dataclass
class World:
    settings: Settings
    cipher: CredentialCipher
    tenant_id: uuid.UUID

    @functools.cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings)

    @property
    def factory(self) -> Any:
        return make_session_factory(self.engine)

    @property
    def warehouse(self) -> Path:
        return self.settings.warehouse_dir

    def sync(self, integration_id: uuid.UUID, **kwargs: Any) -> SyncResult:
        return sync_integration(
            self.factory,
            tenant_id=self.tenant_id,
            integration_id=integration_id,
            cipher=self.cipher,
            warehouse_dir=self.warehouse,
            retry=FAST_RETRY,
            **kwargs,
        )

    def values(self, as_of: datetime | None = None) -> dict[str, float | None]:
        with unit_of_work(self.factory) as session, tenant_context(session, self.tenant_id):
            refresh_tenant_values(
                session, warehouse_dir=self.warehouse, as_of=as_of or datetime.now(UTC)
            )
            return {kr.title: kr.current_value for kr in session.scalars(select(KeyResult))}

    def check_ins(self) -> int:
        with unit_of_work(self.factory) as session, tenant_context(session, self.tenant_id):
            return len(list(session.scalars(select(CheckIn))))


def new_world(settings: Settings) -> World:
    upgrade(settings)
    world = World(settings, CredentialCipher.from_settings(settings), uuid.uuid4())
    with unit_of_work(world.factory) as session:
        world.tenant_id = support.create_tenant(session, "extraction")
    return world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = new_world(Settings(environment="test", data_dir=tmp_path / "data", database_url=""))
    yield world
    world.engine.dispose()


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A world on SQLite, then on PostgreSQL (a database of its own, dropped after)."""
    with fresh_database(request.param, tmp_path) as settings:
        world = new_world(settings)
        yield world
        world.engine.dispose()


@pytest.fixture
def jira_sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="extraction", issues=400) as sandbox:
        yield sandbox


@pytest.fixture
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="extraction", pulls=500) as sandbox:
        yield sandbox


def setup_jira(world: World, sandbox: JiraSandbox, **bindings: tuple[Metric, str]) -> uuid.UUID:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        integration = support.jira_integration(session, sandbox, cipher=world.cipher)
        for title, (metric, jql) in bindings.items():
            kr = support.create_key_result(session, title=title)
            support.bind(session, key_result=kr, integration=integration, metric=metric, jql=jql)
        return integration.id


def issue_rows(world: World) -> list[dict[str, Any]]:
    return read_table(
        JIRA_ISSUES.path(world.warehouse, world.tenant_id), JIRA_ISSUES.schema
    ).to_pylist()


def live_value(world: World, title: str, as_of: datetime | None = None) -> float | None:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        kr = session.scalars(select(KeyResult).where(KeyResult.title == title)).one()
        binding = session.scalars(select(KrBinding).where(KrBinding.key_result_id == kr.id)).one()
        integration = session.scalars(
            select(Integration).where(Integration.id == binding.integration_id)
        ).one()
        return preview_binding(
            session,
            integration=integration,
            key_result=kr,
            metric=binding.metric,
            parameters=binding.parameters,
            whole_history=binding.whole_history,
            cipher=world.cipher,
            as_of=as_of,
        ).value


def fielded_items(sandbox: JiraSandbox) -> int:
    """Issues served by searches that asked for fields (id-only snapshots excluded)."""
    total = 0
    for entry in sandbox.requests()["recent"]:
        if not entry["path"].endswith("/search/jql"):
            continue
        fields = parse_qs(entry["query"], keep_blank_values=True).get("fields", [""])
        if any(f for f in fields):
            total += entry["items"]
    return total


def test_second_sync_reads_only_the_changed_issues(world: World, jira_sandbox: JiraSandbox) -> None:
    integration_id = setup_jira(
        world, jira_sandbox, engineering=(Metric.jira_issue_count, "project = ENG")
    )
    first = world.sync(integration_id)
    assert first.succeeded, first.message
    landed = len(issue_rows(world))
    assert first.records_read == landed > 50

    keys = [r["issue_key"] for r in issue_rows(world)][:3]
    for key in keys:
        jira_sandbox.update_issue(key, summary=f"changed {key}")
    jira_sandbox.reset_requests()
    second = world.sync(integration_id)
    assert second.succeeded, second.message
    # Only the three changed issues (within the watermark's overlap, maybe a few neighbours)
    # travel with their fields; the rest is one id-only snapshot.
    assert 3 <= fielded_items(jira_sandbox) <= 3 + 5
    assert second.records_read == fielded_items(jira_sandbox)
    rows = {r["issue_key"]: r for r in issue_rows(world)}
    assert len(rows) == landed
    assert all(rows[k]["summary"] == f"changed {k}" for k in keys)

    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        integration = session.scalars(select(Integration)).one()
        assert integration.watermark_at is not None
        assert integration.watermark_at >= max(r["updated_at"] for r in rows.values())
        runs = list(session.scalars(select(SyncRun).order_by(SyncRun.started_at)))
        assert [r.status for r in runs] == [SyncStatus.succeeded, SyncStatus.succeeded]
        assert integration.last_success_at is not None


def test_a_crash_between_landing_and_watermark_repeats_without_doubling(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(
        world, jira_sandbox, engineering=(Metric.jira_issue_count, "project = ENG")
    )
    assert world.sync(integration_id).succeeded
    before_values = world.values()
    jira_sandbox.add_issues(4, project="ENG")
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        watermark = session.scalars(select(Integration.watermark_at)).one()

    def crash(landing: Landing) -> None:
        raise RuntimeError("worker killed after landing")

    with pytest.raises(RuntimeError):
        world.sync(integration_id, after_landing=crash)
    landed_once = len(issue_rows(world))
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        assert session.scalars(select(Integration.watermark_at)).one() == watermark
        assert session.scalars(select(SyncRun.status).order_by(SyncRun.started_at)).all()[-1] == (
            SyncStatus.running
        )

    repeat = world.sync(integration_id)
    assert repeat.succeeded
    assert repeat.records_read >= 4  # the same records again ...
    rows = issue_rows(world)
    assert len(rows) == landed_once  # ... and nothing doubled
    assert len({r["issue_id"] for r in rows}) == len(rows)
    after_values = world.values()
    assert after_values["engineering"] == (before_values["engineering"] or 0) + 4
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        statuses = session.scalars(select(SyncRun.status).order_by(SyncRun.started_at)).all()
        assert statuses == [SyncStatus.succeeded, SyncStatus.failed, SyncStatus.succeeded]
    assert world.check_ins() == world.check_ins()  # values reruns do not add check-ins
    checked = world.check_ins()
    world.values()
    assert world.check_ins() == checked


def test_deleted_and_moved_issues_leave_the_count_right(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(
        world,
        jira_sandbox,
        engineering=(Metric.jira_issue_count, "project = ENG AND statusCategory != Done"),
    )
    assert world.sync(integration_id).succeeded
    before = world.values()["engineering"]
    open_keys = [r["issue_key"] for r in issue_rows(world) if r["status_category_key"] != "done"]
    deleted, moved = open_keys[0], open_keys[1]
    jira_sandbox.delete_issue(deleted)
    jira_sandbox.move_issue(moved, "OPS")
    result = world.sync(integration_id)
    assert result.succeeded, result.message
    assert result.details["queries_reconciled"] == 1  # Jira's count disagreed: ids re-read
    now = datetime.now(UTC)
    assert world.values(now)["engineering"] == (before or 0) - 2
    assert world.values(now)["engineering"] == live_value(world, "engineering", now)
    keys = {r["issue_key"] for r in issue_rows(world)}
    assert deleted not in keys
    assert moved not in keys  # no binding matches it any more: pruned
    members = read_table(
        JIRA_BINDING_ISSUES.path(world.warehouse, world.tenant_id), JIRA_BINDING_ISSUES.schema
    )
    assert members.num_rows == len(keys)


def test_a_binding_added_later_is_pulled_in_full_and_matches_a_live_read(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    # The second binding's JQL is new on the second sync, so it is pulled in full, while the
    # first one is read incrementally (and Jira's count confirms its snapshot).
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    assert world.sync(integration_id).succeeded
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        integration = session.scalars(select(Integration)).one()
        kr = support.create_key_result(session, title="ops")
        support.bind(
            session,
            key_result=kr,
            integration=integration,
            metric=Metric.jira_issue_count,
            jql="project = OPS",
        )
    result = world.sync(integration_id)
    assert result.succeeded
    assert result.details["queries_full"] == 1
    assert result.details["queries_incremental"] == 1
    assert result.details["queries_reconciled"] == 0
    ops = [r for r in issue_rows(world) if r["project_key"] == "OPS"]
    assert ops
    # The incrementally maintained value equals a live, full evaluation of the binding.
    now = datetime.now(UTC)  # one instant for both, even across midnight
    assert world.values(now)["ops"] == live_value(world, "ops", now)


def test_github_second_sync_reads_only_changed_pull_requests(
    world: World, github_sandbox: GitHubSandbox
) -> None:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        integration = support.github_integration(session, github_sandbox, cipher=world.cipher)
        kr = support.create_key_result(session, title="merged")
        support.bind(
            session,
            key_result=kr,
            integration=integration,
            metric=Metric.github_merged_prs,
            repositories=[f"{github_sandbox.owner}/api"],
        )
        integration_id = integration.id
    github_sandbox.reset_requests()
    first = world.sync(integration_id)
    assert first.succeeded, first.message
    full_pages = github_sandbox.requests()["total"]
    assert full_pages >= 2
    before = world.values()["merged"]
    path = GITHUB_PULL_REQUESTS.path(world.warehouse, world.tenant_id)
    total = read_table(path, GITHUB_PULL_REQUESTS.schema).num_rows
    opened = github_sandbox.open_pulls("api", 2)
    number = opened[0]["number"]
    github_sandbox.merge_pull("api", number)
    github_sandbox.reset_requests()
    second = world.sync(integration_id)
    assert second.succeeded
    # One page (newest update first) suffices; only the two changed pull requests (and any
    # inside the watermark's overlap) are kept from it.
    assert github_sandbox.requests()["total"] == 1
    assert 2 <= second.records_read <= 2 + 5
    table = read_table(path, GITHUB_PULL_REQUESTS.schema)
    assert table.num_rows == total + 2
    assert world.values()["merged"] == (before or 0) + 1
    merged = filter_in(table, "number", [str(number)])
    assert merged.num_rows == 0 or pc.all(pc.is_valid(merged.column("merged_at"))).as_py()


def test_a_revoked_token_fails_fast_and_keeps_the_watermark(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    assert world.sync(integration_id).succeeded
    jira_sandbox.set_faults(unauthorized=True)
    jira_sandbox.reset_requests()
    result = world.sync(integration_id)
    assert not result.succeeded
    assert result.error_class is ErrorClass.permanent
    assert "401" in (result.message or "")
    assert jira_sandbox.api_token not in (result.message or "")
    # The first page and Jira's count go out together (the server info stored by the first
    # sync stands in for a request); each is refused once, no retry storm.
    assert jira_sandbox.requests()["by_status"] == {"401": 2}
    assert SERVER_INFO not in jira_sandbox.requests()["by_route"]
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        integration = session.scalars(select(Integration)).one()
        assert integration.last_error_class == "permanent"
        assert integration.last_error_message == result.message


def test_a_small_resync_lands_a_delta_and_a_quiet_one_writes_nothing(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(
        world, jira_sandbox, engineering=(Metric.jira_issue_count, "project = ENG")
    )
    first = world.sync(integration_id)
    assert first.details["issues_landing"] == "rewrite"
    path = JIRA_ISSUES.path(world.warehouse, world.tenant_id)
    base = path.read_bytes()
    key = issue_rows(world)[0]["issue_key"]
    jira_sandbox.update_issue(key, summary="changed once")
    second = world.sync(integration_id)
    assert second.succeeded, second.message
    assert second.details["issues_landing"] == "delta"
    assert second.details["memberships_landing"] == "none"  # nothing entered or left
    assert path.read_bytes() == base  # the 50,000-row file of a real tenant is not rewritten
    assert len(table_files(path)) == 2
    rows = {r["issue_key"]: r for r in issue_rows(world)}
    assert rows[key]["summary"] == "changed once"
    assert len(rows) == first.records_read
    # Nothing changed since: what the watermark's overlap re-reads is not written again.
    third = world.sync(integration_id)
    assert third.records_read >= 1
    assert third.records_written == 0
    assert third.details["issues_landing"] == "none"
    assert len(table_files(path)) == 2
    now = datetime.now(UTC)
    assert world.values(now)["engineering"] == live_value(world, "engineering", now)


def _hold_lock(world: World, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Another writer holding the tenant's Jira folder for ``seconds``."""
    taken = threading.Event()

    def hold() -> None:
        with locked(source_dir(world.warehouse, world.tenant_id, "jira")):
            taken.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(5)
    return thread, taken


def _integration_row(world: World) -> Integration:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        integration = session.scalars(select(Integration)).one()
        session.expunge(integration)
        return integration


def test_a_sync_waits_for_the_one_holding_the_lock_then_syncs(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    holder, _ = _hold_lock(world, 0.5)
    started = time.monotonic()
    result = world.sync(integration_id)
    holder.join()
    assert result.succeeded, result.message
    assert time.monotonic() - started >= 0.45
    assert result.records_read == len(issue_rows(world)) > 0
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        assert session.scalars(select(SyncRun.status)).all() == [SyncStatus.succeeded]


def test_a_sync_that_never_gets_the_lock_records_a_failed_attempt_only(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    holder, _ = _hold_lock(world, 1.0)
    jira_sandbox.reset_requests()
    result = world.sync(integration_id, lock_timeout=0.1)
    holder.join()
    assert not result.succeeded
    assert result.error_class is ErrorClass.transient
    assert "another sync" in (result.message or "")
    assert jira_sandbox.requests()["total"] == 0
    assert issue_rows(world) == []
    row = _integration_row(world)
    assert row.watermark_at is None
    assert row.last_attempt_at == result.started_at
    assert row.last_error_message == result.message
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        assert session.scalars(select(SyncRun.status)).all() == [SyncStatus.failed]


def test_the_schedule_moves_on_only_when_the_sync_was_due(
    world: World, jira_sandbox: JiraSandbox
) -> None:
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    due = world.sync(integration_id)  # never scheduled: due
    row = _integration_row(world)
    assert row.next_sync_at == due.started_at + timedelta(minutes=row.sync_interval_minutes)
    assert row.last_success_at == due.finished_at
    assert row.watermark_at == due.watermark_at is not None

    pressed = datetime.now(UTC) + timedelta(seconds=30)

    def sync_now_pressed(landing: Landing) -> None:
        with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
            session.scalars(select(Integration)).one().next_sync_at = pressed

    world.sync(integration_id, after_landing=sync_now_pressed)
    assert _integration_row(world).next_sync_at == pressed  # stays due

    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        paused = session.scalars(select(Integration)).one()
        paused.is_paused, paused.next_sync_at = True, None
    assert world.sync(integration_id).succeeded
    assert _integration_row(world).next_sync_at is None  # a paused integration keeps none


def _stored_site_info(world: World) -> dict[str, Any] | None:
    return _integration_row(world).site_info


def _set_integration(world: World, **values: Any) -> None:
    with unit_of_work(world.factory) as session, tenant_context(session, world.tenant_id):
        session.execute(update(Integration).values(**values))


def test_the_server_info_is_read_once_a_day_and_again_for_a_new_base_url(
    any_world: World, jira_sandbox: JiraSandbox
) -> None:
    world = any_world
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    assert _stored_site_info(world) is None
    jira_sandbox.reset_requests()
    first = world.sync(integration_id)
    assert first.succeeded, first.message
    assert jira_sandbox.requests()["by_route"][SERVER_INFO] == 1
    stored = _stored_site_info(world)
    assert stored is not None
    checked_at = datetime.fromisoformat(stored.pop("checked_at"))
    assert stored == {
        "base_url": jira_sandbox.base_url,
        "deploymentType": "Cloud",
        "versionNumbers": [1001, 0, 0],
    }
    assert checked_at.utcoffset() == timedelta(0)
    assert first.started_at <= checked_at <= first.finished_at

    # Within the day: the stored answer stands in for the request, and stays as it was.
    before = _stored_site_info(world)
    jira_sandbox.reset_requests()
    second = world.sync(integration_id)
    assert second.succeeded, second.message
    assert SERVER_INFO not in jira_sandbox.requests()["by_route"]
    assert second.requests == jira_sandbox.requests()["total"]
    assert _stored_site_info(world) == before

    # The base URL changed (the same site under another name): read again, stored for it.
    other_url = jira_sandbox.base_url.replace("127.0.0.1", "localhost")
    _set_integration(world, base_url=other_url)
    jira_sandbox.reset_requests()
    third = world.sync(integration_id)
    assert third.succeeded, third.message
    assert jira_sandbox.requests()["by_route"][SERVER_INFO] == 1
    after = _stored_site_info(world)
    assert after is not None
    assert after["base_url"] == other_url
    assert datetime.fromisoformat(after["checked_at"]) >= third.started_at


def test_a_day_old_server_info_is_read_again_even_when_the_sync_then_fails(
    any_world: World, jira_sandbox: JiraSandbox
) -> None:
    world = any_world
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    assert world.sync(integration_id).succeeded
    old = _stored_site_info(world)
    assert old is not None
    old["checked_at"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    _set_integration(world, site_info=old)
    jira_sandbox.set_faults(server_errors=1.0, error_statuses=(502,), paths=("search/jql",))
    jira_sandbox.reset_requests()
    failed = world.sync(integration_id)
    assert not failed.succeeded
    assert failed.error_class is ErrorClass.transient
    assert jira_sandbox.requests()["by_route"][SERVER_INFO] == 1
    renewed = _stored_site_info(world)
    assert renewed is not None
    assert failed.started_at <= datetime.fromisoformat(renewed["checked_at"]) <= failed.finished_at


def test_a_base_url_moved_to_a_site_that_is_not_cloud_is_refused_and_nothing_stored(
    any_world: World, jira_sandbox: JiraSandbox
) -> None:
    world = any_world
    server = jira_sandbox.add_site(
        seed="extraction-server",
        issues=10,
        deployment_type="Server",
        email=jira_sandbox.email,
        api_token=jira_sandbox.api_token,
    )
    integration_id = setup_jira(world, jira_sandbox, eng=(Metric.jira_issue_count, "project = ENG"))
    assert world.sync(integration_id).succeeded
    cloud = _stored_site_info(world)
    _set_integration(world, base_url=server.base_url)  # the same credentials, another site
    result = world.sync(integration_id)
    assert not result.succeeded
    assert "not Jira Cloud" in (result.message or "")
    assert server.requests()["by_route"][SERVER_INFO] == 1
    assert _stored_site_info(world) == cloud  # it names the old URL: never trusted for this one
