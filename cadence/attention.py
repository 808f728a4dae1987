"""What needs attention in each partnership, as numbers a portfolio can be sorted by: goals
waiting for each side, overdue commitments of each side, the next review and the health score.

The dashboard sorts every visible partnership by these before it shows one page. They are cached
per partnership under its plan generation (``record_change`` renews it with every change, so an
entry never outlives a change), the hour (health decays with time) and the day the overdue
commitments were counted for; beat computes the next hour's entries before the hour turns
(``warm``), so a dashboard reads one small cache entry per partnership and computes only what
changed.

The same numbers are also **stored**, one row per partnership (``PartnershipAttention``), so the
dashboard sorts, filters, pages and adds up a portfolio in SQL and loads only the page it shows
(``store``, below). The rules stay where they are: a row is computed by the same functions as the
cached facts, never by SQL of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from alignment.changes import cache_hour, plan_generations
from alignment.models import Partnership, Side
from alignment.reviews import next_review_time, next_review_times
from goals.models import Commitment, Goal, GoalStatus, negotiation_state_of
from goals.queries import latest_check_ins
from goals.rules import NEGOTIATING, is_overdue, overdue_filter, waiting_filter, waiting_sides

from .agenda import off_track
from .health import HealthReport, cached_health_for, health_for
from .models import PartnershipAttention

logger = logging.getLogger(__name__)

# In the keys of cached facts: bumped when ``Attention`` (or the module it is pickled from) changes,
# so processes of two releases side by side never read each other's entries.
CACHE_FORMAT = 2


@dataclass(frozen=True)
class Attention:
    score: int
    waiting: dict[str, int]  # goals waiting for each side
    overdue: dict[str, int]  # overdue commitments of each side
    next_review: dt.datetime | None


# The first of what waits, per side: a goal's waiting order is (proposed_at, created_at, id), a
# commitment's (due_date, id); ``None`` when nothing waits (or nothing waiting was ever proposed).
Firsts = dict[str, Any]


def _waiting_counts(
    partnerships: QuerySet[Partnership, Any],
) -> tuple[dict[Any, dict[str, int]], dict[Any, Firsts]]:
    """How many goals wait for each side, per partnership (``goals.rules.waiting_filter``), and
    when the first of them was proposed, counted in the database (one query, one row per
    partnership with goals under negotiation)."""
    counts: dict[Any, dict[str, int]] = {}
    firsts: dict[Any, Firsts] = {}
    for pid, vendor, partner, vendor_first, partner_first in (
        Goal.objects.filter(NEGOTIATING, partnership_id__in=partnerships)
        .values("partnership_id")
        .annotate(
            vendor=Count("id", filter=waiting_filter(Side.VENDOR)),
            partner=Count("id", filter=waiting_filter(Side.PARTNER)),
            vendor_first=Min("proposed_at", filter=waiting_filter(Side.VENDOR)),
            partner_first=Min("proposed_at", filter=waiting_filter(Side.PARTNER)),
        )
        .values_list("partnership_id", "vendor", "partner", "vendor_first", "partner_first")
        .order_by()
    ):
        counts[pid] = {Side.VENDOR: vendor, Side.PARTNER: partner}
        firsts[pid] = {Side.VENDOR: vendor_first, Side.PARTNER: partner_first}
    return counts, firsts


def _overdue_counts(
    partnerships: QuerySet[Partnership, Any], today: dt.date
) -> tuple[dict[Any, dict[str, int]], dict[Any, Firsts]]:
    """Overdue commitments of each side, per partnership (``goals.rules.overdue_filter``), and the
    earliest due date among them (one query)."""
    counts: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Side.values, 0))
    firsts: dict[Any, Firsts] = defaultdict(lambda: dict.fromkeys(Side.values))
    for pid, side, n, first in (
        Commitment.objects.filter(overdue_filter(today), goal__partnership_id__in=partnerships)
        .values("goal__partnership_id", "side")
        .annotate(n=Count("pk"), first=Min("due_date"))
        .values_list("goal__partnership_id", "side", "n", "first")
        .order_by()
    ):
        counts[pid][side] += n
        firsts[pid][side] = first
    return counts, firsts


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
    (waiting, _), (overdue, _) = _waiting_counts(qs), _overdue_counts(qs, today)
    reviews = next_review_times(qs, now)
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
    return partnership_batches(batch_size, ended=False)


def partnership_batches(batch_size: int = 200, *, ended: bool = True) -> Iterator[list[Any]]:
    """The ids of every partnership (``ended=False``: of those that have not ended), in batches."""
    last_id = None
    while True:
        qs = Partnership.objects.all() if ended else Partnership.objects.exclude(status=Partnership.Status.ENDED)
        qs = qs.order_by("pk")
        if last_id is not None:
            qs = qs.filter(pk__gt=last_id)
        batch = list(qs.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return
        yield batch
        last_id = batch[-1]


def warm(*, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Store every partnership's numbers as of now (``store_all``: what turned with time), then
    compute the facts of every partnership that has not ended for the hour that starts next, so the
    first page of that hour finds them cached (beat runs this a few minutes before each hour; safe
    to run twice). Returns how many were warmed."""
    now = now or timezone.now()
    next_hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    # The stored numbers of every partnership, as of now: what turned with time since the last hour
    # (its health comes from the cache this warm-up filled an hour ago for unchanged plans).
    store_all(now=now)
    return sum(
        len(attention_for(batch, next_hour, timezone.localdate(next_hour)))
        for batch in current_partnership_batches(batch_size)
    )


# --- Stored numbers -----------------------------------------------------------------------------
#
# ``PartnershipAttention`` holds the numbers above for every partnership, so that the dashboard
# ranks a portfolio in SQL. Two things keep a row right:
#
# - **Changes.** Every service records its changes in the change log (``alignment.changes``), in
#   its transaction; ``changed`` (registered as a change listener in ``CadenceConfig.ready``)
#   remembers the plan and, once the transaction has committed, ``store`` recomputes its row from
#   committed data: a plan changed many times in one transaction is recomputed once. A read in the
#   same, still open transaction (a test, a command that changes and then lists) sees its own
#   changes through ``flush_pending``.
# - **Time.** What turns with the clock without any change — commitments fall overdue at midnight,
#   health decays as check-ins and reviews age, a review drops out of "next" after
#   ``REVIEW_LOOKBACK`` — is recomputed for every partnership by the hourly beat task (``warm``,
#   minute 52), so those parts of a row are never more than an hour old. Whether the next review is
#   overdue is decided when the row is read (``next_review < now``), so it is always exact.


def goal_totals(ids: list[Any], today: dt.date) -> dict[Any, tuple[int, int, int]]:
    """Agreed goals in force, those of this period, and of those the ones on track
    (``cadence.agenda.off_track``), per partnership (two queries)."""
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
    return {pid: (agreed[pid], now[pid], good[pid]) for pid in ids}


def stored_rows(
    ids: list[Any], now: dt.datetime, today: dt.date, *, cached: bool = False
) -> list[PartnershipAttention]:
    """The rows of the given partnerships as the rules compute them now (a fixed number of
    queries): the same counts as ``compute``, health from ``cadence.health`` (``cached``: through
    its cache, for the hourly pass over unchanged plans) and the goal totals."""
    if not ids:
        return []
    qs = Partnership.objects.filter(pk__in=ids).order_by().values("pk")
    health: dict[Any, HealthReport] = cached_health_for(ids, now) if cached else health_for(ids, now)
    (waiting, waiting_firsts), (overdue, overdue_firsts) = _waiting_counts(qs), _overdue_counts(qs, today)
    reviews = next_review_times(qs, now)
    totals = goal_totals(ids, today)
    own: dict[Any, tuple[Any, Any, str]] = {
        pid: (vendor, partner, name)
        for pid, vendor, partner, name in qs.values_list("pk", "vendor_id", "partner_id", "name")
    }
    none, nothing = dict.fromkeys(Side.values, 0), dict.fromkeys(Side.values)
    rows = []
    for pid in ids:
        vendor, partner, name = own[pid]
        w, o = waiting.get(pid, none), overdue.get(pid, none)
        wf, of = waiting_firsts.get(pid, nothing), overdue_firsts.get(pid, nothing)
        agreed, current, on_track = totals[pid]
        rows.append(
            PartnershipAttention(
                partnership_id=pid,
                vendor_id=vendor,
                partner_id=partner,
                name=name,
                waiting_vendor=w[Side.VENDOR],
                waiting_partner=w[Side.PARTNER],
                overdue_vendor=o[Side.VENDOR],
                overdue_partner=o[Side.PARTNER],
                first_waiting_vendor=wf[Side.VENDOR],
                first_waiting_partner=wf[Side.PARTNER],
                first_overdue_vendor=of[Side.VENDOR],
                first_overdue_partner=of[Side.PARTNER],
                next_review=reviews.get(pid),
                health=health[pid].score,
                started=health[pid].started,
                agreed_goals=agreed,
                current_goals=current,
                on_track_goals=on_track,
                computed_at=now,
            )
        )
    return rows


STORED_FIELDS = [
    "vendor",
    "partner",
    "name",
    "waiting_vendor",
    "waiting_partner",
    "overdue_vendor",
    "overdue_partner",
    "first_waiting_vendor",
    "first_waiting_partner",
    "first_overdue_vendor",
    "first_overdue_partner",
    "next_review",
    "health",
    "started",
    "agreed_goals",
    "current_goals",
    "on_track_goals",
    "computed_at",
]


def empty_row(pid: Any, now: dt.datetime, partnership: Partnership | None = None) -> PartnershipAttention:
    """A row of zeros, until its partnership is stored: every partnership has a row from its
    creation on (``partnership_created``), so that the dashboard reads a portfolio from this table alone."""
    if partnership is None:
        return PartnershipAttention(partnership_id=pid, computed_at=now)
    return PartnershipAttention(
        partnership_id=pid,
        vendor_id=partnership.vendor_id,
        partner_id=partnership.partner_id,
        name=partnership.name,
        computed_at=now,
    )


def partnership_created(sender: Any, instance: Partnership, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """A new partnership's row, in the transaction that creates it (``post_save`` of
    ``Partnership``): its numbers are computed when its creation is stored, after the commit."""
    if created and not raw:
        PartnershipAttention.objects.bulk_create(
            [empty_row(instance.pk, timezone.now(), instance)], ignore_conflicts=True
        )


def _dirty_key(pid: Any) -> str:
    return f"attention-dirty:{pid}"


# How long a request for a row goes on waiting in the cache: the hourly pass catches up on any lost.
DIRTY_SECONDS = 3600
# Rounds one committing request stores for others before it hands what is left to a worker.
ROUNDS = 2


def store(
    ids: list[Any], now: dt.datetime | None = None, *, cached: bool = False, skip_locked: bool = False
) -> list[Any]:
    """Recompute and store the rows of the given partnerships (those that exist); returns the ids
    stored. ``skip_locked``: leave out the rows another transaction is storing right now.

    The rows are locked (``SELECT … FOR UPDATE``, missing ones inserted first), their requests
    (``_dirty_key``, see ``store_latest``) are taken, and only then is anything read: every
    statement after that sees everything committed before it started."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        # A plan created and rolled back (or deleted since) has no row to keep.
        existing = list(Partnership.objects.filter(pk__in=list(ids)).order_by("pk").values_list("pk", flat=True))
        if not existing:
            return []
        # Insert only the rows missing (a new plan): inserting over a row another transaction has
        # just written would wait for that transaction, where ``skip_locked`` must not wait.
        present = set(PartnershipAttention.objects.filter(pk__in=existing).values_list("pk", flat=True))
        if missing := [pid for pid in existing if pid not in present]:
            PartnershipAttention.objects.bulk_create([empty_row(pid, now) for pid in missing], ignore_conflicts=True)
        rows = PartnershipAttention.objects.select_for_update(skip_locked=skip_locked).filter(pk__in=existing)
        locked = list(rows.order_by("pk").values_list("pk", flat=True))
        if not locked:
            return []
        cache.delete_many([_dirty_key(pid) for pid in locked])
        PartnershipAttention.objects.bulk_create(
            stored_rows(locked, now, today, cached=cached),
            update_conflicts=True,
            unique_fields=["partnership"],
            update_fields=STORED_FIELDS,
        )
    return locked


def store_latest(ids: list[Any], now: dt.datetime | None = None, *, cached: bool = False) -> int:
    """Store the rows of the given partnerships so that each is computed from everything committed
    before this call, without waiting for another transaction that is storing the same row.

    Why no change is left out: a committed change first *requests* its row (a flag in the cache,
    set after its commit), then stores it with ``skip_locked``. Whoever holds a row's lock takes its
    requests after locking and before reading, and looks again after its own commit:

    - a request made before the holder took it belongs to a change committed before the holder
      read, so the holder's row counts it;
    - a request made after that is still there when the holder looks after its commit, and the
      holder stores the row again (``ROUNDS`` times at most, then ``hand_off`` gives what is left
      to a worker, which waits for the lock and reads after every commit before it).

    So of two transactions changing one plan at once, neither waits for the other's recomputation,
    and the row left counts both. Returns how many rows this call stored."""
    done = 0
    for _ in range(ROUNDS):
        if not ids:
            return done
        cache.set_many({_dirty_key(pid): 1 for pid in ids}, DIRTY_SECONDS)
        mine = store(ids, now, cached=cached, skip_locked=True)
        done += len(mine)
        requested = cache.get_many([_dirty_key(pid) for pid in mine])
        ids = [pid for pid in mine if _dirty_key(pid) in requested]
    if ids:
        hand_off(ids)
    return done


def _store_waiting(ids: list[Any]) -> None:
    store(ids)


# What stores rows a committing request did not get round to: ``CadenceConfig.ready`` makes it a
# task for a worker (``cadence.tasks.store_attention``); here, in-line.
hand_off: Callable[[list[Any]], None] = _store_waiting


def store_all(*, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Recompute every partnership's row, ended ones included (the dashboard lists them too), in
    batches of a fixed number of queries each: the hourly pass for what turns with time, and the
    backfill. Returns how many rows were stored."""
    now = now or timezone.now()
    return sum(store_latest(batch, now, cached=True) for batch in partnership_batches(batch_size))


_pending = threading.local()


def _pending_ids() -> set[Any]:
    ids: set[Any] | None = getattr(_pending, "ids", None)
    if ids is None:
        ids = _pending.ids = set()
    return ids


def changed(partnership_id: Any) -> None:
    """A change of the plan was recorded in the running transaction (``alignment.changes``
    listener): its row is stored after the commit. A callback is registered for every change
    (cheap) and the first to run stores every plan remembered, so a plan changed in a savepoint
    that was rolled back, whose own callback went with it, is still stored."""
    _pending_ids().add(partnership_id)
    transaction.on_commit(_store_committed, robust=True)


# How long a plan's request for a worker to store its row stands (``request_stores``): a task lost
# on the way delays the next request by this much at most (the hourly pass stores every row anyway).
REQUEST_SECONDS = 300


def request_stores(ids: list[Any]) -> list[Any]:
    """Have a worker store the rows of these plans, once per burst of changes: a plan whose request
    is still standing (set by an earlier commit, not yet taken by a worker) gets no second task.

    Why no change is left out: the worker's ``store`` takes the requests after it locked the rows
    and before it reads. A commit that found the request standing committed before the request was
    taken, so the worker's read counts it; a commit after that finds no request, sets one and
    enqueues a task of its own, which waits for the lock and reads after that commit."""
    wanted = [pid for pid in ids if cache.add(_dirty_key(pid), 1, REQUEST_SECONDS)]
    if wanted:
        hand_off(wanted)
    return wanted


def _store_committed() -> None:
    ids = _pending_ids()
    if not ids:
        return  # an earlier callback of the same commit stored them
    batch = list(ids)
    ids.clear()
    try:
        if settings.ATTENTION_STORED_BY_WORKER:
            # The committing request answers without recomputing the plan's numbers (a plan of 500
            # goals costs ~100 ms of health and counts); a worker stores the row moments later.
            request_stores(batch)
        else:
            store_latest(batch)
    except Exception:
        # The change itself has committed; the row is stored by the next change of the plan or the
        # hourly pass at the latest.
        logger.exception("Could not store the attention numbers of %s partnerships", len(batch))


def flush_pending() -> int:
    """Store now the rows of the plans this thread has changed whose rows were not stored yet (a
    transaction still open, or one rolled back): a read in the same transaction as a change sees
    it. No query when there are none. The rows stay locked until the transaction ends; requests
    made meanwhile by other commits are looked at after it commits."""
    ids = _pending_ids()
    if not ids:
        return 0
    batch = list(ids)
    ids.clear()
    stored = store(batch)
    transaction.on_commit(lambda: _recheck(stored), robust=True)
    return len(stored)


def _recheck(ids: list[Any]) -> None:
    requested = cache.get_many([_dirty_key(pid) for pid in ids])
    again = [pid for pid in ids if _dirty_key(pid) in requested]
    if again:
        store_latest(again)
