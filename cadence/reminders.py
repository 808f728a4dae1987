"""Reminders: periodic sweeps find what is due and queue one e-mail per (kind, subject, occurrence,
recipient) in the outbox (``core.outbox``), which sends each exactly once.

A sweep finds what is due with indexed queries. The unique key of the outbox makes a sweep that
runs twice, or two sweeps running at once, queue each reminder once between them; only the rows
really inserted are enqueued, after the sweep's transaction commits. What each reminder says is
``cadence.emails``; when each person's digest is due, and what it says, is ``cadence.digest``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, cast

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from accounts.models import OrganisationMembership, ReminderKind
from alignment.models import AlignmentReview, Partnership, PartnershipMember, Role, Side
from alignment.schedule import keep_next_review_scheduled, localize
from core.outbox import Message, queue, requeue_stuck
from goals.models import CheckIn, Commitment, Goal, GoalStatus, RevisionState
from goals.rules import PROPOSED_NOW, approved_sides_of, check_in_interval, check_in_since, waiting_sides

from . import pulse
from .digest import sweep_digest

log = logging.getLogger(__name__)

DEFAULT_OFFSETS_DAYS = (7, 1)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def overdue_after() -> dt.timedelta:
    """How long after its time a review that was not recorded counts as overdue."""
    return dt.timedelta(hours=_setting("REMINDER_REVIEW_OVERDUE_HOURS", 48))


def pulse_reminder_after() -> dt.timedelta:
    """How long after the start of the day a review was held its unanswered pulse is reminded of."""
    return dt.timedelta(hours=_setting("REMINDER_PULSE_AFTER_HOURS", 48))


def approval_wait() -> dt.timedelta:
    return dt.timedelta(days=_setting("REMINDER_APPROVAL_WAIT_DAYS", 3))


def approval_repeat() -> dt.timedelta:
    return dt.timedelta(days=_setting("REMINDER_APPROVAL_REPEAT_DAYS", 4))


def approval_max_reminders() -> int:
    return _setting("REMINDER_APPROVAL_MAX", 3)


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
        # Plain dicts, each given its "approver" flag below.
        rows = cast(
            list[dict[str, Any]],
            list(
                PartnershipMember.objects.filter(partnership_id__in=ids, user__is_active=True).values(
                    "partnership_id", "user_id", "side", "role"
                )
            ),
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
    due: list[Message] = []
    for review in reviews:
        offsets = review.partnership.reminder_offsets_days or list(DEFAULT_OFFSETS_DAYS)
        reached = [d for d in offsets if reminder_due_at(review, d) <= now]
        if not reached:
            continue
        offset = min(reached)
        occurrence = _review_key(review) - dt.timedelta(days=offset)
        due += [
            Message(
                ReminderKind.REVIEW_UPCOMING,
                "review",
                str(review.pk),
                occurrence,
                recipient_id=uid,
                partnership_id=review.partnership_id,
            )
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
        Message(
            ReminderKind.REVIEW_OVERDUE,
            "review",
            str(r.pk),
            _review_key(r),
            recipient_id=uid,
            partnership_id=r.partnership_id,
        )
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
    now = now or timezone.now()
    oldest = now - approval_wait() - approval_repeat() * approval_max_reminders()
    goals = list(
        Goal.objects.filter(
            PROPOSED_NOW,
            proposed_at__lte=now - approval_wait(),
            proposed_at__gt=oldest,
            partnership__status=Partnership.Status.ACTIVE,
        ).values("id", "partnership_id", "revision", "proposed_at", "proposed_by_side")
    )
    approved = approved_sides_of(g["id"] for g in goals)
    people = People(g["partnership_id"] for g in goals)
    due: list[Message] = []
    for g in goals:
        proposed_at = g["proposed_at"]
        assert proposed_at is not None  # filtered on it above
        slot = approval_slot(proposed_at, now)
        if slot is None:
            continue
        for side in waiting_sides(RevisionState.PROPOSED, g["proposed_by_side"], approved.get(g["id"], ())):
            due += [
                Message(
                    ReminderKind.APPROVAL_WAITING,
                    "goal",
                    str(g["id"]),
                    slot,
                    recipient_id=uid,
                    partnership_id=g["partnership_id"],
                )
                for uid in people.approvers(g["partnership_id"], side)
            ]
    return queue(due, now)


def sweep_check_ins_missing(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Agreed goals in their period without a check-in for ``check_in_interval()``: to the goal's
    owners (the owners of each side's commitments, or that side's editors when nobody owns one).
    Repeated once per interval while the goal stays without a check-in."""
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
    due: list[Message] = []
    for g in goals:
        since = check_in_since(
            last_measured=last.get(g["id"]), period_start=g["period_start"], agreed_at=g["agreed_at"]
        )
        quiet = dt.timedelta(days=(today - since).days)
        if quiet < interval:
            continue
        slot_day = since + (quiet // interval) * interval
        occurrence = dt.datetime.combine(slot_day, dt.time(0), tzinfo=dt.UTC)
        for side in Side.values:
            recipients = owners[g["id"]][side] or set(people.editors(g["partnership_id"], side))
            due += [
                Message(
                    ReminderKind.CHECKIN_MISSING,
                    "goal",
                    str(g["id"]),
                    occurrence,
                    recipient_id=uid,
                    partnership_id=g["partnership_id"],
                )
                for uid in recipients
            ]
    return queue(due, now)


def pulse_reminder_due_at(review: AlignmentReview) -> dt.datetime:
    """When the unanswered pulse of a held review is reminded of: ``pulse_reminder_after()`` after
    local midnight of the day it was held (in the partnership's zone)."""
    assert review.held_on is not None
    zone = zoneinfo.ZoneInfo(review.partnership.timezone)
    return localize(dt.datetime.combine(review.held_on, dt.time(0)), zone) + pulse_reminder_after()


def sweep_pulse_unanswered(now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Held reviews whose pulse still takes answers: once per review to each member of either side
    who has not answered, ``pulse_reminder_after()`` after the day it was held. The outbox row's
    occurrence is the review (its time), so each person is reminded once per review.

    Found on the index of reviews by (status, time): held reviews of the last 120 days, whose day
    held is recent enough for their pulse to be open."""
    now = now or timezone.now()
    today = now.date()
    reviews = list(
        AlignmentReview.objects.filter(
            status=AlignmentReview.Status.HELD,
            scheduled_for__gt=now - dt.timedelta(days=120),
            held_on__gte=today - dt.timedelta(days=pulse.answer_days() + 1),
            partnership__status=Partnership.Status.ACTIVE,
        ).select_related("partnership")
    )
    reviews = [
        r
        for r in reviews
        if pulse_reminder_due_at(r) <= now
        and pulse.is_open(r, now.astimezone(zoneinfo.ZoneInfo(r.partnership.timezone)).date())
    ]
    answered = pulse.answered_at([r.pk for r in reviews])
    people = People(r.partnership_id for r in reviews)
    due = [
        Message(
            ReminderKind.PULSE_UNANSWERED,
            "review",
            str(r.pk),
            _review_key(r),
            recipient_id=uid,
            partnership_id=r.partnership_id,
        )
        for r in reviews
        for uid in people.everyone(r.partnership_id)
        if (r.pk, uid) not in answered
    ]
    return queue(due, now)


SWEEPS = (
    sweep_reviews_upcoming,
    sweep_reviews_overdue,
    sweep_approvals_waiting,
    sweep_check_ins_missing,
    sweep_pulse_unanswered,
    sweep_digest,
)


def run_sweeps(now: dt.datetime | None = None) -> dict[str, int]:
    """Everything the beat schedule does every few minutes: keep the next review of each
    partnership scheduled, queue what is due, and re-enqueue rows whose task was lost."""
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
