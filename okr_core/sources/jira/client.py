"""Jira Cloud connector on the ``jira`` client library (pycontribs), configured by base URL only.

``JIRA(server=base_url, basic_auth=(email, api_token))`` for API tokens, ``token_auth=`` for
OAuth 2.0 access tokens (base URL ``https://api.atlassian.com/ex/jira/<cloudId>``). The client
reads ``serverInfo`` on construction, which makes it use the enhanced search
(``/rest/api/2/search/jql`` with ``nextPageToken``) that Jira Cloud requires. Its own retries are
off (``max_retries=0``); each request goes through :class:`~okr_core.sources.retry.Retrier`.

Searches page by hand (``enhanced_search_issues(..., json_result=True)``, one request per
call) so that a fault repeats one page and memory stays one page deep.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import requests
from jira import JIRA, JIRAError

from okr_core.sources.base import ConnectionCheck, ExtractBatch
from okr_core.sources.errors import PermanentSourceError, SourceError, TransientSourceError
from okr_core.sources.http import (
    DEFAULT_TIMEOUT,
    header,
    is_transient_status,
    parse_retry_after,
    safe_url,
)
from okr_core.sources.jira.records import (
    BASE_FIELDS,
    TIMESTAMP,
    issues_table,
    max_updated,
    parse_jira_time,
)
from okr_core.sources.retry import Retrier

T = TypeVar("T")
log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Jira's maximum when fields are requested
ID_PAGE_SIZE = 5000  # Jira's maximum for id-only searches
STREAMS = 1  # parallel slices for a full search larger than one page (see search_tables)
IDS_PER_LOOKUP = 100
STORY_POINT_ALIASES = frozenset({"story_points", "story points", "storypoints"})


def _outside_quotes_positions(jql: str) -> list[bool]:
    """For each character of ``jql``: is it outside a quoted string?"""
    outside: list[bool] = []
    quote: str | None = None
    escaped = False
    for ch in jql:
        if quote is None:
            outside.append(ch not in "\"'")
            if ch in "\"'":
                quote = ch
            continue
        outside.append(False)
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == quote:
            quote = None
    return outside


_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def strip_order_by(jql: str) -> str:
    """The JQL's restriction without its ``ORDER BY`` clause (the connector sets the order)."""
    outside = _outside_quotes_positions(jql)
    cut = None
    for match in _ORDER_BY.finditer(jql):
        if outside[match.start()]:
            cut = match.start()
    return (jql if cut is None else jql[:cut]).strip()


def restrict(
    jql: str, *, updated_since: datetime | None = None, updated_before: datetime | None = None
) -> str:
    """``(jql) AND updated >= <epoch ms>`` ordered by update time, then key.

    Epoch milliseconds avoid the minute granularity and the user-time-zone reading of
    ``"yyyy/MM/dd HH:mm"`` literals.
    """
    body = strip_order_by(jql)
    clauses = [f"({body})"] if body else []
    if updated_since is not None:
        clauses.append(f"updated >= {int(updated_since.timestamp() * 1000)}")
    if updated_before is not None:
        clauses.append(f"updated < {int(updated_before.timestamp() * 1000)}")
    if not clauses:
        raise PermanentSourceError("the binding has no JQL query; enter one (e.g. project = ENG)")
    return " AND ".join(clauses) + " ORDER BY updated ASC, key ASC"


class JiraConnector:
    """One Jira site, as one integration's credentials see it."""

    source = "jira"

    def __init__(
        self,
        *,
        base_url: str,
        email: str | None = None,
        api_token: str | None = None,
        access_token: str | None = None,
        integration_id: str = "",
        retrier: Retrier | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        page_size: int = PAGE_SIZE,
        id_page_size: int = ID_PAGE_SIZE,
        streams: int = STREAMS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if access_token is None and not (email and api_token):
            raise PermanentSourceError(
                "the Jira integration needs an email and API token, or an OAuth access token"
            )
        self.base_url = base_url.rstrip("/")
        self._email = email
        self._api_token = api_token
        self._access_token = access_token
        self.integration_id = integration_id
        self.retrier = retrier or Retrier()
        self._timeout = timeout
        self.page_size = page_size
        self.id_page_size = id_page_size
        self.streams = max(1, streams)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._jira: JIRA | None = None
        self._field_catalogue: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self.requests_made = 0

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return safe_url(self.base_url)

    def _guard(self, what: str, fn: Callable[[], T]) -> T:
        """One request: retried on transient errors, mapped to our error classes."""

        def attempt() -> T:
            with self._lock:
                self.requests_made += 1
            try:
                return fn()
            except JIRAError as exc:
                raise self._map_error(exc, what) from None
            except requests.exceptions.Timeout:
                raise TransientSourceError(
                    f"Jira at {self.where} did not answer in time ({what})"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise TransientSourceError(
                    f"could not reach Jira at {self.where} ({what}): {type(exc).__name__}"
                ) from None
            except ValueError:
                raise TransientSourceError(
                    f"Jira at {self.where} sent a response that is not valid JSON ({what})"
                ) from None

        return self.retrier.call(f"jira {what}", attempt)

    def _map_error(self, exc: JIRAError, what: str) -> SourceError:
        status = exc.status_code
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        if is_transient_status(status):
            retry_after = parse_retry_after(header(headers, "Retry-After"))
            label = "rate limited" if status == 429 else "a server error"
            return TransientSourceError(
                f"Jira answered {status} ({label}) to {what}",
                status=status,
                retry_after=retry_after,
            )
        if status == 401:
            how = (
                "the OAuth access token (it may have expired)"
                if self._access_token is not None
                else "the account email and API token (tokens expire; create a new one at "
                "id.atlassian.com)"
            )
            return PermanentSourceError(
                f"Jira refused the credentials (HTTP 401). Check {how}.", status=401
            )
        if status == 403:
            return PermanentSourceError(
                "Jira denied access (HTTP 403): the account may lack the 'Browse projects' "
                "permission for these projects, or API access is blocked for the site.",
                status=403,
            )
        if status == 404:
            return PermanentSourceError(
                f"Jira answered 404 for {what}: check the site URL ({self.where}).", status=404
            )
        if status == 410:
            return PermanentSourceError(
                f"the server at {self.where} does not offer the Jira Cloud search API (HTTP "
                "410); only Jira Cloud sites are supported.",
                status=410,
            )
        if status == 400:
            detail = _jql_messages(exc)
            return PermanentSourceError(
                f"Jira rejected the JQL query: {detail}. Fix the binding's JQL.", status=400
            )
        return PermanentSourceError(f"Jira answered {status} to {what}.", status=status)

    def _auth(self) -> dict[str, Any]:
        if self._access_token is not None:
            return {"token_auth": self._access_token}
        return {"basic_auth": (self._email or "", self._api_token or "")}

    def _client(self) -> JIRA:
        if self._jira is None:
            auth = self._auth()
            self._jira = self._guard(
                "server info",
                lambda: JIRA(
                    server=self.base_url,
                    max_retries=0,
                    timeout=self._timeout,
                    get_server_info=True,
                    **auth,
                ),
            )
            # The fields asked for are ids already: pre-seed the client's name-to-id cache
            # so it does not fetch the field list (one request per sync) to translate them.
            with contextlib.suppress(AttributeError):
                self._jira._fields_cache_value = {f: f for f in BASE_FIELDS}
            self._settle_environment(self._jira)
            if getattr(self._jira, "deploymentType", None) != "Cloud":
                raise PermanentSourceError(
                    f"the server at {self.where} is not Jira Cloud; only Jira Cloud sites "
                    "are supported."
                )
        return self._jira

    # -- the SourceConnector protocol -----------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        client = self._client()
        me = self._guard("myself", client.myself)
        account = str(me.get("emailAddress") or me.get("displayName") or me.get("accountId"))
        return ConnectionCheck(ok=True, account=account, detail=f"Jira Cloud at {self.where}")

    def extract(
        self, *, updated_since: datetime | None, scope: dict[str, Any]
    ) -> Iterator[ExtractBatch]:
        """Issues matching ``scope["jql"]`` updated since ``updated_since``, a page at a time.

        ``scope["numeric_fields"]`` names numeric fields to land (story points), by name or id.
        """
        numeric = self.resolve_numeric_fields(scope.get("numeric_fields") or [])
        yield from self.search(str(scope["jql"]), updated_since=updated_since, numeric=numeric)

    # -- Jira specifics ---------------------------------------------------------------------

    def field_catalogue(self) -> list[dict[str, Any]]:
        if self._field_catalogue is None:
            client = self._client()
            self._field_catalogue = list(self._guard("field list", client.fields))
        return self._field_catalogue

    def resolve_numeric_fields(self, names: Sequence[str]) -> dict[str, str]:
        """``{name as the binding wrote it: field id}``; unknown or non-numeric names fail."""
        wanted = [n for n in dict.fromkeys(str(n).strip() for n in names) if n]
        if not wanted:
            return {}
        catalogue = self.field_catalogue()
        resolved: dict[str, str] = {}
        for name in wanted:
            field = _find_field(catalogue, name)
            if field is None:
                raise PermanentSourceError(
                    f"Jira has no field named {name!r}; use the field's name as Jira shows it "
                    "or its id (e.g. customfield_10016)."
                )
            schema = field.get("schema") or {}
            if schema.get("type") not in (None, "number"):
                raise PermanentSourceError(
                    f"the Jira field {field.get('name')!r} is not numeric and cannot be summed."
                )
            resolved[name] = str(field["id"])
        return resolved

    def search(
        self,
        jql: str,
        *,
        updated_since: datetime | None = None,
        numeric: Mapping[str, str] | None = None,
    ) -> Iterator[ExtractBatch]:
        """Pages of matching issues as records (the table is in ``extra["table"]``)."""
        for table in self.search_tables(jql, updated_since=updated_since, numeric=numeric):
            yield ExtractBatch(
                records=table.to_pylist(),
                max_updated_at=max_updated(table),
                requests_made=1,
                extra={"table": table},
            )

    def search_tables(
        self,
        jql: str,
        *,
        updated_since: datetime | None = None,
        numeric: Mapping[str, str] | None = None,
    ) -> Iterator[pa.Table]:
        """Pages of matching issues as Arrow tables (``ISSUE_SCHEMA``), oldest update first.

        With ``streams`` > 1, a full read larger than one page is split by update time into
        that many slices paged at once (the rest of the first page's range, cut into equal
        time spans), so waiting on one page overlaps work on another. That pays off against a
        distant server (Jira Cloud answers a page in hundreds of milliseconds); against the
        local sandbox on two cores the client is CPU-bound and one stream is fastest, hence
        the default of 1. Small results cost one request either way.
        """
        numeric = dict(numeric or {})
        client = self._client()
        table, token = self._page(client, restrict(jql, updated_since=updated_since), None, numeric)
        yield table
        if token is None:
            return
        low = max_updated(table)
        high = self._clock() + timedelta(minutes=1)
        # Only full reads are split: an incremental read is a few pages, and every slice is a
        # new query the server must evaluate from scratch.
        if self.streams <= 1 or updated_since is not None or low is None or high <= low:
            yield from self._pages(
                client, restrict(jql, updated_since=updated_since), token, numeric
            )
            return
        span = (high - low) / self.streams
        bounds: list[tuple[datetime, datetime | None]] = [
            (low + span * i, None if i == self.streams - 1 else low + span * (i + 1))
            for i in range(self.streams)
        ]
        # The first slice starts at the first page's last update time: issues updated at that
        # very instant were on the first page already and are not yielded twice.
        boundary = table.filter(pc.equal(table.column("updated_at"), pa.scalar(low, TIMESTAMP)))
        seen = pa.array(boundary.column("issue_id").to_pylist(), pa.string())
        for part in self._concurrently(jql, bounds, numeric):
            if len(seen):
                part = part.filter(pc.invert(pc.is_in(part.column("issue_id"), value_set=seen)))
            yield part

    def _page(
        self, client: JIRA, query: str, token: str | None, numeric: Mapping[str, str]
    ) -> tuple[pa.Table, str | None]:
        fields = [*BASE_FIELDS, *dict.fromkeys(numeric.values())]
        page = self._guard(
            "issue search",
            lambda: client.enhanced_search_issues(
                query,
                nextPageToken=token,
                maxResults=self.page_size,
                fields=list(fields),
                json_result=True,
            ),
        )
        return (
            issues_table(
                _issues(page),
                integration_id=self.integration_id,
                numeric_fields=numeric,
                landed_at=self._clock(),
            ),
            _next_token(page),
        )

    def _pages(
        self, client: JIRA, query: str, token: str | None, numeric: Mapping[str, str]
    ) -> Iterator[pa.Table]:
        while True:
            table, token = self._page(client, query, token, numeric)
            yield table
            if token is None:
                return

    def _settle_environment(self, client: JIRA) -> None:
        """Read proxy and CA settings from the environment once, not on every request.

        ``requests`` re-reads ``*_PROXY``/``NO_PROXY`` and the CA bundle variables for each
        request while ``trust_env`` is on (about half a millisecond a page); the same values,
        resolved once for this site, are set on the session instead.
        """
        session = getattr(client, "_session", None)
        if session is None:
            return
        proxies = requests.utils.get_environ_proxies(self.base_url)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        session.trust_env = False
        session.proxies.update(proxies)
        if bundle and session.verify is True:
            session.verify = bundle

    def _stream_client(self) -> JIRA:
        """Another client for a parallel stream, without asking for the server info again."""
        main = self._client()
        client = JIRA(
            server=self.base_url,
            max_retries=0,
            timeout=self._timeout,
            get_server_info=False,
            **self._auth(),
        )
        client.deploymentType = main.deploymentType
        client._version = main._version
        with contextlib.suppress(AttributeError):  # share the field list (saves a request)
            client._fields_cache_value = dict(main._fields_cache_value)
        self._settle_environment(client)
        return client

    def _concurrently(
        self,
        jql: str,
        bounds: Sequence[tuple[datetime, datetime | None]],
        numeric: Mapping[str, str],
    ) -> Iterator[pa.Table]:
        results: queue.Queue[pa.Table | BaseException | None] = queue.Queue(maxsize=64)
        stop = threading.Event()

        def stream(since: datetime, before: datetime | None) -> None:
            try:
                client = self._stream_client()
                query = restrict(jql, updated_since=since, updated_before=before)
                for table in self._pages(client, query, None, numeric):
                    if stop.is_set():
                        return
                    results.put(table)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                results.put(exc)
            finally:
                results.put(None)

        threads = [
            threading.Thread(target=stream, args=bound, name=f"jira-slice-{i}", daemon=True)
            for i, bound in enumerate(bounds)
        ]
        for thread in threads:
            thread.start()
        finished = 0
        try:
            while finished < len(threads):
                item = results.get()
                if item is None:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            while any(t.is_alive() for t in threads):  # let blocked producers finish
                with contextlib.suppress(queue.Empty):
                    results.get(timeout=0.05)
            for thread in threads:
                thread.join()

    def matching_ids(self, jql: str) -> list[str]:
        """Ids of every issue matching ``jql`` now (id-only pages of up to 5,000)."""
        client = self._client()
        query = restrict(jql)
        ids: list[str] = []
        token: str | None = None
        while True:
            page = self._guard(
                "issue id search",
                lambda token=token: client.enhanced_search_issues(  # type: ignore[misc]
                    query,
                    nextPageToken=token,
                    maxResults=self.id_page_size,
                    fields="",
                    json_result=True,
                ),
            )
            ids.extend(str(issue["id"]) for issue in _issues(page))
            token = _next_token(page)
            if token is None:
                return ids

    def approximate_count(self, jql: str) -> int:
        """Jira's (eventually consistent) count of the issues matching ``jql``: one request."""
        client = self._client()
        query = strip_order_by(jql)
        count = self._guard("issue count", lambda: client.approximate_issue_count(query))
        return int(count) if isinstance(count, int) else int(dict(count).get("count", 0))

    def fetch_by_ids(
        self, ids: Sequence[str], *, numeric: Mapping[str, str] | None = None
    ) -> Iterator[pa.Table]:
        """The issues with these ids, in lookups of 100."""
        ordered = sorted(dict.fromkeys(ids), key=lambda v: (len(v), v))
        for start in range(0, len(ordered), IDS_PER_LOOKUP):
            chunk = ordered[start : start + IDS_PER_LOOKUP]
            yield from self.search_tables(f"id in ({', '.join(chunk)})", numeric=numeric)


def _issues(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    issues = page.get("issues")
    if not isinstance(issues, list):
        raise TransientSourceError("Jira sent a search page without an issues list")
    return issues


def _next_token(page: Mapping[str, Any]) -> str | None:
    token = page.get("nextPageToken")
    if not token or page.get("isLast") is True:
        return None
    return str(token)


def _find_field(catalogue: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    lowered = name.lower()
    for field in catalogue:
        if str(field.get("id")) == name:
            return field
    for field in catalogue:
        names = [str(field.get("name", "")), *(str(c) for c in field.get("clauseNames") or [])]
        if any(n.lower() == lowered for n in names):
            return field
    if lowered in STORY_POINT_ALIASES:
        for field in catalogue:
            label = str(field.get("name", "")).lower()
            if "story point" in label and (field.get("schema") or {}).get("type") == "number":
                return field
    return None


def _jql_messages(exc: JIRAError) -> str:
    """Jira's own explanation of a 400 (its ``errorMessages``), short and secret-free."""
    response = getattr(exc, "response", None)
    messages: list[str] = []
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        messages = [str(m) for m in body.get("errorMessages") or []]
        messages += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
    text = "; ".join(messages) or "the query is not valid JQL"
    return text[:400]


__all__ = ["JiraConnector", "parse_jira_time", "restrict", "strip_order_by"]
