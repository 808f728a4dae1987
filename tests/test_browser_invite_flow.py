"""The whole invitation and negotiation path in real Chromium: the vendor invites, the partner
accepts from the e-mailed link in a fresh browser, requests changes, the vendor amends, the
partner approves, and the goal is agreed on both sides."""

from __future__ import annotations

import re
import secrets
import time
from decimal import Decimal

import pytest
from django.core import mail
from playwright.sync_api import expect

from alignment import invitations
from goals import services as goals
from goals.models import Goal, GoalStatus
from tests import factories as f
from tests.browser_support import PHONE, browser, live_url, new_page, serious_violations  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_mail(count: int, timeout: float = 15.0) -> None:
    """The e-mail goes out from the live server's thread after its transaction commits."""
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mail.outbox) >= count, "the invitation e-mail was not sent"


def test_vendor_invites_partner_who_negotiates_a_goal_to_agreement(new_page, live_url, cast):
    vendor = cast.access("vendor_admin")
    objective = f.make_objective(vendor, title="Grow the joint pipeline")
    goal = f.make_goal(vendor, objective, title="Pipeline Q1", target=Decimal("200"))
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    pid = cast.partnership.pk

    # The vendor admin invites the partner's contact.
    vendor_page = new_page(cast.vendor_admin)
    vendor_page.goto(f"/invite/manage/{pid}/")
    vendor_page.get_by_label("E-mail address").fill("nina@partner.test")
    vendor_page.get_by_label("Side").select_option("partner")
    vendor_page.get_by_label("Role").select_option("approver")
    vendor_page.get_by_label("Personal message (optional)").fill("Please review our Q1 pipeline goal.")
    vendor_page.get_by_role("button", name="Send invitation").click()
    expect(vendor_page.get_by_text("Invitation sent to nina@partner.test")).to_be_visible()

    # The e-mail holds the link.
    wait_for_mail(1)
    message = mail.outbox[-1]
    assert message.to == ["nina@partner.test"]
    match = re.search(r"http://testserver(/invite/[A-Za-z0-9_-]{43}/)", message.body)
    assert match, message.body

    # The partner opens it in a fresh browser, sees who invited them to what, and accepts.
    partner_page = new_page()
    partner_page.goto(match.group(1))
    expect(partner_page.get_by_role("heading", name=f"You are invited to “{cast.partnership.name}”")).to_be_visible()
    expect(partner_page.get_by_text("Please review our Q1 pipeline goal.")).to_be_visible()
    partner_page.get_by_label("Your name").fill("Nina Neumann")
    partner_page.get_by_label("Choose a password").fill(f.PASSWORD)
    partner_page.get_by_label("Password again").fill(f.PASSWORD)
    partner_page.get_by_role("button", name="Create my account and accept").click()

    # They land on their review queue and ask for a higher target.
    expect(partner_page).to_have_url(re.compile(rf"/p/{pid}/review/$"))
    item = partner_page.locator("article.review-item", has_text="Pipeline Q1")
    expect(item).to_be_visible()
    expect(item.get_by_text("Grow the joint pipeline")).to_be_visible()
    item.get_by_label("What should change?").fill("We can commit to 250 if you fund a third workshop.")
    item.get_by_role("button", name="Request changes").click()
    expect(partner_page.get_by_text("Your change request on “Pipeline Q1” was sent")).to_be_visible()

    # The vendor sees the request and amends: target 250, proposed and approved for the vendor side.
    vendor_page.goto(f"/p/{pid}/review/")
    vendor_item = vendor_page.locator("article.review-item", has_text="Pipeline Q1")
    expect(vendor_item.locator("blockquote.change-request")).to_contain_text(
        "We can commit to 250 if you fund a third workshop."
    )
    vendor_item.get_by_label(re.compile(r"^Target")).fill("250")
    vendor_item.get_by_role("button", name="Propose revision").click()
    expect(vendor_page.get_by_text("Revision 2 of “Pipeline Q1” was proposed")).to_be_visible()

    # The partner sees what changed and approves.
    partner_page.goto(f"/p/{pid}/review/")
    item = partner_page.locator("article.review-item", has_text="Pipeline Q1")
    expect(item.get_by_text("Target 200 → 250")).to_be_visible()
    item.get_by_role("button", name="Approve revision 2").click()
    expect(partner_page.get_by_text("“Pipeline Q1” is agreed by both sides.")).to_be_visible()

    # Agreed on both sides.
    vendor_page.goto(f"/p/{pid}/review/goals/{goal.pk}/")
    expect(vendor_page.locator("[data-status]")).to_have_attribute("data-status", "agreed")
    expect(vendor_page.get_by_text("approved revision 2 for the partner side")).to_be_visible()
    goal = Goal.objects.get(pk=goal.pk)
    assert (goal.status, goal.agreed_revision, goal.target) == (GoalStatus.AGREED, 2, Decimal("250"))
    assert set(goal.approvals.filter(revision=2).values_list("side", flat=True)) == {"vendor", "partner"}


def test_invitation_and_review_pages_are_accessible_on_a_phone(new_page, cast):
    vendor = cast.access("vendor_admin")
    goal = f.make_goal(vendor, f.make_objective(vendor), title="Pipeline Q1")
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    _, raw = invitations.invitation_create(
        access=vendor, email="nina@partner.test", side="partner", role="approver", message="Welcome!"
    )
    pages = [
        (None, f"/invite/{raw}/"),
        (None, f"/invite/{secrets.token_urlsafe(32)}/"),
        (cast.vendor_admin, f"/invite/manage/{cast.partnership.pk}/"),
        (cast.partner_approver, f"/p/{cast.partnership.pk}/review/"),
        (cast.partner_approver, f"/p/{cast.partnership.pk}/review/goals/{goal.pk}/"),
    ]
    for user, path in pages:
        page = new_page(user, width=PHONE[0], height=PHONE[1])
        page.goto(path)
        assert serious_violations(page) == [], path
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        page.context.close()
