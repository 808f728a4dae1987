"""The reminder e-mails and the digest: one small function per e-mail, each registered with
the outbox (``core.outbox``) for its kind.

Each function first checks the reminder is still due (a review held meanwhile, a goal approved
meanwhile) and returns False without sending when it is not.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import cast

from django.conf import settings
from django.templatetags.tz import do_timezone
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from accounts.emails import send_to_person
from accounts.models import ReminderKind, User
from alignment.models import AlignmentReview, PartnershipMember
from cadence import digest, pulse
from cadence.calendar_feed import review_uid
from core import outbox
from core.models import MailKind, OutboxMessage
from goals import actions as goal_actions
from goals.models import CheckIn, Goal, GoalStatus, RevisionState
from goals.rules import approved_sides_of, waits_for

from .models import PulseAnswer


def _local(moment: dt.datetime, zone: str) -> dt.datetime:
    """``moment`` in ``zone``, marked so the template ``date`` filter does not convert it back."""
    try:
        return cast(dt.datetime, do_timezone(moment, zoneinfo.ZoneInfo(zone)))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return cast(dt.datetime, do_timezone(moment, dt.UTC))


def _review_url(review: AlignmentReview) -> str:
    return cast(str, settings.SITE_URL) + reverse("reviews:detail", args=[review.partnership_id, review.pk])


def review_ics(review: AlignmentReview) -> bytes:
    """An iCalendar invitation for a review: stable UID, start in UTC, SEQUENCE = its version."""
    p = review.partnership
    cal = Calendar()
    cal.add("prodid", "-//Partnerplan//Alignment reviews//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", review_uid(review.pk))  # the same UID as in calendar feeds
    event.add("summary", f"{review.title or 'Alignment review'}: {p.name}")
    event.add("dtstart", review.scheduled_for.astimezone(dt.UTC))
    event.add("dtend", review.scheduled_for.astimezone(dt.UTC) + dt.timedelta(minutes=p.review_duration_minutes))
    event.add("dtstamp", timezone.now().astimezone(dt.UTC))
    event.add("sequence", review.version)
    event.add("url", _review_url(review))
    event.add("description", f"Alignment review of {p.name}. Agenda: {_review_url(review)}")
    cal.add_component(event)
    ics: bytes = cal.to_ical()
    return ics


def _scheduled_review(delivery: OutboxMessage) -> AlignmentReview | None:
    return (
        AlignmentReview.objects.select_related("partnership")
        .filter(pk=delivery.subject_id, status=AlignmentReview.Status.SCHEDULED)
        .first()
    )


@outbox.sender(MailKind.REVIEW_UPCOMING, mute_kind=ReminderKind.REVIEW_UPCOMING)
def review_upcoming(delivery: OutboxMessage) -> bool:
    review = _scheduled_review(delivery)
    if review is None or review.scheduled_for <= timezone.now():
        return False
    p = review.partnership
    earlier = (
        OutboxMessage.objects.filter(
            kind=delivery.kind,
            subject_type="review",
            subject_id=delivery.subject_id,
            recipient_id=delivery.recipient_id,
            sent_at__isnull=False,
        )
        .exclude(pk=delivery.pk)
        .order_by("-sent_at")
        .first()
    )
    recipient = cast(User, delivery.recipient)  # a reminder goes to a person
    context = {
        "moved": earlier is not None and review.updated_at > cast(dt.datetime, earlier.sent_at),  # sent ones only
        "review": review,
        "partnership": p,
        "review_url": _review_url(review),
        "local_time": _local(review.scheduled_for, p.timezone),
        "partnership_zone": p.timezone,
        "your_time": _local(review.scheduled_for, recipient.timezone),
        "your_zone": recipient.timezone,
        # Calendar days in the partnership's zone: "tomorrow" means the next local day.
        "days_left": (_local(review.scheduled_for, p.timezone).date() - _local(timezone.now(), p.timezone).date()).days,
    }
    return send_to_person(
        "review-upcoming",
        delivery,
        context,
        attachments=(("review.ics", review_ics(review), "text/calendar"),),
        reply_about=("review", review.pk),
    )


@outbox.sender(MailKind.REVIEW_OVERDUE, mute_kind=ReminderKind.REVIEW_OVERDUE)
def review_overdue(delivery: OutboxMessage) -> bool:
    review = _scheduled_review(delivery)
    if review is None:
        return False
    p = review.partnership
    return send_to_person(
        "review-overdue",
        delivery,
        {
            "review": review,
            "partnership": p,
            "review_url": _review_url(review),
            "local_time": _local(review.scheduled_for, p.timezone),
            "partnership_zone": p.timezone,
        },
        reply_about=("review", review.pk),
    )


@outbox.sender(MailKind.PULSE_UNANSWERED, mute_kind=ReminderKind.PULSE_UNANSWERED)
def pulse_unanswered(delivery: OutboxMessage) -> bool:
    """A held review whose pulse the recipient has not answered; nothing once they answered, left
    the partnership, or the pulse closed."""
    review = (
        AlignmentReview.objects.select_related("partnership")
        .filter(pk=delivery.subject_id, status=AlignmentReview.Status.HELD)
        .first()
    )
    if review is None or not pulse.is_open(review):
        return False
    if not PartnershipMember.objects.filter(partnership_id=review.partnership_id, user=delivery.recipient).exists():
        return False
    if PulseAnswer.objects.filter(review=review, respondent=delivery.recipient).exists():
        return False
    p = review.partnership
    return send_to_person(
        "pulse-unanswered",
        delivery,
        {
            "review": review,
            "partnership": p,
            "review_url": _review_url(review) + "#pulse-h",
            "held_on": review.held_on,
            "closes_on": pulse.closes_on(review),
        },
    )


@outbox.sender(MailKind.APPROVAL_WAITING, mute_kind=ReminderKind.APPROVAL_WAITING)
def approval_waiting(delivery: OutboxMessage) -> bool:
    goal = Goal.objects.select_related("partnership").filter(pk=delivery.subject_id).first()
    if goal is None or goal.negotiation_state != RevisionState.PROPOSED:
        return False
    member = PartnershipMember.objects.filter(partnership_id=goal.partnership_id, user=delivery.recipient).first()
    if member is None:
        return False
    side = member.side
    if not waits_for(goal, side, approved_sides_of([goal.pk]).get(goal.pk, ())):
        return False
    return send_to_person(
        "approval-waiting",
        delivery,
        {
            "goal": goal,
            "partnership": goal.partnership,
            "side": side,
            "is_amendment": goal.status == GoalStatus.AGREED,
            "waiting_days": (timezone.now() - goal.proposed_at).days if goal.proposed_at else 0,
            "plan_url": settings.SITE_URL + reverse("goal-thread", args=[goal.partnership_id, goal.pk]),
            # Made now, for this recipient: what they may do on the goal now, from the e-mail.
            "actions": goal_actions.offered_links(delivery.recipient, goal),
            "action_days": goal_actions.max_age().days,
        },
        reply_about=("goal", goal.pk),
    )


@outbox.sender(MailKind.CHECKIN_MISSING, mute_kind=ReminderKind.CHECKIN_MISSING)
def checkin_missing(delivery: OutboxMessage) -> bool:
    goal = Goal.objects.select_related("partnership").filter(pk=delivery.subject_id, status=GoalStatus.AGREED).first()
    if goal is None or CheckIn.objects.filter(goal=goal, measured_on__gte=delivery.occurrence.date()).exists():
        return False
    last = CheckIn.objects.filter(goal=goal).order_by("-measured_on", "-created_at").first()
    return send_to_person(
        "checkin-missing",
        delivery,
        {
            "goal": goal,
            "partnership": goal.partnership,
            "last_check_in": last,
            "plan_url": settings.SITE_URL + reverse("plan", args=[goal.partnership_id]),
        },
        reply_about=("goal", goal.pk),
    )


@outbox.sender(MailKind.WEEKLY_DIGEST, mute_kind=ReminderKind.WEEKLY_DIGEST)
def digest_email(delivery: OutboxMessage) -> bool:
    """The digest of the period the row names (``cadence.digest``), in the person's time zone (the
    outbox writes it in their language); nothing when there is nothing to say."""
    user = cast(User, delivery.recipient)  # a digest goes to a person
    period = digest.period_of(delivery.occurrence, user)
    rows = [row for row in digest.digest_rows(user, timezone.now(), period) if row["news"]]
    if not rows:
        return False
    return send_to_person(
        "digest",
        delivery,
        {
            "rows": rows,
            "weekly": period.weekly,
            "zone": period.zone.key,
            "changed_since": digest.local_time(period.previous_start, period.zone),
            "due_until": period.due_until,
            # The links' terms are said once, under the last partnership, when any link is offered.
            "action_days": goal_actions.max_age().days
            if any(item["actions"] for row in rows for item in row["waiting"])
            or any(item["link"] for row in rows for item in row["figures_to_confirm"])
            else 0,
        },
    )
