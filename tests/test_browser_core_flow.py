"""The whole path of a new customer in real Chromium, keyboard-only editing, the phone-sized
dashboard, an accessibility scan, and screenshots of the main pages for anyone to look at."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from alignment.models import Partnership, PartnershipMember, Role, Side
from cadence.models import HealthSnapshot
from goals import check_ins as goal_check_ins
from goals import services as goals
from goals.models import Goal, GoalStatus
from tests import factories as f
from tests.browser_support import (  # noqa: F401 - fixtures
    PHONE,
    browser,
    live_url,
    new_page,
    screenshot,
    serious_violations,
    sign_in,
    tab_to,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_to_an_agreed_goal_with_progress(new_page, live_url):
    vendor = new_page()
    vendor.goto("/accounts/signup/")
    vendor.get_by_label("Your company").fill("Acme Software")
    vendor.get_by_label("Your name").fill("Ada Admin")
    vendor.get_by_label("E-mail").fill("ada@acme.test")
    vendor.get_by_label("Password").fill("a-long-and-unusual-passphrase")
    vendor.get_by_role("button", name="Create workspace").click()
    # Changed for issue 15 (item 8): the workspace opens once the address is confirmed by e-mail.
    expect(vendor.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    [message] = mail.outbox
    link = re.search(r"https?://\S+(/accounts/signup/confirm/\S+/)", message.body)[1]
    vendor.goto(link)
    vendor.get_by_role("button", name="Confirm and open the workspace").click()
    vendor.wait_for_load_state()
    # A new workspace has no partnership yet: the dashboard says what to do first.
    expect(vendor.get_by_text("Start your first partnership")).to_be_visible()
    vendor.get_by_role("link", name="Start a partnership").click()

    vendor.get_by_label("Partner company").fill("Northwind Consulting")
    vendor.get_by_label("Kind of partner").select_option("consulting")
    vendor.get_by_role("button", name="Start partnership").click()
    vendor.wait_for_load_state()
    expect(vendor.get_by_role("heading", name="Acme Software × Northwind Consulting")).to_be_visible()
    partnership = Partnership.objects.get(partner__name="Northwind Consulting")

    vendor.get_by_role("button", name="Edit vision").click()
    vendor.get_by_label("Why we are in business together").fill("Mid-market customers need product and services.")
    vendor.get_by_label("What we hope to accomplish together").fill("Be the first choice in DACH.")
    vendor.get_by_label("How we best work together").fill("Monthly pipeline calls, quarterly reviews.")
    vendor.get_by_role("button", name="Save").click()
    expect(vendor.locator("#vision")).to_contain_text("Be the first choice in DACH.")

    vendor.get_by_role("button", name="Add the first objective").click()
    vendor.get_by_label("Objective", exact=True).fill("Grow joint services revenue")
    vendor.get_by_label("What it gives the vendor").fill("Licence revenue")
    vendor.get_by_label("What it gives the partner").fill("Billable implementation work")
    vendor.locator("#objective-new").get_by_role("button", name="Add objective").click()
    expect(vendor.locator("#objectives")).to_contain_text("Grow joint services revenue")

    vendor.get_by_role("button", name=re.compile(r"^Add goal")).click()
    form = vendor.locator("form.inplace")
    form.get_by_label("Goal", exact=True).fill("Joint pipeline this quarter")
    form.get_by_label("Metric", exact=True).fill("Qualified pipeline")
    form.get_by_label("Unit", exact=True).fill("EUR k")
    form.get_by_label("Baseline", exact=True).fill("100")
    form.get_by_label("Target", exact=True).fill("300")
    form.get_by_label("What the vendor commits to").fill("Fund two joint workshops")
    form.get_by_label("What the partner commits to").fill("Certify three consultants")
    form.get_by_role("button", name="Add goal").click()
    goal_card = vendor.locator("article.goal-card", has_text="Joint pipeline this quarter")
    # The card is compact; opening it loads the commitments of both sides.
    goal_card.locator("summary", has_text="Commitments, check-ins and comments").click()
    expect(goal_card).to_contain_text("Certify three consultants")
    goal = Goal.objects.get(title="Joint pipeline this quarter")

    goal_card.get_by_role("button", name="Propose").click()
    expect(goal_card.locator(".status-badge")).to_have_text("Proposed")
    goal_card.get_by_role("button", name="Approve revision 1").click()
    expect(goal_card).to_contain_text("Approved revision 1 by Ada Admin")

    partner_user = f.make_user("pat@northwind.test", full_name="Pat Partner")
    PartnershipMember.objects.create(partnership=partnership, user=partner_user, side=Side.PARTNER, role=Role.APPROVER)
    partner = new_page(partner_user)
    partner.goto(f"/p/{partnership.pk}/")
    partner_card = partner.locator(f"#goal-{goal.pk}")
    partner_card.get_by_role("button", name="Approve revision 1").click()
    expect(partner_card.locator(".status-badge")).to_have_text("Agreed")
    # The vendor sees the agreement arrive without reloading.
    expect(vendor.locator(f"#goal-{goal.pk} .status-badge")).to_have_text("Agreed")
    assert Goal.objects.get(pk=goal.pk).status == GoalStatus.AGREED

    # The partner opens the card before the vendor checks in: its details follow the change live.
    partner_card.locator("summary", has_text="Commitments, check-ins and comments").click()
    expect(partner_card.locator(".check-ins")).to_contain_text("No check-in yet")

    vendor.locator(f"#goal-{goal.pk}").get_by_role("button", name="Check in").click()
    vendor.get_by_label("Measured value").fill("200")
    vendor.get_by_label("Confidence of reaching the target").select_option("4")
    vendor.get_by_role("button", name="Save check-in").click()
    card = vendor.locator(f"#goal-{goal.pk}")
    expect(card.locator("progress")).to_have_attribute("value", "50")
    expect(card).to_contain_text("50% · latest 200 EUR k")
    # The vendor's card stayed open and lists the new check-in.
    expect(card.locator(".goal-more")).to_have_attribute("open", "")
    expect(card.locator(".check-in-table")).to_contain_text("200 EUR k")
    expect(partner.locator(f"#goal-{goal.pk} progress")).to_have_attribute("value", "50")
    expect(partner.locator(f"#goal-{goal.pk} .check-in-table")).to_contain_text("200 EUR k")
    assert vendor.errors == [] and partner.errors == []


@pytest.fixture
def agreed_goal(cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor, title="Grow the joint pipeline")
    goal = f.make_goal(editor, objective, title="Pipeline this quarter")
    return f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))


def test_a_goal_can_be_edited_with_the_keyboard_only(new_page, live_url, cast, agreed_goal):
    page = new_page(cast.vendor_editor)
    page.goto(f"/p/{cast.partnership.pk}/")
    amend_button = f"el.textContent.trim().startsWith('Amend') && el.closest('#goal-{agreed_goal.pk}')"
    tab_to(page, amend_button)
    page.keyboard.press("Enter")
    form = page.locator(f"form#goal-{agreed_goal.pk}")
    expect(form.get_by_label("Goal", exact=True)).to_be_focused()
    page.keyboard.press("Escape")  # closes without saving; the focus returns to the goal
    expect(page.locator(f"article#goal-{agreed_goal.pk}")).to_be_focused()
    tab_to(page, amend_button)
    page.keyboard.press("Enter")
    expect(form.get_by_label("Goal", exact=True)).to_be_focused()
    tab_to(page, "el.name === 'target'")
    page.keyboard.press("Control+A")
    page.keyboard.type("240")
    page.keyboard.press("Enter")
    card = page.locator(f"article#goal-{agreed_goal.pk}")
    expect(card.locator(".goal-target")).to_have_text("240")
    expect(card).to_be_focused()  # the focus returns to the goal that was edited
    expect(card).to_contain_text("Amendment: draft")
    assert Goal.objects.get(pk=agreed_goal.pk).target == 240


def test_an_opening_form_never_pulls_the_focus_back_from_a_field_already_chosen(new_page, live_url, cast, agreed_goal):
    page = new_page(cast.vendor_editor)
    page.goto(f"/p/{cast.partnership.pk}/")
    page.locator(f"#goal-{agreed_goal.pk}").get_by_role("button", name=re.compile(r"^Amend")).click()
    form = page.locator(f"form#goal-{agreed_goal.pk}")
    expect(form.get_by_label("Goal", exact=True)).to_be_focused()
    target = form.get_by_label("Target", exact=True)
    target.focus()
    # htmx settling the form late (a slow machine, a fast typist): the focus stays where the person is.
    page.evaluate(
        """(id) => document.body.dispatchEvent(new CustomEvent('htmx:afterSettle',
        {detail: {target: document.getElementById(id)}}))""",
        f"goal-{agreed_goal.pk}",
    )
    expect(target).to_be_focused()


def grow_dashboard(cast) -> None:
    admin = cast.vendor_admin
    for name in ("Contoso × Fabrikam Solutions", "Acme × A very long partner name that should wrap nicely GmbH"):
        p = f.make_partnership(admin, name=name)
        a = f.access(admin, p)
        goal = f.make_goal(a, f.make_objective(a))
        goals.goal_propose(access=a, goal_id=goal.pk)


def test_the_dashboard_at_phone_width_has_no_horizontal_scroll(new_page, live_url, cast, agreed_goal):
    grow_dashboard(cast)
    page = new_page(cast.vendor_admin, width=PHONE[0], height=PHONE[1])
    for path in ("/", f"/p/{cast.partnership.pk}/"):
        page.goto(path)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{path} scrolls sideways: {widths}"


def test_dashboard_and_plan_page_have_no_serious_accessibility_violations(new_page, live_url, cast, agreed_goal):
    grow_dashboard(cast)
    goal_check_ins.check_in_create(
        access=cast.access("vendor_editor"), goal_id=agreed_goal.pk, value="150", confidence=4
    )
    page = new_page(cast.vendor_admin)
    page.goto("/")
    assert serious_violations(page) == []
    page.goto(f"/p/{cast.partnership.pk}/")
    expect(page.locator("#presence-empty")).to_be_visible()
    assert serious_violations(page) == []
    page.locator(f"#goal-{agreed_goal.pk}").get_by_role("button", name=re.compile("^Amend")).click()
    expect(page.locator(f"form#goal-{agreed_goal.pk}")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Derive goals")).click()
    expect(page.locator("svg.chart")).to_be_visible()
    assert serious_violations(page) == []


def test_screenshots_of_the_dashboard_and_the_plan_page(new_page, live_url, cast, agreed_goal):
    grow_dashboard(cast)
    editor = cast.access("vendor_editor")
    from alignment import services

    services.vision_update(
        access=editor,
        why_together="Mid-market customers need product and services.",
        what_we_hope="Be the first choice in DACH.",
        how_we_work="Monthly calls.",
    )
    goal_check_ins.check_in_create(access=editor, goal_id=agreed_goal.pk, value="150", confidence=4)
    goal_check_ins.check_in_create(
        access=cast.access("partner_editor"), goal_id=agreed_goal.pk, value="140", confidence=3
    )
    partner_goal = f.make_goal(cast.access("partner_editor"), agreed_goal.objective, title="Certified consultants")
    goals.goal_propose(access=cast.access("partner_editor"), goal_id=partner_goal.pk)
    for days, score in ((28, 35), (21, 42), (14, 51), (7, 58), (0, 66)):
        HealthSnapshot.objects.create(
            partnership=cast.partnership, score=score, day=timezone.localdate() - dt.timedelta(days=days)
        )
    for label, (width, height) in (("desktop", (1280, 900)), ("phone", PHONE)):
        page = new_page(cast.vendor_admin, width=width, height=height)
        page.goto("/")
        expect(page.get_by_role("heading", name="Your partnerships")).to_be_visible()
        assert screenshot(page, f"dashboard-{label}").stat().st_size > 0
        page.goto(f"/p/{cast.partnership.pk}/")
        expect(page.locator(f"#goal-{agreed_goal.pk}")).to_be_visible()
        assert screenshot(page, f"plan-{label}").stat().st_size > 0
    assert User.objects.filter(pk=cast.vendor_admin.pk).exists()


def test_sign_in_through_the_form_and_sign_out(new_page, live_url, cast):
    page = new_page()
    page.goto(f"/p/{cast.partnership.pk}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, "Editor@Vendor.test")
    expect(page.get_by_role("heading", name="Acme × Northwind")).to_be_visible()  # back where they wanted to go
    page.locator("details.menu > summary").click()  # the person's menu holds "Sign out"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"/p/{cast.partnership.pk}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
