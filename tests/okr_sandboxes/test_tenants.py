"""Sandbox tenants: same project keys and repository names, different seeded data."""

from __future__ import annotations

import httpx
from github import Auth, Github
from jira import JIRA

from okr_sandboxes import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from okr_sandboxes.jira.app import render_fields, render_issue
from okr_sandboxes.jira.data import JiraData

from .conftest import ANCHOR


def snapshot(sandbox: JiraSandbox) -> list[tuple[str, str, str, float | None]]:
    jira = JIRA(server=sandbox.base_url, basic_auth=(sandbox.email, sandbox.api_token))
    issues = jira.search_issues("project = ENG ORDER BY key ASC", maxResults=False)
    return [
        (i.key, i.fields.summary, i.fields.status.name, i.fields.customfield_10016) for i in issues
    ]


def test_same_project_key_different_seed_gives_different_data(jira_sandbox: JiraSandbox) -> None:
    other = jira_sandbox.add_site(seed="tenant-b", issues=250, anchor=ANCHOR)

    mine, theirs = snapshot(jira_sandbox), snapshot(other)

    assert other.base_url != jira_sandbox.base_url
    assert {k.split("-")[0] for k, *_ in mine} == {k.split("-")[0] for k, *_ in theirs} == {"ENG"}
    assert mine != theirs


def test_same_seed_gives_the_same_data_on_another_server(jira_sandbox: JiraSandbox) -> None:
    with run_jira_sandbox(seed="tenant-a", issues=250, anchor=ANCHOR) as again:
        assert snapshot(again) == snapshot(jira_sandbox)
        assert again.api_token == jira_sandbox.api_token


def test_one_tenants_credentials_are_refused_by_another(jira_sandbox: JiraSandbox) -> None:
    other = jira_sandbox.add_site(seed="tenant-b")

    crossed = httpx.get(
        other.base_url + "/rest/api/3/myself", auth=(jira_sandbox.email, jira_sandbox.api_token)
    )
    unknown = httpx.get(
        jira_sandbox.server_url + "/ex/jira/nobody/rest/api/3/myself",
        auth=(jira_sandbox.email, jira_sandbox.api_token),
    )

    assert crossed.status_code == 401
    assert unknown.status_code == 404
    assert other.api_token != jira_sandbox.api_token


def test_same_repository_names_different_pull_requests(github_sandbox: GitHubSandbox) -> None:
    with run_github_sandbox(seed="tenant-b", pulls=450, anchor=ANCHOR) as other:

        def titles(sandbox: GitHubSandbox) -> list[tuple[int, str, str]]:
            gh = Github(
                base_url=sandbox.base_url,
                auth=Auth.Token(sandbox.token),
                per_page=100,
                seconds_between_requests=None,
            )
            pulls = gh.get_repo("acme/api").get_pulls(state="all")
            return [(p.number, p.title, p.created_at.isoformat()) for p in pulls]

        assert github_sandbox.repos == other.repos == ["api", "web"]
        assert titles(github_sandbox) != titles(other)
        crossed = httpx.get(
            other.base_url + "/user", headers={"Authorization": f"token {github_sandbox.token}"}
        )
        assert crossed.status_code == 401


def test_fast_rendering_equals_the_plain_json() -> None:
    import json

    data = JiraData(seed="render", issues=100, anchor=ANCHOR)
    for version in ("2", "3"):
        for wanted in (None, frozenset({"summary", "status", "customfield_10016"})):
            for issue in data.issues.values():
                fast = json.loads(render_issue(issue, "http://h:1/ex/jira/x", version, wanted))
                assert fast == render_fields(issue, "http://h:1/ex/jira/x", version, wanted)
