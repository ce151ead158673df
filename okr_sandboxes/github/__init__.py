"""The GitHub sandbox: seeded pull requests, ``Link`` paging, rate-limit headers, webhooks."""

from okr_sandboxes.github.app import GitHubSandboxApp, GitHubSite, GitHubSiteConfig

__all__ = ["GitHubSandboxApp", "GitHubSite", "GitHubSiteConfig"]
