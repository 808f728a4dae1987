"""The one mail path (``core.outbox``): every kind of e-mail, produced where the product produces it,
goes out exactly once per recipient whatever duplicates, repeats or cache flushes happen; the broker
carries row ids only; muted kinds are not queued, and not sent when muted after queueing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.cache import cache

from accounts import signup as signups
from accounts.models import OrganisationMembership, SignupRequest, User
from accounts.services import mute
from alignment import invitation_links, invitations
from alignment.models import ChangeEvent, Invitation, Role, Side
from alignment.services import review_schedule
from cadence import digest, reminders
from cadence.services import review_hold
from core import outbox
from core.models import MailKind, OutboxMessage
from goals import emails as goal_emails
from goals import services as goals
from plans import chat, replies, webhook_delivery, webhooks
from plans.models import ChatChannel
from tests import factories as f

UTC = dt.UTC
VENDOR_NEGOTIATORS = {"admin@vendor.test", "editor@vendor.test", "approver@vendor.test"}
PARTNER_NEGOTIATORS = {"approver@partner.test", "editor@partner.test"}
APPROVERS = {"admin@vendor.test", "approver@vendor.test", "approver@partner.test"}
MEMBERS = VENDOR_NEGOTIATORS | PARTNER_NEGOTIATORS | {"viewer@vendor.test", "viewer@partner.test"}
# For each kind that can be muted, one of its recipients who mutes it.
QUIET = {
    MailKind.GOAL_PROPOSED: "approver@partner.test",
    MailKind.GOAL_APPROVED: "approver@vendor.test",
    MailKind.GOAL_CHANGES_REQUESTED: "editor@vendor.test",
    MailKind.REVIEW_UPCOMING: "viewer@partner.test",
    MailKind.REVIEW_OVERDUE: "approver@partner.test",
    MailKind.APPROVAL_WAITING: "admin@vendor.test",
    MailKind.CHECKIN_MISSING: "editor@partner.test",
    MailKind.WEEKLY_DIGEST: "outsider@other.test",
    MailKind.PULSE_UNANSWERED: "viewer@vendor.test",
}


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@dataclass
class Produced:
    """What the product's own path left behind for one kind of e-mail."""

    when: dt.datetime  # the moment it was decided (and is sent at)
    callbacks: list[Callable[[], Any]]  # what the deciding transaction does on commit: enqueue the send tasks
    recipients: set[str]  # who must get it, each exactly once
    subject: str  # a part of its subject
    again: Callable[[], Any]  # make the same decision once more


class Producer:
    """Runs a product step at a frozen moment, capturing the send tasks it enqueues after commit."""

    def __init__(self, cast: Any, capture: Any) -> None:
        self.cast, self.capture = cast, capture

    def access(self, who: str) -> Any:
        return self.cast.access(who)

    def step(self, when: dt.datetime, action: Callable[[], Any]) -> tuple[Any, list[Callable[[], Any]]]:
        with time_machine.travel(when, tick=False), self.capture() as callbacks:
            result = action()
        return result, callbacks

    def proposed_goal(self, when: dt.datetime, title: str = "Pipeline Q3") -> Any:
        with time_machine.travel(when, tick=False):
            vendor = self.access("vendor_editor")
            goal = f.make_goal(vendor, f.make_objective(vendor), title=title)
            goals.goal_propose(access=vendor, goal_id=goal.pk)
        goal.refresh_from_db()
        return goal

    def review(self, when: dt.datetime) -> Any:
        with time_machine.travel(when - dt.timedelta(days=30), tick=False):
            return review_schedule(access=self.access("vendor_editor"), scheduled_for=when)

    def sweep(self, sweep: Callable[[dt.datetime], Any], now: dt.datetime, **expected: Any) -> Produced:
        _, callbacks = self.step(now, lambda: sweep(now))
        return Produced(now, callbacks, again=lambda: sweep(now), **expected)


# --- Every kind, produced where the product produces it ----------------------------------------------


def invitation(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    vendor_admin = p.access("vendor_admin")
    (invited, _raw), callbacks = p.step(
        when,
        lambda: invitations.invitation_create(
            access=vendor_admin, email="Newbie@Partner.test", side=Side.PARTNER, role=Role.APPROVER
        ),
    )
    return Produced(
        when,
        callbacks,
        {"newbie@partner.test"},
        "invited you to the joint plan",
        lambda: invitations.queue_email(invited),
    )


def invitation_confirm(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    boss = f.make_user("boss@partner.test", full_name="Bo Boss")
    OrganisationMembership.objects.create(organisation=p.cast.partnership.partner, user=boss, role="admin")
    vendor_admin = p.access("vendor_admin")  # the partner has an admin now: they confirm first
    (invited, raw), callbacks = p.step(
        when,
        lambda: invitations.invitation_create(
            access=vendor_admin, email="colleague@partner.test", side=Side.PARTNER, role=Role.EDITOR
        ),
    )
    assert raw == ""  # no link exists until an admin of the partner confirms
    return Produced(
        when,
        callbacks,
        {"boss@partner.test"},
        "Confirm or decline",
        lambda: invitations.queue_confirmation_request(invited),
    )


def invitation_link_request(p: Producer) -> Produced:
    sent = utc(2027, 3, 1, 9)
    with time_machine.travel(sent, tick=False):
        _invited, raw = invitations.invitation_create(
            access=p.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.APPROVER
        )
    when = sent + dt.timedelta(days=15)  # the link expired yesterday
    _, callbacks = p.step(when, lambda: invitation_links.invitation_request_link(raw_token=raw))
    return Produced(
        when,
        callbacks,
        {"admin@vendor.test"},
        "newbie@partner.test asked for a new link",
        lambda: invitation_links.invitation_request_link(raw_token=raw),
    )


def goal_proposed(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    with time_machine.travel(when, tick=False):
        vendor = p.access("vendor_editor")
        goal = f.make_goal(vendor, f.make_objective(vendor), title="Pipeline Q3")
    goal, callbacks = p.step(when, lambda: goals.goal_propose(access=vendor, goal_id=goal.pk))

    def again() -> None:  # the same event announced once more
        goal_emails.announce(access=vendor, goal=goal, kind=MailKind.GOAL_PROPOSED)

    return Produced(when, callbacks, PARTNER_NEGOTIATORS, "To review: “Pipeline Q3”, revision 1", again)


def goal_approved(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    goal = p.proposed_goal(when)
    with time_machine.travel(when, tick=False):
        goals.goal_approve(access=p.access("vendor_approver"), goal_id=goal.pk, revision=goal.revision)
    partner = p.access("partner_approver")
    approval, callbacks = p.step(when, lambda: goals.goal_approve(access=partner, goal_id=goal.pk, revision=1))
    goal.refresh_from_db()

    def again() -> None:
        goal_emails.announce(access=partner, goal=goal, kind=MailKind.GOAL_APPROVED, approval=approval)

    return Produced(when, callbacks, VENDOR_NEGOTIATORS, "Agreed: “Pipeline Q3”", again)


def goal_changes_requested(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    goal = p.proposed_goal(when)
    partner = p.access("partner_editor")
    comment, callbacks = p.step(
        when, lambda: goals.goal_request_changes(access=partner, goal_id=goal.pk, comment="Lower the target")
    )
    goal.refresh_from_db()

    def again() -> None:
        goal_emails.announce(access=partner, goal=goal, kind=MailKind.GOAL_CHANGES_REQUESTED, comment=comment)

    return Produced(when, callbacks, VENDOR_NEGOTIATORS, "Changes requested on “Pipeline Q3”", again)


def review_upcoming(p: Producer) -> Produced:
    p.review(utc(2027, 7, 1, 8))
    return p.sweep(
        reminders.sweep_reviews_upcoming, utc(2027, 6, 30, 9), recipients=MEMBERS, subject="Alignment review tomorrow"
    )


def review_overdue(p: Producer) -> Produced:
    p.review(utc(2027, 7, 1, 8))
    return p.sweep(
        reminders.sweep_reviews_overdue, utc(2027, 7, 3, 9), recipients=APPROVERS, subject="Not recorded yet"
    )


def pulse_unanswered(p: Producer) -> Produced:
    review = p.review(utc(2027, 7, 1, 8))
    with time_machine.travel(utc(2027, 7, 1, 10), tick=False):
        review_hold(
            access=p.access("vendor_editor"), review_id=review.pk, held_on=dt.date(2027, 7, 1), schedule_next=False
        )
    return p.sweep(
        reminders.sweep_pulse_unanswered,
        utc(2027, 7, 3, 9),
        recipients=MEMBERS,
        subject="How is the partnership going?",
    )


def approval_waiting(p: Producer) -> Produced:
    p.proposed_goal(utc(2027, 3, 1, 9))  # nobody approved: both sides' approvers are waited for
    return p.sweep(
        reminders.sweep_approvals_waiting,
        utc(2027, 3, 4, 10),
        recipients=APPROVERS,
        subject="Waiting for your approval: Pipeline Q3",
    )


def checkin_missing(p: Producer) -> Produced:
    with time_machine.travel(utc(2027, 1, 1, 9), tick=False):
        vendor = p.access("vendor_editor")
        goal = goals.goal_create(
            access=vendor,
            objective_id=f.make_objective(vendor).pk,
            title="Certified consultants",
            metric_name="Consultants",
            period_start=dt.date(2027, 1, 1),
            period_end=dt.date(2027, 3, 31),
            baseline=0,
            target=6,
            commitments=[
                {"side": "vendor", "text": "Run the training", "owner": p.cast.vendor_editor.pk},
                {"side": "partner", "text": "Send six people", "owner": p.cast.partner_editor.pk},
            ],
        )
        f.agree(goal, p.access("vendor_approver"), p.access("partner_approver"))
    return p.sweep(
        reminders.sweep_check_ins_missing,
        utc(2027, 2, 1, 10),  # 31 days without a check-in
        recipients={"editor@vendor.test", "editor@partner.test"},
        subject="Time for a check-in: Certified consultants",
    )


def weekly_digest(p: Producer) -> Produced:
    p.review(utc(2027, 7, 8, 9))  # in the week of the digest: something to say to every member
    with time_machine.travel(utc(2027, 6, 1), tick=False):
        review_schedule(access=f.access(p.cast.outsider, p.cast.outsider_partnership), scheduled_for=utc(2027, 7, 9, 9))
    return p.sweep(
        digest.sweep_digest,
        utc(2027, 7, 5, 8),  # a Monday, at 08:00 in the zone of everyone here (UTC)
        recipients=MEMBERS | {"outsider@other.test"},
        subject="Your week in Partnerplan",
    )


def signup_confirm(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    data = {"organisation": "Newco", "email": "Founder@Newco.test", "password": "a-long-and-unusual-passphrase"}
    _proof, callbacks = p.step(when, lambda: signups.signup_request(**data))
    signup = SignupRequest.objects.get(email="founder@newco.test")
    return Produced(
        when, callbacks, {"founder@newco.test"}, "Confirm your address", lambda: signups.queue_confirmation(signup)
    )


def signup_existing(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    data = {"organisation": "Again", "email": "editor@vendor.test", "password": "a-long-and-unusual-passphrase"}
    _proof, callbacks = p.step(when, lambda: signups.signup_request(**data))
    # The same attempt again within the hour queues nothing new.
    return Produced(when, callbacks, {"editor@vendor.test"}, "tried to sign up", lambda: signups.signup_request(**data))


def webhook_disabled(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    org = p.cast.partnership.vendor
    second = f.make_user("second.admin@vendor.test")
    OrganisationMembership.objects.create(organisation=org, user=second, role="admin")
    with time_machine.travel(when - dt.timedelta(days=1), tick=False):
        subscription, _secret = webhooks.webhook_create(
            user=p.cast.vendor_admin, organisation_id=org.pk, url="https://93.184.216.34/hooks"
        )
    _won, callbacks = p.step(
        when, lambda: webhook_delivery.disable(subscription.pk, reason="20 deliveries in a row failed.", now=when)
    )
    return Produced(
        when,
        callbacks,
        {"admin@vendor.test", "second.admin@vendor.test"},
        "was turned off",
        lambda: webhook_delivery.queue_disabled_email(subscription.pk),
    )


def chat_channel_disabled(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9)
    channel = ChatChannel.objects.create(
        partnership=p.cast.partnership,
        side=Side.VENDOR,
        kind=ChatChannel.Kind.SLACK,
        name="#partner-plan",
        url="https://hooks.slack.com/services/T0000/B0000/outbox1234",
        event_kinds=["goal.proposed"],
        owner=p.cast.vendor_approver,
    )
    _won, callbacks = p.step(
        when, lambda: chat.disable(channel.pk, reason="20 messages in a row could not be delivered.", now=when)
    )
    return Produced(
        when, callbacks, {"approver@vendor.test"}, "was turned off", lambda: chat.queue_disabled_email(channel.pk)
    )


def reply_refused(p: Producer) -> Produced:
    when = utc(2027, 3, 1, 9, 20)

    def refuse() -> None:
        replies.queue_refusal("stranger@elsewhere.test", replies.Refusal.SENDER, now=when)

    _, callbacks = p.step(when, refuse)
    # A second refused reply from the same address within the hour queues nothing new.
    return Produced(when, callbacks, {"stranger@elsewhere.test"}, "Your reply was not posted", refuse)


PRODUCERS: dict[str, Callable[[Producer], Produced]] = {
    MailKind.INVITATION: invitation,
    MailKind.INVITATION_CONFIRM: invitation_confirm,
    MailKind.INVITATION_LINK_REQUEST: invitation_link_request,
    MailKind.GOAL_PROPOSED: goal_proposed,
    MailKind.GOAL_APPROVED: goal_approved,
    MailKind.GOAL_CHANGES_REQUESTED: goal_changes_requested,
    MailKind.REVIEW_UPCOMING: review_upcoming,
    MailKind.REVIEW_OVERDUE: review_overdue,
    MailKind.APPROVAL_WAITING: approval_waiting,
    MailKind.CHECKIN_MISSING: checkin_missing,
    MailKind.WEEKLY_DIGEST: weekly_digest,
    MailKind.SIGNUP_CONFIRM: signup_confirm,
    MailKind.SIGNUP_EXISTING: signup_existing,
    MailKind.WEBHOOK_DISABLED: webhook_disabled,
    MailKind.CHAT_CHANNEL_DISABLED: chat_channel_disabled,
    MailKind.REPLY_REFUSED: reply_refused,
    MailKind.PULSE_UNANSWERED: pulse_unanswered,
}
KINDS = [str(kind) for kind in PRODUCERS]
MUTABLE_KINDS = [kind for kind in KINDS if outbox.SENDERS[kind].mute_kind is not None]


@pytest.fixture
def produce(cast, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    return lambda kind: PRODUCERS[kind](Producer(cast, django_capture_on_commit_callbacks))


def rows_of(kind: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=kind).select_related("recipient"))


def address(row: OutboxMessage) -> str:
    return row.recipient.email if row.recipient is not None else row.to_email


def sent_to() -> Counter[str]:
    return Counter(to for message in mail.outbox for to in message.to)


def send_as_a_worker_would(produced: Produced) -> None:
    """Flush the cache, then run the send tasks the decision enqueued (eagerly), as a worker would."""
    cache.clear()
    with time_machine.travel(produced.when, tick=False):
        for callback in produced.callbacks:
            callback()


# --- Exactly once -----------------------------------------------------------------------------------


def test_every_kind_of_mail_is_produced_and_sent_in_these_tests() -> None:
    assert sorted(KINDS) == sorted(MailKind.values)
    assert sorted(outbox.SENDERS) == sorted(MailKind.values)
    assert sorted(QUIET) == sorted(MUTABLE_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_reaches_each_recipient_exactly_once_despite_a_cache_flush_and_a_second_delivery(
    produce, kind: str
) -> None:
    produced = produce(kind)
    rows = rows_of(kind)
    assert {address(r) for r in rows} == produced.recipients
    assert len(rows) == len(produced.recipients)
    assert {r.status for r in rows} == {OutboxMessage.Status.PENDING}
    assert mail.outbox == []  # queued with the decision, sent only once its transaction committed

    send_as_a_worker_would(produced)
    with time_machine.travel(produced.when, tick=False):
        assert {outbox.deliver(r.pk).status for r in rows} == {"not_claimed"}  # a redelivered task
        assert {outbox.send_outbox_message.delay(str(r.pk)).get() for r in rows} == {"not_claimed"}
        for callback in produced.callbacks:  # the broker hands the same messages out again
            callback()

    assert sent_to() == dict.fromkeys(produced.recipients, 1)
    assert all(produced.subject in m.subject for m in mail.outbox), [m.subject for m in mail.outbox]
    for row in rows_of(kind):
        assert (row.status, row.attempts, row.sent_at is not None) == (OutboxMessage.Status.SENT, 1, True)


@pytest.mark.parametrize("kind", KINDS)
def test_making_the_same_decision_twice_queues_each_message_once(
    produce, django_capture_on_commit_callbacks, kind: str
) -> None:
    produced = produce(kind)
    before = sorted(r.pk for r in rows_of(kind))
    assert before
    with time_machine.travel(produced.when, tick=False), django_capture_on_commit_callbacks() as callbacks:
        produced.again()
    assert sorted(r.pk for r in rows_of(kind)) == before
    assert callbacks == []  # nothing new to enqueue either


@pytest.mark.parametrize("kind", KINDS)
def test_queue_called_twice_with_the_same_messages_inserts_each_once(produce, kind: str) -> None:
    produce(kind)
    rows = rows_of(kind)
    same = [
        outbox.Message(
            r.kind,
            r.subject_type,
            r.subject_id,
            r.occurrence,
            recipient_id=r.recipient_id,
            to_email=r.to_email.upper(),  # an address is the same recipient in any case
            partnership_id=r.partnership_id,
            context=r.context,
        )
        for r in rows
    ]
    assert outbox.queue(same) == []
    assert outbox.queue(same + same) == []
    assert OutboxMessage.objects.filter(kind=kind).count() == len(rows)


def test_a_sweep_run_twice_or_a_little_later_queues_nothing_new(produce) -> None:
    produced = produce(MailKind.REVIEW_UPCOMING)
    for now in (produced.when, produced.when + dt.timedelta(minutes=5)):
        assert reminders.sweep_reviews_upcoming(now) == []
    send_as_a_worker_would(produced)
    assert sent_to() == dict.fromkeys(MEMBERS, 1)


# --- No secret through the broker -------------------------------------------------------------------


def test_an_invitation_sends_only_the_row_id_through_the_broker_and_the_link_only_in_the_email(
    cast, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls: list[tuple[Any, Any, dict[str, Any]]] = []

    def broker(args: Any = None, kwargs: Any = None, **options: Any) -> None:
        calls.append((args, kwargs, options))

    monkeypatch.setattr(outbox.send_outbox_message, "apply_async", broker)
    with django_capture_on_commit_callbacks(execute=True):
        invited, raw = invitations.invitation_create(
            access=cast.access("vendor_admin"), email="newbie@partner.test", side=Side.PARTNER, role=Role.APPROVER
        )
    row = OutboxMessage.objects.get(kind=MailKind.INVITATION)
    assert len(calls) == 1
    args, kwargs, _options = calls[0]
    assert (list(args), kwargs or {}) == ([str(row.pk)], {})
    assert raw not in repr(calls)
    assert raw not in repr(OutboxMessage.objects.filter(pk=row.pk).values().get())
    assert row.context == {}
    events = list(ChangeEvent.objects.values())
    assert any(e["object_id"] == invited.pk for e in events)
    assert raw not in repr(events)
    assert raw not in repr(Invitation.objects.filter(pk=invited.pk).values().get())  # only its hash is kept

    assert outbox.deliver(row.pk).status == "sent"
    [message] = mail.outbox
    link = f"{settings.SITE_URL}/invite/{raw}/"
    assert message.to == ["newbie@partner.test"]
    assert link in message.body
    assert any(link in html for html, _type in message.alternatives)


# --- Muted kinds ------------------------------------------------------------------------------------


def user(email: str) -> User:
    return User.objects.get(email=email)


@pytest.mark.parametrize("kind", MUTABLE_KINDS)
def test_a_muted_kind_gets_no_row_for_the_person_who_muted_it(cast, produce, kind: str) -> None:
    quiet = QUIET[kind]
    mute(user(quiet), [outbox.SENDERS[kind].mute_kind])
    produced = produce(kind)
    assert quiet in produced.recipients
    assert {address(r) for r in rows_of(kind)} == produced.recipients - {quiet}
    send_as_a_worker_would(produced)
    assert sent_to() == dict.fromkeys(produced.recipients - {quiet}, 1)


@pytest.mark.parametrize("kind", MUTABLE_KINDS)
def test_a_row_for_a_person_who_muted_its_kind_after_queueing_is_skipped(cast, produce, kind: str) -> None:
    produced = produce(kind)
    quiet = QUIET[kind]
    assert quiet in {address(r) for r in rows_of(kind)}
    mute(user(quiet), [outbox.SENDERS[kind].mute_kind])
    send_as_a_worker_would(produced)
    statuses = {address(r): r.status for r in rows_of(kind)}
    assert statuses.pop(quiet) == OutboxMessage.Status.SKIPPED
    assert set(statuses.values()) == {OutboxMessage.Status.SENT}
    assert sent_to() == dict.fromkeys(produced.recipients - {quiet}, 1)
    assert "muted" in OutboxMessage.objects.get(kind=kind, recipient__email=quiet).last_error


def test_muting_one_kind_leaves_the_others_coming(cast, produce) -> None:
    mute(user("approver@partner.test"), [outbox.SENDERS[MailKind.REVIEW_UPCOMING].mute_kind])
    produced = produce(MailKind.GOAL_PROPOSED)
    assert {address(r) for r in rows_of(MailKind.GOAL_PROPOSED)} == produced.recipients == PARTNER_NEGOTIATORS
