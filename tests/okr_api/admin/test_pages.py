"""Admin UI pages through the real app: sign-in redirects, what each role sees, tenant isolation,
error pages, navigation. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from okr_core.roles import Role
from tests.okr_api.admin.conftest import EARLIER_PERIOD, PERIOD, Okrs
from tests.okr_api.admin.page_parser import ParsedPage, parse
from tests.okr_api.conftest import TenantWorld

ClientFor = Callable[[Role], TestClient]

NAV = {
    "/admin/objectives": "Objectives",
    "/admin/integrations": "Integrations",
    "/admin/api-keys": "API keys",
    "/admin/sso": "Single sign-on",
    "/admin/provisioning": "Provisioning",
    "/admin/audit-log": "Audit log",
}
PLACEHOLDERS = ["/admin/sso"]
# Fixed, so parametrised test ids are the same in every pytest-xdist worker.
UNKNOWN_ID = uuid.UUID("00000000-0000-4000-8000-00000000dead")


def _html(response: Response) -> ParsedPage:
    assert response.headers["content-type"].startswith("text/html")
    return parse(response.text)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/objectives",
        f"/admin/objectives?period={PERIOD}",
        f"/admin/key-results/{UNKNOWN_ID}",
        "/admin/audit-log",
        "/admin/api-keys",
        "/admin/no-such-page",
    ],
)
def test_anonymous_visitor_is_sent_to_sign_in_with_next(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path, follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["next"] == [path]


def test_sign_in_page_prefills_organisation_and_keeps_next(anonymous: TestClient) -> None:
    page = _html(anonymous.get("/sign-in?organisation=tenant-a&next=/admin/audit-log"))
    assert page.all("input", name="organisation", value="tenant-a")
    assert page.all("input", type="hidden", name="next", value="/admin/audit-log")
    assert page.all("input", type="hidden", name="csrf_token")


def test_viewer_sees_objectives_with_progress_bars_owners_and_health(
    client_for: ClientFor, tenant_a: TenantWorld, okrs: Okrs
) -> None:
    response = client_for(Role.viewer).get("/admin/objectives")
    assert response.status_code == 200
    page = _html(response)

    # The latest past period opens by default: its two key results, not the earlier period's.
    bars = page.all(role="progressbar")
    assert len(bars) == 2
    assert {bar["aria-label"] for bar in bars} == {
        "Progress of Grow revenue",
        "Progress of Cut churn",
    }
    revenue_bar = page.all(role="progressbar", aria_label="Progress of Grow revenue")[0]
    assert revenue_bar["aria-valuenow"] == "40"  # 40 of 0 -> 100
    assert (revenue_bar["aria-valuemin"], revenue_bar["aria-valuemax"]) == ("0", "100")
    assert "40%" in page.text
    assert "Engineers hired" not in page.text

    editor = tenant_a.users[Role.okr_editor].display_name
    admin = tenant_a.users[Role.tenant_admin].display_name
    assert editor in page.text
    assert admin in page.text
    # The period is over and both key results are far behind it.
    assert len(page.all("span", cls="badge--off_track")) == 2
    assert "40 kEUR" in page.text
    assert "target 100 kEUR" in page.text
    assert page.all("a", href=f"/admin/key-results/{okrs.revenue.id}")


def test_aligned_objective_shows_its_parent(client_for: ClientFor, okrs: Okrs) -> None:
    page = _html(client_for(Role.viewer).get("/admin/objectives"))
    parent_links = page.all(
        "a", href=f"/admin/objectives?period={PERIOD}#objective-{okrs.company.id}"
    )
    assert len(parent_links) == 1
    assert "Aligned to Win the mid-market" in page.text
    # Parents come before the objectives aligned to them, even when titles sort the other way.
    assert page.text.index("Win the mid-market") < page.text.index("Ship <b>delightful</b>")


def test_titles_are_escaped(client_for: ClientFor, okrs: Okrs) -> None:
    response = client_for(Role.viewer).get("/admin/objectives")
    assert "Ship &lt;b&gt;delightful&lt;/b&gt; onboarding" in response.text
    assert "<b>delightful</b>" not in response.text


def test_period_selector_lists_periods_and_switches(client_for: ClientFor, okrs: Okrs) -> None:
    client = client_for(Role.viewer)
    page = _html(client.get("/admin/objectives"))
    assert page.all("a", href=f"/admin/objectives?period={PERIOD}", aria_current="page")
    assert page.all("a", href=f"/admin/objectives?period={EARLIER_PERIOD}")

    earlier = _html(client.get(f"/admin/objectives?period={EARLIER_PERIOD}"))
    assert [bar["aria-label"] for bar in earlier.all(role="progressbar")] == [
        "Progress of Engineers hired"
    ]
    assert earlier.all("a", href=f"/admin/objectives?period={EARLIER_PERIOD}", aria_current="page")


def test_objectives_page_without_objectives_says_so(client_for: ClientFor) -> None:
    page = _html(client_for(Role.viewer).get("/admin/objectives"))
    assert "No objectives yet" in page.text
    assert not page.all(role="progressbar")


def test_key_result_page_charts_one_point_per_check_in(
    client_for: ClientFor, tenant_a: TenantWorld, okrs: Okrs
) -> None:
    response = client_for(Role.viewer).get(f"/admin/key-results/{okrs.revenue.id}")
    assert response.status_code == 200
    page = _html(response)

    charts = page.all("svg", cls="kr-chart", role="img")
    assert len(charts) == 1
    points = page.all("circle", cls="chart-point")
    assert len(points) == 3
    # Oldest first from left to right; the latest value (40) is the highest point (smallest y).
    xs = [float(p["cx"] or "nan") for p in points]
    ys = [float(p["cy"] or "nan") for p in points]
    assert xs == sorted(xs)
    assert ys == sorted(ys, reverse=True)
    assert page.all("path", cls="chart__line")

    rows = page.all("tr", cls="check-in")
    assert len(rows) == 3
    editor = tenant_a.users[Role.okr_editor].display_name
    for expected in ("Big deal slipped", "First week", "Automated", "Manual", editor, "40 kEUR"):
        assert expected in page.text
    assert page.all("span", cls="tag--automated", title="jira:JQL-7")
    # Newest first in the table.
    assert page.text.index("2 Sep 2025, 09:30 UTC") < page.text.index("3 Jul 2025, 09:30 UTC")
    assert page.all(role="progressbar", aria_valuenow="40")


def test_key_result_without_check_ins_has_no_chart(client_for: ClientFor, okrs: Okrs) -> None:
    page = _html(client_for(Role.viewer).get(f"/admin/key-results/{okrs.churn.id}"))
    assert not page.all("svg", cls="kr-chart")
    assert "No check-ins yet" in page.text


def test_other_tenants_key_result_is_404(client_for: ClientFor, okrs: Okrs) -> None:
    response = client_for(Role.tenant_admin).get(f"/admin/key-results/{okrs.other_tenants_kr.id}")
    assert response.status_code == 404
    page = _html(response)
    assert "We couldn't find that page" in page.text
    assert "secret" not in response.text
    assert page.all("a", href="/admin/objectives")  # still inside the shell, with navigation


@pytest.mark.parametrize("bad_id", ["not-a-uuid", str(UNKNOWN_ID)])
def test_unknown_key_result_is_404(client_for: ClientFor, bad_id: str) -> None:
    response = client_for(Role.viewer).get(f"/admin/key-results/{bad_id}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_admin_page_is_styled_404(client_for: ClientFor) -> None:
    response = client_for(Role.viewer).get("/admin/no-such-page")
    assert response.status_code == 404
    assert "There is no page at /admin/no-such-page." in _html(response).text


def test_audit_log_lists_latest_events_for_tenant_admin(client_for: ClientFor, okrs: Okrs) -> None:
    response = client_for(Role.tenant_admin).get("/admin/audit-log")
    assert response.status_code == 200
    page = _html(response)
    assert len(page.all("tr", cls="audit-event")) > 0
    for action in ("objective.created", "key_result.created", "check_in.created", "user.created"):
        assert action in page.text
    assert page.all("a", href=f"/admin/key-results/{okrs.revenue.id}")  # targets link to KRs
    assert "secret plan" not in response.text  # tenant B's events stay in tenant B
    assert "correct horse" not in response.text  # passwords are redacted at the source


@pytest.mark.parametrize("role", [Role.viewer, Role.okr_editor])
def test_audit_log_is_403_page_for_non_admins(client_for: ClientFor, role: Role) -> None:
    response = client_for(role).get("/admin/audit-log")
    assert response.status_code == 403
    page = _html(response)
    assert "You don't have access to this page" in page.text
    assert "tenant admins only" in page.text
    assert not page.all("tr", cls="audit-event")
    assert page.all("a", href="/admin/audit-log", aria_current="page")


@pytest.mark.parametrize("path", PLACEHOLDERS)
def test_placeholder_pages_say_what_is_coming(client_for: ClientFor, path: str) -> None:
    response = client_for(Role.viewer).get(path)
    assert response.status_code == 200
    page = _html(response)
    title = NAV[path]
    assert f"Coming soon: {title}" in page.text
    assert page.all("a", href=path, aria_current="page")


@pytest.mark.parametrize(
    "path", ["/admin/objectives", "/admin/audit-log", "/admin/sso", "/admin/no-such-page"]
)
def test_every_signed_in_page_has_navigation_and_sign_out(
    client_for: ClientFor, tenant_a: TenantWorld, path: str
) -> None:
    client = client_for(Role.tenant_admin)
    expected_token = client.get("/api/v1/session").json()["csrf_token"]
    page = _html(client.get(path))
    for href, label in NAV.items():
        assert page.all("a", href=href), f"no {label} link on {path}"
        assert label in page.text
    sign_out = page.all("form", method="post", action="/sign-out")
    assert len(sign_out) == 1
    token = page.all("input", name="csrf_token")
    assert len(token) == 1
    assert token[0]["value"] == expected_token
    assert tenant_a.users[Role.tenant_admin].display_name in page.text


def test_home_opens_the_objectives(client_for: ClientFor) -> None:
    response = client_for(Role.viewer).get("/admin/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/objectives"


def test_sign_out_form_ends_the_session(client_for: ClientFor) -> None:
    client = client_for(Role.viewer)
    page = client.get("/admin/objectives").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    del client.headers["X-CSRF-Token"]  # the form field alone must do, as in a browser
    out = client.post("/sign-out", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/sign-in"
    again = client.get("/admin/objectives", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/sign-in?next=")


def test_pages_are_not_cached(client_for: ClientFor) -> None:
    response = client_for(Role.viewer).get("/admin/objectives")
    assert response.headers["cache-control"] == "no-store"
