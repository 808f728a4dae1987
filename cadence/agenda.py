"""The agenda of an alignment review, drawn from the plan in a fixed number of queries.

What needs the two sides' attention: goals off track or without a recent check-in, approvals
pending on either side, commitments overdue, and the partnership's health with its trend since
the last review that was held.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from alignment.models import AlignmentReview, Partnership, Side
from core.templatetags.formatting import side_word
from goals.models import Commitment, Goal, GoalStatus
from goals.queries import latest_check_ins
from goals.rules import (
    NEGOTIATING,
    approved_sides_of,
    check_in_interval,
    overdue_filter,
    waiting_reason,
    waiting_sides,
)

from .balance import Balance, Period, balance_with_quarters
from .health import HealthReport, partnership_health
from .models import HealthSnapshot
from .pulse import QuestionResult, held_pulse

OFF_TRACK_MARGIN = 0.15  # progress this far behind the straight line from start to end is off track
LOW_CONFIDENCE = 2  # a side's confidence at or below this puts the goal on the agenda
TREND_DAYS = 90  # how far back the health trend goes when no review was held before


@dataclass
class GoalItem:
    goal: Any
    reasons: list[str]
    progress: float | None = None
    expected: float | None = None


@dataclass
class Agenda:
    health: HealthReport
    previous_health: int | None
    previous_review: AlignmentReview | None
    off_track: list[GoalItem] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    overdue: list[Any] = field(default_factory=list)
    # Daily health since the last review (or the last 90 days), today's live score last.
    trend: list[dict[str, Any]] = field(default_factory=list)
    # The relationship pulse at the last review held: its questions side by side, and who answered.
    previous_pulse: list[QuestionResult] = field(default_factory=list)
    previous_pulse_counts: dict[str, int] = field(default_factory=dict)
    # What each side gave and got in the review's period (``review_period``), and in the last quarters.
    give_get: Balance | None = None
    give_get_quarters: list[Balance] = field(default_factory=list)

    @property
    def pulse_gaps(self) -> list[QuestionResult]:
        """The questions on which the sides saw the partnership differently at the last review."""
        return [q for q in self.previous_pulse if q.flagged]

    @property
    def health_change(self) -> int | None:
        return None if self.previous_health is None else self.health.score - self.previous_health

    @property
    def is_empty(self) -> bool:
        return not (self.off_track or self.approvals or self.overdue)


def expected_progress(start: dt.date, end: dt.date, today: dt.date) -> float:
    span = (end - start).days
    if span <= 0:
        return 1.0
    return max(0.0, min(1.0, (today - start).days / span))


def off_track(goal: Goal, latest: dict[tuple[Any, str], Any], today: dt.date) -> GoalItem:
    """The rule "off track", in one place: why a current agreed goal needs the two sides' attention
    (no check-in yet or none lately, progress behind the straight line from its start to its end,
    a side's low confidence), with its progress and the progress expected by today. A goal with
    no reason is on track (the dashboard counts those). ``latest``: ``goals.queries.latest_check_ins``."""
    reasons: list[str] = []
    values = [c for c in (latest.get((goal.pk, Side.VENDOR)), latest.get((goal.pk, Side.PARTNER))) if c]
    newest = max(values, key=lambda c: (c.measured_on, c.created_at), default=None)
    progress = goal.progress(newest.value) if newest else None
    expected = expected_progress(goal.period_start, goal.period_end, today)
    if newest is None:
        reasons.append(gettext("no check-in yet"))
    elif newest.measured_on < today - check_in_interval():
        reasons.append(gettext("no check-in since %(date)s") % {"date": date_format(newest.measured_on, "j M Y")})
    if progress is not None and progress + OFF_TRACK_MARGIN < expected:
        reasons.append(
            gettext("%(progress)s of the way with %(expected)s of the period gone")
            % {"progress": f"{progress:.0%}", "expected": f"{expected:.0%}"}
        )
    for c in values:
        if c.confidence <= LOW_CONFIDENCE:
            reasons.append(
                gettext("%(side)s side's confidence is %(confidence)s of 5")
                % {"side": side_word(c.side), "confidence": c.confidence}
            )
    return GoalItem(goal, reasons, progress, expected)


def review_period(previous: AlignmentReview | None, review: AlignmentReview | None, today: dt.date) -> Period:
    """The period a review looks back on: from the day after the last review held up to the
    review's own day (today for the next review, or when the review is already past); the quarter
    of that day when no review was held before."""
    day = min(review.scheduled_for.date(), today) if review is not None else today
    held = (previous.held_on or previous.scheduled_for.date()) if previous is not None else None
    if held is None or held >= day:
        return Period.quarter_of(day)
    return Period(held + dt.timedelta(days=1), day)


def build_agenda(p: Partnership, review: AlignmentReview | None = None, now: dt.datetime | None = None) -> Agenda:
    """The agenda for ``review`` (or for the next review) of ``p``."""
    now = now or timezone.now()
    today = now.date()
    before = review.scheduled_for if review is not None else now
    previous = (
        AlignmentReview.objects.filter(partnership=p, status=AlignmentReview.Status.HELD, scheduled_for__lt=before)
        .exclude(pk=getattr(review, "pk", None))  # type: ignore[misc]  # None (no review) excludes nothing
        .order_by("-scheduled_for")
        .first()
    )
    agenda = Agenda(
        health=partnership_health(p, now),
        previous_review=previous,
        previous_health=previous.health_score if previous else None,
    )
    since = previous.held_on if previous and previous.held_on else today - dt.timedelta(days=TREND_DAYS)
    agenda.trend = [
        {"day": day, "score": score}
        for day, score in HealthSnapshot.objects.filter(partnership=p, day__gte=since, day__lt=today)
        .order_by("day")
        .values_list("day", "score")
    ]
    agenda.trend.append({"day": today, "score": agenda.health.score})
    if previous is not None:
        agenda.previous_pulse, agenda.previous_pulse_counts = held_pulse(previous)
    agenda.give_get, agenda.give_get_quarters = balance_with_quarters(
        p.pk, review_period(previous, review, today), today
    )

    current = list(
        Goal.objects.filter(
            partnership=p, status=GoalStatus.AGREED, period_start__lte=today, period_end__gte=today
        ).order_by("period_end", "title")
    )
    latest = latest_check_ins(g.pk for g in current)
    for g in current:
        item = off_track(g, latest, today)
        if item.reasons:
            agenda.off_track.append(item)

    # What waits for each side (``goals.rules``): proposals to approve, revisions sent back to revise.
    negotiating = list(Goal.objects.filter(NEGOTIATING, partnership=p).order_by("proposed_at", "created_at"))
    approved = approved_sides_of(g.pk for g in negotiating)
    for g in negotiating:
        state = g.negotiation_state
        waiting = waiting_sides(state, g.proposed_by_side, approved.get(g.pk, ()))
        if not waiting:
            continue
        agenda.approvals.append(
            {
                "goal": g,
                "waiting_for": waiting,
                "why": waiting_reason(state),
                "is_amendment": g.status == GoalStatus.AGREED,
                "days": (now - g.proposed_at).days if g.proposed_at else None,
            }
        )

    agenda.overdue = list(
        Commitment.objects.filter(overdue_filter(today), goal__partnership=p)
        .select_related("goal", "owner")
        .order_by("due_date")
    )
    return agenda
