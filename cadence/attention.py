"""What needs attention in each partnership, as numbers a portfolio can be sorted by: goals
waiting for each side, overdue commitments of each side, the next review and the health score.

The dashboard sorts every visible partnership by these before it shows one page. They are cached
per partnership under its plan generation (``record_change`` renews it with every change, so an
entry never outlives a change), the hour (health decays with time) and the day the overdue
commitments were counted for; beat computes the next hour's entries before the hour turns
(``warm``), so a dashboard reads one small cache entry per partnership and computes only what
changed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.utils import timezone

from alignment.changes import cache_hour, plan_generations
from alignment.models import Partnership, Side
from alignment.reviews import next_review_time, next_review_times
from goals.models import Commitment, Goal, negotiation_state_of
from goals.rules import NEGOTIATING, is_overdue, overdue_filter, waiting_filter, waiting_sides

from .health import cached_health_for

# In the keys of cached facts: bumped when ``Attention`` (or the module it is pickled from) changes,
# so processes of two releases side by side never read each other's entries.
CACHE_FORMAT = 2


@dataclass(frozen=True)
class Attention:
    score: int
    waiting: dict[str, int]  # goals waiting for each side
    overdue: dict[str, int]  # overdue commitments of each side
    next_review: dt.datetime | None


def _waiting_counts(partnerships: QuerySet[Partnership, Any]) -> dict[Any, dict[str, int]]:
    """How many goals wait for each side, per partnership (``goals.rules.waiting_filter``), counted
    in the database (one query, one row per partnership with goals under negotiation)."""
    return {
        pid: {Side.VENDOR: vendor, Side.PARTNER: partner}
        for pid, vendor, partner in Goal.objects.filter(NEGOTIATING, partnership_id__in=partnerships)
        .values("partnership_id")
        .annotate(
            vendor=Count("id", filter=waiting_filter(Side.VENDOR)),
            partner=Count("id", filter=waiting_filter(Side.PARTNER)),
        )
        .values_list("partnership_id", "vendor", "partner")
        .order_by()
    }


def _overdue_counts(partnerships: QuerySet[Partnership, Any], today: dt.date) -> dict[Any, dict[str, int]]:
    """Overdue commitments of each side, per partnership (``goals.rules.overdue_filter``; one query)."""
    counts: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Side.values, 0))
    for pid, side, n in (
        Commitment.objects.filter(overdue_filter(today), goal__partnership_id__in=partnerships)
        .values("goal__partnership_id", "side")
        .annotate(n=Count("pk"))
        .values_list("goal__partnership_id", "side", "n")
        .order_by()
    ):
        counts[pid][side] += n
    return counts


def plan_attention(
    goals: Iterable[Mapping[str, Any]],
    approvals: Iterable[Mapping[str, Any]],
    commitments: Iterable[Mapping[str, Any]],
    reviews: Iterable[Mapping[str, Any]],
    now: dt.datetime,
    today: dt.date,
) -> dict[str, Any]:
    """What needs attention in one plan, from its rows as ``/plan`` loads them (no query): the goals
    waiting for each side, the overdue commitments of each side and the next review, by the same
    rules as the dashboard's counts (``goals.rules``, ``alignment.reviews``)."""
    approved: dict[tuple[str, Any], set[str]] = defaultdict(set)
    for a in approvals:
        approved[(str(a["goal"]), a["revision"])].add(a["side"])
    waiting: dict[str, list[str]] = {side: [] for side in Side.values}
    statuses: dict[str, str] = {}
    for g in goals:
        gid = str(g["id"])
        statuses[gid] = g["status"]
        state = negotiation_state_of(g["status"], g["amendment"])
        for side in waiting_sides(state, g["proposed_by_side"], approved[(gid, g["revision"])]):
            waiting[side].append(gid)
    overdue = dict.fromkeys(Side.values, 0)
    for c in commitments:
        goal_status = statuses.get(str(c["goal"]), "")
        if is_overdue(
            done=c["done"], placeholder=c["placeholder"], due_date=c["due_date"], goal_status=goal_status, today=today
        ):
            overdue[c["side"]] += 1
    return {
        "waiting": {side: len(ids) for side, ids in waiting.items()},
        "waiting_goals": waiting,
        "overdue": overdue,
        "next_review": next_review_time(((r["status"], r["scheduled_for"]) for r in reviews), now),
    }


def compute(
    ids: list[Any], now: dt.datetime, today: dt.date, generations: dict[Any, str] | None = None
) -> dict[Any, Attention]:
    """The attention facts of the given partnerships from the database (a fixed number of queries)."""
    if not ids:
        return {}
    qs = Partnership.objects.filter(pk__in=ids).order_by().values("pk")
    health = cached_health_for(ids, now, generations=generations)
    waiting, overdue, reviews = _waiting_counts(qs), _overdue_counts(qs, today), next_review_times(qs, now)
    none = dict.fromkeys(Side.values, 0)
    return {
        pid: Attention(
            score=health[pid].score,
            waiting=waiting.get(pid, none),
            overdue=overdue.get(pid, none),
            next_review=reviews.get(pid),
        )
        for pid in ids
    }


def attention_for(ids: list[Any], now: dt.datetime | None = None, today: dt.date | None = None) -> dict[Any, Attention]:
    """The attention facts of many partnerships through the cache: only the partnerships changed
    since (or whose hour or day has turned) are computed."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    seconds = getattr(settings, "HEALTH_CACHE_SECONDS", 3600)
    if seconds <= 0 or not ids:
        return compute(ids, now, today)
    generations = plan_generations(ids)
    suffix = f"{cache_hour(now)}:{today.isoformat()}"
    keys = {pid: f"attention:{CACHE_FORMAT}:{pid}:{generations[pid]}:{suffix}" for pid in ids}
    hits = cache.get_many(list(keys.values()))
    facts = {pid: hits[key] for pid, key in keys.items() if key in hits}
    missing = [pid for pid in ids if pid not in facts]
    if missing:
        computed = compute(missing, now, today, generations)
        cache.set_many({keys[pid]: value for pid, value in computed.items()}, seconds)
        facts |= computed
    return facts


def current_partnership_batches(batch_size: int = 200) -> Iterator[list[Any]]:
    """The ids of every partnership that has not ended, in batches (for periodic work over all)."""
    last_id = None
    while True:
        qs = Partnership.objects.exclude(status=Partnership.Status.ENDED).order_by("pk")
        if last_id is not None:
            qs = qs.filter(pk__gt=last_id)
        batch = list(qs.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return
        yield batch
        last_id = batch[-1]


def warm(*, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Compute the facts of every partnership that has not ended for the hour that starts next, so
    the first dashboard of that hour finds them cached instead of computing a whole portfolio (beat
    runs this a few minutes before each hour; safe to run twice). Returns how many were warmed."""
    now = now or timezone.now()
    next_hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    return sum(
        len(attention_for(batch, next_hour, timezone.localdate(next_hour)))
        for batch in current_partnership_batches(batch_size)
    )
