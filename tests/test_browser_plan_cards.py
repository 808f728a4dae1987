"""Compact goal cards and collapsed goal lists in real Chromium: opened with the keyboard, loaded on
demand, accessible, and kept right by live updates whether they are open or not."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from plans import views as plan_views
from tests import factories as f
from tests.browser_support import PHONE, browser, live_url, new_page, serious_violations, tab_to  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def agreed_goal(cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline this quarter")
    goal = f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    for days, value in ((14, "120"), (7, "135")):
        goal_check_ins.check_in_create(
            access=editor,
            goal_id=goal.pk,
            value=value,
            confidence=4,
            note=f"Week of {value}",
            measured_on=dt.date.today() - dt.timedelta(days=days),
        )
    return goal


def test_a_card_opens_with_the_keyboard_and_shows_its_check_ins(new_page, live_url, cast, agreed_goal):
    page = new_page(cast.partner_editor)
    page.goto(f"/p/{cast.partnership.pk}/")
    card = page.locator(f"#goal-{agreed_goal.pk}")
    expect(card).to_contain_text("latest 135")
    expect(card.locator(".check-in-table")).to_have_count(0)  # not loaded until opened
    tab_to(page, f"el.tagName === 'SUMMARY' && !!el.closest('#goal-{agreed_goal.pk}')")
    page.keyboard.press("Enter")
    table = card.locator(".check-in-table")
    expect(table).to_contain_text("Week of 135")
    expect(table).to_contain_text("Week of 120")
    expect(card.locator("summary")).to_be_focused()  # loading never moves the focus
    expect(card).to_contain_text("Certify three consultants")
    assert serious_violations(page) == []
    assert page.errors == []


def test_a_collapsed_goal_list_loads_when_opened_and_follows_live_changes(new_page, live_url, cast, monkeypatch):
    monkeypatch.setattr(plan_views, "INLINE_GOALS", 1)
    editor = cast.access("vendor_editor")
    first = f.make_goal(editor, f.make_objective(editor, title="First objective"), title="Goal in the first")
    second_objective = f.make_objective(editor, title="Second objective")
    second = f.make_goal(editor, second_objective, title="Goal in the second")
    vendor = new_page(cast.vendor_editor)
    partner = new_page(cast.partner_approver)
    vendor.goto(f"/p/{cast.partnership.pk}/")
    partner.goto(f"/p/{cast.partnership.pk}/")
    expect(partner.locator(f"#goal-{first.pk}")).to_be_visible()
    expect(partner.locator(f"#goal-{second.pk}")).to_have_count(0)
    second_list = partner.locator(f"#goals-of-{second_objective.pk}")
    expect(second_list.locator("summary")).to_contain_text("1 open goal")

    # The vendor opens the collapsed list and edits its goal in place.
    vendor.locator(f"#goals-of-{second_objective.pk} > summary").click()
    vendor_card = vendor.locator(f"#goal-{second.pk}")
    vendor_card.get_by_role("button", name=re.compile(r"^Edit goal")).click()
    vendor.locator(f"form#goal-{second.pk}").get_by_label("Target").fill("250")
    vendor.locator(f"form#goal-{second.pk}").get_by_role("button", name="Save").click()
    expect(vendor.locator(f"#goal-{second.pk} .goal-target")).to_have_text("250")

    # A new goal under the second objective: the partner's list, still collapsed, counts it.
    f.make_goal(editor, second_objective, title="Another goal in the second")
    expect(second_list.locator("summary")).to_contain_text("2 open goals")
    expect(partner.locator(f"#goal-{second.pk}")).to_have_count(0)
    # Opened, the list loads the goals as they are now; the vendor's open list stayed open.
    second_list.locator("summary").click()
    expect(partner.locator(f"#goal-{second.pk} .goal-target")).to_have_text("250")
    expect(second_list).to_contain_text("Another goal in the second")
    expect(vendor.locator(f"#goals-of-{second_objective.pk}")).to_contain_text("Another goal in the second")
    assert vendor.errors == [] and partner.errors == []


def test_an_opened_card_fits_a_phone(new_page, live_url, cast, agreed_goal):
    goal_comments.comment_create(
        access=cast.access("partner_approver"), goal_id=agreed_goal.pk, body="A long remark about the pipeline " * 6
    )
    page = new_page(cast.vendor_editor, width=PHONE[0], height=PHONE[1])
    page.goto(f"/p/{cast.partnership.pk}/")
    page.locator(f"#goal-{agreed_goal.pk} summary").click()
    expect(page.locator(f"#goal-{agreed_goal.pk} .check-in-table")).to_contain_text("Week of 120")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the opened card scrolls sideways: {widths}"


def test_an_open_card_stays_open_after_an_edit_is_saved_or_cancelled(new_page, live_url, cast, agreed_goal):
    page = new_page(cast.vendor_editor)
    page.goto(f"/p/{cast.partnership.pk}/")
    card = page.locator(f"#goal-{agreed_goal.pk}")
    more = page.locator(f"#goal-{agreed_goal.pk}-more")
    card.get_by_role("button", name=re.compile(r"^Amend")).click()  # from the compact card
    page.locator(f"form#goal-{agreed_goal.pk}").get_by_role("button", name="Cancel").click()
    expect(card.locator(".goal-title")).to_be_visible()
    expect(more).not_to_have_attribute("open", "")
    expect(card.locator(".check-in-table")).to_have_count(0)
    card.locator("summary").click()
    expect(card.locator(".check-in-table")).to_contain_text("Week of 135")
    for finish in ("Cancel", "Save"):
        card.get_by_role("button", name=re.compile(r"^Amend")).click()
        form = page.locator(f"form#goal-{agreed_goal.pk}")
        expect(form).to_be_visible()
        if finish == "Save":
            form.get_by_label("Target").fill("260")
        form.get_by_role("button", name=finish).click()
        expect(more).to_have_attribute("open", "")
        expect(card.locator(".check-in-table")).to_contain_text("Week of 135")
    expect(card).to_contain_text("260")
    assert page.errors == []
