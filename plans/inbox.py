"""What waits for a person across all their partnerships, the totals of their portfolio, and the
lists those totals count — the dashboard's inbox. Reads only.

Nothing here decides a rule: a goal waits for a side by ``goals.rules.waiting_filter``, a
commitment is overdue by ``goals.rules.overdue_filter``, the next review is ``alignment.reviews``'s
and a goal is off track by ``cadence.agenda.off_track``; the counts per partnership come from
``cadence.attention`` (cached), so the inbox, the dashboard rows, the review queue and the e-mails
agree.

The viewer's side differs from one partnership to the next, so "waiting for my side" is a filter
per side, combined: (vendor-side partnerships and waits for the vendor) or (partner-side
partnerships and waits for the partner). Every function runs a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet

from alignment.access import Access
from alignment.models import AlignmentReview, Side
from alignment.reviews import next_reviews
from goals.models import Commitment, Goal, RevisionState, negotiation_state_of
from goals.rules import overdue_filter, waiting_filter, waiting_reason

INBOX_SIZE = 6
UPCOMING_DAYS = 30
# The order of the waiting goals and of the overdue commitments: the oldest first, those of one
# partnership together at the same instant (or day). With the partnership second, the first items
# of a whole portfolio lie in the partnerships whose own first item is earliest (``plans.dashboard``).
WAITING_ORDER = (F("proposed_at").asc(nulls_last=True), "partnership_id", "created_at", "pk")
OVERDUE_ORDER = ("due_date", "goal__partnership_id", "pk")


def ids_by_side(accesses: Mapping[Any, Access]) -> dict[str, list[Any]]:
    by_side: dict[str, list[Any]] = {side: [] for side in Side.values}
    for pid, access in accesses.items():
        by_side[access.side].append(pid)
    return by_side


def waiting_for_me(accesses: Mapping[Any, Access]) -> Q:
    """Goals waiting for the person's side in each of their partnerships (``goals.rules``)."""
    q = Q(pk__in=[])
    for side, ids in ids_by_side(accesses).items():
        if ids:
            q |= Q(partnership_id__in=ids) & waiting_filter(side)
    return q


def overdue_of(accesses: Mapping[Any, Access], today: dt.date, *, ours: bool) -> Q:
    """Overdue commitments (``goals.rules``) of the person's side (``ours``) or of the other side."""
    q = Q(pk__in=[])
    for side, ids in ids_by_side(accesses).items():
        if ids:
            q |= Q(goal__partnership_id__in=ids, side=side if ours else Side.other(side))
    return overdue_filter(today) & q


def waiting_goals(accesses: Mapping[Any, Access]) -> QuerySet[Goal]:
    return Goal.objects.filter(waiting_for_me(accesses)).select_related("partnership").order_by(*WAITING_ORDER)


def with_reason(goals: Iterable[Goal]) -> list[dict[str, Any]]:
    """Each waiting goal with why it waits (a proposal to approve, or changes requested of us)."""
    items = []
    for g in goals:
        state = negotiation_state_of(g.status, g.amendment)
        # ``sent_back`` says which sentence and button the page shows; ``why`` is the words, in the
        # reader's language.
        items.append({"goal": g, "why": waiting_reason(state), "sent_back": state == RevisionState.CHANGES_REQUESTED})
    return items


def overdue_commitments(accesses: Mapping[Any, Access], today: dt.date, *, ours: bool) -> QuerySet[Commitment]:
    return (
        Commitment.objects.filter(overdue_of(accesses, today, ours=ours))
        .select_related("goal", "goal__partnership", "owner")
        .order_by(*OVERDUE_ORDER)
    )


@dataclass
class Totals:
    """The portfolio's numbers at the top of the dashboard."""

    partnerships: int
    waiting: int
    agreed: int
    current: int
    on_track: int
    overdue_ours: int
    overdue_theirs: int
    reviews_overdue: int
    reviews_soon: int
    next_review: dict[str, Any] | None  # {"at": datetime, "partnership": (id, name)}

    @property
    def off_track(self) -> int:
        return self.current - self.on_track


def upcoming_reviews(partnership_ids: list[Any], now: dt.datetime) -> list[AlignmentReview]:
    """The next review of each partnership (``alignment.reviews``), soonest first (one query)."""
    found = next_reviews(partnership_ids, now)
    return sorted(found.values(), key=lambda r: (r.scheduled_for, r.partnership_id))
