"""The Integrations pages in a real browser: the real app under uvicorn with the demo tenant, a
GitHub sandbox, headless Chromium. An admin connects the sandbox, sees the webhook secret once,
previews a binding of a demo key result (value and matching records) and saves it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from okr_core.demo_data import DEMO_ADMIN_EMAIL, DEMO_SLUG
from okr_sandboxes.api import GitHubSandbox, run_github_sandbox
from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KEY_RESULT = "Merged pull requests per week"


@pytest.fixture(scope="module")
def github_sandbox() -> Iterator[GitHubSandbox]:
    with run_github_sandbox(seed="browser", pulls=80, history_days=400) as sandbox:
        yield sandbox


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def _sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/integrations")
    expect(page).to_have_url(f"{base_url}/sign-in?next=/admin/integrations")
    page.get_by_label("Organisation").fill(DEMO_SLUG)
    page.get_by_label("Email").fill(DEMO_ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/admin/integrations")


def test_admin_connects_github_previews_and_saves_a_binding(
    page: Page, base_url: str, github_sandbox: GitHubSandbox
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(page, base_url)
    expect(page.get_by_role("heading", name="Integrations", level=1)).to_be_visible()
    expect(page.get_by_text("No integrations yet")).to_be_visible()

    # Connect the GitHub sandbox; the token field is a password field.
    connect = page.locator("#connect")
    connect.get_by_label("Source").select_option("github")
    connect.get_by_label("Name").fill("GitHub sandbox")
    connect.get_by_label("Base URL").fill(github_sandbox.base_url)
    connect.get_by_label("Authentication").select_option("token")
    connect.get_by_label("Account").fill(github_sandbox.owner)
    token = connect.get_by_label("Token")
    assert token.get_attribute("type") == "password"
    token.fill(github_sandbox.token)
    connect.get_by_label("Sync every (minutes)").fill("15")
    connect.get_by_role("button", name="Connect").click()

    expect(page.get_by_text("GitHub sandbox is connected")).to_be_visible()
    secret = page.get_by_test_id("webhook-secret")
    expect(secret).to_be_visible()
    assert secret.inner_text().startswith("whsec_")
    assert github_sandbox.token not in page.content()
    card = page.locator("article.integration", has_text="GitHub sandbox")
    expect(card).to_contain_text("every 15 minutes")
    expect(card).to_contain_text("Waiting for first sync")
    page.screenshot(path=str(ARTIFACTS / "admin-ui-integrations.png"), full_page=True)

    # The connection test reaches the sandbox with the stored (encrypted) token.
    card.get_by_role("button", name="Test connection").click()
    expect(page.get_by_test_id("connection-test")).to_contain_text("GitHub sandbox connects")

    # Bind a demo key result: preview first, then save.
    page.get_by_role("link", name="Bound key results").click()
    expect(page.get_by_role("heading", name="Bound key results", level=1)).to_be_visible()
    form = page.locator("#bind")
    option = form.locator("#key-result option", has_text=KEY_RESULT)
    form.get_by_label("Key result", exact=True).select_option(option.get_attribute("value") or "")
    form.get_by_label("Integration", exact=True).select_option(label="GitHub sandbox (GitHub)")
    form.get_by_label("Metric", exact=True).select_option("github_merged_prs")
    repositories = ", ".join(f"{github_sandbox.owner}/{name}" for name in github_sandbox.repos)
    form.get_by_label("Repositories (GitHub metrics)").fill(repositories)
    form.get_by_label("Count records outside the key result's period too").check()
    form.get_by_role("button", name="Preview").click()

    preview = page.get_by_test_id("preview")
    expect(preview).to_be_visible()
    count = int(page.get_by_test_id("preview-count").inner_text())
    value = page.get_by_test_id("preview-value").inner_text()
    assert count > 0
    shown = re.match(r"[\d,.]+", value)
    assert shown is not None
    assert shown.group(0).replace(",", "") == str(count)  # merged PRs: one per matching record
    expect(preview.locator("tr.preview-record").first).to_be_visible()
    assert preview.locator("tr.preview-record").count() == min(count, 20)
    page.screenshot(path=str(ARTIFACTS / "admin-ui-binding-preview.png"), full_page=True)

    page.locator("#bind").get_by_role("button", name="Save binding").click()
    expect(page.get_by_text("Binding saved")).to_be_visible()
    row = page.locator("tr.binding", has_text=KEY_RESULT)
    expect(row).to_be_visible()
    expect(row).to_contain_text("GitHub: merged pull requests")
    expect(row).to_contain_text(repositories)

    # Back on the connections page the integration counts its binding and syncs on request.
    page.get_by_role("link", name="Connections").click()
    card = page.locator("article.integration", has_text="GitHub sandbox")
    expect(card).to_contain_text("1 bound key result")
    card.get_by_role("button", name="Sync now").click()
    expect(
        page.get_by_text("Sync requested: GitHub sandbox syncs within a minute.")
    ).to_be_visible()
    # The one-time secret is gone for good.
    assert "whsec_" not in page.content()
