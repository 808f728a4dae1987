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
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from .health import cache_hour, cached_health_for, plan_generations
from .models import AlignmentReview, Partnership, Side

# Scheduled reviews further back than this are left to the review pages, not shown as "next".
REVIEW_LOOKBACK = dt.timedelta(days=60)


@dataclass(frozen=True)
class Attention:
    score: int
    waiting: dict[str, int]  # goals waiting for each side
    overdue: dict[str, int]  # overdue commitments of each side
    next_review: dt.datetime | None


# Per partnership: goals waiting for the vendor side, then for the partner side (the rule of
# ``alignment.dashboard._waiting_goals``). ``state`` is the working revision's: the amendment's for an agreed goal.
WAITING_COUNTS_SQL = """
SELECT g.partnership_id,
  SUM(CASE WHEN g.state = 'proposed' AND g.proposed_by_side <> 'vendor' AND NOT EXISTS (
        SELECT 1 FROM goals_approval a WHERE a.goal_id = g.id AND a.revision = g.revision AND a.side = 'vendor')
      THEN 1 WHEN g.state = 'changes_requested' AND g.proposed_by_side = 'vendor' THEN 1 ELSE 0 END),
  SUM(CASE WHEN g.state = 'proposed' AND g.proposed_by_side <> 'partner' AND NOT EXISTS (
        SELECT 1 FROM goals_approval a WHERE a.goal_id = g.id AND a.revision = g.revision AND a.side = 'partner')
      THEN 1 WHEN g.state = 'changes_requested' AND g.proposed_by_side = 'partner' THEN 1 ELSE 0 END)
FROM (
  SELECT id, partnership_id, revision, proposed_by_side,
         CASE WHEN amendment <> '' THEN amendment ELSE status END AS state
  FROM goals_goal
  WHERE partnership_id IN (#partnerships#)
    AND (status IN ('proposed', 'changes_requested')
         OR (status = 'agreed' AND amendment IN ('proposed', 'changes_requested')))
) g
GROUP BY g.partnership_id
"""


def _waiting_counts(partnerships: QuerySet[Partnership]) -> dict[uuid.UUID, dict[str, int]]:
    """How many goals wait for each side, per partnership, counted in the database (one query, one
    row per partnership with pending goals)."""
    ids_sql, ids_params = partnerships.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(WAITING_COUNTS_SQL.replace("#partnerships#", ids_sql), ids_params)
        return {
            uuid.UUID(str(pid)): {Side.VENDOR: int(vendor), Side.PARTNER: int(partner)}
            for pid, vendor, partner in cursor.fetchall()
        }


def _overdue_counts(partnerships: QuerySet[Partnership], today: dt.date) -> dict[Any, dict[str, int]]:
    from goals.models import Commitment

    counts: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Side.values, 0))
    for pid, side, n in (
        Commitment.objects.filter(
            goal__partnership_id__in=partnerships.order_by().values("pk"),
            goal__status="agreed",
            done=False,
            placeholder=False,
            due_date__lt=today,
        )
        .values("goal__partnership_id", "side")
        .annotate(n=Count("pk"))
        .values_list("goal__partnership_id", "side", "n")
    ):
        counts[pid][side] += n
    return counts


def _next_reviews(partnerships: QuerySet[Partnership], now: dt.datetime) -> dict[Any, dt.datetime]:
    return dict(
        AlignmentReview.objects.filter(
            partnership_id__in=partnerships.order_by().values("pk"),
            status=AlignmentReview.Status.SCHEDULED,
            scheduled_for__gte=now - REVIEW_LOOKBACK,
        )
        .values("partnership_id")
        .annotate(first=Min("scheduled_for"))
        .values_list("partnership_id", "first")
    )


def compute(
    ids: list[Any], now: dt.datetime, today: dt.date, generations: dict[Any, str] | None = None
) -> dict[Any, Attention]:
    """The attention facts of the given partnerships from the database (a fixed number of queries)."""
    if not ids:
        return {}
    qs = Partnership.objects.filter(pk__in=ids)
    health = cached_health_for(ids, now, generations=generations)
    waiting, overdue, reviews = _waiting_counts(qs), _overdue_counts(qs, today), _next_reviews(qs, now)
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
    keys = {pid: f"attention:{pid}:{generations[pid]}:{suffix}" for pid in ids}
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
