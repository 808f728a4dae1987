"""Two people on one joint plan in two separate browser contexts: live updates without reload,
presence, and a conflicting save that loses nothing anyone typed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from goals.models import Goal
from tests import factories as f
from tests.browser_support import browser, live_url, new_page, screenshot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def goal(cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor, title="Grow the joint pipeline")
    return f.make_goal(editor, objective, title="Pipeline this quarter")


def open_edit(page, goal):
    page.locator(f"#goal-{goal.pk}").get_by_role("button", name=re.compile(r"^Edit goal")).click()
    expect(page.locator(f"form#goal-{goal.pk}")).to_be_visible()


def test_an_edit_appears_for_the_other_person_without_reload_and_presence_is_shown(new_page, live_url, cast, goal):
    vendor = new_page(cast.vendor_editor)
    partner = new_page(cast.partner_approver)
    vendor.goto(f"/p/{cast.partnership.pk}/")
    partner.goto(f"/p/{cast.partnership.pk}/")

    expect(vendor.locator("#presence")).to_contain_text("Pat Partner (partner) is viewing the plan")
    expect(partner.locator("#presence")).to_contain_text("Ed Editor (vendor)")

    open_edit(vendor, goal)
    expect(partner.locator("#presence")).to_contain_text("Ed Editor (vendor) is editing goal “Pipeline this quarter”")
    expect(partner.locator(f"#goal-{goal.pk} .editing-badge")).to_have_text("Ed Editor is editing this")

    vendor.locator(f"#goal-{goal.pk}").get_by_label("Target").fill("250")
    vendor.locator(f"#goal-{goal.pk}").get_by_role("button", name="Save").click()
    expect(vendor.locator(f"#goal-{goal.pk} .goal-target")).to_have_text("250")

    # The partner never reloads: the card is refreshed from the change events and announced.
    expect(partner.locator(f"#goal-{goal.pk} .goal-target")).to_have_text("250")
    expect(partner.locator("#live-status")).to_contain_text("Ed Editor edited the terms of “Pipeline this quarter”")
    assert partner.errors == [] and vendor.errors == []


def test_a_conflicting_save_shows_both_versions_and_keeps_what_was_typed(new_page, live_url, cast, goal):
    vendor = new_page(cast.vendor_editor)
    partner = new_page(cast.partner_approver)
    vendor.goto(f"/p/{cast.partnership.pk}/")
    partner.goto(f"/p/{cast.partnership.pk}/")
    open_edit(vendor, goal)
    open_edit(partner, goal)

    vendor_form = vendor.locator(f"#goal-{goal.pk}")
    vendor_form.get_by_label("Target").fill("300")
    vendor_form.get_by_role("button", name="Save").click()
    expect(vendor.locator(f"#goal-{goal.pk} .goal-target")).to_have_text("300")

    # The partner's open form is not replaced; it says that someone else changed the goal.
    expect(partner.locator(f"form#goal-{goal.pk} .changed-note")).to_be_visible()
    partner_form = partner.locator(f"#goal-{goal.pk}")
    partner_form.get_by_label("Target").fill("275")
    partner_form.get_by_label("Description").fill("Partner view: 275 is realistic with two new consultants.")
    partner_form.get_by_role("button", name="Save").click()

    conflict = partner.locator(f"#goal-{goal.pk} .conflict")
    expect(conflict).to_be_visible()
    target_row = conflict.locator("tr", has_text="Target")
    expect(target_row.locator("[data-theirs]")).to_have_text("300")
    expect(target_row.locator("[data-mine]")).to_have_text("275")
    # Nothing typed is lost: the form still holds the partner's values.
    expect(partner_form.get_by_label("Target")).to_have_value("275")
    expect(partner_form.get_by_label("Description")).to_have_value(
        "Partner view: 275 is realistic with two new consultants."
    )
    assert Goal.objects.get(pk=goal.pk).target == 300
    screenshot(partner, "plan-conflict")

    partner_form.get_by_role("button", name="Keep mine").click()
    expect(partner.locator(f"#goal-{goal.pk} .goal-target")).to_have_text("275")
    expect(vendor.locator(f"#goal-{goal.pk} .goal-target")).to_have_text("275")
    assert Goal.objects.get(pk=goal.pk).target == 275


def test_take_theirs_discards_my_edit_and_shows_the_saved_version(new_page, live_url, cast, goal):
    vendor = new_page(cast.vendor_editor)
    partner = new_page(cast.partner_approver)
    vendor.goto(f"/p/{cast.partnership.pk}/")
    partner.goto(f"/p/{cast.partnership.pk}/")
    open_edit(vendor, goal)
    open_edit(partner, goal)
    vendor.locator(f"#goal-{goal.pk}").get_by_label("Target").fill("320")
    vendor.locator(f"#goal-{goal.pk}").get_by_role("button", name="Save").click()
    expect(vendor.locator(f"#goal-{goal.pk} .goal-target")).to_have_text("320")

    partner.locator(f"#goal-{goal.pk}").get_by_label("Target").fill("280")
    partner.locator(f"#goal-{goal.pk}").get_by_role("button", name="Save").click()
    partner.locator(f"#goal-{goal.pk}").get_by_role("button", name="Take theirs").click()
    expect(partner.locator(f"#goal-{goal.pk} .goal-target")).to_have_text("320")
    assert Goal.objects.get(pk=goal.pk).target == 320
