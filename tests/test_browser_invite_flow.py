"""The whole invitation and negotiation path in real Chromium: the vendor invites, the partner
accepts from the e-mailed link in a fresh browser, requests changes, the vendor amends, the
partner approves, and the goal is agreed on both sides."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Organisation, OrganisationMembership
from alignment import invitations
from alignment.models import Invitation
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
    vendor_page.get_by_role("radio", name=re.compile(r"\(partner\)$")).check()
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
    item.get_by_label(re.compile("what should change", re.I)).fill("We can commit to 250 if you fund a third workshop.")
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


# --- Invitations for real teams ---------------------------------------------------------------------


def name_the_companies(cast) -> None:
    p = cast.partnership
    Organisation.objects.filter(pk=p.vendor_id).update(name="Acme Cloud")
    Organisation.objects.filter(pk=p.partner_id).update(name="Northwind Consulting")


def link_in(message) -> str:
    match = re.search(r"http://testserver(/invite/[A-Za-z0-9_-]{43}/)", message.body)
    assert match, message.body
    return match.group(1)


def test_the_side_is_an_explicit_choice_and_a_partners_address_needs_a_deliberate_yes(new_page, cast):
    name_the_companies(cast)
    page = new_page(cast.vendor_admin)
    page.goto(f"/invite/manage/{cast.partnership.pk}/")
    side = page.get_by_role("group", name="Which company do they work for?")
    vendor = side.get_by_role("radio", name="Acme Cloud (vendor, your side)")
    partner = side.get_by_role("radio", name="Northwind Consulting (partner)")
    expect(vendor).not_to_be_checked()
    expect(partner).not_to_be_checked()
    expect(side.get_by_text("the first approver who joins becomes its admin")).to_be_visible()

    # Nothing chosen: asked to choose.
    page.get_by_label("E-mail address").fill("nina@partner.test")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Choose the company this person works for.")).to_be_visible()

    # A partner's address on the vendor side: refused, naming the company it seems to belong to.
    page.get_by_role("radio", name="Acme Cloud (vendor, your side)").check()
    page.get_by_role("button", name="Send invitation").click()
    expect(
        page.get_by_text("nina@partner.test looks like an address of Northwind Consulting, the partner")
    ).to_be_visible()
    confirm = page.get_by_label("Yes, invite nina@partner.test to the vendor side (Acme Cloud) anyway")
    expect(confirm).not_to_be_checked()
    assert serious_violations(page) == []
    assert not Invitation.objects.exists()

    # The deliberate yes.
    confirm.check()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to nina@partner.test")).to_be_visible()
    row = page.locator("[data-invitation='nina@partner.test']")
    expect(row).to_contain_text("approver at Acme Cloud (vendor)")
    assert Invitation.objects.get().side == "vendor"


def test_the_partners_admin_confirms_a_vendors_invitation_of_a_colleague(new_page, cast):
    name_the_companies(cast)
    boss = f.make_user("boss@partner.test", full_name="Bo Boss")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=boss, role="admin")
    pid = cast.partnership.pk

    vendor_page = new_page(cast.vendor_admin)
    vendor_page.goto(f"/invite/manage/{pid}/")
    expect(vendor_page.get_by_text("One of Northwind Consulting's admins confirms first")).to_be_visible()
    vendor_page.get_by_label("E-mail address").fill("paul@partner.test")
    vendor_page.get_by_role("radio", name="Northwind Consulting (partner)").check()
    vendor_page.get_by_label("Role").select_option("editor")
    vendor_page.get_by_role("button", name="Send invitation").click()
    expect(vendor_page.get_by_text("Northwind Consulting's admins were asked to confirm")).to_be_visible()
    expect(vendor_page.locator("[data-invitation='paul@partner.test']")).to_contain_text(
        "Waiting for Northwind Consulting's admins to confirm"
    )
    wait_for_mail(1)
    assert [m.to for m in mail.outbox] == [["boss@partner.test"]]  # the admin is asked; no link yet

    boss_page = new_page(boss, width=PHONE[0], height=PHONE[1])
    boss_page.goto(f"/invite/manage/{pid}/#awaiting")
    awaiting = boss_page.get_by_role("region", name="Waiting for your confirmation")
    expect(awaiting.get_by_text("Invited as editor by Vera Vendor (Acme Cloud)")).to_be_visible()
    assert serious_violations(boss_page) == []
    assert boss_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    awaiting.get_by_role("button", name="Confirm the invitation of paul@partner.test").click()
    expect(boss_page.get_by_text("Confirmed: the invitation link is on its way to paul@partner.test.")).to_be_visible()

    wait_for_mail(2)
    invited = mail.outbox[-1]
    assert invited.to == ["paul@partner.test"] and "Bo Boss of Northwind Consulting confirmed it." in invited.body
    paul = new_page()
    paul.goto(link_in(invited))
    expect(paul.get_by_text("Northwind Consulting (the partner side)")).to_be_visible()


def test_a_used_link_takes_the_signed_in_member_to_the_plan(new_page, cast):
    _, raw = invitations.invitation_create(
        access=cast.access("vendor_admin"), email="nina@partner.test", side="partner", role="approver"
    )
    nina = f.make_user("nina@partner.test", full_name="Nina Neumann")
    invitations.invitation_accept(raw_token=raw, user=nina)

    page = new_page(nina)
    page.goto(f"/invite/{raw}/")
    expect(page).to_have_url(re.compile(rf"/p/{cast.partnership.pk}/$"))

    stranger = new_page()
    stranger.goto(f"/invite/{raw}/")
    expect(stranger).to_have_url(re.compile(r"/accounts/login/\?next="))
    expect(stranger.get_by_text("This invitation link has been used already.")).to_be_visible()
    sign_in_form = stranger.locator("form", has=stranger.get_by_role("button", name="Sign in", exact=True))
    sign_in_form.get_by_label("E-mail").fill("nina@partner.test")
    sign_in_form.get_by_label("Password").fill(f.PASSWORD)
    sign_in_form.get_by_role("button", name="Sign in", exact=True).click()
    expect(stranger).to_have_url(re.compile(rf"/p/{cast.partnership.pk}/$"))


def test_an_expired_link_asks_the_inviter_for_a_new_one(new_page, cast):
    name_the_companies(cast)
    invitation, raw = invitations.invitation_create(
        access=cast.access("vendor_admin"), email="nina@partner.test", side="partner", role="approver"
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    wait_for_mail(1)  # the first invitation e-mail, long ago
    page = new_page(width=PHONE[0], height=PHONE[1])
    page.goto(f"/invite/{raw}/")
    expect(page.get_by_role("heading", name="This invitation link has expired")).to_be_visible()
    expect(page.get_by_text("Vera Vendor (Acme Cloud) can send you a new one.")).to_be_visible()
    assert serious_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.get_by_role("button", name="Ask for a new link").click()
    expect(
        page.get_by_text("We e-mailed Vera Vendor (Acme Cloud); the new link will come to nina@partner.test.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Ask for a new link")).to_have_count(0)
    wait_for_mail(2)
    asked = mail.outbox[-1]
    assert asked.to == ["admin@vendor.test"] and "asked for a new link" in asked.subject

    # The inviter sends a new link from the invitations page; the new one works, the old one stays dead.
    vendor_page = new_page(cast.vendor_admin)
    vendor_page.goto(f"/invite/manage/{cast.partnership.pk}/#invitation-{invitation.pk}")
    row = vendor_page.locator("[data-invitation='nina@partner.test']")
    expect(row).to_contain_text("they asked for a new link on")
    row.get_by_role("button", name="Send a new link to nina@partner.test").click()
    expect(vendor_page.get_by_text("A new link was sent to nina@partner.test")).to_be_visible()
    wait_for_mail(3)
    page.goto(link_in(mail.outbox[-1]))
    expect(page.get_by_role("heading", name="You are invited to “Acme × Northwind”")).to_be_visible()
