"""Item 1 of "invitations for real teams": the side is an explicit choice that names both companies,
sides one may not invite to are shown and explained, and an address that looks like the other
side's is refused unless the inviter confirms that very address for that very side."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from accounts.models import Organisation, OrganisationMembership
from alignment import invitation_sides as sides
from alignment import invitations as inv
from alignment.models import ChangeEvent, Invitation, Role, Side
from core.errors import InvalidInput, NotAllowed, RuleViolation
from tests import factories as f


@pytest.fixture
def named(cast):
    """The cast's organisations with real names: Acme Cloud (vendor) and Northwind Consulting (partner)."""
    p = cast.partnership
    Organisation.objects.filter(pk=p.vendor_id).update(name="Acme Cloud", website="https://www.acme.example")
    Organisation.objects.filter(pk=p.partner_id).update(name="Northwind Consulting")
    return cast


def northwind_person(cast, email="ann@northwind.example"):
    """Someone of the partner organisation (an organisation member, not in this partnership)."""
    person = f.make_user(email, full_name="Ann Northwind")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=person, role="member")
    return person


def manage_url(cast) -> str:
    return reverse("invitations-manage", args=[cast.partnership.pk])


# --- Which sides, in words ----------------------------------------------------------------------


def test_sides_are_named_by_company_and_the_own_side_comes_first(named):
    vendor = named.access("vendor_admin")
    rules = inv.side_rules(vendor)
    assert [r.side for r in rules] == [Side.VENDOR, Side.PARTNER]
    assert inv.side_label(vendor.partnership, Side.VENDOR, vendor.side) == "Acme Cloud (vendor, your side)"
    assert inv.side_label(vendor.partnership, Side.PARTNER, vendor.side) == "Northwind Consulting (partner)"
    partner = named.access("partner_approver")
    assert [r.side for r in inv.side_rules(partner)] == [Side.PARTNER, Side.VENDOR]
    assert (
        inv.side_label(partner.partnership, Side.PARTNER, partner.side) == "Northwind Consulting (partner, your side)"
    )


def test_a_side_one_may_not_invite_to_says_why(named):
    partner = named.access("partner_approver")
    rule = partner.invite_rule(Side.VENDOR)
    assert not rule.allowed
    assert rule.reason == "Acme Cloud's admins and approvers invite Acme Cloud's people."
    with pytest.raises(NotAllowed, match="Acme Cloud's admins and approvers invite"):
        inv.invitation_create(access=partner, email="x@acme.example", side=Side.VENDOR, role=Role.VIEWER)
    editor = named.access("vendor_editor").invite_rule(Side.VENDOR)
    assert not editor.allowed and "your role is editor" in editor.reason


def test_the_vendor_admin_is_told_the_first_approver_becomes_the_partners_admin(named):
    rule = named.access("vendor_admin").invite_rule(Side.PARTNER)
    assert rule.allowed and not rule.needs_confirmation
    assert "Northwind Consulting has no admin on Partnerplan yet" in rule.note


# --- The address against the side -----------------------------------------------------------------


def test_an_address_of_a_person_of_the_other_organisation_is_refused_naming_it(named):
    northwind_person(named)
    with pytest.raises(RuleViolation) as refused:
        inv.invitation_create(
            access=named.access("vendor_admin"), email="Ann@Northwind.example", side=Side.VENDOR, role=Role.APPROVER
        )
    error = refused.value
    assert error.code == "invitation.side_mismatch"
    assert "ann@northwind.example looks like an address of Northwind Consulting, the partner" in error.message
    assert "someone there has this very address" in error.message
    assert error.fields == {"side": [error.message]}
    assert not Invitation.objects.exists()


def test_an_address_at_the_other_sides_domain_is_refused(named):
    # The partner's people in this partnership use partner.test.
    with pytest.raises(RuleViolation, match=r"the partner: its people use partner\.test") as refused:
        inv.invitation_create(
            access=named.access("vendor_admin"), email="new@partner.test", side=Side.VENDOR, role=Role.APPROVER
        )
    assert refused.value.code == "invitation.side_mismatch"
    # The same check the other way round: a vendor address offered to the partner side.
    with pytest.raises(RuleViolation, match=r"Acme Cloud, the vendor: its people use vendor\.test"):
        inv.invitation_create(
            access=named.access("vendor_admin"), email="new@vendor.test", side=Side.PARTNER, role=Role.VIEWER
        )
    # And the vendor's website names its domain even before anyone of it uses it.
    with pytest.raises(RuleViolation, match=r"Acme Cloud, the vendor: its people use acme\.example"):
        inv.invitation_create(
            access=named.access("vendor_admin"), email="bob@acme.example", side=Side.PARTNER, role=Role.VIEWER
        )
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "email,side",
    [
        ("new@vendor.test", Side.VENDOR),  # the own side's domain
        ("someone@gmail.com", Side.VENDOR),  # a public domain says nothing about a company
        ("someone@unknown.example", Side.VENDOR),  # nobody uses it
        ("colleague@partner.test", Side.PARTNER),
    ],
)
def test_addresses_that_fit_their_side_go_through(named, email, side):
    f.add_member(named.partnership, f.make_user("gmail.user@gmail.com"), Side.PARTNER, Role.VIEWER)
    invitation, raw = inv.invitation_create(access=named.access("vendor_admin"), email=email, side=side, role="viewer")
    assert invitation.side == side and raw


def test_a_domain_both_companies_use_is_no_sign_of_either(named):
    f.add_member(named.partnership, f.make_user("old@partner.test"), Side.VENDOR, Role.VIEWER)  # e.g. a merger
    invitation, _ = inv.invitation_create(
        access=named.access("vendor_admin"), email="new@partner.test", side=Side.VENDOR, role=Role.VIEWER
    )
    assert invitation.side == Side.VENDOR


def test_the_inviter_may_confirm_that_very_address_for_that_very_side(named):
    vendor = named.access("vendor_admin")
    key = sides.confirmation_key(Side.VENDOR, "new@partner.test")
    assert key == "vendor:new@partner.test"
    for wrong in (
        "",
        "yes",
        "on",
        sides.confirmation_key(Side.VENDOR, "other@partner.test"),
        "partner:new@partner.test",
    ):
        with pytest.raises(RuleViolation):
            inv.invitation_create(
                access=vendor, email="new@partner.test", side=Side.VENDOR, role=Role.APPROVER, confirm_side=wrong
            )
    invitation, raw = inv.invitation_create(
        access=vendor, email="New@Partner.test", side=Side.VENDOR, role=Role.APPROVER, confirm_side=key
    )
    assert (invitation.side, invitation.email) == (Side.VENDOR, "new@partner.test") and raw
    summary = ChangeEvent.objects.get(object_id=invitation.pk).summary
    assert summary == (
        "invited new@partner.test as vendor approver (confirmed although the address looks like Northwind Consulting's)"
    )


def test_bad_input_is_still_reported_before_the_side_check(named):
    with pytest.raises(InvalidInput):
        inv.invitation_create(access=named.access("vendor_admin"), email="nope", side=Side.VENDOR, role="viewer")


# --- The form -------------------------------------------------------------------------------------


def squash(response) -> str:
    return html.unescape(" ".join(response.content.decode().split()))


def test_the_form_offers_both_companies_and_chooses_neither(client, named):
    client.force_login(named.vendor_admin)
    page = squash(client.get(manage_url(named)))
    assert "Which company do they work for?" in page
    assert "Acme Cloud (vendor, your side)" in page and "Northwind Consulting (partner)" in page
    assert 'type="radio" name="side" value="vendor" id="id_side_vendor">' in page  # not checked
    assert 'type="radio" name="side" value="partner" id="id_side_partner" aria-describedby' in page
    assert " checked" not in page.split("<legend>")[1].split("</fieldset>")[0]


def test_a_missing_side_is_asked_for(client, named):
    client.force_login(named.vendor_admin)
    response = client.post(manage_url(named), {"email": "x@vendor.test", "role": "viewer"})
    assert response.status_code == 400
    assert "Choose the company this person works for." in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_side_one_may_not_invite_to_is_shown_disabled_with_the_reason(client, named):
    client.force_login(named.partner_approver)
    page = squash(client.get(manage_url(named)))
    assert 'value="vendor" id="id_side_vendor" disabled aria-describedby="side-note-vendor"' in page
    assert "Not for you to invite: Acme Cloud's admins and approvers invite Acme Cloud's people." in page
    response = client.post(manage_url(named), {"email": "x@vendor.test", "side": "vendor", "role": "viewer"})
    assert response.status_code == 400
    assert "Acme Cloud's admins and approvers invite Acme Cloud's people." in squash(response)
    assert not Invitation.objects.exists()


def test_a_mismatched_address_is_refused_on_the_form_until_the_box_is_ticked(client, named):
    client.force_login(named.vendor_admin)
    data = {"email": "new@partner.test", "side": "vendor", "role": "approver"}
    response = client.post(manage_url(named), data)
    assert response.status_code == 409
    page = squash(response)
    assert "new@partner.test looks like an address of Northwind Consulting, the partner" in page
    assert (
        '<input type="checkbox" name="confirm_side" value="vendor:new@partner.test" id="id_confirm_side"> '
        "Yes, invite new@partner.test to the vendor side (Acme Cloud) anyway" in page
    )
    assert 'value="vendor" id="id_side_vendor" checked' in page  # what they chose stays chosen
    assert not Invitation.objects.exists()

    # A confirmation of another address does not carry over.
    other = data | {"email": "other@partner.test", "confirm_side": "vendor:new@partner.test"}
    assert client.post(manage_url(named), other).status_code == 409
    assert not Invitation.objects.exists()

    response = client.post(manage_url(named), data | {"confirm_side": "vendor:new@partner.test"})
    assert response.status_code == 302
    assert Invitation.objects.get().side == Side.VENDOR


def test_choosing_the_right_side_after_the_warning_needs_no_confirmation(client, named):
    client.force_login(named.vendor_admin)
    data = {"email": "new@partner.test", "side": "vendor", "role": "approver"}
    assert client.post(manage_url(named), data).status_code == 409
    assert client.post(manage_url(named), data | {"side": "partner"}).status_code == 302
    assert Invitation.objects.get().side == Side.PARTNER
