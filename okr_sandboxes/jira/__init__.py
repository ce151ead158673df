"""The Jira Cloud sandbox: seeded issues, a JQL subset, ``search/jql`` paging, webhooks."""

from okr_sandboxes.jira.app import JiraSandboxApp, JiraSite, JiraSiteConfig

__all__ = ["JiraSandboxApp", "JiraSite", "JiraSiteConfig"]
