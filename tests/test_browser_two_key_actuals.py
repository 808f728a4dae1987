"""Two-key actuals in real Chromium: the vendor enters a figure, the partner disputes it with its own
number, the sides settle on one, and the progress the goal shows follows each step; after the
close, the side that entered a figure corrects it with a reason the history shows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from goals import check_ins as goal_check_ins
from goals import services as goals
from goals.models import GoalStatus
from tests import factories as f
from tests.browser_support import browser, live_url, new_page, serious_violations  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def agreed_goal(cast):  # type: ignore[no-untyped-def]
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline this quarter")
    goal = f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    first = goal_check_ins.check_in_create(
        access=editor, goal_id=goal.pk, value="120", note="Start", measured_on=dt.date.today() - dt.timedelta(days=14)
    )
    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=first.pk)
    return goal


def test_the_vendor_enters_the_partner_disputes_and_they_settle(new_page, live_url, cast, agreed_goal):
    path = f"/p/{cast.partnership.pk}/"
    card = f"#goal-{agreed_goal.pk}"

    def open_card(page):  # type: ignore[no-untyped-def]
        page.goto(path)
        page.locator(f"{card} summary").click()
        expect(page.locator(f"{card} .check-in-table")).to_be_visible()

    vendor = new_page(cast.vendor_editor)
    open_card(vendor)
    expect(vendor.locator(f"{card} .progress-text")).to_contain_text("20%")
    vendor.locator(card).get_by_role("button", name="Check in").click()
    check_in = vendor.locator("form").filter(has=vendor.get_by_label("Measured value"))
    check_in.get_by_label("Measured value").fill("180")
    check_in.get_by_label("Note").fill("From the CRM")  # the economics panel has a note of its own
    vendor.get_by_role("button", name="Save check-in").click()
    expect(vendor.locator(f"{card} .progress-text")).to_contain_text("80%")
    expect(vendor.locator(f"{card} .progress-text")).to_contain_text("unconfirmed")
    expect(vendor.locator(f"{card} tr.check-in-unconfirmed")).to_contain_text("From the CRM")
    expect(vendor.locator(f"{card} .check-in-table")).not_to_contain_text("Dispute")  # not for its own side

    partner = new_page(cast.partner_editor)
    open_card(partner)
    row = partner.locator(f"{card} tr.check-in-unconfirmed")
    expect(row).to_contain_text("From the CRM")
    row.get_by_role("button", name=re.compile(r"^Dispute")).click()
    partner.get_by_label("Your side's number").fill("150")
    expect(partner.get_by_label("Why it differs")).to_have_attribute("required", "")  # a note is needed
    partner.get_by_label("Why it differs").fill("Two deals slipped to next month")
    partner.get_by_role("button", name="Dispute", exact=True).click()
    disputed = partner.locator(f"{card} tr.check-in-disputed")
    expect(disputed).to_contain_text("disputed: 180")
    expect(disputed).to_contain_text("vs 150")
    expect(disputed).to_contain_text("Two deals slipped to next month")
    # Until the sides settle, the disputed figure does not count: back to the last undisputed one.
    expect(partner.locator(f"{card} .progress-text")).to_contain_text("20%")
    expect(partner.locator(f"{card} .progress-text")).to_contain_text("a figure is disputed")
    assert serious_violations(partner) == []

    # The vendor's page follows the dispute without a reload (live updates), still open.
    expect(vendor.locator(f"{card} .progress-text")).to_contain_text("20%")
    vendor.locator(f"{card} tr.check-in-disputed").get_by_role("button", name=re.compile(r"^Settle on 150")).click()
    expect(vendor.locator(f"{card} tr.check-in-confirmed").first).to_be_visible()
    expect(vendor.locator(f"{card} .progress-text")).to_contain_text("50%")
    expect(vendor.locator(f"{card} .progress-text")).not_to_contain_text("disputed")

    expect(partner.locator(f"{card} .progress-text")).to_contain_text("50%")
    expect(partner.locator(f"{card} .check-in-table")).not_to_contain_text("Settle on")
    assert vendor.errors == [] and partner.errors == []


@pytest.fixture
def closed_goal(cast, agreed_goal):  # type: ignore[no-untyped-def]
    goals.goal_close(
        access=cast.access("vendor_approver"), goal_id=agreed_goal.pk, outcome=GoalStatus.DROPPED, note="Stopped"
    )
    return agreed_goal


def test_the_side_that_entered_a_figure_corrects_it_after_the_close(new_page, live_url, cast, closed_goal):
    card = f"#goal-{closed_goal.pk}"
    vendor = new_page(cast.vendor_editor)
    vendor.goto(f"/p/{cast.partnership.pk}/goals/{closed_goal.pk}/")
    row = vendor.locator(f"{card} tr.check-in-confirmed")
    expect(row).to_contain_text("120")
    row.get_by_role("button", name=re.compile(r"^Correct")).click()
    form = vendor.locator("form").filter(has=vendor.get_by_label("Why it is corrected"))
    expect(form.get_by_label("Measured value")).to_have_value("120")
    form.get_by_label("Measured value").fill("125")
    form.get_by_role("button", name="Save correction").click()  # no reason: the form comes back
    expect(form.locator(".errorlist")).to_contain_text("This field is required.")
    expect(form.get_by_label("Measured value")).to_have_value("125")
    form.get_by_label("Why it is corrected").fill("The CRM export counted one deal twice")
    form.get_by_role("button", name="Save correction").click()
    corrected = vendor.locator(f"{card} tr.check-in-unconfirmed")
    expect(corrected).to_contain_text("125")
    assert serious_violations(vendor) == []

    vendor.goto(f"/p/{cast.partnership.pk}/")
    history = vendor.locator("body")
    expect(history).to_contain_text("after the goal closed, from 120 EUR k to 125 EUR k")
    expect(history).to_contain_text("The CRM export counted one deal twice")
    assert vendor.errors == []
