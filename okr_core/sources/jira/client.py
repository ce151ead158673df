"""Jira Cloud connector on the ``jira`` client library (pycontribs), configured by base URL only.

``JIRA(server=base_url, basic_auth=(email, api_token))`` for API tokens, ``token_auth=`` for
OAuth 2.0 access tokens (base URL ``https://api.atlassian.com/ex/jira/<cloudId>``). The client
is given the site's deployment type and version from its ``serverInfo`` (read, or stored by an
earlier sync: below); its Cloud-only calls (the enhanced search, ``/rest/api/2/search/jql`` with
``nextPageToken``, and ``approximate-count``) need ``deploymentType == "Cloud"``, and nothing is
used from a site before it is known to be Jira Cloud. Its own retries are off
(``max_retries=0``); each request goes through :class:`~okr_core.sources.retry.Retrier`.

Searches page by hand, one request per page, so that a fault repeats one page. The client stays
the transport: each page is requested through its authenticated session at the URL it builds,
and its ``JIRAError`` reports failures. Only the decoding is ours. The client's
``enhanced_search_issues(json_result=True)`` decodes every page into dicts with the standard
``json`` module. That cost as much as the whole request: paging 50,000 issues took about 1.3 s
against 0.65 s for httpx discarding the bodies. The page bytes are instead decoded by msgspec
into typed structs (:func:`~okr_core.sources.jira.records.page_decoder`) that keep only the
landed fields, and are gathered column by column into one Arrow table per search. orjson was
measured too: it is as fast as msgspec at parsing, but it builds every dict the page holds
(status URLs, icons, expand strings) and the conversion then walks them again. A search asks
only for the fields that land (:data:`~okr_core.sources.jira.records.BASE_FIELDS` plus the
summed numeric fields).

After the first page, a thread fetches the next pages (a socket wait releases the GIL) while the
caller converts and lands the current one. It stays at most a few pages ahead, and errors reach
the caller in order. It starts as soon as the first page has answered, even when the server
info (below) has not yet: the pages are handed over only once the site is known to be Jira Cloud.

Costs per sync kept off the path to the data:

- The server info is read at most once a day per integration. A sync passes the integration's
  stored answer (``site_info``: deployment type, version numbers, the base URL it was read from
  and ``checked_at``); when it says Jira Cloud for this base URL and is less than
  :data:`SITE_INFO_MAX_AGE` old by the connector's clock, it stands in for ``serverInfo`` and
  the check costs no request (one request per sync fewer against the vendor's rate limits). A
  Jira Cloud answer read afresh is left in ``site_info_read`` for the sync to store; any other
  answer is refused and never stored. :meth:`JiraConnector.check_connection` (the admin's
  "test connection") always reads ``serverInfo`` afresh.
- When it is read, the client is built without reading ``serverInfo`` first: a thread reads it
  while the first request of the sync travels, and that request's answer is used only once the
  site is known to be Jira Cloud (a site that is not reports that, whatever the other request
  answered). Against Jira Cloud this saves a round trip; the request count is the same.
- A search page is sent through the client's session as a copy of one request prepared for the
  client (its headers and auth merged once), with the page's URL: ``Session.get`` would merge
  the session's headers, cookies, auth, hooks and environment again for every page, about a
  fifth of the transport's CPU. A page that is not ok raises the client's ``JIRAError``
  (``raise_on_error``), as ``Session.get`` does.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, wait
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote_plus, urlencode

import msgspec
import pyarrow as pa
import requests
from jira import JIRA, JIRAError
from jira.resilientsession import raise_on_error

from okr_core.sources.base import ConnectionCheck, ExtractBatch
from okr_core.sources.errors import PermanentSourceError, SourceError, TransientSourceError
from okr_core.sources.http import (
    DEFAULT_TIMEOUT,
    header,
    is_transient_status,
    parse_retry_after,
    safe_url,
)
from okr_core.sources.jira import workers
from okr_core.sources.jira.records import (
    BASE_FIELDS,
    IssueColumns,
    max_updated,
    next_token,
    numeric_ids,
    page_decoder,
    parse_jira_time,
)
from okr_core.sources.retry import Retrier

T = TypeVar("T")
log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Jira's maximum when fields are requested
PREFETCH = 4  # pages a fetch thread may read ahead of the caller
CHUNK_ROWS = 2_000  # issues gathered before they are converted to Arrow
ID_PAGE_SIZE = 5000  # Jira's maximum for id-only searches
STREAMS = 1  # parallel slices for a full search larger than one page (see search_tables)
IDS_PER_LOOKUP = 100
STORY_POINT_ALIASES = frozenset({"story_points", "story points", "storypoints"})
# Worker pools (okr_core.sources.jira.workers): the server-info check, the page producers.
SERVER_INFO, PAGES = "jira-server-info", "jira-pages"
# A stored serverInfo answer (``site_info``) is trusted this long for the same base URL, and
# when its time is no further ahead of the connector's clock than the skew (clocks differ).
SITE_INFO_MAX_AGE = timedelta(hours=24)
SITE_INFO_SKEW = timedelta(minutes=5)


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
        site_info: Mapping[str, Any] | None = None,
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
        self._server_check: Future[None] | None = None
        self._site_info = site_info  # a stored serverInfo answer (see _stored_version)
        self._stored_check = False  # the check was taken from it (no request)
        # What this connector read from serverInfo, for a Jira Cloud site: to be stored.
        self.site_info_read: dict[str, Any] | None = None
        # search/jql requests prepared once per client (the main one and stream clients)
        self._page_requests: weakref.WeakKeyDictionary[JIRA, requests.PreparedRequest] = (
            weakref.WeakKeyDictionary()
        )
        self._field_catalogue: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._connecting = threading.Lock()
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

    def connect(self) -> None:
        """Build the client and make sure the site is Jira Cloud (its ``serverInfo``)."""
        self._require_cloud()

    def _client(self) -> JIRA:
        if self._jira is not None:
            return self._jira
        with self._connecting:
            return self._connect()

    def _connect(self) -> JIRA:
        if self._jira is None:
            client = JIRA(
                server=self.base_url,
                max_retries=0,
                timeout=self._timeout,
                get_server_info=False,  # read alongside the first request: _read_server_info
                **self._auth(),
            )
            # The fields asked for are ids already: pre-seed the client's name-to-id cache
            # so it does not fetch the field list (one request per sync) to translate them.
            with contextlib.suppress(AttributeError):
                client._fields_cache_value = {f: f for f in BASE_FIELDS}
            self._settle_environment(client)
            version = self._stored_version()
            if version is None:
                self._server_check = workers.pool(SERVER_INFO).submit(
                    self._read_server_info, client
                )
            else:  # the site was Jira Cloud at this base URL less than a day ago
                client._version, client.deploymentType = version, "Cloud"
                self._server_check = Future()
                self._server_check.set_result(None)
                self._stored_check = True
            self._jira = client
        return self._jira

    def _stored_version(self) -> tuple[int, ...] | None:
        """The version numbers of ``site_info`` if it can stand in for reading serverInfo: it
        says Jira Cloud, names this base URL and was read less than SITE_INFO_MAX_AGE ago (and
        not ahead of the clock by more than SITE_INFO_SKEW). Anything else is not trusted."""
        info = self._site_info
        if not info or info.get("deploymentType") != "Cloud":
            return None
        if safe_url(str(info.get("base_url") or "")) != self.where:
            return None
        try:
            checked_at = datetime.fromisoformat(str(info.get("checked_at")))
        except ValueError:
            return None
        if checked_at.tzinfo is None:
            return None
        age = self._clock() - checked_at
        if not -SITE_INFO_SKEW <= age < SITE_INFO_MAX_AGE:
            return None
        numbers = info.get("versionNumbers")
        if not isinstance(numbers, list) or not all(type(n) is int for n in numbers):
            return None
        return tuple(numbers)

    def _read_server_info(self, client: JIRA) -> None:
        """Set what the constructor would have read (version, deployment type) and refuse a
        site that is not Jira Cloud (raised to whoever waits for the check). A Jira Cloud
        answer is kept in ``site_info_read`` for the sync to store."""
        info = self._guard("server info", client.server_info)
        client._version = tuple(info.get("versionNumbers") or (0, 0, 0))
        client.deploymentType = info.get("deploymentType")
        if client.deploymentType != "Cloud":
            raise PermanentSourceError(
                f"the server at {self.where} is not Jira Cloud; only Jira Cloud sites "
                "are supported."
            )
        self.site_info_read = {
            "base_url": self.where,  # without user info, query or fragment
            "deploymentType": "Cloud",
            "versionNumbers": list(client._version),
            "checked_at": self._clock().astimezone(UTC).isoformat(),
        }

    def _require_cloud(self) -> JIRA:
        """The client, once its site is known to be Jira Cloud (raises the check's error)."""
        client = self._client()
        assert self._server_check is not None
        self._server_check.result()
        return client

    def _checked(self, first: Callable[[], T]) -> T:
        """Run the first request of an operation while the server info may still be on its
        way; its answer counts only for a Jira Cloud site (else that error is raised)."""
        try:
            result = first()
        except SourceError:
            self._require_cloud()
            raise
        self._require_cloud()
        return result

    # -- the SourceConnector protocol -----------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        """Who the credentials are; the site's serverInfo is always read afresh for it,
        whatever ``site_info`` says."""
        with self._connecting:
            self._site_info = None
            client = self._connect()
            if self._stored_check:
                self._stored_check = False
                self._server_check = workers.pool(SERVER_INFO).submit(
                    self._read_server_info, client
                )
        client = self._require_cloud()
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
            self._field_catalogue = list(
                self._checked(lambda: self._guard("field list", client.fields))
            )
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

    def search_table(
        self,
        jql: str,
        *,
        updated_since: datetime | None = None,
        numeric: Mapping[str, str] | None = None,
    ) -> pa.Table:
        """Every matching issue as one table (``ISSUE_SCHEMA``), oldest update first: pages are
        gathered column by column and converted to Arrow once."""
        columns = IssueColumns(numeric)
        landed_at = self._clock()
        # Converted every CHUNK_ROWS rows while the next pages travel. An incremental read
        # (a few pages) is converted once, after its last page: converting each page as it
        # came cost more CPU in all (each conversion has a fixed cost of some twenty arrays)
        # than it took off the wait after the last page, on a machine whose cores the sync
        # shares with others.
        for issues in self._issue_pages(jql, updated_since=updated_since, numeric=numeric):
            columns.add(issues)
            if columns.pending >= CHUNK_ROWS:
                columns.chunk(integration_id=self.integration_id, landed_at=landed_at)
        return columns.table(integration_id=self.integration_id, landed_at=landed_at)

    def search_tables(
        self,
        jql: str,
        *,
        updated_since: datetime | None = None,
        numeric: Mapping[str, str] | None = None,
    ) -> Iterator[pa.Table]:
        """Pages of matching issues as Arrow tables (``ISSUE_SCHEMA``), oldest update first."""
        for issues in self._issue_pages(jql, updated_since=updated_since, numeric=numeric):
            columns = IssueColumns(numeric)
            columns.add(issues)
            yield columns.table(integration_id=self.integration_id, landed_at=self._clock())

    def _issue_pages(
        self,
        jql: str,
        *,
        updated_since: datetime | None,
        numeric: Mapping[str, str] | None,
    ) -> Iterator[list[Any]]:
        """Decoded issues of each page; the pages after the first are fetched ahead.

        With ``streams`` > 1, a full read larger than one page is split by update time into
        that many slices paged at once (the rest of the first page's range, cut into equal
        time spans), so waiting on one page overlaps waiting on another. That pays off against
        a distant server (Jira Cloud answers a page in hundreds of milliseconds); against the
        local sandbox on two cores one stream is fastest, hence the default of 1.
        """
        client = self._client()
        ids = numeric_ids(numeric or {})
        decoder = page_decoder(ids)
        fields = ",".join([*BASE_FIELDS, *ids])
        query = restrict(jql, updated_since=updated_since)
        try:
            first = self._fetch(client, query, None, fields, decoder)
        except SourceError:
            self._require_cloud()  # a site that is not Jira Cloud reports that instead
            raise
        token = next_token(first)
        if token is None:
            self._require_cloud()
            yield first.issues
            return
        low = _newest_update(first.issues)
        high = self._clock() + timedelta(minutes=1)
        # Only full reads are split: an incremental read is a few pages, and every slice is a
        # new query the server must evaluate from scratch.
        seen: frozenset[str] = frozenset()
        producers: list[Callable[[], Iterator[Any]]]
        if self.streams <= 1 or updated_since is not None or low is None or high <= low:
            producers = [functools.partial(self._pages, client, query, token, fields)]
        else:
            span = (high - low) / self.streams
            bounds = [
                (low + span * i, None if i == self.streams - 1 else low + span * (i + 1))
                for i in range(self.streams)
            ]
            # The first slice starts at the first page's last update time: issues updated at
            # that very instant were on the first page already and are not yielded twice.
            seen = frozenset(
                i.id
                for i in first.issues
                if i.fields is not None and parse_jira_time(i.fields.updated) == low
            )
            producers = [
                functools.partial(self._slice, jql, since, before, fields)
                for since, before in bounds
            ]
        # The next pages start before the server info is known to be Jira Cloud's (it is
        # usually still on its way): nothing is handed over before it is.
        prefetch = _Prefetch(producers)
        try:
            self._require_cloud()
            yield first.issues
            for content in prefetch:
                page = self._decode(decoder, content)
                yield [i for i in page.issues if i.id not in seen] if seen else page.issues
        finally:
            prefetch.close()

    def _fetch(
        self,
        client: JIRA,
        query: str,
        token: str | None,
        fields: str,
        decoder: msgspec.json.Decoder[Any],
        *,
        page_size: int | None = None,
    ) -> Any:
        """One ``search/jql`` page through the client's session, decoded by ``decoder``."""
        content, _ = self._fetch_raw(client, query, token, fields, page_size=page_size)
        return self._decode(decoder, content)

    def _fetch_raw(
        self,
        client: JIRA,
        query: str,
        token: str | None,
        fields: str,
        *,
        page_size: int | None = None,
    ) -> tuple[bytes, str | None]:
        """One page's bytes and the token of the next page (only the token is decoded, so
        the next request can go out at once; the issues are decoded by the caller)."""
        params: dict[str, Any] = {
            "jql": query,
            "fields": fields,
            "maxResults": page_size or self.page_size,
        }
        if token:
            params["nextPageToken"] = token
        # Encoded here, leaving "(", ")" and "," as they are (they are allowed in a query):
        # a query string without "%" takes urllib3's fast path instead of being re-checked
        # byte by byte on every page.
        query_string = urlencode(params, safe="(),", quote_via=quote_plus)

        def call() -> tuple[bytes, str | None]:
            content = self._get_page(client, query_string)
            return content, next_token(_TOKEN.decode(content))

        return self._guard("issue search" if fields else "issue id search", call)

    def _get_page(self, client: JIRA, query_string: str) -> bytes:
        """``GET search/jql?<query_string>`` through the client's session (see the module
        docstring); raises ``JIRAError`` for an answer that is not ok."""
        session = client._session
        template = self._page_requests.get(client)
        if template is None:
            url = client._get_url("search/jql")
            template = session.prepare_request(requests.Request("GET", url))
            self._page_requests[client] = template
        prepared = template.copy()
        prepared.url = f"{template.url}?{query_string}"
        response = session.send(
            prepared, timeout=session.timeout, allow_redirects=True, stream=True
        )
        # The body in one read (decompressed), set where ``response.content`` would keep it:
        # ``content`` reads it in 10 KB chunks, a sixth of a page's client CPU here. Reading
        # it to the end hands the connection back to the pool, as ``content`` does.
        body: bytes = response.raw.read(decode_content=True)
        response._content = body
        response._content_consumed = True
        raise_on_error(response)
        return body

    def _decode(self, decoder: msgspec.json.Decoder[Any], content: bytes) -> Any:
        try:
            return decoder.decode(content)
        except msgspec.DecodeError:
            raise TransientSourceError(
                f"Jira at {self.where} sent a search page that is not valid JSON"
            ) from None

    def _pages(
        self,
        client: JIRA,
        query: str,
        token: str | None,
        fields: str,
    ) -> Iterator[bytes]:
        """The bytes of each page from the one ``token`` names to the last."""
        while True:
            content, token = self._fetch_raw(client, query, token, fields)
            yield content
            if token is None:
                return

    def _slice(
        self, jql: str, since: datetime, before: datetime | None, fields: str
    ) -> Iterator[bytes]:
        client = self._stream_client()
        query = restrict(jql, updated_since=since, updated_before=before)
        return self._pages(client, query, None, fields)

    def _settle_environment(self, client: JIRA) -> None:
        """Read proxy and CA settings from the environment once, not on every request.

        ``requests`` re-reads ``*_PROXY``/``NO_PROXY`` and the CA bundle variables for each
        request while ``trust_env`` is on (about half a millisecond a page); the same values,
        resolved once for this site, are set on the session instead.
        """
        session = getattr(client, "_session", None)
        if session is None:
            return
        settings = tuple(os.environ.get(name) for name in _ENVIRONMENT)
        proxies = _environ_proxies(self.base_url, settings)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        session.trust_env = False
        session.proxies.update(proxies)
        if bundle and session.verify is True:
            session.verify = bundle

    def _stream_client(self) -> JIRA:
        """Another client for a parallel stream, without asking for the server info again."""
        main = self._require_cloud()
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

    def matching_ids(self, jql: str) -> list[str]:
        """Ids of every issue matching ``jql`` now (id-only pages of up to 5,000)."""
        client = self._client()
        query = restrict(jql)
        decoder = page_decoder()
        page = self._checked(
            lambda: self._fetch(client, query, None, "", decoder, page_size=self.id_page_size)
        )
        ids = [issue.id for issue in page.issues]
        while (token := next_token(page)) is not None:
            page = self._fetch(client, query, token, "", decoder, page_size=self.id_page_size)
            ids.extend(issue.id for issue in page.issues)
        return ids

    def approximate_count(self, jql: str) -> int:
        """Jira's (eventually consistent) count of the issues matching ``jql``: one request."""
        client = self._require_cloud()
        query = strip_order_by(jql)
        count = self._guard("issue count", lambda: client.approximate_issue_count(query))
        return int(count) if isinstance(count, int) else int(dict(count).get("count", 0))

    def fetch_by_ids(
        self, ids: Sequence[str], *, numeric: Mapping[str, str] | None = None
    ) -> pa.Table:
        """The issues with these ids (lookups of 100), as one table."""
        ordered = sorted(dict.fromkeys(ids), key=lambda v: (len(v), v))
        columns = IssueColumns(numeric)
        for start in range(0, len(ordered), IDS_PER_LOOKUP):
            chunk = ordered[start : start + IDS_PER_LOOKUP]
            for issues in self._issue_pages(
                f"id in ({', '.join(chunk)})", updated_since=None, numeric=numeric
            ):
                columns.add(issues)
        return columns.table(integration_id=self.integration_id, landed_at=self._clock())


class _Prefetch:
    """Runs page producers on the process's page workers (started at once), handing their
    pages to one consumer in arrival order through a short queue; an error is raised to the
    consumer. :meth:`close` stops the producers (they finish the page in flight) and waits
    for them."""

    def __init__(self, producers: Sequence[Callable[[], Iterator[Any]]]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH * len(producers))
        self._stop = threading.Event()
        pages = workers.pool(PAGES)
        self._running = [pages.submit(self._run, p) for p in producers]

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _run(self, producer: Callable[[], Iterator[Any]]) -> None:
        try:
            for page in producer():
                if self._stop.is_set():
                    return
                self._put(page)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_Failed(exc))
        finally:
            self._put(_DONE)

    def __iter__(self) -> Iterator[Any]:
        finished = 0
        while finished < len(self._running):
            item = self._queue.get()
            if item is _DONE:
                finished += 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item

    def close(self) -> None:
        self._stop.set()
        wait(self._running)


# What requests reads from the environment for a request's proxies and CA bundle.
_ENVIRONMENT = (
    *(
        f"{name}{suffix}"
        for name in ("http", "https", "all", "no")
        for suffix in ("_proxy", "_PROXY")
    ),
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@functools.lru_cache(maxsize=256)
def _environ_proxies(url: str, settings: tuple[str | None, ...]) -> dict[str, str]:
    """The proxies the environment names for ``url``, resolved once per site and settings
    (``settings``: the environment variables' values, only part of the key; resolving them
    costs about as much as a page's request)."""
    return dict(requests.utils.get_environ_proxies(url))


class _PageToken(msgspec.Struct, gc=False):
    nextPageToken: str | None = None  # noqa: N815 - Jira's names
    isLast: bool | None = None  # noqa: N815


_TOKEN = msgspec.json.Decoder(_PageToken)  # skips the issues without building them


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _newest_update(issues: Sequence[Any]) -> datetime | None:
    times = [parse_jira_time(i.fields.updated) for i in issues if i.fields is not None]
    present = [t for t in times if t is not None]
    return max(present) if present else None


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
