"""Settings, health and print pages in real Chromium: a new API token is shown once, the print view
prints cleanly (and saves as PDF), and the pages pass an accessibility scan."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken
from alignment import services as plan
from goals import check_ins as goal_check_ins
from tests import factories as f
from tests.browser_support import (  # noqa: F401 - fixtures
    PHONE,
    SCREENSHOT_DIR,
    browser,
    live_url,
    new_page,
    screenshot,
    serious_violations,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def written_plan(cast):
    """A plan with a vision, an objective and an agreed goal with check-ins from both sides."""
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    plan.vision_update(
        access=editor,
        why_together="Together we win mid-market manufacturing.",
        what_we_hope="Double joint subscription revenue by 2028.",
        how_we_work="Monthly pipeline calls, quarterly business reviews.",
    )
    plan.vision_endorse(access=vendor, revision=2)
    objective = f.make_objective(editor, title="Grow the joint pipeline", metric_unit="EUR k")
    goal = f.agree(f.make_goal(editor, objective, title="Qualified pipeline this quarter"), vendor, partner)
    today = dt.date.today()
    for days_ago, side, value, confidence in [(25, vendor, "115", 4), (14, partner, "125", 3), (3, vendor, "142", 4)]:
        goal_check_ins.check_in_create(
            access=side,
            goal_id=goal.pk,
            value=Decimal(value),
            confidence=confidence,
            measured_on=today - dt.timedelta(days=days_ago),
        )
    return goal


def test_a_new_api_token_is_shown_once_then_only_its_hint(new_page, cast):
    page = new_page(cast.vendor_editor)
    page.goto("/settings/")
    page.get_by_label("Token name").fill("CRM sync")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_label("Token", exact=True)
    expect(shown).to_have_value(re.compile(r"^pp_[A-Za-z0-9_-]{40,}$"))
    raw = shown.input_value()
    token = ApiToken.objects.get(user=cast.vendor_editor)
    assert ApiToken.find_active(raw) == token
    expect(page.get_by_text("it is shown this once")).to_be_visible()

    page.goto("/settings/")
    expect(page.get_by_role("cell", name="CRM sync", exact=True)).to_be_visible()
    expect(page.get_by_text(f"{token.hint}…")).to_be_visible()
    assert raw not in page.content()

    page.goto("/settings/")
    page.get_by_role("button", name="Revoke CRM sync").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    assert ApiToken.find_active(raw) is None


def test_print_view_renders_and_prints_cleanly(new_page, cast, written_plan):
    page = new_page(cast.partner_viewer)
    page.add_init_script("window.__printed = 0; window.print = () => { window.__printed += 1; };")
    page.goto(f"/p/{cast.partnership.pk}/print/")
    expect(page.get_by_role("heading", level=1, name="Acme × Northwind")).to_be_visible()
    expect(page.get_by_text("Together we win mid-market manufacturing.")).to_be_visible()
    expect(page.get_by_role("heading", name="Qualified pipeline this quarter")).to_be_visible()
    chart = page.get_by_role("img", name=re.compile("Progress of “Qualified pipeline this quarter”"))
    expect(chart).to_be_visible()
    assert chart.locator(".pp-chart__point").count() == 3
    expect(page.get_by_role("progressbar", name="Qualified pipeline this quarter")).to_have_attribute(
        "aria-valuenow", "42"
    )

    page.get_by_role("button", name="Print / save as PDF").click()
    assert page.evaluate("window.__printed") == 1

    screenshot(page, "print-view-screen")
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Print / save as PDF")).to_be_hidden()
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(chart).to_be_visible()
    screenshot(page, "print-view-paper")
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (SCREENSHOT_DIR / "print-view.pdf").write_bytes(pdf)


def test_settings_health_and_print_pages_pass_an_accessibility_scan(new_page, cast, written_plan):
    page = new_page(cast.vendor_admin)
    for path in (
        f"/p/{cast.partnership.pk}/settings/",
        f"/p/{cast.partnership.pk}/health/",
        f"/p/{cast.partnership.pk}/print/",
        "/settings/",
    ):
        page.goto(path)
        assert serious_violations(page) == [], path


def test_settings_health_and_print_pages_fit_a_phone(new_page, cast, written_plan):
    page = new_page(cast.vendor_admin, width=PHONE[0], height=PHONE[1])
    for name, path in [
        ("partnership-settings", f"/p/{cast.partnership.pk}/settings/"),
        ("health", f"/p/{cast.partnership.pk}/health/"),
        ("user-settings", "/settings/"),
        ("print-view", f"/p/{cast.partnership.pk}/print/"),
    ]:
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        screenshot(page, f"{name}-phone")


def test_admin_changes_a_role_with_the_keyboard(new_page, cast):
    page = new_page(cast.vendor_admin)
    page.goto(f"/p/{cast.partnership.pk}/settings/")
    select = page.get_by_label("Role of Ed Editor")
    select.focus()
    select.select_option("viewer")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Change role of Ed Editor")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Ed Editor is now viewer.")).to_be_visible()
    screenshot(page, "partnership-settings")
