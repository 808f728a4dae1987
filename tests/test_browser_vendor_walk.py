"""The vendor's first joint plan (issue 12, "first plan in ten minutes"): from signing up to
"Invitation sent", counting the screens, in real Chromium at 1280 and 390 px.

A screen is a full page load (``page.on("load")``); the in-place steps of the plan page (the
vision, the objective, the derived goals) swap fragments with htmx and load nothing. Measured, the
walk takes six screens:

1. sign-up (organisation, name, e-mail, password),
2. the dashboard, which offers "Start a partnership",
3. the new partnership's page,
4. the plan with its getting-started checklist: vision, objective and derived goals are written
   in place, each step's button turning the next one into the primary action,
5. the invitations page (side, role, e-mail),
6. the invitations page again, saying "Invitation sent",

and two more where sign-up confirms the address by e-mail first ("Check your e-mail", then the
e-mailed link's "Confirm and open the workspace"): eight. ``MAX_SCREENS`` = 8 is the most a
newcomer should need; the test asserts the exact count of the path it took too, so a step that
stops working in place (or a detour) fails it. Every screen's next step is its one primary action
(at the end: what happens next), and each step leaves a screenshot
``artifacts/screenshots/vendor-walk-<screen>-<step>-<width>.png``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import OrganisationMembership
from alignment.models import Invitation
from goals.models import Goal
from tests import factories as f
from tests.browser_support import PHONE, browser, live_url, new_page, screenshot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_SCREENS = 8
CONFIRMATION_LINK = re.compile(r"https?://[^/\s]+(/accounts/signup/confirm/[^/\s]+/)")


def confirmation_link() -> str:
    """The link of the sign-up confirmation e-mail (sent by the live server, in this process)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for message in mail.outbox:
            found = CONFIRMATION_LINK.search(message.body)
            if found:
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError("no sign-up confirmation e-mail")


def next_step(scope: Any, name: str | re.Pattern[str]) -> Any:
    """The primary action of ``scope``: visible, called ``name``, and the only primary one there."""
    primary = scope.locator("button.primary:visible, a.button.primary:visible")
    expect(primary).to_have_count(1)
    expect(primary).to_have_accessible_name(name)
    return primary


@pytest.mark.parametrize("size", [(1280, 900), PHONE], ids=["desktop", "phone"])
def test_the_vendor_goes_from_sign_up_to_invitation_sent_in_at_most_eight_screens(new_page, size):  # type: ignore[no-untyped-def]
    width = size[0]
    page = new_page(width=size[0], height=size[1])
    screens: list[str] = []
    page.on("load", lambda p: screens.append(p.url))
    main = page.locator("main")

    screen = 1  # the screen the walk is on, for the screenshots' names

    def shot(step: str) -> None:
        screenshot(page, f"vendor-walk-{screen}-{step}-{width}")

    # Screen 1: sign up.
    page.goto("/accounts/signup/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your workspace")
    page.get_by_label("Your company").fill("Acme Software")
    page.get_by_label("Your name").fill("Ada Admin")
    page.get_by_label("E-mail").fill("ada@acme-software.test")
    page.get_by_label("Password").fill(f.PASSWORD)
    shot("sign-up")
    next_step(main, "Create workspace").click()

    # Where sign-up confirms the address first: "check your e-mail", then the e-mailed link's page.
    confirming = page.get_by_role("heading", level=1, name="Check your e-mail")
    expect(confirming.or_(page.get_by_role("heading", level=1, name="Dashboard"))).to_be_visible()
    if confirming.is_visible():
        screen += 1
        expect(main.get_by_text("Open the link in it")).to_be_visible()
        shot("check-your-e-mail")
        page.goto(confirmation_link())
        screen += 1
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your address")
        shot("confirm")
        next_step(main, "Confirm and open the workspace").click()

    # The dashboard says to start a partnership.
    screen += 1
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(main.get_by_text("Start your first partnership")).to_be_visible()
    shot("dashboard")
    next_step(main, "Start a partnership").click()

    # The partner and its kind.
    screen += 1
    expect(page.get_by_role("heading", level=1)).to_have_text("Start a new partnership")
    page.get_by_label("Partner company").fill("Northwind Consulting")
    page.get_by_label("Kind of partner").select_option("consulting")
    shot("new-partnership")
    next_step(main, "Start partnership").click()

    # The plan; its checklist leads through the next three steps in place.
    screen += 1
    checklist = page.get_by_role("region", name="Getting started")
    expect(checklist).to_contain_text("0 of 4 steps done")
    expect(page.get_by_text("Four steps to your first joint plan")).to_be_visible()
    shot("plan")
    next_step(checklist, "Write the vision").click()
    vision = page.locator("#vision")
    expect(page.get_by_label("Why we are in business together")).to_be_focused()
    page.get_by_label("Why we are in business together").fill(
        "Mid-market customers need our product and your services."
    )
    page.get_by_label("What we hope to accomplish together").fill("Be the first choice in the DACH region.")
    page.get_by_label("How we best work together").fill("A monthly pipeline call and a quarterly review.")
    shot("plan-vision")
    next_step(vision, "Save").click()
    expect(checklist).to_contain_text("1 of 4 steps done")

    next_step(checklist, "Add an objective").click()
    objective = page.locator("#objective-new")
    objective.get_by_label("Objective", exact=True).fill("A certified migration practice")
    objective.get_by_label("What it gives the vendor").fill("More licences in the mid-market")
    objective.get_by_label("What it gives the partner").fill("Billable implementation days")
    objective.get_by_label("Metric", exact=True).fill("Certified consultants")
    objective.get_by_label("Unit", exact=True).fill("people")
    objective.get_by_label("Baseline", exact=True).fill("4")
    objective.get_by_label("Long-term target", exact=True).fill("24")
    objective.get_by_label("Target date", exact=True).fill(f"{dt.date.today().year + 2}-06-30")
    shot("plan-objective")
    next_step(objective, "Add objective").click()
    expect(checklist).to_contain_text("2 of 4 steps done")

    next_step(checklist, "Derive goals from “A certified migration practice”").click()
    derive = page.locator("form.derive")
    expect(
        derive.get_by_role("heading", name="Derive interim goals from “A certified migration practice”")
    ).to_be_visible()
    shot("plan-derive")
    next_step(derive, "Create as drafts").click()
    expect(checklist).to_contain_text("3 of 4 steps done")
    assert Goal.objects.count() >= 1
    shot("plan-goals")
    next_step(checklist, "Invite Northwind Consulting").click()

    # Who to invite, to which side, with which role.
    screen += 1
    expect(page.get_by_role("heading", level=1)).to_contain_text("Invitations to")
    page.get_by_label("E-mail address").fill("pat@northwind.test")
    page.get_by_role("radio", name="Northwind Consulting (partner)").check()
    page.get_by_label("Role").select_option("approver")
    shot("invite")
    next_step(main, "Send invitation").click()

    # Sent, and what happens next.
    screen += 1
    expect(page.get_by_text("Invitation sent to pat@northwind.test.")).to_be_visible()
    sent = page.locator("[data-invitation='pat@northwind.test']")
    expect(sent).to_contain_text("Pending until")
    expect(
        main.get_by_text("Once they accept, they find what waits for their side in their review queue")
    ).to_be_visible()
    shot("invitation-sent")

    page.wait_for_load_state("load")  # the last screen's load event is counted too
    assert len(screens) == screen <= MAX_SCREENS, f"{len(screens)} screens: {screens}"
    assert page.errors == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no horizontal scroll"
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.side, invitation.role) == ("pat@northwind.test", "partner", "approver")
    assert OrganisationMembership.objects.get().organisation.name == "Acme Software"
    assert ["pat@northwind.test"] in [m.to for m in mail.outbox]
