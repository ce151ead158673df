"""Jira Cloud and GitHub sandboxes: local HTTP servers that speak the vendors' REST subsets.

The connectors are configured by base URL only and cannot tell a sandbox from the vendor: the
real ``jira`` and ``PyGithub`` clients page through seeded data with the vendors' own pagination,
headers, errors and webhook signatures. This package imports nothing of the product (an
import-linter contract), so the CLI, the pipelines' tests and the benchmarks can all start it.

- :func:`run_jira_sandbox`, :func:`run_github_sandbox`: a server in a thread, yields a handle
- :func:`spawn_sandboxes`: the runner (``python -m okr_sandboxes``) as a child process
- :class:`JiraSandbox`, :class:`GitHubSandbox`: handles (base URL, credentials, admin calls)
- :class:`FaultConfig`, :func:`verify_signature`: fault settings, webhook signature check

See ``okr_sandboxes/README.md`` for the layout of sites, credentials, webhooks and faults.
"""

from okr_sandboxes.api import (
    GitHubSandbox,
    JiraSandbox,
    SandboxHandle,
    SpawnedSandboxes,
    run_github_sandbox,
    run_jira_sandbox,
    spawn_sandboxes,
)
from okr_sandboxes.faults import FaultConfig
from okr_sandboxes.webhooks import signature, verify_signature

__all__ = [
    "FaultConfig",
    "GitHubSandbox",
    "JiraSandbox",
    "SandboxHandle",
    "SpawnedSandboxes",
    "run_github_sandbox",
    "run_jira_sandbox",
    "signature",
    "spawn_sandboxes",
    "verify_signature",
]
