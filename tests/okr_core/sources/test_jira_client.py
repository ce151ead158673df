"""The Jira connector on the real ``jira`` client, against the Jira Cloud sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from okr_core.sources.errors import PermanentSourceError, TransientSourceError
from okr_core.sources.jira.client import JiraConnector, restrict, strip_order_by
from okr_core.sources.retry import Retrier, RetryPolicy
from okr_sandboxes import JiraSandbox, run_jira_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="jira-client", issues=260) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def clean(sandbox: JiraSandbox) -> Iterator[None]:
    sandbox.clear_faults()
    sandbox.reset_requests()
    yield
    sandbox.clear_faults()


def connector(
    sandbox: JiraSandbox, *, waits: list[float] | None = None, **kwargs: object
) -> JiraConnector:
    sleep = waits.append if waits is not None else (lambda _: None)
    return JiraConnector(
        base_url=sandbox.base_url,
        email=sandbox.email,
        api_token=str(kwargs.pop("api_token", sandbox.api_token)),
        retrier=Retrier(policy=RetryPolicy(max_attempts=8, base_delay=0.01), sleep=sleep),
        **kwargs,  # type: ignore[arg-type]
    )


def test_order_by_is_replaced_and_the_watermark_added() -> None:
    assert strip_order_by('project = ENG AND summary ~ "order by" ORDER BY rank') == (
        'project = ENG AND summary ~ "order by"'
    )
    since = datetime(2026, 10, 1, tzinfo=UTC)
    assert restrict("project = ENG order by created DESC", updated_since=since) == (
        "(project = ENG) AND updated >= 1790812800000 ORDER BY updated ASC, key ASC"
    )


def test_pages_through_every_issue_with_next_page_tokens(sandbox: JiraSandbox) -> None:
    jira = connector(sandbox, page_size=40)
    batches = list(jira.extract(updated_since=None, scope={"jql": "project = ENG"}))
    ids = [r["issue_id"] for b in batches for r in b.records]
    assert len(batches) > 2
    assert len(ids) == len(set(ids)) == len(jira.matching_ids("project = ENG"))
    routes = sandbox.requests()["by_route"]
    assert routes["GET /rest/api/{version}/serverInfo"] == 1


def test_only_updates_since_the_watermark_are_read(sandbox: JiraSandbox) -> None:
    jira = connector(sandbox)
    records = [r for b in jira.search("project = ENG") for r in b.records]
    newest = max(r["updated_at"] for r in records)
    later = [r for b in jira.search("project = ENG", updated_since=newest) for r in b.records]
    assert [r["updated_at"] for r in later] == [newest]


def test_story_points_are_resolved_by_name(sandbox: JiraSandbox) -> None:
    jira = connector(sandbox)
    assert jira.resolve_numeric_fields(["Story Points"]) == {"Story Points": "customfield_10016"}
    with pytest.raises(PermanentSourceError, match="no field named 'Velocity'"):
        jira.resolve_numeric_fields(["Velocity"])
    with pytest.raises(PermanentSourceError, match="not numeric"):
        jira.resolve_numeric_fields(["Summary"])


def test_429_waits_at_least_retry_after_and_the_library_does_not_retry(
    sandbox: JiraSandbox,
) -> None:
    waits: list[float] = []
    jira = connector(sandbox, waits=waits, page_size=50)
    list(jira.search("project = ENG"))  # warm up: server info and field list
    sandbox.reset_requests()
    sandbox.set_faults(rate_limited=0.4, retry_after=4, seed="r", paths=("search/jql",))
    started = time.monotonic()
    records = [r for b in jira.search("project = ENG") for r in b.records]
    assert time.monotonic() - started < 3  # nobody slept for real (our sleep is a stub)
    throttled = sandbox.requests()["by_status"].get("429", 0)
    assert throttled >= 1
    assert len(waits) == throttled  # one retry of ours per 429, none of the library's
    assert all(w >= 4 for w in waits)
    assert len(records) == len(jira.matching_ids("project = ENG"))


def test_server_errors_are_transient(sandbox: JiraSandbox) -> None:
    sandbox.set_faults(server_errors=1.0, error_statuses=(502,))
    jira = JiraConnector(
        base_url=sandbox.base_url,
        email=sandbox.email,
        api_token=sandbox.api_token,
        retrier=Retrier(policy=RetryPolicy(max_attempts=3), sleep=lambda _: None),
    )
    with pytest.raises(TransientSourceError, match="502"):
        list(jira.search("project = ENG"))
    # the server info and the first page go out together; each is tried three times
    routes = sandbox.requests()["by_route"]
    assert routes["GET /rest/api/{version}/serverInfo"] == 3
    assert routes["GET /rest/api/{version}/search/jql"] == 3


def test_wrong_credentials_fail_at_once_without_echoing_them(sandbox: JiraSandbox) -> None:
    jira = connector(sandbox, api_token="not-the-token-12345")
    with pytest.raises(PermanentSourceError) as raised:
        list(jira.search("project = ENG"))
    assert raised.value.status == 401
    assert "not-the-token-12345" not in str(raised.value)
    assert "API token" in str(raised.value)
    # the server info and the first page (sent together) are refused once each: no retries
    assert sandbox.requests()["by_status"] == {"401": 2}


def test_an_invalid_jql_says_what_to_fix(sandbox: JiraSandbox) -> None:
    with pytest.raises(PermanentSourceError, match="Fix the binding's JQL") as raised:
        list(connector(sandbox).search("project = ENG AND nosuchfield = 1"))
    assert raised.value.status == 400
    assert sandbox.requests()["total"] <= 3


def test_an_unreachable_site_is_transient() -> None:
    jira = JiraConnector(
        base_url="http://127.0.0.1:9/ex/jira/nowhere",
        email="a@example.com",
        api_token="secret-token",
        retrier=Retrier(policy=RetryPolicy(max_attempts=2), sleep=lambda _: None),
        timeout=(0.5, 0.5),
    )
    with pytest.raises(TransientSourceError, match="could not reach Jira") as raised:
        jira.check_connection()
    assert "secret-token" not in str(raised.value)


def test_check_connection_names_the_account(sandbox: JiraSandbox) -> None:
    check = connector(sandbox).check_connection()
    assert check.ok
    assert check.account == sandbox.email
    oauth = JiraConnector(base_url=sandbox.base_url, access_token=sandbox.access_token)
    assert oauth.check_connection().ok


def test_watermark_boundaries_use_epoch_milliseconds() -> None:
    since = datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC) - timedelta(minutes=5)
    assert "updated >= 1767225300123" in restrict("project = X", updated_since=since)


def test_parallel_slices_return_every_issue_once(sandbox: JiraSandbox) -> None:
    sliced = connector(sandbox, page_size=25, streams=3)
    tables = list(sliced.search_tables("project = ENG"))
    ids = [i for t in tables for i in t.column("issue_id").to_pylist()]
    assert len(ids) == len(set(ids)) == len(sliced.matching_ids("project = ENG"))
    routes = sandbox.requests()["by_route"]
    assert routes["GET /rest/api/{version}/serverInfo"] == 1  # stream clients reuse it


def test_the_server_info_is_read_alongside_the_first_page(sandbox: JiraSandbox) -> None:
    sandbox.set_faults(slow=1.0, delay=0.5, paths=("serverInfo",))
    jira = connector(sandbox)
    ids = [i for t in jira.search_tables("project = ENG") for i in t.column("issue_id").to_pylist()]
    assert len(ids) == len(set(ids)) == len(jira.matching_ids("project = ENG"))
    served = [r["path"].rsplit("/", 1)[-1] for r in sandbox.requests()["recent"]]
    assert served[0] == "jql"  # answered while the server info was still delayed
    assert served.count("serverInfo") == 1


def test_a_site_that_is_not_jira_cloud_is_refused_though_its_search_answers(
    sandbox: JiraSandbox,
) -> None:
    server = sandbox.add_site(seed="jira-server", issues=20, deployment_type="Server")
    jira = connector(server)
    for call in (
        lambda: list(jira.search("project = ENG")),
        lambda: jira.matching_ids("project = ENG"),
        jira.check_connection,
    ):
        with pytest.raises(PermanentSourceError, match="not Jira Cloud"):
            call()
    assert server.requests()["by_status"].get("200", 0) >= 1  # the search itself answered
    # Pages after the first are fetched before the check is known; none is handed over.
    pages = connector(server, page_size=5).search_tables("project = ENG")
    with pytest.raises(PermanentSourceError, match="not Jira Cloud"):
        next(pages)  # the first page is not handed over


# -- the stored server info (site_info) ------------------------------------------------------

SERVER_INFO_ROUTE = "GET /rest/api/{version}/serverInfo"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def server_info_requests(sandbox: JiraSandbox) -> int:
    return int(sandbox.requests()["by_route"].get(SERVER_INFO_ROUTE, 0))


def stored(
    base_url: str, *, age: timedelta = timedelta(hours=1), deployment: str = "Cloud"
) -> dict[str, object]:
    """What a sync stores after reading the site's serverInfo ``age`` before NOW."""
    return {
        "base_url": base_url,
        "deploymentType": deployment,
        "versionNumbers": [1001, 0, 0],
        "checked_at": (NOW - age).isoformat(),
    }


@pytest.mark.parametrize(
    ("age", "slash"),
    [
        (timedelta(hours=1), ""),
        (timedelta(hours=23, minutes=59), "/"),  # a trailing slash names the same site
        (timedelta(minutes=-2), ""),  # a little ahead of our clock: clocks differ
    ],
)
def test_fresh_site_info_spares_the_server_info_request(
    sandbox: JiraSandbox, age: timedelta, slash: str
) -> None:
    jira = connector(
        sandbox, clock=lambda: NOW, site_info=stored(sandbox.base_url + slash, age=age)
    )
    ids = [i for t in jira.search_tables("project = ENG") for i in t.column("issue_id").to_pylist()]
    assert ids
    # approximate-count is a Cloud-only call of the client: the stored deployment type is set
    assert jira.approximate_count("project = ENG") == len(ids)
    assert server_info_requests(sandbox) == 0
    assert jira.site_info_read is None  # nothing new to store


@pytest.mark.parametrize(
    "site_info",
    [
        pytest.param(lambda url: stored(url, age=timedelta(hours=25)), id="25 hours old"),
        pytest.param(lambda url: stored(url, age=timedelta(hours=24)), id="24 hours old"),
        pytest.param(lambda url: stored(url, age=-timedelta(hours=1)), id="ahead of the clock"),
        pytest.param(lambda url: stored(url.replace("127.0.0.1", "localhost")), id="other URL"),
        pytest.param(lambda url: stored(url, deployment="Server"), id="Server"),
        pytest.param(lambda url: {**stored(url), "checked_at": "yesterday"}, id="no time"),
        pytest.param(lambda url: None, id="none"),
    ],
)
def test_site_info_that_cannot_stand_in_is_read_again_and_kept(
    sandbox: JiraSandbox, site_info: Callable[[str], dict[str, object] | None]
) -> None:
    jira = connector(sandbox, clock=lambda: NOW, site_info=site_info(sandbox.base_url))
    assert list(jira.search_tables("project = ENG"))
    assert server_info_requests(sandbox) == 1
    assert jira.site_info_read == {
        "base_url": sandbox.base_url,
        "deploymentType": "Cloud",
        "versionNumbers": [1001, 0, 0],
        "checked_at": NOW.isoformat(),
    }


def test_a_site_that_answers_it_is_not_cloud_is_refused_and_nothing_is_kept(
    sandbox: JiraSandbox,
) -> None:
    server = sandbox.add_site(seed="jira-server-stored", issues=10, deployment_type="Server")
    for site_info in (
        stored(server.base_url, age=timedelta(hours=25)),  # it was Cloud, but long ago
        stored(sandbox.base_url),  # a fresh answer of another site
    ):
        server.reset_requests()
        jira = connector(server, clock=lambda: NOW, site_info=site_info)
        with pytest.raises(PermanentSourceError, match="is not Jira Cloud; only Jira Cloud"):
            list(jira.search_tables("project = ENG"))
        assert server_info_requests(server) == 1
        assert jira.site_info_read is None


def test_check_connection_always_reads_the_server_info(sandbox: JiraSandbox) -> None:
    jira = connector(sandbox, clock=lambda: NOW, site_info=stored(sandbox.base_url))
    assert list(jira.search_tables("project = ENG"))
    assert server_info_requests(sandbox) == 0
    assert jira.check_connection().ok  # the same connector, already connected on the stored info
    assert server_info_requests(sandbox) == 1
    assert jira.site_info_read is not None
    # A fresh stored answer saying Cloud does not make a Server site pass the test.
    server = sandbox.add_site(seed="jira-server-check", issues=5, deployment_type="Server")
    fooled = connector(server, clock=lambda: NOW, site_info=stored(server.base_url))
    with pytest.raises(PermanentSourceError, match="not Jira Cloud"):
        fooled.check_connection()
    assert server_info_requests(server) == 1
