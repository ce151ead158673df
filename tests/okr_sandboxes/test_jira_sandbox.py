"""The Jira sandbox through the real ``jira`` client, as the connector will use it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx
import pytest
from jira import JIRA, JIRAError

from okr_sandboxes import JiraSandbox


def client(sandbox: JiraSandbox, **options: object) -> JIRA:
    return JIRA(
        server=sandbox.base_url,
        basic_auth=(sandbox.email, sandbox.api_token),
        max_retries=0,
        **options,  # type: ignore[arg-type]
    )


def test_server_info_reports_cloud(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)

    assert jira.deploymentType == "Cloud"
    assert jira._is_cloud
    assert jira.server_info()["baseUrl"] == jira_sandbox.base_url


def test_search_pages_through_every_issue_with_next_page_tokens(
    jira_sandbox: JiraSandbox,
) -> None:
    jira = client(jira_sandbox)
    jql = "project in (ENG, OPS) ORDER BY updated ASC, key"
    jira_sandbox.reset_requests()

    issues = jira.search_issues(jql, maxResults=False)

    assert len(issues) == 250
    assert len({issue.key for issue in issues}) == 250
    log = jira_sandbox.requests()
    pages = log["by_route"]["GET /rest/api/{version}/search/jql"]
    assert pages == math.ceil(250 / 100)
    searches = [r for r in log["recent"] if r["path"].endswith("/search/jql")]
    assert [r["query"].count("nextPageToken") for r in searches] == [0, 1, 1]
    assert log["items_served"] == 250
    updated = [issue.fields.updated for issue in issues]
    assert updated == sorted(updated)


def test_default_max_results_returns_one_page_of_fifty(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)

    page = jira.search_issues("project = ENG")

    assert len(page) == 50
    assert page.nextPageToken


def test_id_only_pages_go_up_to_5000_and_field_pages_to_100(jira_sandbox: JiraSandbox) -> None:
    auth = (jira_sandbox.email, jira_sandbox.api_token)
    url = jira_sandbox.base_url + "/rest/api/3/search/jql"
    jql = "project in (ENG, OPS)"

    ids = httpx.get(url, params={"jql": jql, "maxResults": 5000}, auth=auth).json()
    full = httpx.get(url, params={"jql": jql, "maxResults": 5000, "fields": "*all"}, auth=auth)

    assert len(ids["issues"]) == 250
    assert ids["issues"][0] == {"id": ids["issues"][0]["id"]}
    assert ids["isLast"] is True
    assert "nextPageToken" not in ids
    assert len(full.json()["issues"]) == 100
    assert full.json()["isLast"] is False


def test_count_matches_the_search(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)
    jql = "project = ENG AND statusCategory = Done"

    count = jira.approximate_issue_count(jql)

    assert count == len(jira.search_issues(jql, maxResults=False))
    assert 0 < count < 250


def test_field_lookup_translates_the_story_points_name(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)

    fields = {f["name"]: f for f in jira.fields()}
    issues = jira.search_issues(
        '"Story point estimate" >= 5 AND project = ENG',
        fields=["summary", "Story point estimate", "status"],
        maxResults=False,
    )

    assert fields["Story point estimate"]["id"] == "customfield_10016"
    assert fields["Story point estimate"]["clauseNames"] == ["cf[10016]", "Story point estimate"]
    assert issues
    assert all(issue.raw["fields"]["customfield_10016"] >= 5 for issue in issues)
    assert set(issues[0].raw["fields"]) >= {"summary", "status", "customfield_10016"}
    assert "labels" not in issues[0].raw["fields"]


def test_issue_has_the_fields_bindings_need(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)

    issue = jira.search_issues("statusCategory = Done", maxResults=1)[0]

    status = issue.fields.status
    assert status.statusCategory.key == "done"
    assert status.statusCategory.name == "Done"
    assert issue.fields.resolutiondate is not None
    assert issue.fields.updated.endswith("+0000")
    assert issue.fields.project.key in ("ENG", "OPS")
    assert issue.fields.issuetype.name in ("Story", "Task", "Bug", "Epic")
    assert isinstance(issue.fields.labels, list)
    assert issue.fields.created <= issue.fields.updated


def test_post_search_and_api_version_3(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox, options={"rest_api_version": "3"})

    via_get = jira.enhanced_search_issues("project = OPS ORDER BY key", maxResults=0)
    via_post = jira.enhanced_search_issues(
        "project = OPS ORDER BY key", maxResults=0, use_post=True
    )

    assert [i.key for i in via_get] == [i.key for i in via_post]
    assert via_get[0].raw["self"].startswith(jira_sandbox.base_url + "/rest/api/3/issue/")
    assert via_get[0].raw["fields"]["description"]["type"] == "doc"


def test_invalid_jql_answers_400_with_jiras_message(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)

    with pytest.raises(JIRAError) as syntax:
        jira.search_issues("project = ENG AND status Done")
    with pytest.raises(JIRAError) as field:
        jira.search_issues("projekt = ENG")
    with pytest.raises(JIRAError) as value:
        jira.search_issues("project = NOPE")

    assert syntax.value.status_code == 400
    assert syntax.value.text == (
        "Error in the JQL Query: Expecting operator but got 'Done'. The valid operators are "
        "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. "
        "(line 1, character 26)"
    )
    assert field.value.status_code == 400
    assert field.value.text == (
        "Field 'projekt' does not exist or you do not have permission to view it."
    )
    assert value.value.text == "The value 'NOPE' does not exist for the field 'project'."


def test_unbounded_query_is_refused_like_cloud(jira_sandbox: JiraSandbox) -> None:
    response = httpx.get(
        jira_sandbox.base_url + "/rest/api/3/search/jql",
        params={"jql": "ORDER BY updated"},
        auth=(jira_sandbox.email, jira_sandbox.api_token),
    )

    assert response.status_code == 400
    assert response.json()["errorMessages"][0].startswith("Unbounded JQL queries")


def test_removed_search_endpoint_answers_410(jira_sandbox: JiraSandbox) -> None:
    response = httpx.get(
        jira_sandbox.base_url + "/rest/api/2/search",
        params={"jql": "project = ENG"},
        auth=(jira_sandbox.email, jira_sandbox.api_token),
    )

    assert response.status_code == 410
    assert "/rest/api/3/search/jql" in response.json()["errorMessages"][0]


def test_wrong_token_answers_401(jira_sandbox: JiraSandbox) -> None:
    with pytest.raises(JIRAError) as error:
        JIRA(
            server=jira_sandbox.base_url,
            basic_auth=(jira_sandbox.email, "not-the-token"),
            max_retries=0,
        )

    assert error.value.status_code == 401
    assert "authenticated" in error.value.text


def test_validate_checks_the_credentials(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox, validate=True)

    assert jira.current_user() == jira_sandbox.account_id
    with pytest.raises(JIRAError) as error:
        JIRA(server=jira_sandbox.base_url, basic_auth=(jira_sandbox.email, "x"), validate=True)
    assert error.value.status_code == 401


def test_anonymous_server_info_but_no_anonymous_search(jira_sandbox: JiraSandbox) -> None:
    jira = JIRA(server=jira_sandbox.base_url, max_retries=0)

    with pytest.raises(JIRAError) as error:
        jira.search_issues("project = ENG")

    assert error.value.status_code == 401


def test_oauth_access_token_is_accepted_as_bearer(jira_sandbox: JiraSandbox) -> None:
    jira = JIRA(server=jira_sandbox.base_url, token_auth=jira_sandbox.access_token, max_retries=0)

    assert jira.myself()["accountId"] == jira_sandbox.account_id
    assert jira.search_issues("project = ENG", maxResults=1)


def test_second_sync_reads_only_changed_issues(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)
    everything = jira.search_issues("project in (ENG, OPS) ORDER BY updated ASC", maxResults=False)
    watermark = max(issue.fields.updated for issue in everything)
    keys = [everything[0].key, everything[10].key, everything[20].key]
    for key in keys:
        jira_sandbox.update_issue(key, status="Done")
    jira_sandbox.reset_requests()

    changed = jira.search_issues(
        f'project in (ENG, OPS) AND updated >= "{watermark[:10]} {watermark[11:16]}" '
        "ORDER BY updated ASC, key",
        maxResults=False,
    )
    recent = jira.search_issues("project in (ENG, OPS) AND updated > -5m", maxResults=False)

    assert {i.key for i in changed} >= set(keys)
    assert len(changed) <= 3 + 2  # plus issues updated in the watermark's own minute
    assert {i.key for i in recent} == set(keys)
    assert jira_sandbox.requests()["items_served"] == len(changed) + 3
    assert all(i.fields.status.statusCategory.key == "done" for i in recent)


def test_deleted_and_moved_issues_leave_the_counts_correct(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)
    eng = jira.search_issues("project = ENG ORDER BY key ASC", maxResults=False)
    ops_count = jira.approximate_issue_count("project = OPS")

    jira_sandbox.delete_issue(eng[0].key)
    new_key = jira_sandbox.move_issue(eng[1].key, "OPS")

    after = jira.search_issues("project = ENG", maxResults=False)
    assert len(after) == len(eng) - 2
    assert jira.approximate_issue_count("project = OPS") == ops_count + 1
    assert new_key.startswith("OPS-")
    assert jira.search_issues(f"key = {eng[1].key}")[0].key == new_key
    with pytest.raises(JIRAError) as gone:
        jira.search_issues(f"key = {eng[0].key}")
    assert gone.value.status_code == 400


def test_new_issues_appear_in_search(jira_sandbox: JiraSandbox) -> None:
    jira = client(jira_sandbox)
    before = jira.approximate_issue_count("project = OPS AND labels = launch")

    changes = jira_sandbox.add_issues(
        3, project="OPS", labels=["launch"], story_points=5, status="In Progress"
    )

    found = jira.search_issues("project = OPS AND labels = launch", maxResults=False)
    assert before == 0
    assert {i.key for i in found} == {c["key"] for c in changes}
    assert {i.fields.status.name for i in found} == {"In Progress"}


def test_changes_between_pages_neither_skip_nor_repeat_issues(jira_sandbox: JiraSandbox) -> None:
    auth = (jira_sandbox.email, jira_sandbox.api_token)
    url = jira_sandbox.base_url + "/rest/api/3/search/jql"
    params = {"jql": "project in (ENG, OPS) ORDER BY updated ASC", "fields": "updated"}
    seen: list[str] = []
    token = None
    with httpx.Client(auth=auth) as http:
        while True:
            page = http.get(url, params={**params, "nextPageToken": token} if token else params)
            body = page.json()
            seen += [issue["key"] for issue in body["issues"]]
            if len(seen) == 50:  # the last issue served and one further on both change now
                jira_sandbox.update_issue(seen[-1], summary="edited while paging")
                jira_sandbox.update_issue(seen[0], summary="edited while paging")
            token = body.get("nextPageToken")
            if not token:
                break

    assert len(seen) == len(set(seen)) == 250


def test_a_site_can_play_jira_server(jira_sandbox: JiraSandbox) -> None:
    server = jira_sandbox.add_site(seed="tenant-dc", issues=5, deployment_type="Server")
    jira = client(server)
    assert jira.deploymentType == "Server"
    assert not jira._is_cloud


def test_the_site_clock_plays_ahead_and_changes_can_be_stamped_in_the_interval(
    jira_sandbox: JiraSandbox,
) -> None:
    jira = client(jira_sandbox)
    before = jira_sandbox.clock()
    now = jira_sandbox.advance_clock(3600)
    assert now - before >= timedelta(hours=1)
    assert jira_sandbox.clock() >= now
    served = datetime.strptime(jira.server_info()["serverTime"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert served >= now - timedelta(seconds=1)
    with pytest.raises(RuntimeError, match="only moves forward"):
        jira_sandbox.advance_clock(-1)

    early, late = now - timedelta(minutes=50), now - timedelta(minutes=2)
    jira_sandbox.update_issue("ENG-1", summary="early", at=early)
    jira_sandbox.update_issue("ENG-2", summary="late", at=late)
    jira_sandbox.update_issue("ENG-3", summary="now")  # stamped with the site's clock
    with pytest.raises(RuntimeError, match="later than the site's clock"):
        jira_sandbox.update_issue("ENG-4", summary="future", at=now + timedelta(hours=1))

    def keys_since(moment: datetime) -> list[str]:
        ms = int(moment.timestamp() * 1000)
        found = jira.search_issues(
            f"project = ENG AND updated >= {ms} ORDER BY updated ASC", maxResults=False
        )
        return [issue.key for issue in found]

    assert keys_since(early) == ["ENG-1", "ENG-2", "ENG-3"]
    assert keys_since(now - timedelta(minutes=5)) == ["ENG-2", "ENG-3"]
    assert keys_since(now) == ["ENG-3"]
    assert jira_sandbox.issue("ENG-1")["fields"]["updated"].startswith(
        early.strftime("%Y-%m-%dT%H:%M")
    )
    assert jira.search_issues("project = ENG AND updated > -10m", maxResults=False)[0].key in (
        "ENG-2",
        "ENG-3",
    )
