"""Item 4 of "invitations for real teams": a used link takes a signed-in member of the partnership to
the plan and everyone else to sign-in (told only that it was used); an expired link offers "Ask for
a new link", a POST limited per address and per invitation that e-mails the inviter (or the side's
admins when the inviter is gone) through the outbox. GET changes nothing."""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import quote

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, OrganisationMembership
from alignment import invitation_links as links
from alignment import invitations as inv
from alignment.models import ChangeEvent, Invitation, PartnershipMember, Role, Side
from core import outbox
from core.errors import NotFound
from core.models import MailKind, OutboxMessage
from tests import factories as f


@pytest.fixture
def named(cast):
    p = cast.partnership
    Organisation.objects.filter(pk=p.vendor_id).update(name="Acme Cloud")
    Organisation.objects.filter(pk=p.partner_id).update(name="Northwind Consulting")
    return cast


def link(raw: str) -> str:
    return reverse("invitation", args=[raw])


def new_link(raw: str) -> str:
    return reverse("invitation-new-link", args=[raw])


def squash(response) -> str:
    """The page's text as a person reads it: tags out, entities decoded, spaces collapsed."""
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split()))


def flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- A used link ----------------------------------------------------------------------------------


@pytest.fixture
def used(named):
    """An invitation Nina accepted; its raw token."""
    _, raw = inv.invitation_create(
        access=named.access("vendor_admin"), email="nina@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    named.nina = f.make_user("nina@partner.test", full_name="Nina Neumann")
    inv.invitation_accept(raw_token=raw, user=named.nina)
    return raw


def test_a_used_link_takes_a_signed_in_member_to_the_plan_and_changes_nothing(client, named, used):
    events = ChangeEvent.objects.count()
    client.force_login(named.nina)
    response = client.get(link(used))
    assert response.status_code == 302
    assert response["Location"] == reverse("plan", args=[named.partnership.pk])
    assert ChangeEvent.objects.count() == events


@pytest.mark.parametrize("who", ["vendor_admin", "partner_viewer"])
def test_any_member_with_the_link_goes_to_the_plan(client, named, used, who):
    client.force_login(getattr(named, who))
    assert client.get(link(used))["Location"] == reverse("plan", args=[named.partnership.pk])


def test_a_used_link_sends_a_signed_out_person_to_sign_in_and_back_to_the_plan(client, named, used):
    response = client.get(link(used))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={quote(link(used), safe='')}"
    assert flashed(response) == ["This invitation link has been used already. Sign in to open your plans."]
    page = squash(client.get(response["Location"]))
    assert "This invitation link has been used already." in page
    assert named.partnership.name not in page and "nina@partner.test" not in page  # neutral
    signed_in = client.post(response["Location"], {"username": "nina@partner.test", "password": f.PASSWORD})
    assert signed_in["Location"] == link(used)
    assert client.get(link(used))["Location"] == reverse("plan", args=[named.partnership.pk])


def test_a_used_link_sends_a_signed_in_outsider_to_sign_in_told_nothing_more(client, named, used):
    client.force_login(named.outsider)
    response = client.get(link(used))
    assert response["Location"] == reverse("login")  # which sends a signed-in person to their dashboard
    [message] = flashed(response)
    assert message.startswith("This invitation link has been used already. If it was sent to another")
    final = client.get(response["Location"], follow=True)
    assert final.redirect_chain[-1][0] == reverse("dashboard")
    assert named.partnership.name not in squash(final)


def test_sending_the_accept_form_again_after_joining_goes_to_the_plan(client, named):
    _, raw = inv.invitation_create(
        access=named.access("vendor_admin"), email="nina@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    data = {"full_name": "Nina", "password": f.PASSWORD, "password_again": f.PASSWORD}
    assert client.post(reverse("invitation-accept", args=[raw]), data).status_code == 302
    again = client.post(reverse("invitation-accept", args=[raw]), data)  # the back button, then send again
    assert again["Location"] == reverse("plan", args=[named.partnership.pk])
    assert PartnershipMember.objects.filter(user__email="nina@partner.test").count() == 1


# --- An expired link ------------------------------------------------------------------------------


@pytest.fixture
def expired(named):
    """Vera's invitation of Nina, expired yesterday; its raw token."""
    invitation, raw = inv.invitation_create(
        access=named.access("vendor_admin"), email="nina@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    OutboxMessage.objects.all().delete()  # the original invitation e-mail is not what these tests are about
    named.invitation = Invitation.objects.get(pk=invitation.pk)
    return raw


def test_an_expired_link_says_so_and_offers_to_ask_for_a_new_one(client, named, expired):
    for _ in range(2):  # a mail scanner, then the person
        response = client.get(link(expired))
    assert response.status_code == 410
    page = squash(response)
    assert "This invitation link has expired" in page
    assert (
        "The invitation of nina@partner.test to the joint plan “Acme × Northwind”, for Northwind Consulting's side"
        in page
    )
    assert "Vera Vendor (Acme Cloud) can send you a new one." in page
    assert f'action="{new_link(expired)}"' in response.content.decode() and "Ask for a new link" in page
    invitation = Invitation.objects.get(pk=named.invitation.pk)
    assert invitation.version == 1 and invitation.link_requested_at is None
    assert not OutboxMessage.objects.exists()


def test_asking_for_a_new_link_emails_the_inviter_once(client, named, expired, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(new_link(expired))
    assert response.status_code == 302 and response["Location"] == link(expired)
    page = squash(client.get(link(expired)))
    assert "You asked for a new link on" in page
    assert "We e-mailed Vera Vendor (Acme Cloud); the new link will come to nina@partner.test." in page
    assert "Ask for a new link" not in page
    [message] = mail.outbox
    assert message.to == ["admin@vendor.test"]
    assert message.subject == "nina@partner.test asked for a new link to “Acme × Northwind”"
    assert "The link you sent expired on" in message.body
    manage = f"http://testserver/invite/manage/{named.partnership.pk}/#invitation-{named.invitation.pk}"
    assert manage in message.body
    assert expired not in message.body
    invitation = Invitation.objects.get(pk=named.invitation.pk)
    assert invitation.link_requested_at is not None
    event = ChangeEvent.objects.get(object_id=invitation.pk, action="update")
    assert (event.actor, event.summary) == (None, "nina@partner.test asked for a new invitation link")
    # Asking again the same day e-mails nobody again.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(new_link(expired)).status_code == 302
    assert len(mail.outbox) == 1
    assert OutboxMessage.objects.filter(kind=MailKind.INVITATION_LINK_REQUEST).count() == 1
    # A day later it may be asked once more.
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        _, asked = links.invitation_request_link(raw_token=expired)
    assert asked and OutboxMessage.objects.filter(kind=MailKind.INVITATION_LINK_REQUEST).count() == 2


def test_the_inviter_sees_the_request_and_sends_a_new_link(client, named, expired):
    links.invitation_request_link(raw_token=expired)
    client.force_login(named.vendor_admin)
    page = squash(client.get(reverse("invitations-manage", args=[named.partnership.pk])))
    assert "they asked for a new link on" in page
    assert 'class="small primary">Send a new link<span class="visually-hidden"> to nina@partner.test' in (
        client.get(reverse("invitations-manage", args=[named.partnership.pk])).content.decode()
    )
    inv.invitation_resend(access=named.access("vendor_admin"), invitation_id=named.invitation.pk)
    # The request's e-mail, not sent yet, is not sent now: a new link went out meanwhile.
    row = OutboxMessage.objects.get(kind=MailKind.INVITATION_LINK_REQUEST)
    assert outbox.deliver(row.pk).status == "skipped"


def test_when_the_inviter_is_gone_the_sides_admins_are_asked(named, expired):
    boss = f.make_user("boss@partner.test", full_name="Bo Boss")
    OrganisationMembership.objects.create(organisation=named.partnership.partner, user=boss, role="admin")
    named.vendor_admin.is_active = False
    named.vendor_admin.save()
    recipients, who = links.link_request_recipients(named.invitation)
    assert (recipients, who) == ([boss], "the admins of Northwind Consulting")
    links.invitation_request_link(raw_token=expired)
    row = OutboxMessage.objects.get(kind=MailKind.INVITATION_LINK_REQUEST)
    assert row.recipient == boss
    assert outbox.deliver(row.pk).status == "sent"
    assert "The link Vera Vendor sent expired" in mail.outbox[0].body


def test_with_nobody_left_on_the_partner_side_the_vendors_admins_are_asked(named, expired):
    Invitation.objects.filter(pk=named.invitation.pk).update(invited_by=None)
    named.invitation.refresh_from_db()
    recipients, who = links.link_request_recipients(named.invitation)
    assert (recipients, who) == ([named.vendor_admin], "the admins of Acme Cloud")


def test_asking_for_links_is_limited_per_network(client, named, expired):
    statuses = [client.post(new_link(expired)).status_code for _ in range(12)]
    assert statuses[:10] == [302] * 10 and set(statuses[10:]) == {429}
    assert client.post(new_link(expired), REMOTE_ADDR="10.9.9.9").status_code == 302


def test_only_an_expired_link_may_ask(named, expired):
    _, fresh = inv.invitation_create(
        access=named.access("vendor_admin"), email="fresh@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    for raw in (fresh, "made-up", ""):
        with pytest.raises(NotFound):
            links.invitation_request_link(raw_token=raw)
    inv.invitation_revoke(access=named.access("vendor_admin"), invitation_id=named.invitation.pk)
    with pytest.raises(NotFound):
        links.invitation_request_link(raw_token=expired)


def test_accepting_an_expired_link_shows_the_expired_page_and_creates_nothing(client, named, expired):
    data = {"full_name": "Nina", "password": f.PASSWORD, "password_again": f.PASSWORD}
    response = client.post(reverse("invitation-accept", args=[expired]), data)
    assert response.status_code == 410 and "Ask for a new link" in response.content.decode()
    assert not PartnershipMember.objects.filter(user__email="nina@partner.test").exists()
