"""Invitations as services: who may invite whom, the token's life, acceptance and its e-mail."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading

import pytest
import time_machine
from django.core import mail
from django.db import close_old_connections, connection
from django.utils import timezone

from accounts.models import OrganisationMembership
from alignment import invitations as inv
from alignment.access import visible_partnerships
from alignment.models import ChangeEvent, Invitation, PartnershipMember, Role, Side
from core import outbox
from core.errors import InvalidInput, NotAllowed, NotFound, RuleViolation
from core.models import OutboxMessage
from tests import factories as f


@pytest.fixture
def invite(cast, django_capture_on_commit_callbacks):
    """Invite through the service and run the after-commit e-mail task (as a worker would)."""

    def _invite(who="vendor_admin", email="newbie@partner.test", side=Side.PARTNER, role=Role.APPROVER, message=""):
        with django_capture_on_commit_callbacks(execute=True):
            return inv.invitation_create(access=cast.access(who), email=email, side=side, role=role, message=message)

    return _invite


def test_invitation_stores_only_the_hash_of_a_256_bit_token(cast, invite):
    invitation, raw = invite()
    assert len(raw) >= 43  # 32 random bytes, URL-safe base64
    stored = json.dumps(list(Invitation.objects.values()), default=str)
    events = json.dumps(list(ChangeEvent.objects.values()), default=str)
    assert raw not in stored and raw not in events
    assert invitation.token_hash == inv.hash_token(raw)


def test_invitation_email_goes_out_after_commit_with_the_link(cast, invite):
    _, raw = invite(message="Looking forward to planning Q1 with you!")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newbie@partner.test"]
    assert f"http://testserver/invite/{raw}/" in message.body
    assert cast.partnership.name in message.subject
    assert "Vera Vendor" in message.body and "Looking forward to planning Q1" in message.body


def test_no_email_when_the_transaction_rolls_back(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(InvalidInput):
        inv.invitation_create(
            access=cast.access("vendor_admin"), email="not-an-address", side=Side.VENDOR, role=Role.EDITOR
        )
    assert callbacks == [] and mail.outbox == []


def test_invitation_email_mentions_only_its_partnership(cast, invite):
    other = f.make_partnership(cast.vendor_admin, name="Acme × Contoso")
    invite()
    body = mail.outbox[0].body + mail.outbox[0].alternatives[0][0] + mail.outbox[0].subject
    assert cast.partnership.name in body
    assert other.name not in body and cast.outsider_partnership.name not in body


def test_admins_invite_their_own_side(cast):
    invitation, _ = inv.invitation_create(
        access=cast.access("vendor_admin"), email="colleague@vendor.test", side=Side.VENDOR, role=Role.EDITOR
    )
    assert (invitation.side, invitation.role, invitation.invited_by) == (Side.VENDOR, Role.EDITOR, cast.vendor_admin)


def test_vendor_admin_brings_in_the_partners_first_people_directly_then_the_partner_confirms(cast):
    vendor = cast.access("vendor_admin")
    assert inv.invitable_sides(vendor) == [Side.VENDOR, Side.PARTNER]
    first, raw = inv.invitation_create(access=vendor, email="first@partner.test", side=Side.PARTNER, role=Role.APPROVER)
    assert raw and first.state == "pending" and not first.needs_confirmation
    partner_admin = f.make_user("boss@partner.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=partner_admin, role="admin")
    vendor = cast.access("vendor_admin")
    assert inv.invitable_sides(vendor) == [Side.VENDOR, Side.PARTNER]
    second, raw = inv.invitation_create(access=vendor, email="second@partner.test", side=Side.PARTNER, role=Role.EDITOR)
    assert raw == "" and second.state == "awaiting"  # one of the partner's admins confirms first


def test_partner_admin_invites_partner_colleagues_but_not_the_vendor_side(cast):
    partner_admin = f.make_user("boss@partner.test")
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=partner_admin, role="admin")
    access = f.access(partner_admin, cast.partnership)
    inv.invitation_create(access=access, email="colleague@partner.test", side=Side.PARTNER, role=Role.VIEWER)
    with pytest.raises(NotAllowed):
        inv.invitation_create(access=access, email="someone@vendor.test", side=Side.VENDOR, role=Role.VIEWER)


@pytest.mark.parametrize("who", ["vendor_editor", "vendor_viewer", "partner_editor", "partner_viewer"])
def test_members_who_are_neither_admins_nor_approvers_cannot_invite(cast, who):
    with pytest.raises(NotAllowed):
        inv.invitation_create(
            access=cast.access(who), email="x@example.test", side=cast.access(who).side, role=Role.VIEWER
        )
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "field,value", [("email", "nope"), ("email", ""), ("role", "owner"), ("side", "both"), ("message", "x" * 2001)]
)
def test_bad_invitation_input_is_refused_and_nothing_is_written(cast, field, value):
    data = {"email": "ok@partner.test", "side": Side.PARTNER, "role": Role.VIEWER, "message": ""} | {field: value}
    with pytest.raises(InvalidInput):
        inv.invitation_create(access=cast.access("vendor_admin"), **data)
    assert not Invitation.objects.exists()


def test_members_and_pending_invitations_are_not_invited_twice(cast, invite):
    with pytest.raises(RuleViolation) as member:
        inv.invitation_create(
            access=cast.access("vendor_admin"), email="APPROVER@partner.test", side=Side.PARTNER, role=Role.VIEWER
        )
    assert member.value.code == "invitation.already_member"
    invite(email="newbie@partner.test")
    with pytest.raises(RuleViolation) as pending:
        inv.invitation_create(
            access=cast.access("vendor_admin"), email="Newbie@Partner.test", side=Side.PARTNER, role=Role.VIEWER
        )
    assert pending.value.code == "invitation.pending"


def test_accepting_joins_the_partnership_and_the_sides_organisation(cast, invite):
    invitation, raw = invite(email="newbie@partner.test", role=Role.EDITOR)
    newbie = f.make_user("newbie@partner.test")
    member = inv.invitation_accept(raw_token=raw, user=newbie)
    assert (member.partnership, member.side, member.role) == (cast.partnership, Side.PARTNER, Role.EDITOR)
    assert OrganisationMembership.objects.filter(
        organisation=cast.partnership.partner, user=newbie, role="member"
    ).exists()
    invitation.refresh_from_db()
    assert invitation.state == "accepted" and invitation.accepted_by == newbie
    summaries = list(
        ChangeEvent.objects.filter(object_id__in=[invitation.pk, member.pk]).values_list("summary", flat=True)
    )
    # Summaries are what the actor did (the history puts the actor's name in front of them).
    assert "accepted the invitation" in summaries
    assert "joined as partner editor" in summaries
    assert ChangeEvent.objects.filter(object_id=member.pk).get().actor == newbie


def test_the_partners_first_approver_becomes_its_organisation_admin(cast, invite):
    _, raw = invite(email="first@partner.test", role=Role.APPROVER)
    first = f.make_user("first@partner.test")
    inv.invitation_accept(raw_token=raw, user=first)
    assert OrganisationMembership.objects.get(organisation=cast.partnership.partner, user=first).role == "admin"
    assert inv.invitable_sides(f.access(first, cast.partnership)) == [Side.PARTNER]


def test_email_match_is_case_insensitive(cast, invite):
    _, raw = invite(email="Mixed.Case@Partner.TEST")
    person = f.make_user("mixed.case@partner.test")
    assert inv.invitation_accept(raw_token=raw, user=person).user == person


def test_accepting_with_an_account_under_another_email_is_refused_and_consumes_nothing(cast, invite):
    invitation, raw = invite(email="newbie@partner.test")
    with pytest.raises(NotAllowed) as refused:
        inv.invitation_accept(raw_token=raw, user=cast.outsider)
    assert refused.value.code == "invitation.wrong_account"
    invitation.refresh_from_db()
    assert invitation.state == "pending"
    assert not PartnershipMember.objects.filter(user=cast.outsider, partnership=cast.partnership).exists()


def _neutral(raw, user):
    with pytest.raises(NotFound) as refused:
        inv.invitation_accept(raw_token=raw, user=user)
    return refused.value.code, refused.value.message


def test_expired_revoked_used_and_made_up_tokens_all_fail_the_same_way(cast, invite):
    person = f.make_user("newbie@partner.test")
    _, expired = invite(email="newbie@partner.test")
    Invitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    invitation, revoked = invite(email="newbie@partner.test")
    inv.invitation_revoke(access=cast.access("vendor_admin"), invitation_id=invitation.pk)
    _, used = invite(email="newbie@partner.test")
    inv.invitation_accept(raw_token=used, user=person)
    outcomes = {_neutral(raw, person) for raw in (expired, revoked, used, secrets.token_urlsafe(32), "", "x" * 500)}
    assert outcomes == {("invitation.invalid", inv.INVALID_LINK)}


def test_links_expire_after_the_configured_days(cast, invite, settings):
    settings.INVITATION_TTL_DAYS = 3
    _, raw = invite()
    person = f.make_user("newbie@partner.test")
    with time_machine.travel(timezone.now() + dt.timedelta(days=3, seconds=1)), pytest.raises(NotFound):
        inv.invitation_accept(raw_token=raw, user=person)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        assert inv.invitation_accept(raw_token=raw, user=person)


def test_resend_sends_a_new_link_and_kills_the_old_one(cast, invite, django_capture_on_commit_callbacks):
    invitation, old = invite()
    with django_capture_on_commit_callbacks(execute=True):
        _, new = inv.invitation_resend(access=cast.access("vendor_admin"), invitation_id=invitation.pk)
    assert new != old
    assert f"/invite/{new}/" in mail.outbox[-1].body
    person = f.make_user("newbie@partner.test")
    with pytest.raises(NotFound):
        inv.invitation_accept(raw_token=old, user=person)
    assert inv.invitation_accept(raw_token=new, user=person).user == person


def test_a_queued_email_with_a_replaced_token_is_not_sent(cast):
    vendor = cast.access("vendor_admin")
    invitation, _old = inv.invitation_create(
        access=vendor, email="newbie@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )  # its e-mail queued, not run yet
    first = OutboxMessage.objects.get(kind="invitation")
    inv.invitation_resend(access=vendor, invitation_id=invitation.pk)  # a new link, with its own e-mail
    assert outbox.deliver(first.pk).status == "skipped"
    assert mail.outbox == []


def test_revoked_invitations_cannot_be_resent_and_accepted_ones_cannot_be_revoked(cast, invite):
    vendor = cast.access("vendor_admin")
    invitation, _ = invite()
    inv.invitation_revoke(access=vendor, invitation_id=invitation.pk)
    with pytest.raises(RuleViolation):
        inv.invitation_resend(access=vendor, invitation_id=invitation.pk)
    accepted, raw = invite(email="other@partner.test")
    inv.invitation_accept(raw_token=raw, user=f.make_user("other@partner.test"))
    with pytest.raises(RuleViolation):
        inv.invitation_revoke(access=vendor, invitation_id=accepted.pk)


def test_invitations_of_another_partnership_are_not_found(cast):
    theirs, _ = inv.invitation_create(
        access=f.access(cast.outsider, cast.outsider_partnership),
        email="x@elsewhere.test",
        side=Side.VENDOR,
        role=Role.VIEWER,
    )
    for service in (inv.invitation_revoke, inv.invitation_resend):
        with pytest.raises(NotFound):
            service(access=cast.access("vendor_admin"), invitation_id=theirs.pk)
        with pytest.raises(NotFound):
            service(access=cast.access("vendor_admin"), invitation_id="not-a-uuid")


def test_a_new_person_gets_an_account_for_the_invited_address(cast, invite):
    _, raw = invite(email="Newbie@Partner.test")
    member = inv.invitation_accept_as_new_person(raw_token=raw, full_name="Nina Newbie", password=f.PASSWORD)
    assert member.user.email == "newbie@partner.test" and member.user.check_password(f.PASSWORD)
    with pytest.raises(NotFound):
        inv.invitation_accept_as_new_person(raw_token=raw, full_name="Again", password=f.PASSWORD)


def test_a_weak_password_creates_nothing(cast, invite):
    invitation, raw = invite()
    with pytest.raises(InvalidInput):
        inv.invitation_accept_as_new_person(raw_token=raw, full_name="Nina", password="short")
    invitation.refresh_from_db()
    assert invitation.state == "pending"
    assert not PartnershipMember.objects.filter(user__email="newbie@partner.test").exists()


def test_the_invited_person_sees_only_that_partnership(cast, invite):
    f.make_partnership(cast.vendor_admin, name="Acme × Contoso")
    _, raw = invite(email="newbie@vendor.test", side=Side.VENDOR, role=Role.APPROVER)
    person = f.make_user("newbie@vendor.test")
    inv.invitation_accept(raw_token=raw, user=person)
    assert list(visible_partnerships(person)) == [cast.partnership]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_accepts_of_one_link_create_exactly_one_membership():
    vendor_admin = f.make_user("admin@vendor.test")
    p = f.make_partnership(vendor_admin)
    _, raw = inv.invitation_create(
        access=f.access(vendor_admin, p), email="newbie@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    person = f.make_user("newbie@partner.test")
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def accept() -> None:
        try:
            barrier.wait()
            inv.invitation_accept(raw_token=raw, user=person)
            outcomes.append("joined")
        except (NotFound, RuleViolation) as error:
            outcomes.append(error.code)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=accept) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("joined") == 1
    assert sorted(set(outcomes) - {"joined"}) == ["invitation.invalid"]
    assert PartnershipMember.objects.filter(partnership=p, user=person).count() == 1
    assert (
        ChangeEvent.objects.filter(object_type="partnershipmember", partnership=p, action="create").count() == 2
    )  # the creator's, and the newcomer's


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sign_ups_with_one_link_create_one_account():
    from accounts.models import User

    vendor_admin = f.make_user("admin@vendor.test")
    p = f.make_partnership(vendor_admin)
    _, raw = inv.invitation_create(
        access=f.access(vendor_admin, p), email="newbie@partner.test", side=Side.PARTNER, role=Role.APPROVER
    )
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def sign_up() -> None:
        try:
            barrier.wait()
            inv.invitation_accept_as_new_person(raw_token=raw, full_name="Nina", password=f.PASSWORD)
            outcomes.append("joined")
        except (NotFound, RuleViolation) as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("joined") == 1
    assert User.objects.filter(email="newbie@partner.test").count() == 1
    assert PartnershipMember.objects.filter(partnership=p, user__email="newbie@partner.test").count() == 1


def test_a_fresh_worker_process_knows_the_invitation_and_negotiation_tasks(tmp_path):
    import os
    import subprocess
    import sys

    script = "from partnerplan.celery import app; app.loader.import_default_modules(); print(sorted(app.tasks))"
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "partnerplan.settings", "PARTNERPLAN_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    for task in (
        "alignment.send_reminder",  # the outbox's task, which sends every e-mail
        "alignment.invitations.send_invitation_email",
        "goals.notifications.notify_goal_event",
        "goals.notifications.send_goal_email",
    ):
        assert task in result.stdout


def test_a_repeated_invitation_email_task_sends_once(cast):
    invitation, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    row = OutboxMessage.objects.get(kind="invitation", subject_id=str(invitation.pk))
    assert outbox.deliver(row.pk).status == "sent"
    assert outbox.deliver(row.pk).status == "not_claimed"
    assert len(mail.outbox) == 1
    assert f"/invite/{raw}/" in mail.outbox[0].body


def test_a_failed_send_can_be_retried(cast, monkeypatch):
    import smtplib

    invitation, raw = inv.invitation_create(
        access=cast.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.VIEWER
    )
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("try later")

    real = outbox.send_row

    def flaky_send(*args, **kwargs):
        flaky()
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox, "send_row", flaky_send)
    row = OutboxMessage.objects.get(kind="invitation", subject_id=str(invitation.pk))
    assert outbox.deliver(row.pk).status == "pending"  # a transient failure: retried later
    assert outbox.deliver(row.pk).status == "sent"
    assert len(calls) == 2
    assert [m.to for m in mail.outbox] == [["newbie@partner.test"]] and raw
