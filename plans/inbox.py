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
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import translation

from alignment.access import Access
from alignment.changes import cache_hour, plan_generations
from alignment.models import AlignmentReview, Side
from alignment.reviews import next_reviews
from cadence.agenda import off_track
from cadence.attention import Attention
from goals.models import Commitment, Goal, GoalStatus, RevisionState, negotiation_state_of
from goals.queries import latest_check_ins
from goals.rules import overdue_filter, waiting_filter, waiting_reason

INBOX_SIZE = 6
TOTALS_FORMAT = 1
UPCOMING_DAYS = 30


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
    return (
        Goal.objects.filter(waiting_for_me(accesses))
        .select_related("partnership")
        .order_by("proposed_at", "created_at", "pk")
    )


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
        .order_by("due_date", "pk")
    )


INBOX_FORMAT = 2  # 2: items say whether the goal was sent back (``sent_back``)


def inbox_items(
    user_id: Any, accesses: Mapping[Any, Access], facts: Mapping[Any, Attention], today: dt.date, *, overdue_ours: int
) -> tuple[list[dict[str, Any]], list[Commitment]]:
    """The first goals waiting for the person's side and their side's first overdue commitments,
    across every partnership they see (two queries), through the cache: keyed by the person, each
    plan's generation and side (renewed by every change, membership changes included) and the day
    (what is overdue changes at midnight). A dashboard opened again with nothing changed runs none."""
    waiting_ids = [pid for pid, f in facts.items() if f.waiting[accesses[pid].side]]

    def compute() -> tuple[list[dict[str, Any]], list[Commitment]]:
        waiting_accesses = {pid: accesses[pid] for pid in waiting_ids}
        waiting = with_reason(waiting_goals(waiting_accesses)[:INBOX_SIZE]) if waiting_ids else []
        overdue = list(overdue_commitments(accesses, today, ours=True)[:INBOX_SIZE]) if overdue_ours else []
        return waiting, overdue

    seconds = getattr(settings, "HEALTH_CACHE_SECONDS", 3600)
    if seconds <= 0 or not accesses:
        return compute()
    generations = plan_generations(list(accesses))
    state = sorted((str(pid), str(generations[pid]), accesses[pid].side) for pid in accesses)
    digest = hashlib.sha256(repr(state).encode()).hexdigest()[:32]
    # Each waiting goal says why in words (``waiting_reason``): one entry per language.
    key = f"inbox:{INBOX_FORMAT}:{user_id}:{digest}:{today.isoformat()}:{translation.get_language()}"
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, seconds)
    return cast(tuple[list[dict[str, Any]], list[Commitment]], found)


@dataclass(frozen=True)
class GoalTotals:
    """The goal numbers of one partnership the dashboard adds up."""

    agreed: int  # agreed and in force, any period
    current: int  # of those, in this period
    on_track: int  # of those, not off track (``cadence.agenda.off_track``)


def _compute_totals(ids: list[Any], today: dt.date) -> dict[Any, GoalTotals]:
    """Goal totals of many partnerships (two queries)."""
    goals = list(
        Goal.objects.filter(partnership_id__in=ids, status=GoalStatus.AGREED).only(
            "id", "partnership_id", "title", "period_start", "period_end", "baseline", "target", "direction"
        )
    )
    current = [g for g in goals if g.period_start <= today <= g.period_end]
    latest = latest_check_ins(g.pk for g in current)
    agreed: dict[Any, int] = defaultdict(int)
    now: dict[Any, int] = defaultdict(int)
    good: dict[Any, int] = defaultdict(int)
    for g in goals:
        agreed[g.partnership_id] += 1
    for g in current:
        now[g.partnership_id] += 1
        if not off_track(g, latest, today).reasons:
            good[g.partnership_id] += 1
    return {pid: GoalTotals(agreed[pid], now[pid], good[pid]) for pid in ids}


def goal_totals(ids: list[Any], now: dt.datetime, today: dt.date) -> dict[Any, GoalTotals]:
    """Goal totals of many partnerships through the cache, keyed like ``cadence.attention`` by the
    plan's generation (renewed by every change), the hour and the day: a dashboard computes only
    the partnerships that changed."""
    seconds = getattr(settings, "HEALTH_CACHE_SECONDS", 3600)
    if seconds <= 0 or not ids:
        return _compute_totals(ids, today) if ids else {}
    generations = plan_generations(ids)
    suffix = f"{cache_hour(now)}:{today.isoformat()}"
    keys = {pid: f"goal-totals:{TOTALS_FORMAT}:{pid}:{generations[pid]}:{suffix}" for pid in ids}
    hits = cache.get_many(list(keys.values()))
    found = {pid: hits[key] for pid, key in keys.items() if key in hits}
    missing = [pid for pid in ids if pid not in found]
    if missing:
        computed = _compute_totals(missing, today)
        cache.set_many({keys[pid]: value for pid, value in computed.items()}, seconds)
        found |= computed
    return found


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


def portfolio_totals(
    names: Mapping[Any, str],
    accesses: Mapping[Any, Access],
    facts: Mapping[Any, Attention],
    totals: Mapping[Any, GoalTotals],
    now: dt.datetime,
) -> Totals:
    """Add up the cached numbers of every visible partnership (no query)."""
    sides = {pid: a.side for pid, a in accesses.items()}
    soon = now + dt.timedelta(days=UPCOMING_DAYS)
    reviews = [(f.next_review, pid) for pid, f in facts.items() if f.next_review is not None]
    first = min(reviews, key=lambda r: r[0], default=None)
    return Totals(
        partnerships=len(facts),
        waiting=sum(f.waiting[sides[pid]] for pid, f in facts.items()),
        agreed=sum(t.agreed for t in totals.values()),
        current=sum(t.current for t in totals.values()),
        on_track=sum(t.on_track for t in totals.values()),
        overdue_ours=sum(f.overdue[sides[pid]] for pid, f in facts.items()),
        overdue_theirs=sum(f.overdue[Side.other(sides[pid])] for pid, f in facts.items()),
        reviews_overdue=sum(1 for at, _ in reviews if at < now),
        reviews_soon=sum(1 for at, _ in reviews if now <= at <= soon),
        next_review={"at": first[0], "pid": first[1], "name": names.get(first[1], "")} if first else None,
    )


def upcoming_reviews(partnership_ids: list[Any], now: dt.datetime) -> list[AlignmentReview]:
    """The next review of each partnership (``alignment.reviews``), soonest first (one query)."""
    found = next_reviews(partnership_ids, now)
    return sorted(found.values(), key=lambda r: (r.scheduled_for, r.partnership_id))
