"""Reminders that arrive exactly once: periodic sweeps fill an outbox, a task per row sends it.

1. A sweep finds what is due with indexed queries and inserts one ``ReminderDelivery`` per
   (kind, subject, occurrence, recipient) with ``ignore_conflicts``: the unique constraint makes a
   sweep that runs twice, or two sweeps running at once, insert each reminder once between them.
2. Only the rows this sweep really inserted are enqueued, by id, after the sweep's transaction
   commits (a rolled-back sweep enqueues nothing).
3. ``deliver`` claims the row with one conditional UPDATE (pending → sending, or a ``sending``
   claim older than ``CLAIM_TIMEOUT``) and sends only if it won the row. A second copy of the
   task, a retried sweep or a redelivered message finds the row claimed or sent and does nothing.

Why a worker killed mid-send does not send twice: tasks run with ``acks_late`` and
``reject_on_worker_lost``, so the broker hands the message to another worker when one dies. That
copy finds the row ``sending`` with a fresh claim and stops. Only when the claim is older than
``CLAIM_TIMEOUT`` (the first worker is certainly gone: the SMTP conversation has a 30 second
timeout and the task a 3 minute hard limit) does the next sweep re-enqueue the row and a worker
reclaim it. The one window left open is a worker that dies after the SMTP server
accepted the message but before the row is marked sent; the resend then carries the same
``Message-ID`` so mail clients show it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from accounts.models import OrganisationMembership, User

from .models import AlignmentReview, Partnership, PartnershipMember, ReminderDelivery, ReminderKind, Role, Side

log = logging.getLogger(__name__)

Status = ReminderDelivery.Status
DEFAULT_OFFSETS_DAYS = (7, 1)
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 6


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def overdue_after() -> dt.timedelta:
    """How long after its time a review that was not recorded counts as overdue."""
    return dt.timedelta(hours=_setting("REMINDER_REVIEW_OVERDUE_HOURS", 48))


def approval_wait() -> dt.timedelta:
    return dt.timedelta(days=_setting("REMINDER_APPROVAL_WAIT_DAYS", 3))


def approval_repeat() -> dt.timedelta:
    return dt.timedelta(days=_setting("REMINDER_APPROVAL_REPEAT_DAYS", 4))


def approval_max_reminders() -> int:
    return _setting("REMINDER_APPROVAL_MAX", 3)


def check_in_interval() -> dt.timedelta:
    return dt.timedelta(days=_setting("REMINDER_CHECKIN_INTERVAL_DAYS", 30))


def backoff(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` tries: 1, 2, 4 … minutes, at most an hour."""
    return int(min(60 * 2 ** max(attempts - 1, 0), 3600))


# --- The outbox -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """One reminder that should exist in the outbox."""

    kind: str
    subject_type: str
    subject_id: str
    occurrence: dt.datetime
    recipient_id: int
    partnership_id: Any = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.subject_type, self.subject_id, self.occurrence, self.recipient_id)


def _muted(user_ids: Iterable[int]) -> dict[int, set[str]]:
    return {
        pk: set(kinds or [])
        for pk, kinds in User.objects.filter(pk__in=set(user_ids), is_active=True).values_list(
            "pk", "muted_reminder_kinds"
        )
    }


def queue(due: Iterable[Due], now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Insert the outbox rows that do not exist yet and enqueue those (after commit).

    Muted kinds and inactive people get no row. Returns the ids of the rows inserted here.
    """
    now = now or timezone.now()
    unique = {d.key: d for d in due}
    muted = _muted(d.recipient_id for d in unique.values())
    rows = [
        ReminderDelivery(
            id=uuid.uuid4(),
            kind=d.kind,
            subject_type=d.subject_type,
            subject_id=d.subject_id,
            occurrence=d.occurrence,
            recipient_id=d.recipient_id,
            partnership_id=d.partnership_id,
            created_at=now,
            next_attempt_at=now,
        )
        for d in unique.values()
        if d.recipient_id in muted and d.kind not in muted[d.recipient_id]
    ]
    if not rows:
        return []
    with transaction.atomic():
        ReminderDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        # A row whose key existed already was not inserted, so its fresh id is not in the table.
        inserted = list(ReminderDelivery.objects.filter(id__in=[r.id for r in rows]).values_list("id", flat=True))
        enqueue_after_commit(inserted)
    return inserted


def enqueue_after_commit(ids: list[uuid.UUID]) -> None:
    from .tasks import send_reminder

    def send() -> None:
        for pk in ids:
            send_reminder.apply_async(args=[str(pk)], task_id=f"reminder-{pk}")

    if ids:
        # robust: a broker that is down must not fail the sweep's caller; the rows stay pending
        # and ``requeue_stuck`` enqueues them again on a later run.
        transaction.on_commit(send, robust=True)


def requeue_stuck(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Re-enqueue rows whose task was lost (broker restart) or whose worker died mid-send."""
    now = now or timezone.now()
    stuck = ReminderDelivery.objects.filter(
        Q(status=Status.PENDING, next_attempt_at__lte=now - dt.timedelta(minutes=5))
        | Q(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    )
    with transaction.atomic():
        ids = list(stuck.values_list("id", flat=True)[:1000])
        ReminderDelivery.objects.filter(id__in=ids, status=Status.PENDING).update(
            next_attempt_at=now + dt.timedelta(minutes=10)
        )
        enqueue_after_commit(ids)
    return ids


# --- Sending ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str
    retry_in: int | None = None  # seconds, when a transient failure should be retried


def claim(delivery_id: Any, now: dt.datetime | None = None) -> bool:
    """Take the row for sending; True only for the one caller that won it."""
    now = now or timezone.now()
    won = (
        ReminderDelivery.objects.filter(pk=delivery_id)
        .filter(Q(status=Status.PENDING) | Q(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT))
        .update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    return won == 1


def is_transient(exc: BaseException) -> bool:
    """SMTP 4xx replies, a dropped connection or a network error are worth retrying; 5xx is final."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _msg in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError)


def _finish(delivery_id: Any, status: str, error: str = "", **fields: Any) -> None:
    ReminderDelivery.objects.filter(pk=delivery_id, status=Status.SENDING).update(
        status=status, last_error=error[:500], **fields
    )


def deliver(delivery_id: Any) -> Outcome:
    """Send one outbox row if this caller wins it. Safe to call any number of times."""
    from . import emails

    if not claim(delivery_id):
        return Outcome("not_claimed")
    delivery = ReminderDelivery.objects.select_related("recipient", "partnership").get(pk=delivery_id)
    if delivery.kind in set(delivery.recipient.muted_reminder_kinds or []) or not delivery.recipient.is_active:
        _finish(delivery.pk, Status.SKIPPED, "The recipient muted this kind of reminder.")
        return Outcome(Status.SKIPPED)
    try:
        sent = emails.send_reminder(delivery)
    except Exception as exc:  # every failure is recorded on the row
        reason = f"{type(exc).__name__}: {exc}"
        if is_transient(exc) and delivery.attempts < MAX_ATTEMPTS:
            wait = backoff(delivery.attempts)
            _finish(delivery.pk, Status.PENDING, reason, next_attempt_at=timezone.now() + dt.timedelta(seconds=wait))
            log.warning("reminder %s: transient failure, retry in %ss: %s", delivery.pk, wait, reason)
            return Outcome(Status.PENDING, retry_in=wait)
        _finish(delivery.pk, Status.FAILED, reason)
        log.error("reminder %s failed: %s", delivery.pk, reason)
        return Outcome(Status.FAILED)
    if not sent:
        _finish(delivery.pk, Status.SKIPPED, "No longer due when it was sent (already done, moved or removed).")
        return Outcome(Status.SKIPPED)
    _finish(delivery.pk, Status.SENT, "", sent_at=timezone.now())
    return Outcome(Status.SENT)


# --- Who receives what ------------------------------------------------------------------------


class People:
    """Members of many partnerships, loaded in two queries."""

    def __init__(self, partnership_ids: Iterable[Any]) -> None:
        ids = list(set(partnership_ids))
        self.members: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        orgs: dict[Any, dict[str, Any]] = {}
        for p_id, vendor_id, partner_id in Partnership.objects.filter(pk__in=ids).values_list(
            "pk", "vendor_id", "partner_id"
        ):
            orgs[p_id] = {Side.VENDOR: vendor_id, Side.PARTNER: partner_id}
        rows = list(
            PartnershipMember.objects.filter(partnership_id__in=ids, user__is_active=True).values(
                "partnership_id", "user_id", "side", "role"
            )
        )
        admins = set(
            OrganisationMembership.objects.filter(
                role=OrganisationMembership.Role.ADMIN,
                user_id__in={r["user_id"] for r in rows},
            ).values_list("organisation_id", "user_id")
        )
        for r in rows:
            # An organisation admin always approves for their own side (as in ``alignment.access``).
            side_org = orgs.get(r["partnership_id"], {}).get(r["side"])
            r["approver"] = r["role"] == Role.APPROVER or (side_org, r["user_id"]) in admins
            self.members[r["partnership_id"]].append(r)

    def everyone(self, pid: Any) -> list[int]:
        return [r["user_id"] for r in self.members[pid]]

    def approvers(self, pid: Any, side: str | None = None) -> list[int]:
        return [r["user_id"] for r in self.members[pid] if r["approver"] and side in (None, r["side"])]

    def editors(self, pid: Any, side: str) -> list[int]:
        return [r["user_id"] for r in self.members[pid] if r["side"] == side and r["role"] != Role.VIEWER]


# --- Sweeps -----------------------------------------------------------------------------------


def _review_key(review: AlignmentReview) -> dt.datetime:
    # Keyed by the time the review is held at, not the cadence occurrence it stands for: moving a
    # review is news, so the nearest reminder goes out again with the updated invitation (same
    # UID, higher SEQUENCE), while an unmoved review gets each reminder exactly once.
    return review.scheduled_for


def reminder_due_at(review: AlignmentReview, days_before: int) -> dt.datetime:
    """When the reminder ``days_before`` a review falls due; 0 means the review's morning
    (local midnight in the partnership's zone)."""
    if days_before > 0:
        return review.scheduled_for - dt.timedelta(days=days_before)
    from .schedule import localize

    zone = zoneinfo.ZoneInfo(review.partnership.timezone)
    day = review.scheduled_for.astimezone(zone).date()
    return localize(dt.datetime.combine(day, dt.time(0)), zone)


def sweep_reviews_upcoming(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Reviews coming up: each offset (days before) of the partnership, to members of both sides.

    When several offsets are due at once (the sweep did not run for a while) only the nearest one
    goes out, so nobody gets "in 7 days" and "tomorrow" together.
    """
    now = now or timezone.now()
    horizon = now + dt.timedelta(days=91)
    reviews = list(
        AlignmentReview.objects.filter(
            status=AlignmentReview.Status.SCHEDULED,
            scheduled_for__gt=now,
            scheduled_for__lte=horizon,
            partnership__status=Partnership.Status.ACTIVE,
        ).select_related("partnership")
    )
    people = People(r.partnership_id for r in reviews)
    due: list[Due] = []
    for review in reviews:
        offsets = review.partnership.reminder_offsets_days or list(DEFAULT_OFFSETS_DAYS)
        reached = [d for d in offsets if reminder_due_at(review, d) <= now]
        if not reached:
            continue
        offset = min(reached)
        occurrence = _review_key(review) - dt.timedelta(days=offset)
        due += [
            Due(ReminderKind.REVIEW_UPCOMING, "review", str(review.pk), occurrence, uid, review.partnership_id)
            for uid in people.everyone(review.partnership_id)
        ]
    return queue(due, now)


def sweep_reviews_overdue(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Reviews not recorded as held ``overdue_after()`` after their time, once, to both sides' approvers."""
    now = now or timezone.now()
    cutoff = now - overdue_after()
    reviews = list(
        AlignmentReview.objects.filter(
            status=AlignmentReview.Status.SCHEDULED,
            scheduled_for__lte=cutoff,
            scheduled_for__gt=cutoff - dt.timedelta(days=30),
            partnership__status=Partnership.Status.ACTIVE,
        )
    )
    people = People(r.partnership_id for r in reviews)
    due = [
        Due(ReminderKind.REVIEW_OVERDUE, "review", str(r.pk), _review_key(r), uid, r.partnership_id)
        for r in reviews
        for uid in people.approvers(r.partnership_id)
    ]
    return queue(due, now)


def approval_slot(proposed_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The reminder slot a proposal waiting since ``proposed_at`` is in now, or None (too early, or
    the bounded number of reminders has been sent)."""
    waited = now - proposed_at - approval_wait()
    if waited < dt.timedelta(0):
        return None
    slot = int(waited / approval_repeat())
    if slot >= approval_max_reminders():
        return None
    return proposed_at + approval_wait() + slot * approval_repeat()


def sweep_approvals_waiting(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """A proposed goal or amendment waiting for a side: to that side's approvers, repeated every
    ``approval_repeat()`` at most ``approval_max_reminders()`` times per revision."""
    from goals.models import Approval, Goal, GoalStatus, RevisionState

    now = now or timezone.now()
    oldest = now - approval_wait() - approval_repeat() * approval_max_reminders()
    goals = list(
        Goal.objects.filter(
            Q(status=GoalStatus.PROPOSED) | Q(status=GoalStatus.AGREED, amendment=RevisionState.PROPOSED),
            proposed_at__lte=now - approval_wait(),
            proposed_at__gt=oldest,
            partnership__status=Partnership.Status.ACTIVE,
        ).values("id", "partnership_id", "revision", "proposed_at")
    )
    approved: dict[Any, set[str]] = defaultdict(set)
    for goal_id, revision, side in Approval.objects.filter(goal_id__in=[g["id"] for g in goals]).values_list(
        "goal_id", "revision", "side"
    ):
        approved[(goal_id, revision)].add(side)
    people = People(g["partnership_id"] for g in goals)
    due: list[Due] = []
    for g in goals:
        slot = approval_slot(g["proposed_at"], now)
        if slot is None:
            continue
        for side in Side.values:
            if side in approved[(g["id"], g["revision"])]:
                continue
            due += [
                Due(ReminderKind.APPROVAL_WAITING, "goal", str(g["id"]), slot, uid, g["partnership_id"])
                for uid in people.approvers(g["partnership_id"], side)
            ]
    return queue(due, now)


def sweep_check_ins_missing(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Agreed goals in their period without a check-in for ``check_in_interval()``: to the goal's
    owners (the owners of each side's commitments, or that side's editors when nobody owns one).
    Repeated once per interval while the goal stays without a check-in."""
    from goals.models import CheckIn, Commitment, Goal, GoalStatus

    now = now or timezone.now()
    today = now.date()
    interval = check_in_interval()
    goals = list(
        Goal.objects.filter(
            status=GoalStatus.AGREED,
            period_start__lte=today,
            period_end__gte=today,
            partnership__status=Partnership.Status.ACTIVE,
        ).values("id", "partnership_id", "period_start", "agreed_at")
    )
    ids = [g["id"] for g in goals]
    last = dict(
        CheckIn.objects.filter(goal_id__in=ids)
        .values("goal_id")
        .annotate(last=Max("measured_on"))
        .values_list("goal_id", "last")
    )
    owners: dict[Any, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for goal_id, side, owner_id in Commitment.objects.filter(
        goal_id__in=ids, owner__isnull=False, placeholder=False
    ).values_list("goal_id", "side", "owner_id"):
        owners[goal_id][side].add(owner_id)
    people = People(g["partnership_id"] for g in goals)
    due: list[Due] = []
    for g in goals:
        since = max(
            d for d in (last.get(g["id"]), g["period_start"], g["agreed_at"].date() if g["agreed_at"] else None) if d
        )
        quiet = dt.timedelta(days=(today - since).days)
        if quiet < interval:
            continue
        slot_day = since + (quiet // interval) * interval
        occurrence = dt.datetime.combine(slot_day, dt.time(0), tzinfo=dt.UTC)
        for side in Side.values:
            recipients = owners[g["id"]][side] or set(people.editors(g["partnership_id"], side))
            due += [
                Due(ReminderKind.CHECKIN_MISSING, "goal", str(g["id"]), occurrence, uid, g["partnership_id"])
                for uid in recipients
            ]
    return queue(due, now)


def sweep_weekly_digest(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """On Mondays from 07:00 UTC, one digest per person who is a member of an active partnership
    (each person can mute it; ``REMINDER_WEEKLY_DIGEST = False`` turns it off for everyone)."""
    now = now or timezone.now()
    if not getattr(settings, "REMINDER_WEEKLY_DIGEST", True):
        return []
    if now.weekday() != 0 or now.hour < _setting("REMINDER_DIGEST_HOUR_UTC", 7):
        return []
    week = dt.datetime.combine(now.date(), dt.time(0), tzinfo=dt.UTC)
    users = set(
        PartnershipMember.objects.filter(partnership__status=Partnership.Status.ACTIVE).values_list(
            "user_id", flat=True
        )
    )
    return queue([Due(ReminderKind.WEEKLY_DIGEST, "user", str(uid), week, uid) for uid in users], now)


SWEEPS = (
    sweep_reviews_upcoming,
    sweep_reviews_overdue,
    sweep_approvals_waiting,
    sweep_check_ins_missing,
    sweep_weekly_digest,
)


def run_sweeps(now: dt.datetime | None = None) -> dict[str, int]:
    """Everything the beat schedule does every few minutes: keep the next review of each
    partnership scheduled, queue what is due, and re-enqueue rows whose task was lost."""
    from .schedule import keep_next_review_scheduled

    now = now or timezone.now()
    counts: dict[str, int] = {}
    failed: list[str] = []
    # Each step commits on its own; one that fails (a bad custom rule, a lost connection) must not
    # keep the others from running, and the next run retries it.
    for step in (keep_next_review_scheduled, *SWEEPS, requeue_stuck):
        name = step.__name__.removeprefix("sweep_")
        try:
            counts[name] = len(step(now))
        except Exception:
            log.exception("reminder sweep step %s failed", name)
            failed.append(name)
    if failed:
        raise RuntimeError(f"Reminder sweep steps failed: {', '.join(failed)} (the others ran: {counts})")
    return counts
