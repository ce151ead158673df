"""The runner (``python -m okr_sandboxes``) and HTTPS with a test CA."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest
from github import Auth, Github
from jira import JIRA

from okr_sandboxes import run_jira_sandbox, spawn_sandboxes


@pytest.mark.slow
def test_runner_prints_urls_and_credentials_and_stops_on_sigterm() -> None:
    with spawn_sandboxes(
        ["--tenant", "a=seed-a", "--tenant", "b", "--issues", "30", "--pulls", "10"]
    ) as spawned:
        info = spawned.info
        assert [s["site"] for s in info["jira"]["sites"]] == ["a", "b"]
        assert info["github"]["sites"][1]["seed"] == "b"
        site = info["jira"]["sites"][0]
        jira = JIRA(server=site["base_url"], basic_auth=(site["email"], site["api_token"]))
        assert len(jira.search_issues("project in (ENG, OPS)", maxResults=False)) == 30
        gh_site = info["github"]["sites"][0]
        gh = Github(base_url=gh_site["base_url"], auth=Auth.Token(gh_site["token"]))
        assert gh.get_repo("acme/api").full_name == "acme/api"
        assert spawned.jira[1].items_served() == 0
        process = spawned.process
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0


@pytest.mark.slow
def test_runner_refuses_bad_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "okr_sandboxes", "--faults", '{"rate_limited": 2}'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "invalid --faults" in result.stderr


def test_https_with_a_trustme_ca() -> None:
    with run_jira_sandbox(seed="tls", issues=5, tls=True) as sandbox:
        assert sandbox.base_url.startswith("https://")
        assert sandbox.ca_bundle is not None
        jira = JIRA(
            server=sandbox.base_url,
            basic_auth=(sandbox.email, sandbox.api_token),
            options={"verify": sandbox.ca_bundle},
        )
        assert len(jira.search_issues("project in (ENG, OPS)", maxResults=False)) == 5
        with pytest.raises(httpx.ConnectError):
            httpx.get(sandbox.base_url + "/rest/api/3/serverInfo")
