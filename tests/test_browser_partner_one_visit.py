"""The partner finishes in one visit: from the invitation e-mail to a goal agreed by both sides in
three screens, with no help text needed (issue 12, item 2), in real Chromium."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from alignment import invitations
from alignment import services as plan
from alignment.models import Role, Side
from goals import commitments as goal_commitments
from goals import services as goals
from goals.models import Goal, GoalStatus
from tests import factories as f
from tests.browser_support import PHONE, browser, live_url, new_page, screenshot, serious_violations  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def proposed_by_the_vendor(cast):  # type: ignore[no-untyped-def]
    """The vendor wrote the vision, proposed a goal with its own commitment and approved it,
    subject to the partner's commitment; then it invites the partner's first approver."""
    editor, admin = cast.access("vendor_editor"), cast.access("vendor_admin")
    plan.vision_update(
        access=editor,
        why_together="Our cloud and their consultants win mid-market logistics customers.",
        what_we_hope="Twenty joint customers in two years.",
        how_we_work="A monthly pipeline call and a quarterly business review.",
    )
    goal = f.make_goal(editor, f.make_objective(editor), commitments=False, title="Joint pipeline Q1")
    goal_commitments.commitment_create(
        access=editor, goal_id=goal.pk, side=Side.VENDOR, text="Fund two demand-generation workshops"
    )
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_approve(access=admin, goal_id=goal.pk, revision=1)
    mail.outbox.clear()
    invitations.invitation_create(access=admin, email="nina@partner.test", side=Side.PARTNER, role=Role.APPROVER)
    return goal


def invitation_link() -> str:
    [message] = [m for m in mail.outbox if m.to == ["nina@partner.test"]]
    return re.search(r"https?://\S+/invite/\S+/", message.body).group(0)  # type: ignore[union-attr]


@pytest.mark.parametrize("size", [(1280, 900), PHONE], ids=["desktop", "phone"])
def test_the_partner_goes_from_the_invitation_email_to_an_agreed_goal_in_three_screens(
    new_page, live_url, cast, proposed_by_the_vendor, size
):
    link = invitation_link().replace("http://testserver", live_url)
    page = new_page(width=size[0], height=size[1])
    screens: list[str] = []
    page.on("load", lambda: screens.append(page.url))

    # Screen 1: the invitation, from the e-mail.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("invited")
    page.get_by_label("Your name").fill("Nina Newbie")
    page.get_by_label("Choose a password").fill(f.PASSWORD)
    page.get_by_label("Password again").fill(f.PASSWORD)
    page.get_by_role("button", name=re.compile("Accept|Join", re.I)).click()

    # Screen 2: the review queue: the vision to endorse and the goal waiting for the partner.
    expect(page.get_by_role("heading", name="Your review queue")).to_be_visible()
    expect(page.get_by_role("button", name="Endorse the vision for the partner side")).to_be_visible()
    item = page.locator(f"#goal-{proposed_by_the_vendor.pk}")
    expect(item.get_by_role("heading", name="Add the partner's commitment and approve")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, f"partner-one-visit-queue-{size[0]}")
    item.get_by_label("What your side will do").fill("Assign a pre-sales lead for every joint deal")
    item.get_by_role("button", name="Commit and approve revision 1").click()

    # Screen 3: agreed.
    expect(page.get_by_text("is agreed by both sides")).to_be_visible()
    expect(page.locator("[data-agreed-goal='Joint pipeline Q1']")).to_contain_text("agreed by both sides")
    assert len(screens) <= 3, screens
    goal = Goal.objects.get(pk=proposed_by_the_vendor.pk)
    assert (goal.status, goal.agreed_revision) == (GoalStatus.AGREED, 1)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no horizontal scroll"
    assert page.errors == []
