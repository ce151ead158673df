"""API keys in a real browser: a tenant admin creates a key in the admin UI, copies it from the
copy-once dialog, calls the public API with it, rotates it (the new key shown once in the same
dialog, the old one stopping at once), revokes the new key after confirming, and the call then
fails. The real app under uvicorn, headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from okr_core.api_keys import looks_valid
from okr_core.demo_data import DEMO_ADMIN_EMAIL, DEMO_SLUG
from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    yield page
    context.close()


def test_create_copy_call_revoke_and_the_call_fails(page: Page, base_url: str) -> None:
    page.goto("/admin/api-keys")
    page.get_by_label("Organisation").fill(DEMO_SLUG)
    page.get_by_label("Email").fill(DEMO_ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()

    page.get_by_label("Name").fill("Browser test key")
    page.get_by_label("key_results:read").check()
    page.get_by_label("Expires").select_option("30")
    page.get_by_role("button", name="Create key").click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("shown only this once")
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog).to_contain_text("Copied to the clipboard")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert looks_valid(copied)
    assert copied == page.get_by_test_id("new-key").inner_text().strip()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-keys-copy-once.png"))
    dialog.get_by_role("button", name="I have stored the key").click()
    expect(dialog).to_be_hidden()

    url = f"{base_url}/api/v1/public/key-results"
    auth = {"Authorization": f"Bearer {copied}"}
    answered = httpx.get(url, headers=auth)
    assert answered.status_code == 200
    assert answered.json()["data"]

    page.reload()  # a plain GET: no second key, and the listing never shows the key again
    assert copied not in page.content()
    row = page.locator('tr[data-key="Browser test key"]')
    expect(row).to_have_count(1)
    expect(row.get_by_text("Active")).to_be_visible()

    # Rotate: the successor is shown once in the same copy-once dialog; with "Stops now" the
    # old key fails at once.
    row.get_by_text("Rotate…").click()
    panel = row.get_by_role("group", name="Rotate Browser test key")
    panel.get_by_label("Old key keeps working").select_option("0")
    panel.get_by_role("button", name="Rotate key").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("shown only this once")
    overlap = dialog.get_by_test_id("rotation-overlap")
    expect(overlap).to_contain_text(copied[:13])
    expect(overlap).to_contain_text("has stopped working")
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog).to_contain_text("Copied to the clipboard")
    rotated = page.evaluate("navigator.clipboard.readText()")
    assert looks_valid(rotated)
    assert rotated != copied
    page.screenshot(path=str(ARTIFACTS / "api-keys-rotated.png"))
    dialog.get_by_role("button", name="I have stored the key").click()
    expect(dialog).to_be_hidden()
    assert httpx.get(url, headers=auth).json()["code"] == "api_key_expired"
    auth = {"Authorization": f"Bearer {rotated}"}
    assert httpx.get(url, headers=auth).status_code == 200

    page.reload()  # back to the plain list, not a second rotation
    assert rotated not in page.content()
    rows = page.locator('tr[data-key="Browser test key"]')
    expect(rows).to_have_count(2)
    expect(rows.get_by_text("Expired")).to_have_count(1)
    row = rows.filter(has=page.get_by_text("Active"))
    expect(row).to_have_count(1)
    row.get_by_text("Revoke…").click()
    expect(row.get_by_role("group", name="Confirm revoking")).to_contain_text("cannot be undone")
    row.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked")
    expect(page.locator('tr[data-key="Browser test key"]').get_by_text("Revoked")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "api-keys-revoked.png"), full_page=True)

    refused = httpx.get(url, headers=auth)
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_revoked"
