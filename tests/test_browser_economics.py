"""Each side's economics in real Chromium, on a phone: the partner records a figure of its own
(private), corrects it in place, its approver shares it, and only then does the vendor see it, beside the objective
that moves it. No inline script or style runs (the browser reports any CSP violation)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories as f
from tests.browser_support import PHONE, browser, live_url, new_page, screenshot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_partner_records_shares_and_the_vendor_sees_it_on_a_phone(new_page, live_url, cast):
    f.make_objective(cast.access("vendor_editor"), title="Migration practice", partner_drivers=["utilisation"])
    path = f"/p/{cast.partnership.pk}/"
    width, height = PHONE

    partner = new_page(cast.partner_approver, width=width, height=height)
    partner.goto(path)
    panel = partner.locator("#economics")
    expect(panel).to_contain_text("Our economics")
    panel.get_by_label("Driver", exact=True).select_option(label="utilisation")
    panel.get_by_label("Period from").fill("2026-01-01")
    panel.get_by_label("Period to").fill("2026-03-31")
    panel.get_by_label("Figure", exact=True).fill("71.5")
    panel.get_by_label("Note").fill("Bench heavy in January")
    panel.get_by_role("button", name="Record").click()
    expect(partner.locator("#economics .economics-figures")).to_contain_text("71.5")
    expect(partner.locator("#economics .economics-figures")).to_contain_text("Private")

    # A typo in the figure: edit it in place rather than delete and record again.
    partner.locator("#economics .economics-figures").get_by_role("link", name="Edit").click()
    editing = partner.locator("#economics-figure-edit")
    expect(editing.get_by_label("Figure", exact=True)).to_have_value("71.5")
    editing.get_by_label("Figure", exact=True).fill("72.5")
    editing.get_by_label("Period to").fill("2025-12-31")
    editing.get_by_role("button", name="Save").click()
    # A period that ends before it starts comes back on the form, with what was typed.
    expect(partner.locator("#economics-figure-edit")).to_contain_text("Must not be before the start.")
    expect(partner.locator("#economics-figure-edit").get_by_label("Figure", exact=True)).to_have_value("72.5")
    partner.locator("#economics-figure-edit").get_by_label("Period to").fill("2026-03-31")
    partner.locator("#economics-figure-edit").get_by_role("button", name="Save").click()
    expect(partner.locator("#economics-figure-edit")).to_have_count(0)
    expect(partner.locator("#economics .economics-figures")).to_contain_text("72.5")
    expect(partner.locator("#economics .economics-figures")).not_to_contain_text("71.5")
    assert partner.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0

    vendor = new_page(cast.vendor_admin, width=width, height=height)
    vendor.goto(path)
    expect(vendor.locator("#economics")).to_contain_text("no shared figure")
    expect(vendor.locator("#economics")).not_to_contain_text("Bench heavy")

    partner.locator("#economics").get_by_role("button", name="Share with the other side").click()
    expect(partner.locator("#economics .economics-figures")).to_contain_text("Shared")
    vendor.goto(path)
    expect(vendor.locator("#economics .economics-other")).to_contain_text("Bench heavy in January")
    expect(vendor.locator("#economics .economics-other")).to_contain_text("72.5")
    expect(vendor.locator("#economics .economics-moves")).to_contain_text("Migration practice")
    assert vendor.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(partner, "economics-partner-phone")
