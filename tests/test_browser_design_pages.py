"""The design system in real Chromium: the partnership's tabs (present on every page of it, reachable
by keyboard), the dashboard's inbox and totals, the getting-started checklist of a new plan from
"Start partnership" through its steps, the history (collapsed, readable, "Show older"), numbers
formatted for people, and every page of this part passing axe at 1280 px and fitting 390 px."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import OrganisationMembership
from alignment import invitations as inv
from alignment import services as plan
from alignment.models import AlignmentReview, Partnership, Side
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals import services as goals
from tests import factories as f
from tests.browser_support import (  # noqa: F401 - fixtures
    PHONE,
    browser,
    live_url,
    new_page,
    screenshot,
    serious_violations,
    tab_to,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABS = ["Plan", "Review queue", "Reviews", "Health", "Settings", "Invitations", "Print / export"]


@pytest.fixture
def written(cast):
    """A started plan: a vision, an objective in people, an agreed goal with check-ins, a goal
    waiting for the partner, an overdue commitment, a review and a history longer than a page."""
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    plan.vision_update(
        access=editor,
        why_together="Mid-market manufacturers need our platform and your services.",
        what_we_hope="A certified practice of 24 consultants.",
        how_we_work="Quarterly reviews, shared pipeline.",
    )
    objective = f.make_objective(
        editor,
        title="Certified practice",
        metric_name="Certified consultants",
        metric_unit="people",
        baseline=Decimal("4.0000"),
        target=Decimal("24.0000"),
    )
    agreed = f.agree(
        f.make_goal(
            editor,
            objective,
            title="Certify 12 consultants",
            metric_name="Certified consultants",
            metric_unit="people",
            baseline=Decimal("8"),
            target=Decimal("12"),
        ),
        vendor,
        partner,
    )
    goal_check_ins.check_in_create(access=partner, goal_id=agreed.pk, value=Decimal("10.8000"), confidence=4)
    goal_check_ins.check_in_create(access=editor, goal_id=agreed.pk, value=Decimal("1.0000"), confidence=2)
    past = timezone.localdate() - dt.timedelta(days=4)
    for c in agreed.commitments.all():
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=past)
    waiting = f.make_goal(editor, objective, title="Joint pipeline of 1.2M EUR", metric_unit="EUR k", target=1200000)
    goals.goal_propose(access=editor, goal_id=waiting.pk)
    goals.goal_approve(access=vendor, goal_id=waiting.pk, revision=1)
    plan.review_schedule(access=editor, scheduled_for=timezone.now() + dt.timedelta(days=9))
    for n in range(12):
        f.make_objective(editor, title=f"Later objective {n:02d}")
    return {"agreed": agreed, "waiting": waiting}


def fits_a_phone(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_every_partnership_page_has_the_tabs_and_they_work_by_keyboard(new_page, cast, written):
    p = cast.partnership.pk
    review = AlignmentReview.objects.filter(partnership=cast.partnership).first()
    page = new_page(cast.vendor_admin)
    for path, current in [
        (f"/p/{p}/", "Plan"),
        (f"/p/{p}/review/", "Review queue"),
        (f"/p/{p}/reviews/", "Reviews"),
        (f"/p/{p}/reviews/{review.pk}/", "Reviews"),
        (f"/p/{p}/reviews/deliveries/", "Reviews"),
        (f"/p/{p}/health/", "Health"),
        (f"/p/{p}/settings/", "Settings"),
        (f"/invite/manage/{p}/", "Invitations"),
        (f"/p/{p}/print/", "Print / export"),
        (f"/p/{p}/goals/{written['agreed'].pk}/", "Plan"),
    ]:
        page.goto(path)
        tabs = page.get_by_role("navigation", name=f"Sections of {cast.partnership.name}")
        expect(tabs.get_by_role("link")).to_have_count(len(TABS))
        for label in TABS:
            expect(tabs.get_by_role("link", name=label)).to_be_visible()
        expect(tabs.locator('[aria-current="page"]')).to_contain_text(current)
    # The queue's tab counts what waits for the vendor side (nothing: it approved already).
    page.goto(f"/p/{p}/")
    queue_tab = page.get_by_role("link", name=re.compile("^Review queue"))
    expect(queue_tab).to_have_accessible_name("Review queue : 0 waiting for your side")
    partner = new_page(cast.partner_approver)
    partner.goto(f"/p/{p}/")
    expect(partner.get_by_role("link", name=re.compile("^Review queue"))).to_contain_text("1")
    # Keyboard: from the top of the page to the Health tab and into it.
    page.goto(f"/p/{p}/")
    tab_to(page, "el.closest('.tabs') && el.textContent.trim() === 'Health'")
    expect(page.get_by_role("link", name="Health", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/p/{p}/health/$"))
    expect(page.locator('.tabs [aria-current="page"]')).to_have_text("Health")


def test_the_persons_menu_opens_and_closes_by_keyboard(new_page, cast):
    page = new_page(cast.partner_approver)
    page.goto("/")
    tab_to(page, "el.tagName === 'SUMMARY' && !!el.closest('details.menu')")
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Your settings")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="Your settings")).to_be_hidden()
    expect(page.locator("details.menu > summary")).to_be_focused()
    assert page.get_by_role("link", name=re.compile("Sign up|Create a workspace")).count() == 0


def test_the_dashboard_puts_what_waits_first_then_totals_that_link_to_their_lists(new_page, cast, written):
    page = new_page(cast.partner_approver)
    page.goto("/")
    inbox = page.get_by_role("region", name="Waiting for you")
    expect(inbox.get_by_role("link", name="Joint pipeline of 1.2M EUR", exact=True)).to_be_visible()
    expect(inbox).to_contain_text("waiting for your side's approval")
    expect(inbox).to_contain_text("Overdue since")
    expect(page.get_by_role("link", name="1 goal waits for your side")).to_be_visible()
    expect(page.get_by_role("link", name="1 agreed goal")).to_be_visible()
    assert page.get_by_role("link", name=re.compile("New partnership|Start a partnership")).count() == 0
    expect(page.get_by_text(f"with {cast.partnership.vendor.name} (your vendor)")).to_be_visible()
    page.get_by_role("link", name="1 agreed goal").click()
    expect(page.get_by_role("heading", level=1, name="Agreed goals")).to_be_visible()
    expect(page.get_by_role("link", name="Certify 12 consultants")).to_be_visible()
    expect(page.get_by_text("12 people (higher is better)")).to_be_visible()
    page.go_back()
    page.get_by_role("link", name="1 goal waits for your side").click()
    expect(page.get_by_role("link", name="Joint pipeline of 1.2M EUR", exact=True)).to_be_visible()
    page.get_by_role("link", name="Review “Joint pipeline of 1.2M EUR”").click()
    expect(page).to_have_url(re.compile(rf"/p/{cast.partnership.pk}/review/$"))
    assert page.errors == []


def test_a_new_plan_walks_through_its_checklist_from_start_partnership(new_page, db):
    admin = f.make_user("ada@acme.test", full_name="Ada Admin")
    f.make_org("Acme Software", admin)
    page = new_page(admin)
    page.goto("/")
    expect(page.get_by_text("Start your first partnership")).to_be_visible()
    page.get_by_role("link", name="Start a partnership").click()
    page.get_by_label("Partner company").fill("Northwind Consulting")
    page.get_by_label("Kind of partner").select_option("consulting")
    page.get_by_role("button", name="Start partnership").click()
    checklist = page.get_by_role("region", name="Getting started")
    expect(checklist).to_contain_text("0 of 4 steps done")
    expect(page.locator("#plan-header .health-badge")).to_contain_text("Getting started")
    p = Partnership.objects.get(partner__name="Northwind Consulting")

    checklist.get_by_role("button", name="Write the vision").click()
    expect(page.get_by_label("Why we are in business together")).to_be_focused()
    page.get_by_label("Why we are in business together").fill("Mid-market customers need product and services.")
    page.get_by_label("What we hope to accomplish together").fill("Be the first choice in DACH.")
    page.get_by_label("How we best work together").fill("Monthly pipeline calls.")
    page.locator("#vision").get_by_role("button", name="Save").click()
    expect(checklist).to_contain_text("1 of 4 steps done")

    checklist.get_by_role("button", name="Add an objective").click()
    page.get_by_label("Objective", exact=True).fill("Grow joint services revenue")
    page.get_by_label("What it gives the vendor").fill("Licence revenue")
    page.get_by_label("What it gives the partner").fill("Billable implementation work")
    page.locator("#objective-new").get_by_role("button", name="Add objective").click()
    expect(checklist).to_contain_text("2 of 4 steps done")

    checklist.get_by_role("button", name="Add a goal to “Grow joint services revenue”").click()
    form = page.locator("form.inplace")
    form.get_by_label("Goal", exact=True).fill("Joint pipeline this quarter")
    form.get_by_label("Metric", exact=True).fill("Qualified pipeline")
    form.get_by_label("Unit", exact=True).fill("EUR k")
    form.get_by_label("Baseline", exact=True).fill("100")
    form.get_by_label("Target", exact=True).fill("300")
    form.get_by_label("What the vendor commits to").fill("Fund two joint workshops")
    form.get_by_label("What the partner commits to").fill("Certify three consultants")
    form.get_by_role("button", name="Add goal").click()
    expect(checklist).to_contain_text("3 of 4 steps done")

    checklist.get_by_role("link", name="Invite Northwind Consulting").click()
    expect(page).to_have_url(re.compile(rf"/invite/manage/{p.pk}/$"))
    inv.invitation_create(access=f.access(admin, p), email="pat@northwind.test", side=Side.PARTNER, role="approver")
    page.goto(f"/p/{p.pk}/")
    checklist = page.get_by_role("region", name="Getting started")
    expect(checklist).to_contain_text("4 of 4 steps done")
    checklist.get_by_role("button", name="Dismiss the checklist").click()
    expect(page.get_by_role("region", name="Getting started")).to_have_count(0)
    expect(page.locator("#plan-header .health-badge")).to_contain_text("Getting started")  # no agreed goal yet
    assert page.errors == []
    assert OrganisationMembership.objects.filter(user=admin).count() == 1


def test_the_history_is_collapsed_readable_and_pages_back(new_page, cast, written):
    page = new_page(cast.partner_viewer)
    page.goto(f"/p/{cast.partnership.pk}/")
    history = page.locator("#history")
    expect(history.locator("details")).not_to_have_attribute("open", "")
    expect(history.locator("summary")).to_contain_text("Latest: Ed Editor added the objective “Later objective 11”")
    history.locator("summary").click()
    events = history.locator(".events > li:not(.history-more)")
    expect(events).to_have_count(20)
    expect(history).to_contain_text(
        "Ava Approver approved “Joint pipeline of 1.2M EUR” (revision 1) for the vendor side"
    )
    expect(history).not_to_contain_text("{'")
    page.get_by_role("button", name="Show older changes").click()
    expect(events.nth(20)).to_be_focused()
    expect(history).to_contain_text(
        "Pat Partner checked in 10.8 people on “Certify 12 consultants” (confidence 4 of 5)"
    )
    expect(history).to_contain_text("checked in 1 person on “Certify 12 consultants”")
    assert events.count() > 20
    text = history.locator(".events").inner_text()
    # No ids, no ISO stamps; only a review's time carries a zone label (the partnership's).
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text) and not re.search(r"\d{4}-\d{2}-\d{2}", text)


def test_numbers_read_as_people_write_them(new_page, cast, written):
    page = new_page(cast.vendor_editor)
    page.goto(f"/p/{cast.partnership.pk}/")
    expect(page.locator(".objective-head", has_text="Certified practice")).to_contain_text(
        "Certified consultants: 4 → 24 people"
    )
    page.goto("/lists/waiting/")
    page.goto("/lists/agreed/")
    expect(page.get_by_text("12 people (higher is better)")).to_be_visible()
    partner = new_page(cast.partner_approver)
    partner.goto("/lists/waiting/")
    expect(partner.get_by_role("cell", name="Joint pipeline of 1.2M EUR", exact=True)).to_be_visible()
    page.goto(f"/p/{cast.partnership.pk}/print/")
    expect(page.get_by_text("from 8 to 12 people (higher is better)")).to_be_visible()
    assert "10.8000" not in page.content() and "(increase (higher is better))" not in page.content()


def test_the_pages_pass_axe_and_fit_a_phone(new_page, cast, written):
    p = cast.partnership.pk
    review = AlignmentReview.objects.filter(partnership=cast.partnership).first()
    fresh = f.make_user("fresh@acme.test", full_name="Fresh Vendor")
    new_plan = f.make_partnership(fresh, name="Acme × Fresh partner")
    paths = {
        "dashboard": "/",
        "list-waiting": "/lists/waiting/",
        "list-agreed": "/lists/agreed/",
        "list-overdue": "/lists/overdue-ours/",
        "list-reviews": "/lists/reviews/",
        "new-partnership": "/partnerships/new/",
        "plan": f"/p/{p}/",
        "health": f"/p/{p}/health/",
        "reviews": f"/p/{p}/reviews/",
        "review": f"/p/{p}/reviews/{review.pk}/",
        "email-log": f"/p/{p}/reviews/deliveries/",
        "print": f"/p/{p}/print/",
        "user-settings": "/settings/",
    }
    for width, height, label in ((1280, 900, "desktop"), (PHONE[0], PHONE[1], "phone")):
        page = new_page(cast.vendor_admin, width=width, height=height)
        for name, path in paths.items():
            page.goto(path)
            if name == "plan":
                page.locator("#history summary").click()
            assert fits_a_phone(page) <= 0, f"{path} scrolls sideways at {width}px"
            if label == "desktop":
                assert serious_violations(page) == [], path
            screenshot(page, f"design-{name}-{label}")
        starting = new_page(fresh, width=width, height=height)
        starting.goto(f"/p/{new_plan.pk}/")
        expect(starting.get_by_role("region", name="Getting started")).to_be_visible()
        assert fits_a_phone(starting) <= 0
        if label == "desktop":
            assert serious_violations(starting) == []
        screenshot(starting, f"design-new-plan-{label}")
        anonymous = new_page(width=width, height=height)
        for path in ("/accounts/login/", "/accounts/signup/"):
            anonymous.goto(path)
            assert fits_a_phone(anonymous) <= 0, path
            if label == "desktop":
                assert serious_violations(anonymous) == [], path
