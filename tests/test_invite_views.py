"""The invitation link pages and the admins' invitation management page."""

from __future__ import annotations

import datetime as dt
import re
import secrets

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import OrganisationMembership, User
from alignment import invitations as inv
from alignment.models import ChangeEvent, Invitation, PartnershipMember, Role, Side
from tests import factories as f


@pytest.fixture
def invited(cast):
    """A pending invitation of a new partner contact, and its raw token."""
    return inv.invitation_create(
        access=cast.access("vendor_admin"),
        email="newbie@partner.test",
        side=Side.PARTNER,
        role=Role.APPROVER,
        message="Welcome <b>aboard</b>",
    )


def link(raw: str) -> str:
    return reverse("invitation", args=[raw])


def accept_url(raw: str) -> str:
    return reverse("invitation-accept", args=[raw])


def test_opening_the_link_explains_the_invitation_and_changes_nothing(client, cast, invited):
    invitation, raw = invited
    events = ChangeEvent.objects.count()
    for _ in range(3):  # a mail scanner, then the person, then again
        response = client.get(link(raw))
        assert response.status_code == 200
    text = response.content.decode()
    assert "Vera Vendor" in text and cast.partnership.name in text and "Approver" in text
    assert "Welcome &lt;b&gt;aboard&lt;/b&gt;" in text  # the personal message is escaped
    invitation.refresh_from_db()
    assert invitation.state == "pending" and invitation.version == 1
    assert ChangeEvent.objects.count() == events
    assert not User.objects.filter(email="newbie@partner.test").exists()


def test_a_new_person_sets_a_name_and_password_and_lands_on_their_review_queue(client, cast, invited):
    _, raw = invited
    response = client.post(
        accept_url(raw), {"full_name": "Nina Newbie", "password": f.PASSWORD, "password_again": f.PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("goal-review-queue", args=[cast.partnership.pk])
    nina = User.objects.get(email="newbie@partner.test")
    assert nina.full_name == "Nina Newbie"
    assert PartnershipMember.objects.filter(user=nina, partnership=cast.partnership, side="partner").exists()
    assert client.get(response["Location"]).status_code == 200  # signed in


def test_a_new_persons_form_errors_are_shown_and_nothing_is_created(client, cast, invited):
    invitation, raw = invited
    response = client.post(accept_url(raw), {"full_name": "Nina", "password": "short", "password_again": "short"})
    assert response.status_code == 400
    assert "too short" in response.content.decode()
    response = client.post(accept_url(raw), {"full_name": "Nina", "password": f.PASSWORD, "password_again": "x"})
    assert response.status_code == 400 and "The two passwords differ" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.state == "pending" and not User.objects.filter(email="newbie@partner.test").exists()


def test_a_signed_in_person_with_the_invited_address_just_accepts(client, cast, invited):
    _, raw = invited
    nina = f.make_user("Newbie@Partner.test")
    client.force_login(nina)
    assert "Accept and join" in client.get(link(raw)).content.decode()
    response = client.post(accept_url(raw))
    assert response.status_code == 302
    assert PartnershipMember.objects.filter(user=nina, partnership=cast.partnership).exists()


def test_a_person_with_an_account_is_asked_to_sign_in_first(client, cast, invited):
    _, raw = invited
    f.make_user("newbie@partner.test")
    page = client.get(link(raw)).content.decode()
    assert "Sign in to accept" in page and f"next=%2Finvite%2F{raw}%2F" in page
    response = client.post(
        accept_url(raw), {"full_name": "Impostor", "password": f.PASSWORD, "password_again": f.PASSWORD}
    )
    assert response.status_code == 302 and "next=" in response["Location"]
    assert not PartnershipMember.objects.filter(user__email="newbie@partner.test").exists()


def test_signing_in_from_the_invitation_returns_to_it_and_then_accepts(client, cast, invited):
    _, raw = invited
    nina = f.make_user("newbie@partner.test")
    sign_in = " ".join(client.get(link(raw)).content.decode().split())
    login_href = re.search(r'href="([^"]*next=[^"]*)"', sign_in).group(1).replace("&amp;", "&")
    response = client.post(login_href, {"username": "newbie@partner.test", "password": f.PASSWORD})
    assert response.status_code == 302 and response["Location"] == link(raw)
    assert client.post(accept_url(raw)).status_code == 302
    assert PartnershipMember.objects.filter(user=nina, partnership=cast.partnership).exists()


def test_accepting_while_signed_in_under_another_address_is_refused(client, cast, invited):
    invitation, raw = invited
    client.force_login(cast.outsider)
    assert "but this invitation is for newbie@partner.test" in " ".join(client.get(link(raw)).content.decode().split())
    response = client.post(accept_url(raw))
    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.state == "pending"
    assert not PartnershipMember.objects.filter(user=cast.outsider, partnership=cast.partnership).exists()


def test_revoked_replaced_unconfirmed_and_made_up_links_get_the_same_page_and_status(client, cast):
    """Used and expired links get more helpful answers of their own (tests/test_invite_links.py):
    only the invitee holds a 256-bit token."""
    vendor = cast.access("vendor_admin")

    def invite(email):
        return inv.invitation_create(access=vendor, email=email, side=Side.PARTNER, role=Role.VIEWER)

    revoked_invitation, revoked = invite("b@partner.test")
    inv.invitation_revoke(access=vendor, invitation_id=revoked_invitation.pk)
    _, replaced = invite("c@partner.test")
    inv.invitation_resend(access=vendor, invitation_id=Invitation.objects.get(email="c@partner.test").pk)
    _, revoked_after_expiry = invite("d@partner.test")
    Invitation.objects.filter(email="d@partner.test").update(
        expires_at=timezone.now() - dt.timedelta(minutes=1), revoked_at=timezone.now()
    )
    boss = f.make_user("boss@partner.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=boss, role="admin")
    awaiting, no_link = inv.invitation_create(
        access=cast.access("vendor_admin"), email="e@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    assert no_link == ""
    declined, _ = inv.invitation_create(
        access=cast.access("vendor_admin"), email="f@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    inv.invitation_decline(access=f.access(boss, cast.partnership), invitation_id=declined.pk)
    declined.refresh_from_db()
    made_up = secrets.token_urlsafe(32)
    pages = set()
    guesses = (awaiting.link_token(), declined.link_token())  # what a link would be, were there one
    for n, raw in enumerate((revoked, replaced, revoked_after_expiry, *guesses, made_up, "x", "a.b~c", "y" * 300)):
        ip = f"10.0.0.{n}"  # the per-address budget of guesses is tested below
        for response in (
            client.get(link(raw), REMOTE_ADDR=ip),
            client.post(accept_url(raw), REMOTE_ADDR=ip),
            client.post(reverse("invitation-new-link", args=[raw]), REMOTE_ADDR=ip),
        ):
            assert response.status_code == 404
            # The CSRF token and the CSP nonce differ per response: masked.
            pages.add(re.sub(rb'"X-CSRFToken": "[^"]*"|nonce="[^"]*"', b"", response.content))
    assert len(pages) == 1
    assert b"Ask the person who invited you for a new link" in pages.pop()


def test_a_burst_of_guesses_is_refused(client, cast, settings):
    statuses = [client.get(link(secrets.token_urlsafe(32))).status_code for _ in range(25)]
    assert statuses[:20] == [404] * 20
    assert set(statuses[20:]) == {429}
    # The budget is per address: another network is not affected.
    assert client.get(link(secrets.token_urlsafe(32)), REMOTE_ADDR="10.1.2.3").status_code == 404


def test_accepting_counts_against_the_same_budget(client, cast, invited):
    _, raw = invited
    for _ in range(20):
        client.post(accept_url(secrets.token_urlsafe(32)))
    response = client.post(accept_url(raw), {"full_name": "Nina", "password": f.PASSWORD, "password_again": f.PASSWORD})
    assert response.status_code == 429
    assert not User.objects.filter(email="newbie@partner.test").exists()


# --- Management page --------------------------------------------------------------------------


def manage_url(p) -> str:
    return reverse("invitations-manage", args=[p.pk])


@pytest.mark.parametrize(
    "who,status",
    [
        ("vendor_admin", 200),
        ("vendor_approver", 200),
        ("vendor_editor", 403),
        ("vendor_viewer", 403),
        ("partner_approver", 200),
        ("partner_editor", 403),
        ("partner_viewer", 403),
        ("outsider", 404),
    ],
)
def test_org_admins_and_approvers_manage_invitations(client, cast, who, status):
    client.force_login(getattr(cast, who))
    assert client.get(manage_url(cast.partnership)).status_code == status
    access_side = "partner" if who.startswith("partner") else "vendor"
    response = client.post(
        manage_url(cast.partnership), {"email": f"x@{access_side}.test", "side": access_side, "role": "viewer"}
    )
    assert response.status_code == (302 if status == 200 else status)
    assert Invitation.objects.filter(email=f"x@{access_side}.test").exists() == (status == 200)


def test_signed_out_visitors_are_sent_to_sign_in(client, cast):
    response = client.get(manage_url(cast.partnership))
    assert response.status_code == 302 and "next=" in response["Location"]


def test_inviting_from_the_page_sends_the_email(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.vendor_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            manage_url(cast.partnership),
            {"email": "Newbie@Partner.test", "side": "partner", "role": "editor", "message": "Hi!"},
        )
    assert response.status_code == 302
    assert mail.outbox[0].to == ["newbie@partner.test"]
    page = client.get(manage_url(cast.partnership)).content.decode()
    assert "newbie@partner.test" in page and "Pending</span> until" in page


@pytest.mark.parametrize(
    "data,problem",
    [
        ({"email": "not-an-address", "side": "partner", "role": "viewer"}, "Enter a valid email address"),
        ({"email": "x@partner.test", "side": "partner", "role": "owner"}, "Select a valid choice"),
        ({"email": "x@partner.test", "side": "partner", "role": "viewer", "message": "m" * 2001}, "at most 2000"),
        ({"email": "x\x00@partner.test", "side": "partner", "role": "viewer"}, "Null characters are not allowed"),
        ({"email": "approver@partner.test", "side": "partner", "role": "viewer"}, "member of this partnership already"),
    ],
)
def test_bad_invitations_are_refused_with_a_clear_message(client, cast, data, problem):
    client.force_login(cast.vendor_admin)
    response = client.post(manage_url(cast.partnership), data)
    assert 400 <= response.status_code < 500
    assert problem in response.content.decode()
    assert not Invitation.objects.exists()


def test_resend_and_revoke_from_the_page(client, cast, invited, django_capture_on_commit_callbacks):
    invitation, old = invited
    client.force_login(cast.vendor_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("invitation-resend", args=[cast.partnership.pk, invitation.pk]))
    assert response.status_code == 302
    assert old not in mail.outbox[-1].body and "/invite/" in mail.outbox[-1].body
    client.logout()
    assert client.get(link(old)).status_code == 404
    client.force_login(cast.vendor_admin)
    client.post(reverse("invitation-revoke", args=[cast.partnership.pk, invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.state == "revoked"


def test_another_partnerships_invitation_cannot_be_revoked_through_this_one(client, cast):
    theirs, _ = inv.invitation_create(
        access=f.access(cast.outsider, cast.outsider_partnership),
        email="x@elsewhere.test",
        side=Side.VENDOR,
        role=Role.VIEWER,
    )
    client.force_login(cast.vendor_admin)
    response = client.post(reverse("invitation-revoke", args=[cast.partnership.pk, theirs.pk]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "pending"


def test_management_page_runs_a_constant_number_of_queries(client, cast):
    """The same number of queries with one invitation and with many in every state (the tabs of the
    partnership's pages add theirs; the page itself loads the invitations in one query)."""
    boss = f.make_user("boss@partner.test")
    client.force_login(boss)

    def invite(email):
        return inv.invitation_create(access=cast.access("vendor_admin"), email=email, side=Side.PARTNER, role="viewer")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(manage_url(cast.partnership)).status_code == 200
        return len(captured)

    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=boss, role="admin")
    invite("first@partner.test")
    one = queries()
    OrganisationMembership.objects.filter(user=boss).update(role="member")  # no partner admin for a moment:
    for n in range(3):  # straight through, one of them accepted
        _, raw = invite(f"direct{n}@partner.test")
    inv.invitation_accept(raw_token=raw, user=f.make_user("direct2@partner.test"))
    OrganisationMembership.objects.filter(user=boss).update(role="admin")
    for n in range(4):
        waiting, _ = invite(f"waiting{n}@partner.test")
    inv.invitation_decline(access=f.access(boss, cast.partnership), invitation_id=waiting.pk)
    assert Invitation.objects.count() == 8
    assert queries() == one


@pytest.mark.parametrize("count", [1, 8])
def test_link_page_runs_a_constant_number_of_queries(client, cast, django_assert_num_queries, count):
    vendor = cast.access("vendor_admin")
    raws = [
        inv.invitation_create(access=vendor, email=f"p{n}@partner.test", side=Side.PARTNER, role=Role.VIEWER)[1]
        for n in range(count)
    ]
    with django_assert_num_queries(5):  # the invitation, an account?, the inviter's side, SSO required?
        assert client.get(link(raws[-1])).status_code == 200
