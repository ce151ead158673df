"""The admin UI in a real browser: the real app under uvicorn, a seeded demo tenant, headless
Chromium. Catches what TestClient cannot: the page's CSS loads, the chart is actually visible,
the sign-out form really posts with its CSRF token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from okr_core.demo_data import DEMO_ADMIN_EMAIL, DEMO_SLUG
from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def test_admin_signs_in_reads_okrs_and_signs_out(page: Page, base_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)

    # Anonymous: the objectives page sends us to sign in, and back afterwards.
    page.goto(f"{base_url}/admin/objectives")
    expect(page).to_have_url(f"{base_url}/sign-in?next=/admin/objectives")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Organisation").fill(DEMO_SLUG)
    page.get_by_label("Email").fill(DEMO_ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{base_url}/admin/objectives")
    expect(page.get_by_role("heading", name="Objectives", level=1)).to_be_visible()
    bars = page.get_by_role("progressbar")
    assert bars.count() > 0
    first_value = int(bars.first.get_attribute("aria-valuenow") or "-1")
    assert 0 <= first_value <= 100
    # The stylesheet really applied: the sidebar is dark, not the browser's default white.
    sidebar_bg = page.locator(".sidebar").evaluate("el => getComputedStyle(el).backgroundColor")
    assert sidebar_bg not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    page.screenshot(path=str(ARTIFACTS / "admin-ui.png"))
    page.screenshot(path=str(ARTIFACTS / "admin-ui-objectives-full.png"), full_page=True)

    # One key result's history: the server-rendered chart is visible, one point per check-in.
    link = page.locator("a.row-link").first
    title = link.inner_text()
    link.click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    chart = page.locator("svg.kr-chart")
    expect(chart).to_be_visible()
    assert chart.locator("circle.chart-point").count() == page.locator("tr.check-in").count() > 0
    page.screenshot(path=str(ARTIFACTS / "admin-ui-key-result.png"), full_page=True)

    # Sign out through the user menu's POST form.
    page.get_by_role("group").filter(has=page.locator("summary.user-menu__button")).click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base_url}/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "admin-ui-sign-in.png"))

    # Signed out for real: the admin pages send us back to sign in.
    page.goto(f"{base_url}/admin/audit-log")
    expect(page).to_have_url(f"{base_url}/sign-in?next=/admin/audit-log")
