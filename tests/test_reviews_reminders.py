"""Reminders: due at the right moment, exactly once per occurrence, kind and person; retried on
transient SMTP failures; muted kinds skipped; every e-mail unsubscribable in one click."""

from __future__ import annotations

import datetime as dt
import smtplib
from collections import Counter
from email import message_from_bytes
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import transaction
from django.test import Client
from icalendar import Calendar

from accounts.unsubscribe import make_token
from alignment.models import AlignmentReview
from alignment.services import review_schedule
from cadence import reminders
from core import outbox
from core.models import OutboxMessage
from goals import check_ins as goal_check_ins
from goals import services as goals
from tests import factories as f

UTC = dt.UTC
MEMBERS = 7  # the cast's partnership: vendor admin, editor, approver, viewer; partner approver, editor, viewer


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run every sweep at a frozen moment and let the send tasks it enqueues run (eagerly)."""

    def run(now: dt.datetime) -> dict[str, int]:
        with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
            return reminders.run_sweeps(now)

    return run


def schedule_review(cast, when: dt.datetime, zone: str = "Europe/Berlin") -> AlignmentReview:  # type: ignore[no-untyped-def]
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(timezone=zone)
    with time_machine.travel(when - dt.timedelta(days=30), tick=False):
        return review_schedule(access=cast.access("vendor_admin"), scheduled_for=when)


def ics_events(message: Any) -> list[Any]:
    parsed = message_from_bytes(message.message().as_bytes())
    parts = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    return [e for p in parts for e in Calendar.from_ical(p.get_payload(decode=True)).walk("VEVENT")]


# --- Review coming up --------------------------------------------------------------------------


def test_review_reminders_go_out_once_per_offset_to_everyone_across_a_dst_change(cast, sweep) -> None:
    # Berlin moves its clocks on Sunday 28 March 2027; the review is on the Monday after, 10:00 CEST.
    review = schedule_review(cast, utc(2027, 3, 29, 8))
    now = utc(2027, 3, 19)
    while now < utc(2027, 3, 30):
        sweep(now)
        now += dt.timedelta(hours=1)
    rows = OutboxMessage.objects.filter(kind="review_upcoming")
    assert rows.count() == 2 * MEMBERS
    assert set(rows.values_list("status", flat=True)) == {"sent"}
    assert sorted({r.occurrence for r in rows}) == [utc(2027, 3, 22, 8), utc(2027, 3, 28, 8)]
    upcoming = [m for m in mail.outbox if m.subject.startswith("Alignment review")]
    assert Counter(m.to[0] for m in upcoming) == {
        m.user.email: 2 for m in cast.partnership.members.select_related("user")
    }
    assert {str(e["UID"]) for m in upcoming for e in ics_events(m)} == {f"review-{review.pk}@partnerplan"}


def test_the_review_invitation_is_a_valid_event_at_the_right_utc_time_with_a_stable_uid(cast, sweep) -> None:
    review = schedule_review(cast, utc(2027, 7, 1, 8))
    sweep(utc(2027, 6, 24, 9))
    sweep(utc(2027, 6, 30, 9))
    invitations = [m for m in mail.outbox if m.to == [cast.partner_viewer.email]]
    assert [m.subject for m in invitations] == [
        "Alignment review in 7 days: Acme × Northwind on 1 Jul, 10:00",
        "Alignment review tomorrow: Acme × Northwind on 1 Jul, 10:00",
    ]
    events = [e for m in invitations for e in ics_events(m)]
    assert len(events) == 2
    assert {str(e["UID"]) for e in events} == {f"review-{review.pk}@partnerplan"}
    assert {e.decoded("DTSTART") for e in events} == {utc(2027, 7, 1, 8)}
    assert {e.decoded("DTEND") for e in events} == {utc(2027, 7, 1, 9)}


def test_offsets_come_from_the_partnership_and_only_the_nearest_due_one_is_sent(cast, sweep) -> None:
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(reminder_offsets_days=[14, 3])
    schedule_review(cast, utc(2027, 7, 1, 8))
    sweep(utc(2027, 6, 16, 7))  # neither due yet
    assert mail.outbox == []
    sweep(utc(2027, 6, 29, 9))  # the sweep did not run for two weeks: both reached, only "3 days" goes out
    assert OutboxMessage.objects.filter(kind="review_upcoming").count() == MEMBERS
    assert {r.occurrence for r in OutboxMessage.objects.all()} == {utc(2027, 6, 28, 8)}


def test_a_held_or_skipped_review_sends_nothing_more(cast, sweep) -> None:
    review = schedule_review(cast, utc(2027, 7, 1, 8))
    with time_machine.travel(utc(2027, 6, 20), tick=False):
        from alignment.services import review_skip

        review_skip(access=cast.access("vendor_editor"), review_id=review.pk)
    sweep(utc(2027, 6, 30, 9))
    assert not [m for m in mail.outbox if "Acme × Northwind on 1 Jul" in m.subject]


def test_running_the_sweep_twice_sends_nothing_twice(cast, sweep) -> None:
    schedule_review(cast, utc(2027, 7, 1, 8))
    sweep(utc(2027, 6, 30, 9))
    sweep(utc(2027, 6, 30, 9))
    sweep(utc(2027, 6, 30, 9, 5))
    assert len(mail.outbox) == MEMBERS
    assert len({m.to[0] for m in mail.outbox}) == MEMBERS


# --- Overdue, approvals, check-ins, digest -------------------------------------------------------


def test_an_unrecorded_review_reminds_both_sides_approvers_once(cast, sweep) -> None:
    schedule_review(cast, utc(2027, 7, 1, 8))
    for day in range(2, 12):
        sweep(utc(2027, 7, day, 12))
    overdue = [m for m in mail.outbox if m.subject.startswith("Not recorded yet")]
    assert sorted(m.to[0] for m in overdue) == sorted(
        [cast.vendor_admin.email, cast.vendor_approver.email, cast.partner_approver.email]
    )


def proposed_goal(cast):  # type: ignore[no-untyped-def]
    vendor = cast.access("vendor_editor")
    goal = f.make_goal(vendor, f.make_objective(vendor))
    goals.goal_propose(access=vendor, goal_id=goal.pk)
    goal.refresh_from_db()
    return goal


def test_a_waiting_approval_reminds_the_waiting_side_at_a_bounded_interval(cast, sweep, settings) -> None:
    settings.REMINDER_APPROVAL_WAIT_DAYS, settings.REMINDER_APPROVAL_REPEAT_DAYS = 3, 4
    settings.REMINDER_APPROVAL_MAX = 3
    with time_machine.travel(utc(2027, 3, 1, 9), tick=False):
        goal = proposed_goal(cast)
        goals.goal_approve(access=cast.access("vendor_approver"), goal_id=goal.pk, revision=goal.revision)
    for day in range(0, 40):
        sweep(utc(2027, 3, 1, 10) + dt.timedelta(days=day))
    waiting = [m for m in mail.outbox if m.subject.startswith("Waiting for your approval")]
    assert Counter(m.to[0] for m in waiting) == {cast.partner_approver.email: 3}
    assert sorted(r.occurrence for r in OutboxMessage.objects.filter(kind="approval_waiting")) == [
        utc(2027, 3, 4, 9),
        utc(2027, 3, 8, 9),
        utc(2027, 3, 12, 9),
    ]


def test_an_approval_given_meanwhile_stops_the_queued_reminder(cast, sweep, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with time_machine.travel(utc(2027, 3, 1, 9), tick=False):
        goal = proposed_goal(cast)
    with time_machine.travel(utc(2027, 3, 5), tick=False):
        reminders.sweep_approvals_waiting()  # queued, but its task never ran (e.g. the broker was down)
        goals.goal_approve(access=cast.access("partner_approver"), goal_id=goal.pk, revision=goal.revision)
    partner_row = OutboxMessage.objects.get(kind="approval_waiting", recipient=cast.partner_approver)
    assert outbox.deliver(partner_row.pk).status == "skipped"
    assert not [m for m in mail.outbox if m.to == [cast.partner_approver.email]]


def test_a_goal_without_a_check_in_reminds_its_owners_once_per_interval(cast, sweep, settings) -> None:
    settings.REMINDER_CHECKIN_INTERVAL_DAYS = 30
    vendor, partner = cast.access("vendor_editor"), cast.access("partner_approver")
    with time_machine.travel(utc(2027, 1, 1, 9), tick=False):
        objective = f.make_objective(vendor)
        goal = goals.goal_create(
            access=vendor,
            objective_id=objective.pk,
            title="Certified consultants",
            metric_name="Consultants",
            period_start=dt.date(2027, 1, 1),
            period_end=dt.date(2027, 3, 31),
            baseline=0,
            target=6,
            commitments=[
                {"side": "vendor", "text": "Run the training", "owner": cast.vendor_editor.pk},
                {"side": "partner", "text": "Send six people", "owner": cast.partner_editor.pk},
            ],
        )
        f.agree(goal, cast.access("vendor_approver"), partner)
    for day in range(0, 75, 2):
        sweep(utc(2027, 1, 1, 10) + dt.timedelta(days=day))
        if day == 40:
            with time_machine.travel(utc(2027, 2, 10, 12), tick=False):
                goal_check_ins.check_in_create(
                    access=partner, goal_id=goal.pk, value=2, measured_on=dt.date(2027, 2, 10)
                )
    check_ins = [m for m in mail.outbox if m.subject.startswith("Time for a check-in")]
    # Day 30 without a check-in, then 30 days after the check-in of 10 February.
    assert Counter(m.to[0] for m in check_ins) == {cast.vendor_editor.email: 2, cast.partner_editor.email: 2}


def test_the_weekly_digest_goes_out_once_at_eight_local_on_monday_to_those_with_something_to_say(cast, sweep) -> None:
    schedule_review(cast, utc(2027, 7, 8, 8))  # Thursday: in the week of the digest
    for hour in range(0, 48, 1):  # Monday 5 July 2027 and the Tuesday after
        sweep(utc(2027, 7, 5) + dt.timedelta(hours=hour))
    digests = [m for m in mail.outbox if m.subject == "Your week in Partnerplan"]
    assert len(digests) == MEMBERS  # the outsider's own partnership has nothing to say this week
    rows = OutboxMessage.objects.filter(kind="weekly_digest")
    assert {(r.created_at, r.occurrence) for r in rows} == {(utc(2027, 7, 5, 8), utc(2027, 7, 5))}  # UTC people
    mine = next(m for m in digests if m.to == [cast.partner_viewer.email])
    assert "Acme × Northwind" in mine.body and "The next review: Thursday 8 July, 08:00" in mine.body
    assert "Other × Elsewhere" not in mine.body


# --- Exactly once under failure -------------------------------------------------------------


class FlakyBackend(EmailBackend):
    """A mail server that fails the next ``failures`` sends with ``error``."""

    failures: list[BaseException] = []
    calls = 0

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        if type(self).failures:
            raise type(self).failures.pop(0)
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.failures, FlakyBackend.calls = [], 0
    return FlakyBackend


def send_eagerly(delivery_id: Any) -> None:
    """Run the send task as a worker would, its retries included (eagerly, without the countdown)."""
    from core.outbox import send_outbox_message as send_reminder

    conf = send_reminder.app.conf
    propagates, conf.task_eager_propagates = conf.task_eager_propagates, False
    try:
        send_reminder.delay(str(delivery_id))
    finally:
        conf.task_eager_propagates = propagates


def one_reminder(cast) -> OutboxMessage:  # type: ignore[no-untyped-def]
    review = schedule_review(cast, utc(2027, 7, 1, 8))
    with time_machine.travel(utc(2027, 6, 30, 9), tick=False):
        ids = outbox.queue(
            [
                outbox.Message(
                    "review_upcoming",
                    "review",
                    str(review.pk),
                    review.scheduled_for,
                    recipient_id=cast.partner_approver.pk,
                    partnership_id=review.partnership_id,
                )
            ]
        )
    return OutboxMessage.objects.get(pk=ids[0])


def test_a_transient_smtp_failure_is_retried_and_then_sent_once(cast, flaky) -> None:
    row = one_reminder(cast)
    flaky.failures = [
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPResponseException(451, b"Try again later"),
    ]
    with time_machine.travel(utc(2027, 6, 30, 9), tick=False):
        send_eagerly(row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts, flaky.calls, len(mail.outbox)) == ("sent", 3, 3, 1)
    assert "451" in row.last_error or row.last_error == ""


def test_a_permanent_smtp_failure_is_logged_as_failed_and_not_retried(cast, flaky) -> None:
    row = one_reminder(cast)
    flaky.failures = [smtplib.SMTPRecipientsRefused({"approver@partner.test": (550, b"No such user")})]
    send_eagerly(row.pk)
    send_eagerly(row.pk)  # a duplicate task changes nothing
    row.refresh_from_db()
    assert (row.status, row.attempts, flaky.calls, mail.outbox) == ("failed", 1, 1, [])
    assert "550" in row.last_error


def test_transient_failures_stop_after_a_bounded_number_of_attempts(cast, flaky) -> None:
    row = one_reminder(cast)
    flaky.failures = [ConnectionRefusedError("refused")] * 20
    send_eagerly(row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts, flaky.calls) == ("failed", outbox.MAX_ATTEMPTS, outbox.MAX_ATTEMPTS)
    assert "ConnectionRefusedError" in row.last_error


def test_backoff_grows_and_is_capped() -> None:
    assert [outbox.backoff(n) for n in (1, 2, 3, 4, 10)] == [60, 120, 240, 480, 3600]


def test_a_row_claimed_by_a_live_worker_is_not_sent_again_but_a_stale_claim_is_taken_over(cast, flaky) -> None:
    row = one_reminder(cast)
    start = utc(2027, 6, 30, 9)
    assert outbox.claim(row.pk, start) is True  # a worker took it, then died before sending
    assert outbox.deliver(row.pk).status == "not_claimed"  # the redelivered task finds it claimed
    with time_machine.travel(start + outbox.CLAIM_TIMEOUT + dt.timedelta(minutes=1), tick=False):
        assert outbox.requeue_stuck() == [row.pk]
        assert outbox.deliver(row.pk).status == "sent"
        assert outbox.deliver(row.pk).status == "not_claimed"
    assert len(mail.outbox) == 1


def test_a_reminder_queued_in_a_transaction_that_rolls_back_sends_nothing(cast, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    review = schedule_review(cast, utc(2027, 7, 1, 8))
    with (
        time_machine.travel(utc(2027, 6, 30, 9), tick=False),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        reminders.sweep_reviews_upcoming()
        assert OutboxMessage.objects.count() == MEMBERS
        raise RuntimeError("the sweep's transaction fails")
    assert (callbacks, OutboxMessage.objects.count(), mail.outbox) == ([], 0, [])
    assert review.pk


# --- Mute and unsubscribe ---------------------------------------------------------------------


def test_muted_kinds_are_not_sent(cast, sweep) -> None:
    cast.partner_viewer.muted_reminder_kinds = ["review_upcoming"]
    cast.partner_viewer.save()
    schedule_review(cast, utc(2027, 7, 1, 8))
    sweep(utc(2027, 6, 30, 9))
    assert len(mail.outbox) == MEMBERS - 1
    assert cast.partner_viewer.email not in {m.to[0] for m in mail.outbox}


def test_a_kind_muted_after_queueing_is_skipped_at_send_time(cast) -> None:
    row = one_reminder(cast)
    cast.partner_approver.muted_reminder_kinds = ["review_upcoming"]
    cast.partner_approver.save()
    assert outbox.deliver(row.pk).status == "skipped"
    assert mail.outbox == []


def test_every_reminder_carries_a_one_click_unsubscribe_that_mutes_only_that_kind(cast, sweep) -> None:
    schedule_review(cast, utc(2027, 7, 1, 8))
    sweep(utc(2027, 6, 30, 9))
    message = next(m for m in mail.outbox if m.to == [cast.partner_editor.email])
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    row = OutboxMessage.objects.get(recipient=cast.partner_editor)
    assert message.extra_headers["Message-ID"] == f"<reminder-{row.pk}@testserver>"  # the same on every attempt
    assert url in message.body and url in message.alternatives[0][0]
    path = url.removeprefix("http://testserver")
    client = Client(enforce_csrf_checks=True)  # a mail provider's one-click POST has no session or CSRF token
    assert client.get(path).status_code == 200  # a link scanner's GET changes nothing
    cast.partner_editor.refresh_from_db()
    assert cast.partner_editor.muted_reminder_kinds == []
    response = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    cast.partner_editor.refresh_from_db()
    assert cast.partner_editor.muted_reminder_kinds == ["review_upcoming"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: t.replace(t.split(":")[0], make_token_for_other_kind(t)),
        lambda t: "nonsense",
    ],
)
def test_a_tampered_unsubscribe_link_is_rejected(cast, client, tamper) -> None:  # type: ignore[no-untyped-def]
    token = make_token(cast.partner_editor, "review_upcoming")
    response = client.post(f"/reminders/unsubscribe/{tamper(token)}/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    cast.partner_editor.refresh_from_db()
    assert cast.partner_editor.muted_reminder_kinds == []


def make_token_for_other_kind(token: str) -> str:
    """The payload of a token for another kind, glued to the original signature."""
    import base64
    import json

    payload = json.loads(base64.urlsafe_b64decode(token.split(":")[0] + "=="))
    payload["k"] = "weekly_digest"
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def test_e_mails_read_well_as_plain_text(cast, sweep) -> None:
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(name="Smith & O'Brien × Northwind")
    schedule_review(cast, utc(2027, 7, 1, 8))
    sweep(utc(2027, 6, 30, 9))
    message = mail.outbox[0]
    assert "Smith & O'Brien × Northwind" in message.subject and "Smith & O'Brien" in message.body
    assert (
        "&amp;" not in message.body
        and "&#x27;" not in message.body
        and "<" not in message.body.replace(message.extra_headers["List-Unsubscribe"], "")
    )
    assert "Smith &amp; O&#x27;Brien" in message.alternatives[0][0]  # escaped in HTML


def test_the_digest_can_be_turned_off_for_everyone(cast, sweep, settings) -> None:
    settings.REMINDER_WEEKLY_DIGEST = False
    sweep(utc(2027, 7, 5, 9))
    assert not OutboxMessage.objects.filter(kind="weekly_digest").exists()


def test_sweeps_run_a_fixed_number_of_queries_whatever_is_due(cast, monkeypatch) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(outbox.send_outbox_message, "enqueue_on_commit", lambda ids: None)
    vendor = cast.access("vendor_editor")

    def add_plan(p_access):  # type: ignore[no-untyped-def]
        with time_machine.travel(utc(2027, 3, 1, 9), tick=False):
            review_schedule(access=p_access, scheduled_for=utc(2027, 3, 20, 9))
            goal = f.make_goal(
                p_access, f.make_objective(p_access), period_start=dt.date(2027, 1, 1), period_end=dt.date(2027, 6, 30)
            )
            goals.goal_propose(access=p_access, goal_id=goal.pk)

    def queries(day: int) -> int:
        with time_machine.travel(utc(2027, 3, day, 12), tick=False), CaptureQueriesContext(connection) as ctx:
            for sweep_ in reminders.SWEEPS:
                sweep_()
        return len(ctx.captured_queries)

    add_plan(vendor)
    small = queries(19)
    queued_for_one = OutboxMessage.objects.count()
    for _ in range(3):
        admin = f.make_user()
        other = f.make_partnership(admin)
        f.add_member(other, f.make_user(), "partner", "approver")
        add_plan(f.access(admin, other))
    assert queries(19) == small
    assert OutboxMessage.objects.count() > queued_for_one > 0


def test_an_offset_of_zero_days_reminds_on_the_morning_of_the_review(cast, sweep) -> None:
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(reminder_offsets_days=[0])
    schedule_review(cast, utc(2027, 7, 1, 12), zone="Australia/Sydney")  # 22:00 in Sydney (AEST, +10)
    sweep(utc(2027, 6, 30, 13, 55))  # 23:55 the day before, in Sydney
    assert mail.outbox == []
    sweep(utc(2027, 6, 30, 14, 5))  # 00:05 on the day
    assert len(mail.outbox) == MEMBERS
    assert {r.occurrence for r in OutboxMessage.objects.all()} == {utc(2027, 7, 1, 12)}


def test_a_failing_sweep_step_does_not_keep_the_others_from_running(cast, sweep, monkeypatch) -> None:
    def broken(now=None):  # type: ignore[no-untyped-def]
        raise ConnectionError("database went away")

    broken.__name__ = "sweep_approvals_waiting"
    monkeypatch.setattr(reminders, "SWEEPS", (broken, *reminders.SWEEPS[:1]))
    schedule_review(cast, utc(2027, 7, 1, 8))
    with pytest.raises(RuntimeError, match="approvals_waiting"):
        sweep(utc(2027, 6, 30, 9))
    assert len(mail.outbox) == MEMBERS  # the review reminders still went out


def test_moving_a_review_sends_the_updated_invitation_once(cast, sweep) -> None:
    from alignment.services import review_update

    review = schedule_review(cast, utc(2027, 7, 1, 8))
    sweep(utc(2027, 6, 25, 9))
    with time_machine.travel(utc(2027, 6, 26, 9), tick=False):
        review_update(access=cast.access("partner_editor"), review_id=review.pk, scheduled_for=utc(2027, 7, 2, 13))
    sweep(utc(2027, 6, 26, 9, 5))
    sweep(utc(2027, 6, 26, 9, 10))
    invitations = [e for m in mail.outbox if m.to == [cast.vendor_viewer.email] for e in ics_events(m)]
    assert [(e.decoded("DTSTART"), e.decoded("SEQUENCE")) for e in invitations] == [
        (utc(2027, 7, 1, 8), 1),
        (utc(2027, 7, 2, 13), 2),
    ]
    assert {str(e["UID"]) for e in invitations} == {f"review-{review.pk}@partnerplan"}
    assert len(mail.outbox) == 2 * MEMBERS
    first, second = (m for m in mail.outbox if m.to == [cast.vendor_viewer.email])
    assert first.subject.startswith("Alignment review in 6 days")
    assert second.subject == "New time: alignment review in 6 days: Acme × Northwind on 2 Jul, 15:00"
    assert "has a new time" in second.body and "updates it in your calendar" in second.body


def test_a_broker_outage_leaves_rows_pending_until_a_later_sweep_enqueues_them(cast, sweep, monkeypatch) -> None:
    from core.outbox import send_outbox_message as send_reminder

    schedule_review(cast, utc(2027, 7, 1, 8))
    real_apply_async = send_reminder.apply_async

    def broker_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(send_reminder, "apply_async", broker_down)
    sweep(utc(2027, 6, 30, 9))
    assert (OutboxMessage.objects.filter(status="pending").count(), mail.outbox) == (MEMBERS, [])
    monkeypatch.setattr(send_reminder, "apply_async", real_apply_async)
    sweep(utc(2027, 6, 30, 9, 2))  # too soon to call them lost
    assert mail.outbox == []
    sweep(utc(2027, 6, 30, 9, 10))
    assert len(mail.outbox) == MEMBERS
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
