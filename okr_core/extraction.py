"""Incremental extraction of one integration into its tenant's warehouse folder.

One sync of one integration (:func:`sync_integration`):

1. records the attempt (a ``running`` sync-run row, ``last_attempt_at``) and reads the
   integration's bindings, in a first short transaction;
2. pulls what changed with the vendor's real client (no database transaction open meanwhile);
3. lands it: upsert by record id into the tenant's Parquet files, each replaced atomically;
4. only then, in a second transaction, moves the watermark and records the outcome.

A crash between 3 and 4 leaves the watermark where it was: the next sync pulls the same records
again and the upsert by id makes the repeat harmless (nothing lost, nothing doubled).

**Jira** (bindings hold JQL, which only Jira can evaluate faithfully; bindings sharing a JQL
share its searches): per JQL,

- a JQL seen for the first time (a new binding, or its JQL or summed field changed: its *scope
  hash*) is searched in full; its result is the binding's membership snapshot;
- otherwise the search is ``(<jql>) AND updated >= <watermark - overlap>``. The membership
  becomes the previous snapshot plus what came back, and Jira's count of the JQL
  (``approximate-count``, one request) must agree with it. If it does not (an issue was
  deleted, moved out of the JQL, or entered it without an update, e.g. through a relative
  date), or at least once a day regardless, the JQL's full id list is read (id-only pages of
  5,000) and replaces the snapshot; issues that entered unseen are fetched by id. Issues no
  binding matches any more are pruned from the file, so counts stay right.

**GitHub** (bindings name repositories): per repository, pull requests ``sort=updated desc``
down to the watermark minus the overlap (a repository seen for the first time in full). Pull
requests of repositories no binding names any more are pruned.

The watermark is the newest ``updated`` time seen, queried with an overlap of five minutes,
because Jira's search is eventually consistent and clocks differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import and_, case, insert, not_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from okr_core.binding_values import BindingSpec, tenant_specs
from okr_core.db_units import unit
from okr_core.models import (
    ErrorClass,
    Integration,
    Source,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from okr_core.secrets import CredentialCipher, CredentialsUnreadable
from okr_core.sources.base import ExtractBatch, SourceConnector
from okr_core.sources.errors import PermanentSourceError, SourceError, TransientSourceError
from okr_core.sources.github.client import GitHubConnector
from okr_core.sources.jira import workers
from okr_core.sources.jira.client import JiraConnector
from okr_core.sources.jira.records import max_updated
from okr_core.sources.jira.workers import Tasks
from okr_core.sources.registry import connector_for
from okr_core.sources.retry import Retrier, RetryPolicy
from okr_core.tenancy import tenant_context
from okr_core.warehouse import (
    GITHUB_PULL_REQUESTS,
    JIRA_BINDING_ISSUES,
    JIRA_ISSUES,
    UpsertResult,
    WarehouseBusy,
    dedupe_last,
    filter_in,
    filter_not_in,
    land_changes,
    locked,
    merge,
    read_recent,
    read_table,
    records_table,
    rows_in,
    same_rows,
    source_dir,
    write_table_atomically,
)

log = logging.getLogger(__name__)

WATERMARK_OVERLAP = timedelta(minutes=5)
LOCK_TIMEOUT = 600.0  # seconds a sync waits for another one of the same tenant and source
# Every JQL's full id list is compared with its snapshot at least this often, even when
# Jira's count agrees with ours (an issue leaving and another entering unseen cancel out).
RECONCILE_EVERY = timedelta(hours=24)
MESSAGE_LIMIT = 1000
# Worker pools (okr_core.sources.jira.workers) of a Jira landing's side work: requests and
# file reads beside the searches, the early searches, and the second file's write.
SIDE, AHEAD, LAND = "jira-side", "jira-ahead", "jira-land"

ConnectorFactory = Callable[[Integration, CredentialCipher, Retrier], SourceConnector]


def _default_connector(
    integration: Integration, cipher: CredentialCipher, retrier: Retrier
) -> SourceConnector:
    # A Jira site's stored serverInfo answer spares the sync that request (for up to a day).
    return connector_for(integration, cipher, retry=retrier, site_info=integration.site_info)


# -- landing ---------------------------------------------------------------------------------


@dataclass
class Landing:
    """What one extraction pulled and wrote."""

    records_read: int = 0
    records_written: int = 0
    max_updated_at: datetime | None = None
    requests: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def add_table(self, table: pa.Table) -> None:
        """Issues one search returned (the watermark's candidates)."""
        self.records_read += table.num_rows
        newest = max_updated(table)
        if newest is not None and (self.max_updated_at is None or newest > self.max_updated_at):
            self.max_updated_at = newest

    def add(self, batch: ExtractBatch) -> None:
        self.records_read += len(batch.records)
        self.requests += batch.requests_made
        if batch.max_updated_at is not None and (
            self.max_updated_at is None or batch.max_updated_at > self.max_updated_at
        ):
            self.max_updated_at = batch.max_updated_at


def scope_hash(spec: BindingSpec) -> str:
    """Changes when what a binding pulls changes (its JQL or summed field)."""
    text = f"{spec.jql or ''}\x1f{spec.field_name or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _collect(batches: Iterable[ExtractBatch], landing: Landing, schema: pa.Schema) -> pa.Table:
    tables = []
    for batch in batches:
        landing.add(batch)
        if batch.records:
            tables.append(records_table(batch.records, schema))
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


def _collect_tables(tables: Iterable[pa.Table], landing: Landing, schema: pa.Schema) -> pa.Table:
    kept = []
    for table in tables:
        landing.records_read += table.num_rows
        landing.requests += 1
        newest = max_updated(table)
        if newest is not None and (
            landing.max_updated_at is None or newest > landing.max_updated_at
        ):
            landing.max_updated_at = newest
        if table.num_rows:
            kept.append(table)
    return pa.concat_tables(kept) if kept else schema.empty_table()


def _ids(table: pa.Table, column: str) -> set[str]:
    return set(table.column(column).to_pylist())


def membership_table(
    integration_id: str, binding_id: str, digest: str, ids: pa.Array, at: datetime
) -> pa.Table:
    count = len(ids)
    schema = JIRA_BINDING_ISSUES.schema
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(integration_id, pa.string()), count),
            pa.repeat(pa.scalar(binding_id, pa.string()), count),
            pa.repeat(pa.scalar(digest, pa.string()), count),
            ids.cast(pa.string()),
            pa.repeat(pa.scalar(at, schema.field("snapshot_at").type), count),
        ],
        schema=schema,
    )


def land_jira(
    connector: JiraConnector,
    specs: Sequence[BindingSpec],
    *,
    warehouse_dir: Path,
    tenant_id: uuid.UUID,
    integration_id: str,
    since: datetime | None,
    now: datetime,
    reconcile_every: timedelta = RECONCILE_EVERY,
    head_start: JiraHeadStart | None = None,
) -> Landing:
    """Land what the integration's JQLs match now (see the module docstring).

    ``head_start``: the summed fields' resolution and the incremental searches, started by
    :func:`start_jira_searches` before the caller's bookkeeping; without it they start here.
    """
    landing = Landing()
    issues_path = JIRA_ISSUES.path(warehouse_dir, tenant_id)
    members_path = JIRA_BINDING_ISSUES.path(warehouse_dir, tenant_id)
    counts = {"full": 0, "incremental": 0, "reconciled": 0}
    fetched: list[pa.Table] = []
    # binding id -> (scope hash, ids now matching or entering, snapshot time, replace?)
    memberships: dict[str, tuple[str, pa.Array, datetime, bool]] = {}
    groups = _jql_groups(specs)

    # Side work runs on the process's worker threads (okr_core.sources.jira.workers); the
    # block ends once all of it has finished.
    with Tasks() as tasks:
        if head_start is None:
            head_start = start_jira_searches(connector, specs, since)
        tasks.adopt(head_start.futures())
        prepared, early = head_start.prepared, head_start.early
        # With a watermark, what the searches pull was updated since ``since`` (unless a JQL
        # turns out to be new): the current versions to compare it with are read first, while
        # the pages travel, then the membership snapshot (needed only once the last page has
        # come). One file after the other on this thread: reading both at once took both
        # cores of a small machine from the server answering the first page.
        recent: pa.Table | None = None
        if since is not None:
            recent = read_recent(issues_path, JIRA_ISSUES.schema, column="updated_at", since=since)
        mine = read_table(
            members_path,
            JIRA_BINDING_ISSUES.schema,
            where={"integration_id": integration_id},
            decode=False,  # binding, scope and time are only compared here
        )
        previous: dict[str, pa.Table | None] = {}
        for jql, group in groups.items():
            known: pa.Table | None = None
            for spec in group:
                rows = _rows_with(mine, "binding_id", spec.binding_id)
                rows = _rows_with(rows, "scope_hash", scope_hash(spec))
                if rows.num_rows == 0 or since is None:
                    known = None
                    break
                if known is None:
                    known = rows
            previous[jql] = known
        numeric = prepared.result()
        # Jira's count of each incrementally read JQL is asked for while the searches run.
        futures: dict[str, Future[int]] = {}
        for jql, rows in previous.items():
            if rows is not None and now - _snapshot_at(rows, now) < reconcile_every:
                futures[jql] = tasks.submit(SIDE, connector.approximate_count, jql)
        for jql, group in groups.items():
            rows = previous[jql]
            if rows is not None and jql in early:
                pulled = early[jql].result()
            else:
                pulled = connector.search_table(jql, numeric=numeric)
            landing.add_table(pulled)
            fetched.append(pulled)
            pulled_ids = pc.unique(pulled.column("issue_id"))
            replace, reconciled_at = True, now
            if rows is None:
                counts["full"] += 1
                matching = pulled_ids
            else:
                counts["incremental"] += 1
                previous_ids = rows.column("issue_id").combine_chunks()
                # (the small side is the value set: hashing 50,000 ids costs more)
                seen = previous_ids.filter(pc.is_in(previous_ids, pulled_ids))
                entered = pulled_ids.filter(pc.invert(pc.is_in(pulled_ids, seen)))
                future = futures.get(jql)
                if future is not None and future.result() == len(previous_ids) + len(entered):
                    # Nothing left the JQL and nothing entered unseen: add what entered.
                    matching, replace = entered, False
                    reconciled_at = _snapshot_at(rows, now)
                else:
                    # Something was deleted, moved out or entered without an update (or the
                    # daily reconciliation is due): take Jira's id list, fetch what entered
                    # unseen.
                    counts["reconciled"] += 1
                    matching = pc.unique(pa.array(connector.matching_ids(jql), pa.string()))
                    have = pa.concat_arrays(
                        [previous_ids, *(t.column("issue_id").combine_chunks() for t in fetched)]
                    )
                    entering = matching.filter(pc.invert(pc.is_in(matching, have)))
                    if len(entering):
                        extra = connector.fetch_by_ids(entering.to_pylist(), numeric=numeric)
                        landing.add_table(extra)
                        fetched.append(extra)
            for spec in group:
                memberships[spec.binding_id] = (scope_hash(spec), matching, reconciled_at, replace)

    member_changes = _membership_changes(mine, memberships, integration_id)
    # Every row is this integration's: the issue id alone is the key. A search may return
    # an issue twice (updated while it was paged): the later copy is the newer.
    if len(fetched) == 1 and len(pulled_ids) == fetched[0].num_rows:
        incoming = fetched[0]  # one search, each issue once (the ids were counted already)
    else:
        incoming = dedupe_last(
            pa.concat_tables(fetched) if fetched else JIRA_ISSUES.schema.empty_table(),
            ("issue_id",),
        )
    # Issues of this integration that no binding matches any more leave the warehouse. Only
    # a replaced snapshot or a removed binding can drop one, so otherwise nothing is read.
    stale = pa.array([], pa.string())
    if any(replace for *_, replace in memberships.values()) or member_changes.dropped_bindings:
        wanted = _wanted_ids(mine, memberships)
        landed = filter_in(
            read_table(issues_path, JIRA_ISSUES.schema), "integration_id", [integration_id]
        )
        landed_ids = landed.column("issue_id").combine_chunks()
        stale = landed_ids.filter(pc.invert(pc.is_in(landed_ids, wanted)))
    # Records read again unchanged (the watermark's overlap does that on purpose) are not
    # written: only the current versions of rows as recent as the oldest one read are needed.
    if incoming.num_rows:
        oldest = pc.min(incoming.column("updated_at")).as_py()
        if recent is not None and oldest is not None and since is not None and oldest >= since:
            current = recent
        elif oldest is not None:
            current = read_recent(
                issues_path, JIRA_ISSUES.schema, column="updated_at", since=oldest
            )
        else:
            current = read_table(issues_path, JIRA_ISSUES.schema)
        unchanged = same_rows(incoming, current, JIRA_ISSUES.key)
        changed = incoming.filter(pc.invert(unchanged))
    else:
        changed = incoming
    deletes = pa.table(
        {
            "integration_id": pa.array([integration_id] * len(stale), pa.string()),
            "issue_id": stale,
        }
    )
    # The two files are written at once (Parquet encoding and fsync release the GIL); both
    # are durable before this returns, and so before the watermark moves.
    with Tasks() as writer:
        members_landed = writer.submit(
            LAND,
            land_changes,
            members_path,
            schema=JIRA_BINDING_ISSUES.schema,
            key=JIRA_BINDING_ISSUES.key,
            upserts=member_changes.upserts,
            deletes=member_changes.deletes,
        )
        issues_landing = land_changes(
            issues_path,
            schema=JIRA_ISSUES.schema,
            key=JIRA_ISSUES.key,
            upserts=changed,
            deletes=deletes,
            sort_by="updated_at",
        )
        members_landing = members_landed.result()
    landing.records_written = changed.num_rows + len(stale)
    landing.details = {
        "queries_full": counts["full"],
        "queries_incremental": counts["incremental"],
        "queries_reconciled": counts["reconciled"],
        "written": changed.num_rows,
        "unchanged": incoming.num_rows - changed.num_rows,
        "deleted": len(stale),
        "memberships": member_changes.total,
        "issues_landing": issues_landing,
        "memberships_landing": members_landing,
    }
    return landing


def _jql_groups(specs: Sequence[BindingSpec]) -> dict[str, list[BindingSpec]]:
    """Bindings by JQL: bindings with the same JQL share one search (and one membership
    snapshot). A JQL is read incrementally when every binding of it has a snapshot taken with
    its current scope."""
    groups: dict[str, list[BindingSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.jql or "", []).append(spec)
    return groups


@dataclass
class JiraHeadStart:
    """A Jira landing's first requests, already on their way: the summed fields' resolution
    (the field list) and, with a watermark, each JQL's incremental search."""

    prepared: Future[dict[str, str]]
    early: dict[str, Future[pa.Table]]
    _started: list[Future[Any]] = field(default_factory=list)

    def futures(self) -> list[Future[Any]]:
        return [self.prepared, *self._started]

    def wait(self) -> None:
        """Until the requests have finished (their outcome stays in the futures)."""
        wait_for(self.futures())


def start_jira_searches(
    connector: JiraConnector, specs: Sequence[BindingSpec], since: datetime | None
) -> JiraHeadStart:
    """Start the requests a Jira landing begins with, on the process's worker threads.

    With a watermark, the JQLs' incremental searches start at once (one after the other),
    while the caller records the attempt and reads the membership snapshots from disk; a JQL
    that turns out to be new to its bindings is searched in full later (and its early search
    is not used). Summed fields are resolved (the field list) before the searches that land
    them; the site's server info is read alongside the first request by the connector itself.
    """
    names = [s.field_name for s in specs if s.field_name is not None]
    prepared = workers.pool(SIDE).submit(connector.resolve_numeric_fields, names)
    head = JiraHeadStart(prepared=prepared, early={})
    if since is not None:
        head.early = {jql: Future() for jql in _jql_groups(specs)}
        head._started.append(
            workers.pool(AHEAD).submit(_search_early, connector, head.early, since, prepared)
        )
    return head


def _search_early(
    connector: JiraConnector,
    early: dict[str, Future[pa.Table]],
    since: datetime,
    prepared: Future[dict[str, str]],
) -> None:
    """Each JQL's incremental search, one after the other, into its future."""
    for jql, future in early.items():
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(
                connector.search_table(jql, updated_since=since, numeric=prepared.result())
            )
        except BaseException as exc:  # handed to whoever waits for this JQL's search
            future.set_exception(exc)


def _rows_with(table: pa.Table, column: str, value: str) -> pa.Table:
    mask = rows_in(table.column(column), [value])
    if mask is None:  # all rows (one integration, one binding): no copy
        return table
    return table.filter(mask)


def _snapshot_at(rows: pa.Table, default: datetime) -> datetime:
    value = pc.min(rows.column("snapshot_at")).as_py()
    return value if isinstance(value, datetime) else default


@dataclass
class _MemberChanges:
    upserts: pa.Table
    deletes: pa.Table
    total: int
    dropped_bindings: bool


def _membership_changes(
    mine: pa.Table,
    memberships: dict[str, tuple[str, pa.Array, datetime, bool]],
    integration_id: str,
) -> _MemberChanges:
    """What changes in the integration's membership rows: new rows (a replaced snapshot in
    full, else the issues that entered) and the keys of rows that go (issues that left a
    replaced snapshot, every row of a binding that no longer exists)."""
    upserts: list[pa.Table] = []
    deletes: list[pa.Table] = []
    total = 0
    binding_ids = mine.column("binding_id")
    for binding_id, (digest, ids, at, replace) in memberships.items():
        upserts.append(membership_table(integration_id, binding_id, digest, ids, at))
        old = _rows_with(mine, "binding_id", binding_id)
        if replace:
            total += len(ids)
            gone = old.filter(pc.invert(pc.is_in(old.column("issue_id"), ids)))
            deletes.append(gone.select(list(JIRA_BINDING_ISSUES.key)))
        else:
            total += old.num_rows + len(ids)
    kept = rows_in(binding_ids, list(memberships))
    dropped = mine.filter(pc.invert(kept)) if kept is not None else mine.slice(0, 0)
    deletes.append(dropped.select(list(JIRA_BINDING_ISSUES.key)))
    key_schema = pa.schema([JIRA_BINDING_ISSUES.schema.field(k) for k in JIRA_BINDING_ISSUES.key])
    return _MemberChanges(
        upserts=pa.concat_tables(upserts) if upserts else JIRA_BINDING_ISSUES.schema.empty_table(),
        deletes=pa.concat_tables([d.cast(key_schema) for d in deletes]),
        total=total,
        dropped_bindings=dropped.num_rows > 0,
    )


def _wanted_ids(
    mine: pa.Table, memberships: dict[str, tuple[str, pa.Array, datetime, bool]]
) -> pa.Array:
    """Every issue id some binding of the integration matches after this sync."""
    parts: list[pa.Array] = []
    for binding_id, (_, ids, _, replace) in memberships.items():
        parts.append(ids)
        if not replace:
            old = _rows_with(mine, "binding_id", binding_id)
            parts.append(old.column("issue_id").combine_chunks())
    return pc.unique(pa.concat_arrays(parts)) if parts else pa.array([], pa.string())


def land_github(
    connector: GitHubConnector,
    specs: Sequence[BindingSpec],
    *,
    warehouse_dir: Path,
    tenant_id: uuid.UUID,
    integration_id: str,
    since: datetime | None,
) -> Landing:
    landing = Landing()
    path = GITHUB_PULL_REQUESTS.path(warehouse_dir, tenant_id)
    existing = read_table(path, GITHUB_PULL_REQUESTS.schema)
    mine = filter_in(existing, "integration_id", [integration_id])
    known_repos = set(mine.column("repository").to_pylist())
    repositories = list(dict.fromkeys(r for s in specs for r in s.repositories))
    fetched = [
        _collect(
            connector.pull_requests(
                repo, updated_since=since if repo in known_repos and since else None
            ),
            landing,
            GITHUB_PULL_REQUESTS.schema,
        )
        for repo in repositories
    ]
    incoming = pa.concat_tables(fetched) if fetched else GITHUB_PULL_REQUESTS.schema.empty_table()
    gone = filter_not_in(mine, "repository", repositories)
    drop = pa.array(
        [f"{integration_id}\x1f{i}" for i in gone.column("pull_request_id").to_pylist()],
        type=pa.string(),
    )
    merged, result = merge(existing, incoming, GITHUB_PULL_REQUESTS.key, drop=drop)
    if result.changed or not path.exists():
        write_table_atomically(path, merged)
    landing.records_written = result.inserted + result.updated + result.deleted
    landing.details = {
        "repositories": len(repositories),
        "repositories_full": sum(1 for r in repositories if r not in known_repos or not since),
        "pull_requests_total": _count_for(merged, integration_id),
        **_upsert_details(result),
    }
    return landing


def _count_for(table: pa.Table, integration_id: str) -> int:
    return int(pc.sum(pc.equal(table.column("integration_id"), integration_id)).as_py() or 0)


def _upsert_details(result: UpsertResult) -> dict[str, int]:
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "deleted": result.deleted,
    }


# -- one sync of one integration ---------------------------------------------------------------


@dataclass(frozen=True)
class IntegrationSnapshot:
    """The fields of an integration a sync needs, read once (no ORM object crosses threads)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    source: Source
    base_url: str
    watermark_at: datetime | None
    sync_interval_minutes: int


@dataclass
class SyncResult:
    tenant_id: uuid.UUID
    integration_id: uuid.UUID
    source: str
    sync_run_id: uuid.UUID | None
    status: SyncStatus
    trigger: SyncTrigger
    started_at: datetime
    finished_at: datetime
    records_read: int = 0
    records_written: int = 0
    requests: int = 0
    retries: int = 0
    error_class: ErrorClass | None = None
    message: str | None = None
    watermark_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status is SyncStatus.succeeded


def _clip(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


def sync_integration(
    factory: sessionmaker[Session],
    *,
    tenant_id: uuid.UUID,
    integration_id: uuid.UUID,
    cipher: CredentialCipher,
    warehouse_dir: Path,
    trigger: SyncTrigger = SyncTrigger.manual,
    retry: RetryPolicy | None = None,
    dagster_run_id: str | None = None,
    overlap: timedelta = WATERMARK_OVERLAP,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    connector_factory: ConnectorFactory = _default_connector,
    after_landing: Callable[[Landing], None] | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> SyncResult:
    """Sync one integration of one tenant; never raises for source or landing errors.

    Returns the outcome (also written as a sync-run row and onto the integration). Errors that
    are not about the source (the app database is down) propagate: the caller's whole batch
    has an infrastructure problem. ``after_landing`` is a test hook between landing and the
    watermark commit.

    Two transactions: one that takes the tenant's warehouse lock for the source and records
    the attempt, one that records the outcome. When another sync holds the lock, the first
    transaction ends without writing, the lock is waited for outside any transaction (up to
    ``lock_timeout`` seconds), and the attempt is recorded then.
    """
    started = clock()
    retrier = Retrier(policy=retry or RetryPolicy())
    result = SyncResult(
        tenant_id=tenant_id,
        integration_id=integration_id,
        source="",
        sync_run_id=None,
        status=SyncStatus.running,
        trigger=trigger,
        started_at=started,
        finished_at=started,
    )

    def begin(session: Session, integration: Integration) -> _Begun:
        begun = _begin(
            session,
            integration,
            result,
            cipher,
            retrier,
            dagster_run_id,
            connector_factory,
            overlap,
        )
        if begun.head_start is not None:  # its requests end before this sync returns
            held.callback(begun.head_start.wait)
        return begun

    with contextlib.ExitStack() as held:
        begun: _Begun | None = None
        with unit(factory) as session, tenant_context(session, tenant_id):
            integration = _integration(session, integration_id)
            snapshot = _snapshot_of(integration)
            folder = source_dir(warehouse_dir, tenant_id, snapshot.source.value)
            try:  # usually free: then one transaction takes it and records the attempt
                held.enter_context(locked(folder, timeout=0))
            except WarehouseBusy:
                pass
            else:
                begun = begin(session, integration)
        if begun is None:
            try:
                held.enter_context(locked(folder, timeout=lock_timeout))
            except WarehouseBusy as exc:
                # The lock was never ours: record this attempt as failed, touching nothing else.
                with unit(factory) as session, tenant_context(session, tenant_id):
                    run_id = _start_run(session, snapshot, trigger, started, dagster_run_id)
                    result.source = snapshot.source.value
                    result.sync_run_id = run_id
                result.finished_at = clock()
                _finish(factory, snapshot, result.sync_run_id, result, landing=None, error=exc)
                return result
            with unit(factory) as session, tenant_context(session, tenant_id):
                # read again: the sync that held the lock has moved the watermark on
                begun = begin(session, _integration(session, integration_id))
        return _sync_locked(
            factory,
            begun=begun,
            result=result,
            warehouse_dir=warehouse_dir,
            retrier=retrier,
            overlap=overlap,
            clock=clock,
            after_landing=after_landing,
        )


@dataclass
class _Begun:
    """A sync holding its lock, its attempt recorded: what it goes on with."""

    snapshot: IntegrationSnapshot
    specs: list[BindingSpec]
    connector: SourceConnector | None
    error: Exception | None
    head_start: JiraHeadStart | None = None


def _begin(
    session: Session,
    integration: Integration,
    result: SyncResult,
    cipher: CredentialCipher,
    retrier: Retrier,
    dagster_run_id: str | None,
    connector_factory: ConnectorFactory,
    overlap: timedelta,
) -> _Begun:
    """Under the lock: read the bindings, build the connector (it decrypts the credentials)
    and start a Jira landing's first requests, then, while they travel, close runs a dead
    worker left ``running`` and record this attempt."""
    snapshot = _snapshot_of(integration)
    result.source = snapshot.source.value
    specs = tenant_specs(session, integration_ids=[snapshot.id])
    connector: SourceConnector | None = None
    error: Exception | None = None
    head_start: JiraHeadStart | None = None
    try:
        connector = connector_factory(integration, cipher, retrier)
    except (SourceError, CredentialsUnreadable) as exc:
        error = exc
    if isinstance(connector, JiraConnector):
        head_start = start_jira_searches(connector, specs, _since(snapshot, overlap))
    try:
        # Holding the lock, no other sync of this source and tenant runs: a "running" row
        # left behind belongs to a worker that died.
        close_interrupted_runs(
            session,
            tenant_id=snapshot.tenant_id,
            integration_id=snapshot.id,
            now=result.started_at,
        )
        result.sync_run_id = _start_run(
            session, snapshot, result.trigger, result.started_at, dagster_run_id
        )
    except BaseException:
        if head_start is not None:  # nothing lands: its requests end before this fails
            head_start.wait()
        raise
    return _Begun(snapshot, specs, connector, error, head_start)


def _since(snapshot: IntegrationSnapshot, overlap: timedelta) -> datetime | None:
    """Where an incremental read starts: the watermark minus the overlap (None: read all)."""
    return snapshot.watermark_at - overlap if snapshot.watermark_at is not None else None


def _integration(session: Session, integration_id: uuid.UUID) -> Integration:
    return session.scalars(select(Integration).where(Integration.id == integration_id)).one()


def _snapshot_of(integration: Integration) -> IntegrationSnapshot:
    return IntegrationSnapshot(
        id=integration.id,
        tenant_id=integration.tenant_id,
        source=Source(integration.source),
        base_url=integration.base_url,
        watermark_at=integration.watermark_at,
        sync_interval_minutes=integration.sync_interval_minutes,
    )


def _start_run(
    session: Session,
    snapshot: IntegrationSnapshot,
    trigger: SyncTrigger,
    started: datetime,
    dagster_run_id: str | None,
) -> uuid.UUID:
    """Record the attempt: a ``running`` sync-run row and ``last_attempt_at``; returns the
    run's id. Core statements (the ORM's unit of work costs more for two known rows); the
    tenant is named in both, besides the session's tenant scope."""
    run_id = uuid.uuid4()
    connection = session.connection()
    connection.execute(
        insert(SyncRun).values(
            id=run_id,
            tenant_id=snapshot.tenant_id,
            integration_id=snapshot.id,
            trigger=trigger,
            status=SyncStatus.running,
            started_at=started,
            dagster_run_id=dagster_run_id,
        )
    )
    connection.execute(
        update(Integration)
        .where(Integration.id == snapshot.id, Integration.tenant_id == snapshot.tenant_id)
        .values(last_attempt_at=started)
    )
    return run_id


def _sync_locked(
    factory: sessionmaker[Session],
    *,
    begun: _Begun,
    result: SyncResult,
    warehouse_dir: Path,
    retrier: Retrier,
    overlap: timedelta,
    clock: Callable[[], datetime],
    after_landing: Callable[[Landing], None] | None,
) -> SyncResult:
    snapshot, connector, error = begun.snapshot, begun.connector, begun.error
    landing: Landing | None = None
    since = _since(snapshot, overlap)
    if error is None and connector is not None:
        try:
            landing = _land(
                connector, begun.specs, snapshot, warehouse_dir, since, clock(), begun.head_start
            )
            if after_landing is not None:
                after_landing(landing)
        except (SourceError, CredentialsUnreadable) as exc:
            error = exc
            landing = None
        finally:
            result.retries = retrier.retries
            result.requests = int(getattr(connector, "requests_made", 0))
            close = getattr(connector, "close", None)
            if callable(close):
                close()
    result.finished_at = clock()
    # A Jira site's serverInfo, if this sync read it: stored for the next syncs to trust.
    site_info = connector.site_info_read if isinstance(connector, JiraConnector) else None
    _finish(
        factory,
        snapshot,
        result.sync_run_id,
        result,
        landing=landing,
        error=error,
        site_info=site_info,
    )
    return result


def _land(
    connector: SourceConnector,
    specs: Sequence[BindingSpec],
    snapshot: IntegrationSnapshot,
    warehouse_dir: Path,
    since: datetime | None,
    now: datetime,
    head_start: JiraHeadStart | None = None,
) -> Landing:
    integration_id = str(snapshot.id)
    if isinstance(connector, JiraConnector):
        return land_jira(
            connector,
            specs,
            warehouse_dir=warehouse_dir,
            tenant_id=snapshot.tenant_id,
            integration_id=integration_id,
            since=since,
            now=now,
            head_start=head_start,
        )
    if isinstance(connector, GitHubConnector):
        return land_github(
            connector,
            specs,
            warehouse_dir=warehouse_dir,
            tenant_id=snapshot.tenant_id,
            integration_id=integration_id,
            since=since,
        )
    raise PermanentSourceError(f"{snapshot.source.value} integrations cannot be synced yet")


def error_class_of(error: Exception) -> ErrorClass:
    if isinstance(error, SourceError):
        return error.error_class
    if isinstance(error, CredentialsUnreadable):
        return ErrorClass.permanent
    return ErrorClass.transient


def error_message_of(error: Exception) -> str:
    if isinstance(error, SourceError | CredentialsUnreadable | WarehouseBusy):
        return str(error)
    return f"internal error ({type(error).__name__}); the next sync tries again"


def _finish(
    factory: sessionmaker[Session],
    snapshot: IntegrationSnapshot,
    run_id: uuid.UUID | None,
    result: SyncResult,
    *,
    landing: Landing | None,
    error: Exception | None,
    site_info: dict[str, Any] | None = None,
) -> None:
    """Record the outcome; on success this is where the watermark moves. ``site_info`` (what
    a Jira site's serverInfo said, read by this sync) replaces the integration's, either way."""
    finished = result.finished_at
    if landing is not None:
        result.records_read = landing.records_read
        result.records_written = landing.records_written
        result.details = dict(landing.details)
    if error is None:
        result.status = SyncStatus.succeeded
        watermark = snapshot.watermark_at
        if landing is not None and landing.max_updated_at is not None:
            watermark = max(filter(None, (watermark, landing.max_updated_at)))
        result.watermark_at = watermark
        note = f"{result.records_read} records read, {result.records_written} written"
        if result.retries:
            note += f"; {result.retries} transient error(s) retried"
        result.message = note
    else:
        result.status = SyncStatus.failed
        result.error_class = error_class_of(error)
        result.message = _clip(error_message_of(error))
        result.watermark_at = snapshot.watermark_at
    # Written without reading the rows first: two UPDATEs, the schedule's condition in SQL.
    # The schedule moves on only if this sync was what was due; a paused integration keeps no
    # schedule, and a "sync now" pressed meanwhile stays due.
    due = and_(
        not_(Integration.is_paused),
        or_(Integration.next_sync_at.is_(None), Integration.next_sync_at <= result.started_at),
    )
    outcome: dict[str, Any] = {
        "next_sync_at": case(
            (due, result.started_at + timedelta(minutes=snapshot.sync_interval_minutes)),
            else_=Integration.next_sync_at,
        )
    }
    if error is None:
        outcome.update(
            watermark_at=result.watermark_at,
            last_success_at=finished,
            last_error_class=None,
            last_error_message=None,
        )
    else:
        outcome.update(
            last_error_class=result.error_class.value if result.error_class else None,
            last_error_message=result.message,
        )
    if site_info is not None:
        outcome["site_info"] = site_info
    with unit(factory) as session, tenant_context(session, snapshot.tenant_id):
        connection = session.connection()  # Core statements: the ORM's bulk update costs more
        connection.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id, SyncRun.tenant_id == snapshot.tenant_id)
            .values(
                status=result.status,
                finished_at=finished,
                records_read=result.records_read,
                records_written=result.records_written,
                error_class=result.error_class,
                message=result.message,
            ),
        )
        connection.execute(
            update(Integration)
            .where(Integration.id == snapshot.id, Integration.tenant_id == snapshot.tenant_id)
            .values(outcome),
        )


def close_interrupted_runs(
    session: Session, *, tenant_id: uuid.UUID, integration_id: uuid.UUID, now: datetime
) -> int:
    """Mark sync runs of an integration that never finished (their worker died) as failed.

    Only call it while holding the tenant's warehouse lock for the source: then no other sync
    of the integration can be running.
    """
    rows = session.connection().execute(
        update(SyncRun)
        .where(
            SyncRun.tenant_id == tenant_id,
            SyncRun.integration_id == integration_id,
            SyncRun.status == SyncStatus.running,
        )
        .values(
            status=SyncStatus.failed,
            finished_at=now,
            error_class=ErrorClass.transient,
            message="interrupted: the worker stopped before the sync finished",
        )
    )
    return int(rows.rowcount or 0)


# -- preview: one binding, live, nothing landed ------------------------------------------------


def preview_sources(
    connector: SourceConnector, spec: BindingSpec
) -> dict[tuple[str, str], pa.Table]:
    """The binding's records pulled live, as the models' source tables (nothing is written)."""
    landing = Landing()
    if isinstance(connector, JiraConnector):
        numeric = connector.resolve_numeric_fields([spec.field_name] if spec.field_name else [])
        issues = dedupe_last(  # parallel slices may return a boundary issue twice
            _collect_tables(
                [connector.search_table(spec.jql or "", numeric=numeric)],
                landing,
                JIRA_ISSUES.schema,
            ),
            JIRA_ISSUES.key,
        )
        now = datetime.now(UTC)
        members = records_table(
            [
                {
                    "integration_id": spec.integration_id,
                    "binding_id": spec.binding_id,
                    "scope_hash": scope_hash(spec),
                    "issue_id": issue_id,
                    "snapshot_at": now,
                }
                for issue_id in sorted(_ids(issues, "issue_id"))
            ],
            JIRA_BINDING_ISSUES.schema,
        )
        return {
            ("jira", "issues"): issues,
            ("jira", "binding_issues"): members,
            ("github", "pull_requests"): GITHUB_PULL_REQUESTS.schema.empty_table(),
        }
    if isinstance(connector, GitHubConnector):
        # A pull request merged or closed inside the period was updated inside it too, so
        # paging (newest update first) can stop at the period's start.
        since = (
            None
            if spec.whole_history
            else datetime.combine(spec.period_start, datetime.min.time(), UTC)
        )
        tables = [
            _collect(
                connector.pull_requests(repo, updated_since=since),
                landing,
                GITHUB_PULL_REQUESTS.schema,
            )
            for repo in spec.repositories
        ]
        return {
            ("jira", "issues"): JIRA_ISSUES.schema.empty_table(),
            ("jira", "binding_issues"): JIRA_BINDING_ISSUES.schema.empty_table(),
            ("github", "pull_requests"): dedupe_last(
                pa.concat_tables(tables) if tables else GITHUB_PULL_REQUESTS.schema.empty_table(),
                GITHUB_PULL_REQUESTS.key,
            ),
        }
    raise PermanentSourceError("this integration's source cannot be previewed")


__all__ = [
    "WATERMARK_OVERLAP",
    "Landing",
    "SyncResult",
    "TransientSourceError",
    "close_interrupted_runs",
    "land_github",
    "land_jira",
    "preview_sources",
    "scope_hash",
    "sync_integration",
]
