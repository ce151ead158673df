"""A binding's preview runs it once against the (sandboxed) source and lands nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import jira
import pytest
from github import Auth, Github
from sqlalchemy.orm import Session

from okr_core.binding_preview import preview_binding
from okr_core.models import Metric, Objective
from okr_core.sources.errors import PermanentSourceError
from okr_core.sources.jira.records import parse_jira_time
from okr_core.tenancy import tenant_context
from okr_sandboxes import GitHubSandbox, JiraSandbox, run_github_sandbox, run_jira_sandbox
from tests.okr_core.sources.support import (
    CIPHER,
    create_key_result,
    create_tenant,
    github_integration,
    jira_integration,
)

JQL = "project = ENG AND issuetype in (Story, Bug)"


@pytest.fixture(scope="module")
def jira_sandbox() -> Iterator[JiraSandbox]:
    with run_jira_sandbox(seed="preview-jira", issues=240) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="preview-github", pulls=90) as sandbox:
        yield sandbox


def period_start(session: Session, objective_id: object) -> datetime:
    objective = session.get(Objective, objective_id)
    assert objective is not None
    return datetime.combine(objective.period_start, datetime.min.time(), UTC)


def expected_jira(sandbox: JiraSandbox, start: datetime) -> tuple[int, float, float]:
    """Count, done share and story points of the JQL, computed independently of the models."""
    client = jira.JIRA(server=sandbox.base_url, basic_auth=(sandbox.email, sandbox.api_token))
    issues = client.search_issues(
        JQL,
        maxResults=False,
        fields="status,created,resolutiondate,statuscategorychangedate,updated,customfield_10016",
    )
    count = done = total = 0
    points = 0.0
    for issue in issues:
        fields = issue.raw["fields"]
        is_done = fields["status"]["statusCategory"]["key"] == "done"
        done_at = parse_jira_time(
            fields.get("resolutiondate")
            or fields.get("statuscategorychangedate")
            or fields["updated"]
        )
        if is_done and done_at is not None and done_at < start:
            continue  # done before the period: not in it
        count += 1
        total += 1
        done += is_done
        if is_done:
            points += float(fields.get("customfield_10016") or 0)
    return count, round(100.0 * done / total, 4), points


def test_jira_preview_counts_the_jql_inside_the_period(
    session: Session, jira_sandbox: JiraSandbox
) -> None:
    tenant_id = create_tenant(session, "preview-a")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        integration = jira_integration(session, jira_sandbox)
        start = period_start(session, kr.objective_id)
        count, share, _ = expected_jira(jira_sandbox, start)
        assert count > 5
        assert 0 < share < 100
        preview = preview_binding(
            session,
            integration=integration,
            key_result=kr,
            metric=Metric.jira_issue_count,
            parameters={"jql": JQL},
            whole_history=False,
            cipher=CIPHER,
            sample_size=5,
        )
        assert preview.value == count
        assert preview.record_count == count
        assert len(preview.records) == min(5, count)
        assert preview.query == JQL
        assert all(r["key"].startswith("ENG-") for r in preview.records)
        shared = preview_binding(
            session,
            integration=integration,
            key_result=kr,
            metric=Metric.jira_done_share,
            parameters={"jql": JQL},
            whole_history=False,
            cipher=CIPHER,
        )
        assert shared.value == pytest.approx(share)


def test_jira_preview_sums_story_points_of_done_work(
    session: Session, jira_sandbox: JiraSandbox
) -> None:
    tenant_id = create_tenant(session, "preview-b")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        integration = jira_integration(session, jira_sandbox, oauth=True)
        _, _, points = expected_jira(jira_sandbox, period_start(session, kr.objective_id))
        assert points > 0
        preview = preview_binding(
            session,
            integration=integration,
            key_result=kr,
            metric=Metric.jira_field_sum,
            parameters={"jql": f"{JQL} AND statusCategory = Done", "field": "Story point estimate"},
            whole_history=False,
            cipher=CIPHER,
        )
        assert preview.value == pytest.approx(points)


def test_invalid_jql_tells_the_admin_what_to_fix(
    session: Session, jira_sandbox: JiraSandbox
) -> None:
    tenant_id = create_tenant(session, "preview-c")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        integration = jira_integration(session, jira_sandbox)
        with pytest.raises(PermanentSourceError, match="JQL"):
            preview_binding(
                session,
                integration=integration,
                key_result=kr,
                metric=Metric.jira_issue_count,
                parameters={"jql": "project = = ENG"},
                whole_history=False,
                cipher=CIPHER,
            )


def test_github_preview_counts_merged_pull_requests_in_the_period(
    session: Session, github_sandbox: GitHubSandbox
) -> None:
    tenant_id = create_tenant(session, "preview-d")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        integration = github_integration(session, github_sandbox)
        start = period_start(session, kr.objective_id)
        client = Github(base_url=github_sandbox.base_url, auth=Auth.Token(github_sandbox.token))
        pulls = list(client.get_repo(f"{github_sandbox.owner}/api").get_pulls(state="all"))
        merged = [p for p in pulls if p.merged_at is not None and p.merged_at >= start]
        closed = [p for p in pulls if p.closed_at is not None and p.closed_at >= start]
        assert len(closed) > len(merged) > 0
        preview = preview_binding(
            session,
            integration=integration,
            key_result=kr,
            metric=Metric.github_merged_prs,
            parameters={"repositories": [f"{github_sandbox.owner}/API"]},
            whole_history=False,
            cipher=CIPHER,
        )
        assert preview.value == len(merged)
        assert preview.query == f"is:pr is:merged repo:{github_sandbox.owner}/api"
        rate = preview_binding(
            session,
            integration=integration,
            key_result=kr,
            metric=Metric.github_merge_rate,
            parameters={"repositories": [f"{github_sandbox.owner}/api"]},
            whole_history=False,
            cipher=CIPHER,
        )
        assert rate.record_count == len(closed)
        assert rate.value == pytest.approx(round(100.0 * len(merged) / len(closed), 4))


def test_a_jira_metric_on_a_github_integration_is_refused(
    session: Session, github_sandbox: GitHubSandbox
) -> None:
    tenant_id = create_tenant(session, "preview-e")
    with tenant_context(session, tenant_id):
        kr = create_key_result(session)
        integration = github_integration(session, github_sandbox)
        with pytest.raises(PermanentSourceError, match="needs a jira integration"):
            preview_binding(
                session,
                integration=integration,
                key_result=kr,
                metric=Metric.jira_issue_count,
                parameters={"jql": "project = ENG"},
                whole_history=False,
                cipher=CIPHER,
            )
