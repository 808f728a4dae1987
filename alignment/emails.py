"""One small function per e-mail. ``send_reminder`` picks the one for an outbox row.

Each function first checks the reminder is still due (a review held meanwhile, a goal approved
meanwhile) and returns False without sending when it is not.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.mail import get_connection
from django.templatetags.tz import do_timezone
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from .mail import send_templated
from .models import AlignmentReview, Partnership, PartnershipMember, ReminderDelivery, ReminderKind, Side
from .unsubscribe import list_unsubscribe_headers, unsubscribe_url

if TYPE_CHECKING:
    from accounts.models import User

SMTP_TIMEOUT_SECONDS = 30


def _local(moment: dt.datetime, zone: str) -> dt.datetime:
    """``moment`` in ``zone``, marked so the template ``date`` filter does not convert it back."""
    try:
        return do_timezone(moment, zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return do_timezone(moment, dt.UTC)


def _send(
    name: str,
    delivery: ReminderDelivery,
    context: dict[str, Any],
    attachments: tuple[tuple[str, bytes | str, str], ...] = (),
) -> bool:
    """Render and send one reminder with its unsubscribe link and List-Unsubscribe headers."""
    user = delivery.recipient
    link = unsubscribe_url(user, delivery.kind)
    headers = list_unsubscribe_headers(link) | {
        # The same id on every attempt: a resend after a crash is one message to the mail client.
        "Message-ID": f"<reminder-{delivery.pk}@{urlparse(settings.SITE_URL).hostname or 'partnerplan'}>",
        "Auto-Submitted": "auto-generated",
    }
    context = {
        "user": user,
        "kind_label": ReminderKind(delivery.kind).label,
        "unsubscribe_url": link,
        "preferences_url": settings.SITE_URL + reverse("reviews:preferences"),
    } | context
    # A bounded SMTP conversation: a send never outlives the outbox claim (see alignment.reminders).
    connection = get_connection(timeout=SMTP_TIMEOUT_SECONDS)
    send_templated(name, [user.email], context, headers=headers, attachments=attachments, connection=connection)
    return True


def _review_url(review: AlignmentReview) -> str:
    return settings.SITE_URL + reverse("reviews:detail", args=[review.partnership_id, review.pk])


def review_ics(review: AlignmentReview) -> bytes:
    """An iCalendar invitation for a review: stable UID, start in UTC, SEQUENCE = its version."""
    p = review.partnership
    cal = Calendar()
    cal.add("prodid", "-//Partnerplan//Alignment reviews//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"review-{review.pk}@partnerplan")
    event.add("summary", f"{review.title or 'Alignment review'}: {p.name}")
    event.add("dtstart", review.scheduled_for.astimezone(dt.UTC))
    event.add("dtend", review.scheduled_for.astimezone(dt.UTC) + dt.timedelta(minutes=p.review_duration_minutes))
    event.add("dtstamp", timezone.now().astimezone(dt.UTC))
    event.add("sequence", review.version)
    event.add("url", _review_url(review))
    event.add("description", f"Alignment review of {p.name}. Agenda: {_review_url(review)}")
    cal.add_component(event)
    return cal.to_ical()


def _scheduled_review(delivery: ReminderDelivery) -> AlignmentReview | None:
    return (
        AlignmentReview.objects.select_related("partnership")
        .filter(pk=delivery.subject_id, status=AlignmentReview.Status.SCHEDULED)
        .first()
    )


def review_upcoming(delivery: ReminderDelivery) -> bool:
    review = _scheduled_review(delivery)
    if review is None or review.scheduled_for <= timezone.now():
        return False
    p = review.partnership
    earlier = (
        ReminderDelivery.objects.filter(
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
    context = {
        "moved": earlier is not None and review.updated_at > earlier.sent_at,
        "review": review,
        "partnership": p,
        "review_url": _review_url(review),
        "local_time": _local(review.scheduled_for, p.timezone),
        "partnership_zone": p.timezone,
        "your_time": _local(review.scheduled_for, delivery.recipient.timezone),
        "your_zone": delivery.recipient.timezone,
        # Calendar days in the partnership's zone: "tomorrow" means the next local day.
        "days_left": (_local(review.scheduled_for, p.timezone).date() - _local(timezone.now(), p.timezone).date()).days,
    }
    return _send("review-upcoming", delivery, context, (("review.ics", review_ics(review), "text/calendar"),))


def review_overdue(delivery: ReminderDelivery) -> bool:
    review = _scheduled_review(delivery)
    if review is None:
        return False
    p = review.partnership
    return _send(
        "review-overdue",
        delivery,
        {
            "review": review,
            "partnership": p,
            "review_url": _review_url(review),
            "local_time": _local(review.scheduled_for, p.timezone),
            "partnership_zone": p.timezone,
        },
    )


def approval_waiting(delivery: ReminderDelivery) -> bool:
    from goals.models import Approval, Goal, GoalStatus, RevisionState

    goal = Goal.objects.select_related("partnership").filter(pk=delivery.subject_id).first()
    if goal is None or goal.negotiation_state != RevisionState.PROPOSED:
        return False
    member = PartnershipMember.objects.filter(partnership_id=goal.partnership_id, user=delivery.recipient).first()
    side = member.side if member else Side.VENDOR
    if Approval.objects.filter(goal=goal, revision=goal.revision, side=side).exists():
        return False
    return _send(
        "approval-waiting",
        delivery,
        {
            "goal": goal,
            "partnership": goal.partnership,
            "side": side,
            "is_amendment": goal.status == GoalStatus.AGREED,
            "waiting_days": (timezone.now() - goal.proposed_at).days if goal.proposed_at else 0,
            "plan_url": settings.SITE_URL + reverse("goal-thread", args=[goal.partnership_id, goal.pk]),
        },
    )


def checkin_missing(delivery: ReminderDelivery) -> bool:
    from goals.models import CheckIn, Goal, GoalStatus

    goal = Goal.objects.select_related("partnership").filter(pk=delivery.subject_id, status=GoalStatus.AGREED).first()
    if goal is None or CheckIn.objects.filter(goal=goal, measured_on__gte=delivery.occurrence.date()).exists():
        return False
    last = CheckIn.objects.filter(goal=goal).order_by("-measured_on", "-created_at").first()
    return _send(
        "checkin-missing",
        delivery,
        {
            "goal": goal,
            "partnership": goal.partnership,
            "last_check_in": last,
            "plan_url": settings.SITE_URL + reverse("plan", args=[goal.partnership_id]),
        },
    )


def weekly_digest(delivery: ReminderDelivery) -> bool:
    rows = digest_rows(delivery.recipient, timezone.now())
    if not rows:
        return False
    return _send("digest-weekly", delivery, {"rows": rows})


def digest_rows(user: User, now: dt.datetime) -> list[dict[str, Any]]:
    """Per active partnership of the person: next review, goals waiting for their side, their
    overdue commitments (a fixed number of queries)."""
    from goals.models import Approval, Commitment, Goal, GoalStatus, RevisionState

    memberships = {
        m.partnership_id: m
        for m in PartnershipMember.objects.filter(
            user=user, partnership__status=Partnership.Status.ACTIVE
        ).select_related("partnership")
    }
    if not memberships:
        return []
    ids = list(memberships)
    next_review: dict[Any, AlignmentReview] = {}
    for r in AlignmentReview.objects.filter(partnership_id__in=ids, status=AlignmentReview.Status.SCHEDULED).order_by(
        "scheduled_for"
    ):
        next_review.setdefault(r.partnership_id, r)
    from django.db.models import Q

    proposed = list(
        Goal.objects.filter(
            Q(status=GoalStatus.PROPOSED) | Q(status=GoalStatus.AGREED, amendment=RevisionState.PROPOSED),
            partnership_id__in=ids,
        )
    )
    approved = set(Approval.objects.filter(goal__in=proposed).values_list("goal_id", "revision", "side"))
    overdue = list(
        Commitment.objects.filter(
            goal__partnership_id__in=ids, owner=user, done=False, due_date__lt=now.date()
        ).select_related("goal")
    )
    rows = []
    for pid, m in memberships.items():
        waiting = [g for g in proposed if g.partnership_id == pid and (g.pk, g.revision, m.side) not in approved]
        mine = [c for c in overdue if c.goal.partnership_id == pid]
        review = next_review.get(pid)
        rows.append(
            {
                "partnership": m.partnership,
                "next_review": review,
                "next_review_local": _local(review.scheduled_for, user.timezone) if review else None,
                "waiting": waiting,
                "overdue": mine,
                "url": settings.SITE_URL + reverse("plan", args=[pid]),
            }
        )
    return rows


SENDERS = {
    ReminderKind.REVIEW_UPCOMING: review_upcoming,
    ReminderKind.REVIEW_OVERDUE: review_overdue,
    ReminderKind.APPROVAL_WAITING: approval_waiting,
    ReminderKind.CHECKIN_MISSING: checkin_missing,
    ReminderKind.WEEKLY_DIGEST: weekly_digest,
}


def send_reminder(delivery: ReminderDelivery) -> bool:
    """Send the e-mail for one outbox row; False when it is no longer due. Raises on SMTP errors."""
    return SENDERS[ReminderKind(delivery.kind)](delivery)
