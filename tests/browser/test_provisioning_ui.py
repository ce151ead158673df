"""The Provisioning and Audit log pages in headless Chromium against the real app: create a
SCIM token (shown once), test the connection from the browser with it, see an identity
provider's changes arrive, map a group to a role, set the policy, revoke the token, and find
the events in the filtered audit log."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from okr_core.demo_data import DEMO_ADMIN_EMAIL, DEMO_SLUG
from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    yield page
    context.close()


def _sign_in(page: Page, base_url: str, path: str) -> None:
    page.goto(f"{base_url}{path}")
    page.get_by_label("Organisation").fill(DEMO_SLUG)
    page.get_by_label("Email").fill(DEMO_ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}{path}")


def test_admin_sets_up_provisioning(page: Page, base_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(page, base_url, "/admin/provisioning")
    expect(page.get_by_role("heading", name="Provisioning", level=1)).to_be_visible()
    expect(page.get_by_test_id("scim-base-url")).to_have_text(f"{base_url}/scim/v2")
    page.get_by_test_id("copy-base-url").click()
    assert page.evaluate("navigator.clipboard.readText()") == f"{base_url}/scim/v2"

    # A token, shown once in a dialog; the connection test is prefilled with it.
    page.get_by_label("New token for").fill("Okta production")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    assert token.startswith("okrscim_")
    page.get_by_test_id("copy-token").click()
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.screenshot(path=str(ARTIFACTS / "provisioning-new-token.png"))
    page.get_by_role("button", name="I have stored the token").click()
    page.get_by_test_id("test-connection").click()
    expect(page.get_by_test_id("test-summary")).to_have_text("Connection works.")
    assert page.get_by_test_id("test-results").locator("li.check--ok").count() == 4

    # The identity provider provisions; its events show up on the page.
    scim = httpx.Client(
        base_url=f"{base_url}/scim/v2", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    user = scim.post("/Users", json={"userName": "ada@demo.example.com", "displayName": "Ada IdP"})
    assert user.status_code == 201, user.text
    group = scim.post(
        "/Groups", json={"displayName": "OKR Admins", "members": [{"value": user.json()["id"]}]}
    )
    assert group.status_code == 201, group.text
    page.goto(f"{base_url}/admin/provisioning")
    events = page.get_by_test_id("provisioning-events")
    expect(events).to_contain_text("User created")
    expect(events).to_contain_text("Group created")
    expect(events).to_contain_text("Ada IdP")

    # Map the group to a role, and choose hard deletion.
    page.get_by_label("Group", exact=True).fill("OKR Admins")
    page.locator("#mapping-role").select_option("tenant_admin")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Mapping saved")
    expect(page.locator('tr[data-mapping="OKR Admins"]')).to_be_visible()
    page.get_by_label("Erase now").check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_contain_text("Policy saved")
    expect(page.get_by_label("Erase now")).to_be_checked()
    page.screenshot(path=str(ARTIFACTS / "provisioning-page.png"), full_page=True)

    # Revoke: the identity provider is refused, and so is the connection test.
    row = page.locator('tr[data-token="Okta production"]')
    row.get_by_text("Revoke…").click()
    row.get_by_role("button", name="Revoke token").click()
    expect(page.locator('tr[data-token="Okta production"] [data-field="status"]')).to_have_text(
        "Revoked"
    )
    assert scim.get("/Users").status_code == 401
    page.get_by_label("Token", exact=True).fill(token)
    page.get_by_test_id("test-connection").click()
    expect(page.get_by_test_id("test-summary")).to_have_text("Connection failed.")

    # The audit log, filtered to what SCIM tokens did, with its CSV export.
    page.goto(f"{base_url}/admin/audit-log")
    page.get_by_label("Actor type").select_option("scim_token")
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_test_id("audit-events")
    expect(table).to_contain_text("scim.user.created")
    expect(table).to_contain_text("scim.group.created")
    href = page.get_by_test_id("export-csv").get_attribute("href") or ""
    assert href == "/api/v1/audit-events/export.csv?actor_type=scim_token"
    csv_text = page.evaluate(f"fetch('{href}').then(r => r.text())")
    assert "scim.user.created" in csv_text
    page.screenshot(path=str(ARTIFACTS / "audit-log-page.png"), full_page=True)
    scim.close()
