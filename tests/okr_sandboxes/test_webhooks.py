"""Webhook deliveries: signed like the vendors, with the vendors' delivery ids, replayable."""

from __future__ import annotations

import hashlib
import hmac
import json

from okr_sandboxes import GitHubSandbox, JiraSandbox, signature, verify_signature

from .conftest import Receiver


def test_github_documentation_test_vector() -> None:
    assert signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert verify_signature(
        "It's a Secret to Everybody",
        b"Hello, World!",
        signature("It's a Secret to Everybody", b"Hello, World!"),
    )
    assert not verify_signature("other", b"Hello, World!", None)


def test_jira_issue_update_is_delivered_signed(
    jira_sandbox: JiraSandbox, receiver: Receiver
) -> None:
    jira_sandbox.register_webhook(receiver.url + "/hooks/jira", "jira-secret")
    current = jira_sandbox.issue("ENG-1")["fields"]["status"]["name"]
    target = "In Review" if current == "Done" else "Done"

    jira_sandbox.update_issue("ENG-1", status=target)
    assert jira_sandbox.flush_webhooks()

    (delivery,) = receiver.wait_for(1)
    expected = "sha256=" + hmac.new(b"jira-secret", delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["x-hub-signature"] == expected
    assert delivery.headers["x-atlassian-webhook-identifier"]
    assert "x-hub-signature-256" not in delivery.headers
    payload = json.loads(delivery.body)
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue"]["key"] == "ENG-1"
    status_change = next(i for i in payload["changelog"]["items"] if i["field"] == "status")
    assert (status_change["fromString"], status_change["toString"]) == (current, target)
    assert payload["issue"]["self"].startswith(jira_sandbox.base_url)


def test_jira_retries_with_the_same_identifier(
    jira_sandbox: JiraSandbox, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    jira_sandbox.register_webhook(receiver.url + "/hooks/jira", "s")

    jira_sandbox.delete_issue("OPS-2")
    assert jira_sandbox.flush_webhooks()

    first, second = receiver.wait_for(2)
    assert (
        first.headers["x-atlassian-webhook-identifier"]
        == (second.headers["x-atlassian-webhook-identifier"])
    )
    assert "x-atlassian-webhook-retry" not in first.headers
    assert second.headers["x-atlassian-webhook-retry"] == "1"
    assert json.loads(second.body)["webhookEvent"] == "jira:issue_deleted"
    (record,) = jira_sandbox.deliveries()
    assert record["state"] == "delivered"
    assert [a.get("status") for a in record["attempts"]] == [503, 202]


def test_jira_webhook_jql_filter(jira_sandbox: JiraSandbox, receiver: Receiver) -> None:
    jira_sandbox.register_webhook(receiver.url + "/hooks/ops", "s", filter="project = OPS")

    jira_sandbox.update_issue("ENG-3", summary="not for OPS")
    jira_sandbox.update_issue("OPS-3", summary="for OPS")
    assert jira_sandbox.flush_webhooks()

    assert [json.loads(d.body)["issue"]["key"] for d in receiver.received] == ["OPS-3"]


def test_github_merge_is_delivered_signed(
    github_sandbox: GitHubSandbox, receiver: Receiver
) -> None:
    hook = github_sandbox.register_webhook(receiver.url + "/hooks/gh", "gh-secret")
    number = github_sandbox.open_pulls("web")[0]["number"]

    github_sandbox.merge_pull("web", number)
    assert github_sandbox.flush_webhooks()

    deliveries = receiver.wait_for(2)  # concurrent deliveries may arrive in either order
    by_action = {json.loads(d.body)["action"]: d for d in deliveries}
    opened, merged = by_action["opened"], by_action["closed"]
    assert verify_signature("gh-secret", merged.body, merged.headers["x-hub-signature-256"])
    assert merged.headers["x-github-event"] == "pull_request"
    assert merged.headers["x-github-hook-id"] == str(hook["id"])
    assert merged.headers["x-github-delivery"] != opened.headers["x-github-delivery"]
    payload = json.loads(merged.body)
    assert payload["action"] == "closed"
    assert payload["pull_request"]["merged"] is True
    assert payload["pull_request"]["number"] == number
    assert payload["repository"]["full_name"] == "acme/web"


def test_redelivery_repeats_id_body_and_signature(
    github_sandbox: GitHubSandbox, receiver: Receiver
) -> None:
    github_sandbox.register_webhook(receiver.url + "/hooks/gh", "gh-secret")
    github_sandbox.open_pulls("api")
    assert github_sandbox.flush_webhooks()
    (record,) = github_sandbox.deliveries()

    github_sandbox.redeliver(record["id"])
    assert github_sandbox.flush_webhooks()

    first, again = receiver.wait_for(2)
    assert again.body == first.body
    assert again.headers["x-github-delivery"] == first.headers["x-github-delivery"]
    assert again.headers["x-hub-signature-256"] == first.headers["x-hub-signature-256"]


def test_no_registration_no_delivery_and_unregister(
    github_sandbox: GitHubSandbox, receiver: Receiver
) -> None:
    github_sandbox.open_pulls("api")
    hook = github_sandbox.register_webhook(receiver.url + "/hooks/gh", "s", filter="web")
    github_sandbox.open_pulls("api")
    github_sandbox.unregister_webhook(hook["id"])
    github_sandbox.open_pulls("web")
    assert github_sandbox.flush_webhooks()

    assert receiver.received == []
    assert github_sandbox.deliveries() == []
