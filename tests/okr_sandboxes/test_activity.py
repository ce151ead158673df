"""Activity mode: issues move and pull requests merge over time, with webhooks."""

from __future__ import annotations

import json
import time

from jira import JIRA

from okr_sandboxes import GitHubSandbox, JiraSandbox, run_jira_sandbox

from .conftest import Receiver


def test_a_jira_tick_moves_issues_along_the_workflow(jira_sandbox: JiraSandbox) -> None:
    before = jira_sandbox.state()["version"]

    changes = jira_sandbox.tick(steps=3)

    assert changes
    assert jira_sandbox.state()["version"] == before + len(changes)
    moved = [c for c in changes if c["event"] == "jira:issue_updated"]
    assert moved
    issue = jira_sandbox.issue(moved[-1]["key"])
    assert issue["fields"]["status"]["name"] in ("In Progress", "In Review", "Done")


def test_a_github_tick_merges_or_opens_pull_requests(github_sandbox: GitHubSandbox) -> None:
    changes = github_sandbox.tick(steps=5)

    assert {c["action"] for c in changes} & {"closed", "opened", "edited"}
    assert github_sandbox.state()["version"] == len(changes)


def test_activity_is_seeded(jira_sandbox: JiraSandbox) -> None:
    other = jira_sandbox.add_site(seed="tenant-a", name="twin", issues=250, anchor="2026-03-31")

    assert jira_sandbox.tick(steps=4) == other.tick(steps=4)


def test_background_activity_changes_data_and_sends_webhooks(receiver: Receiver) -> None:
    with run_jira_sandbox(seed="busy", issues=30, activity_tick=0.1) as sandbox:
        sandbox.register_webhook(receiver.url + "/hooks/jira", "s")
        jira = JIRA(server=sandbox.base_url, basic_auth=(sandbox.email, sandbox.api_token))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not receiver.received:
            time.sleep(0.05)
        recent = jira.search_issues("project in (ENG, OPS) AND updated > -1m", maxResults=False)
        sandbox.set_activity(None)
        steps = sandbox.state()["activity_steps"]

    assert steps >= 1
    assert recent
    assert receiver.received
    assert json.loads(receiver.received[0].body)["webhookEvent"].startswith("jira:issue_")
