"""Item 2 of "invitations for real teams": a vendor may invite a partner colleague; one of the
partner's admins confirms it with one click (only then is a link sent), or declines it; it goes
straight through when the partner organisation allows it. While the partner has no admin, a vendor
admin still brings in its first people directly."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, OrganisationMembership
from alignment import invitations as inv
from alignment.models import ChangeEvent, Invitation, Role, Side
from core import outbox
from core.errors import NotAllowed, NotFound, RuleViolation
from core.models import MailKind, OutboxMessage
from tests import factories as f


@pytest.fixture
def team(cast):
    """Northwind Consulting (the partner) has two admins on Partnerplan; Acme Cloud is the vendor."""
    p = cast.partnership
    Organisation.objects.filter(pk=p.vendor_id).update(name="Acme Cloud")
    Organisation.objects.filter(pk=p.partner_id).update(name="Northwind Consulting")
    cast.boss = f.make_user("boss@partner.test", full_name="Bo Boss")
    cast.deputy = f.make_user("deputy@partner.test", full_name="Di Deputy")
    for admin in (cast.boss, cast.deputy):
        OrganisationMembership.objects.create(organisation=p.partner, user=admin, role="admin")
    return cast


def invite_colleague(team, who="vendor_admin", email="colleague@partner.test", role=Role.EDITOR):
    return inv.invitation_create(access=team.access(who), email=email, side=Side.PARTNER, role=role, message="Hi!")


def deliver_all() -> None:
    for row in OutboxMessage.objects.filter(status="pending"):
        outbox.deliver(row.pk)


def test_a_vendors_invitation_of_a_partner_colleague_waits_for_the_partners_admins(team):
    invitation, raw = invite_colleague(team)
    assert raw == "" and invitation.state == "awaiting" and not invitation.is_usable
    assert invitation.needs_confirmation and invitation.link_issued_at is None
    # No link goes out; each of the partner's admins is asked, once.
    assert not OutboxMessage.objects.filter(kind=MailKind.INVITATION).exists()
    rows = OutboxMessage.objects.filter(kind=MailKind.INVITATION_CONFIRM)
    assert sorted(r.recipient.email for r in rows) == ["boss@partner.test", "deputy@partner.test"]
    event = ChangeEvent.objects.get(object_id=invitation.pk)
    assert event.summary == (
        "invited colleague@partner.test as partner editor, to be confirmed by Northwind Consulting's admins"
    )
    # Nobody can use a link that was never sent, not even one derived from the invitation.
    with pytest.raises(NotFound):
        inv.invitation_accept(raw_token=invitation.link_token(), user=f.make_user("colleague@partner.test"))


def test_the_admins_email_says_who_invited_whom_and_where_to_confirm(team):
    invitation, _ = invite_colleague(team)
    deliver_all()
    assert sorted(m.to[0] for m in mail.outbox) == ["boss@partner.test", "deputy@partner.test"]
    message = next(m for m in mail.outbox if m.to == ["boss@partner.test"])
    assert message.subject == (
        "Confirm or decline: Vera Vendor (Acme Cloud) invited colleague@partner.test to “Acme × Northwind”"
    )
    body = message.body
    assert "Hello Bo Boss," in body
    assert "for Northwind Consulting's side as editor" in body
    assert "No link has been sent yet" in body and "Hi!" in body
    assert f"http://testserver/invite/manage/{team.partnership.pk}/#awaiting" in body
    assert "/invite/" + invitation.link_token() not in body


def test_confirming_sends_the_link_and_the_colleague_joins(team, django_capture_on_commit_callbacks):
    invitation, _ = invite_colleague(team)
    later = timezone.now() + dt.timedelta(days=10)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        confirmed = inv.invitation_confirm(access=team.access("boss"), invitation_id=invitation.pk)
    assert confirmed.state == "pending" and confirmed.confirmed_by == team.boss
    assert confirmed.expires_at > later + dt.timedelta(days=13)  # the link's life starts now
    [message] = mail.outbox
    assert message.to == ["colleague@partner.test"]
    assert "Vera Vendor (Acme Cloud) invited you" in message.body
    assert "Bo Boss of Northwind Consulting confirmed it." in message.body
    raw = re.search(r"/invite/([A-Za-z0-9_-]{43})/", message.body).group(1)
    with time_machine.travel(later + dt.timedelta(hours=1)):
        member = inv.invitation_accept(raw_token=raw, user=f.make_user("colleague@partner.test"))
    assert (member.side, member.role) == (Side.PARTNER, Role.EDITOR)
    summaries = list(ChangeEvent.objects.filter(object_id=invitation.pk).values_list("summary", flat=True))
    assert "confirmed the invitation of colleague@partner.test as partner editor" in summaries


def test_a_second_confirmation_changes_nothing_and_the_other_admins_request_is_not_sent(team):
    invitation, _ = invite_colleague(team)
    inv.invitation_confirm(access=team.access("boss"), invitation_id=invitation.pk)
    version = Invitation.objects.get(pk=invitation.pk).version
    inv.invitation_confirm(access=team.access("deputy"), invitation_id=invitation.pk)
    assert Invitation.objects.get(pk=invitation.pk).version == version
    deliver_all()
    assert [m.to for m in mail.outbox] == [["colleague@partner.test"]]  # the admins' requests were moot
    assert set(OutboxMessage.objects.filter(kind=MailKind.INVITATION_CONFIRM).values_list("status", flat=True)) == {
        "skipped"
    }


def test_declining_sends_nothing_and_closes_the_invitation(team):
    invitation, _ = invite_colleague(team)
    declined = inv.invitation_decline(access=team.access("deputy"), invitation_id=invitation.pk)
    assert declined.state == "declined" and declined.declined_by == team.deputy
    assert inv.invitation_decline(access=team.access("boss"), invitation_id=invitation.pk).version == declined.version
    with pytest.raises(RuleViolation, match="Northwind Consulting's admins declined this invitation"):
        inv.invitation_confirm(access=team.access("boss"), invitation_id=invitation.pk)
    with pytest.raises(RuleViolation, match="declined"):
        inv.invitation_resend(access=team.access("vendor_admin"), invitation_id=invitation.pk)
    deliver_all()
    assert mail.outbox == []
    # The vendor may ask again later: a declined invitation does not block the address.
    again, _ = invite_colleague(team)
    assert again.state == "awaiting"


def test_a_confirmed_invitation_cannot_be_declined_any_more_only_revoked(team):
    invitation, _ = invite_colleague(team)
    inv.invitation_confirm(access=team.access("boss"), invitation_id=invitation.pk)
    with pytest.raises(RuleViolation, match="revoke it instead"):
        inv.invitation_decline(access=team.access("deputy"), invitation_id=invitation.pk)
    assert inv.invitation_revoke(access=team.access("deputy"), invitation_id=invitation.pk).state == "revoked"


@pytest.mark.parametrize("who", ["partner_approver", "partner_editor", "vendor_admin", "vendor_approver"])
def test_only_the_partners_admins_confirm_or_decline(team, who):
    invitation, _ = invite_colleague(team)
    for decide in (inv.invitation_confirm, inv.invitation_decline):
        with pytest.raises(NotAllowed, match="Only Northwind Consulting's admins confirm who joins its side"):
            decide(access=team.access(who), invitation_id=invitation.pk)
    assert Invitation.objects.get(pk=invitation.pk).state == "awaiting"


def test_an_invitation_that_needs_no_confirmation_cannot_be_confirmed(team):
    invitation, _ = inv.invitation_create(
        access=team.access("boss"), email="direct@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    with pytest.raises(RuleViolation, match="needs no confirmation"):
        inv.invitation_confirm(access=team.access("deputy"), invitation_id=invitation.pk)


def test_a_waiting_invitation_has_no_link_to_resend_but_its_inviter_may_withdraw_it(team):
    invitation, _ = invite_colleague(team)
    with pytest.raises(RuleViolation, match="waits for Northwind Consulting's admins to confirm it") as refused:
        inv.invitation_resend(access=team.access("vendor_admin"), invitation_id=invitation.pk)
    assert refused.value.code == "invitation.awaiting"
    with pytest.raises(RuleViolation, match="waiting for Northwind Consulting's admins to confirm already"):
        invite_colleague(team)
    assert inv.invitation_revoke(access=team.access("vendor_admin"), invitation_id=invitation.pk).state == "revoked"
    deliver_all()
    assert mail.outbox == []  # the admins are not asked about a withdrawn invitation


def test_vendor_approvers_invite_partner_colleagues_through_the_partners_admins_too(team):
    invitation, raw = invite_colleague(team, who="vendor_approver")
    assert invitation.state == "awaiting" and raw == ""


def test_while_the_partner_has_no_admin_only_vendor_admins_bring_in_its_first_people(cast):
    rule = cast.access("vendor_approver").invite_rule(Side.PARTNER)
    assert not rule.allowed and "has no admin on Partnerplan yet: an admin of" in rule.reason
    with pytest.raises(NotAllowed):
        inv.invitation_create(
            access=cast.access("vendor_approver"), email="first@partner.test", side=Side.PARTNER, role=Role.APPROVER
        )
    invitation, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email="first@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    assert invitation.state == "pending" and raw  # nobody could confirm: straight through
    inv.invitation_accept(raw_token=raw, user=f.make_user("first@partner.test"))
    # The first approver became the partner's admin: from now on they confirm.
    second, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email="second@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    assert second.state == "awaiting" and raw == ""
    assert OutboxMessage.objects.get(kind=MailKind.INVITATION_CONFIRM).recipient.email == "first@partner.test"


def test_a_partner_that_allows_it_gets_its_vendors_invitations_straight_through(team):
    org = inv.organisation_set_vendors_invite_directly(access=team.access("boss"), allowed=True)
    assert org.vendors_invite_directly
    invitation, raw = invite_colleague(team)
    assert invitation.state == "pending" and raw and not invitation.needs_confirmation
    assert OutboxMessage.objects.filter(kind=MailKind.INVITATION).count() == 1
    assert not OutboxMessage.objects.filter(kind=MailKind.INVITATION_CONFIRM).exists()
    inv.organisation_set_vendors_invite_directly(access=team.access("deputy"), allowed=False)
    later, raw = invite_colleague(team, email="later@partner.test")
    assert later.state == "awaiting" and raw == ""


@pytest.mark.parametrize("who", ["vendor_admin", "vendor_approver", "partner_approver"])
def test_only_the_partners_admins_decide_whether_vendors_invite_directly(team, who):
    with pytest.raises(NotAllowed, match="Only Northwind Consulting's admins decide"):
        inv.organisation_set_vendors_invite_directly(access=team.access(who), allowed=True)
    assert not Organisation.objects.get(pk=team.partnership.partner_id).vendors_invite_directly


# --- The invitations page -------------------------------------------------------------------------


def manage_url(team) -> str:
    return reverse("invitations-manage", args=[team.partnership.pk])


def squash(response) -> str:
    """The page's text as a person reads it: tags out, entities decoded, spaces collapsed."""
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split()))


def test_the_vendor_is_told_who_confirms_and_sees_it_waiting(client, team):
    client.force_login(team.vendor_admin)
    page = squash(client.get(manage_url(team)))
    assert "One of Northwind Consulting's admins confirms first; the link goes out when they do." in page
    response = client.post(
        manage_url(team), {"email": "colleague@partner.test", "side": "partner", "role": "editor"}, follow=True
    )
    page = squash(response)
    assert (
        "Northwind Consulting's admins were asked to confirm the invitation of colleague@partner.test. "
        "The link goes out as soon as one of them confirms." in page
    )
    assert "Waiting for Northwind Consulting's admins to confirm" in page
    assert "Waiting for your confirmation" not in page
    assert "Resend" not in page and "Revoke the invitation of colleague@partner.test" in page


def test_a_partner_admin_confirms_with_one_click(client, team, django_capture_on_commit_callbacks):
    invitation, _ = invite_colleague(team)
    client.force_login(team.boss)
    page = squash(client.get(manage_url(team)))
    assert "Waiting for your confirmation" in page
    assert "Acme Cloud invited a colleague of yours." in page
    assert "Invited as editor by Vera Vendor (Acme Cloud)" in page
    confirm = reverse("invitation-confirm", args=[team.partnership.pk, invitation.pk])
    assert f'action="{confirm}"' in client.get(manage_url(team)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(confirm, follow=True)
    assert "Confirmed: the invitation link is on its way to colleague@partner.test." in squash(response)
    assert [m.to for m in mail.outbox] == [["colleague@partner.test"]]
    assert Invitation.objects.get(pk=invitation.pk).state == "pending"


def test_a_partner_admin_declines_with_one_click(client, team):
    invitation, _ = invite_colleague(team)
    client.force_login(team.deputy)
    response = client.post(reverse("invitation-decline", args=[team.partnership.pk, invitation.pk]), follow=True)
    page = squash(response)
    assert "Declined: colleague@partner.test gets no invitation." in page
    assert "Declined" in page and "by Di Deputy" in page
    assert Invitation.objects.get(pk=invitation.pk).state == "declined"


@pytest.mark.parametrize("who,status", [("partner_approver", 403), ("vendor_admin", 403), ("outsider", 404)])
def test_others_cannot_confirm_from_the_page(client, team, who, status):
    invitation, _ = invite_colleague(team)
    client.force_login(getattr(team, who))
    for action in ("invitation-confirm", "invitation-decline"):
        assert client.post(reverse(action, args=[team.partnership.pk, invitation.pk])).status_code == status
    assert Invitation.objects.get(pk=invitation.pk).state == "awaiting"


def test_the_partners_admins_choose_whether_vendors_invite_directly_on_the_page(client, team):
    setting = reverse("invitations-vendor-setting", args=[team.partnership.pk])
    client.force_login(team.boss)
    page = squash(client.get(manage_url(team)))
    assert "When a vendor invites your colleagues" in page
    assert "Let vendors invite Northwind Consulting colleagues without an admin confirming" in page
    response = client.post(setting, {"vendors_invite_directly": "on"}, follow=True)
    assert "Vendors may now invite Northwind Consulting's people directly." in squash(response)
    assert Organisation.objects.get(pk=team.partnership.partner_id).vendors_invite_directly
    response = client.post(setting, {}, follow=True)
    assert "An admin of Northwind Consulting now confirms each vendor's invitation" in squash(response)
    assert not Organisation.objects.get(pk=team.partnership.partner_id).vendors_invite_directly


@pytest.mark.parametrize("who,status", [("vendor_admin", 403), ("partner_approver", 403), ("outsider", 404)])
def test_nobody_else_changes_it(client, team, who, status):
    client.force_login(getattr(team, who))
    if status == 403:
        assert "When a vendor invites your colleagues" not in client.get(manage_url(team)).content.decode()
    response = client.post(
        reverse("invitations-vendor-setting", args=[team.partnership.pk]), {"vendors_invite_directly": "on"}
    )
    assert response.status_code == status
    assert not Organisation.objects.get(pk=team.partnership.partner_id).vendors_invite_directly


def test_the_settings_page_tells_the_partners_admins_how_vendors_invite(client, team):
    client.force_login(team.boss)
    page = squash(client.get(reverse("partnership_settings", args=[team.partnership.pk])))
    assert "When a vendor invites one of your colleagues, one of your admins confirms it first ( change )." in page


@pytest.mark.parametrize(
    "constraint,values",
    [
        ("invitation_confirmed_or_declined", {"confirmed_at": "now", "declined_at": "now"}),
        ("invitation_decided_only_if_asked", {"needs_confirmation": False, "confirmed_at": "now"}),
        ("invitation_decided_only_if_asked", {"needs_confirmation": False, "declined_at": "now"}),
    ],
)
def test_the_database_refuses_a_decision_that_cannot_be(team, constraint, values):
    invitation, _ = invite_colleague(team)
    now = timezone.now()
    values = {k: now if v == "now" else v for k, v in values.items()}
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Invitation.objects.filter(pk=invitation.pk).update(**values)
