"""The change log: one append-only ``ChangeEvent`` per changed object, written by the service in
the same transaction as the change. It feeds the REST change feed, live updates in the browser,
the history views and the audit trail.

Why ``txid``: ids from a sequence are handed out when a row is inserted, not when its transaction
commits, so a reader that remembers "the last id I saw" skips a row with a smaller id that
commits later. On PostgreSQL each event carries the id of the transaction that wrote it
(``pg_current_xact_id()``), and the feed only serves events of transactions older than the oldest
one still running in this database (``FEED_HORIZON``). Every transaction that can still write an
event has an id at or above that horizon, so a cursor of ``(txid, seq)`` never has anything appear
behind it. On SQLite writers are serialised by the database lock, so ``seq`` alone is already in
commit order and ``txid`` stays 0.

Transaction ids are shared by every database of a PostgreSQL server, so the snapshot's plain xmin
would also wait for a long transaction in another database on the same server (a report, a
migration, another application) and stall the feed and live updates meanwhile. The horizon skips
in-progress transactions known to belong to another database; one it cannot place (it ended
before ``pg_stat_activity`` was read, or its row is hidden) still counts, so the feed may wait a
moment longer but never skips.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, cast

from django.core.cache import cache
from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL

from .models import ChangeEvent, Partnership

PG_TXID = "pg_current_xact_id()::text::bigint"
# The oldest transaction still running in this database as of the query's snapshot (or the
# snapshot's xmax when there is none): every event below it has committed or never will. A
# PL/pgSQL function (``alignment 0014``, where its SQL is), so that its plan is kept per session
# instead of planned with every statement that reads it; a subquery, so that it runs once per
# statement, in the statement's snapshot (the function is ``STABLE``).
FEED_HORIZON = "(SELECT partnerplan_feed_horizon())"


def _txid_expression() -> Any:
    if connection.vendor == "postgresql":
        return RawSQL(PG_TXID, [])  # noqa: S611 - constant SQL, no parameters
    return 0


def object_type_of(obj: models.Model) -> str:
    return obj._meta.model_name or type(obj).__name__.lower()


# Told, with the partnership's id, when a transaction that recorded changes has committed: hooks of
# the layers above, registered in their ``AppConfig.ready`` (the webhooks' sweep is nudged this way).
# Each must be cheap and never raise; the periodic sweeps stay the guarantee.
commit_listeners: list[Callable[[Any], None]] = []


def _announce(partnership_id: Any) -> None:
    for listener in commit_listeners:
        listener(partnership_id)


# Told, with the partnership's id, inside the transaction, of every change recorded: numbers kept
# by the layers above from a plan's data register here in their ``AppConfig.ready`` (the stored
# attention numbers of ``cadence.attention`` recompute the plan's row once it committed).
change_listeners: list[Callable[[Any], None]] = []


def _changed(partnership_id: Any) -> None:
    for listener in change_listeners:
        listener(partnership_id)


def record_change(
    *,
    actor: Any,
    partnership: Partnership | Any,
    obj: models.Model,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    summary: str = "",
    side_only: str | None = None,
) -> ChangeEvent:
    """Append one change event. Call inside the service's transaction, after the write.
    ``side_only`` names the one side that may see it (a private figure's change)."""
    if action == ChangeEvent.Action.CREATE and after is None:
        after = obj.to_record()  # type: ignore[attr-defined]
    if action == ChangeEvent.Action.UPDATE and after is None:
        after = obj.to_record()  # type: ignore[attr-defined]
    partnership_id = partnership.pk if isinstance(partnership, Partnership) else partnership
    user = actor if getattr(actor, "is_authenticated", False) else None
    # Anything cached from this plan (its health, its /plan document) is stale now, and again at
    # commit: a value computed by another request between this write and the commit saw the old data.
    plan_changed(partnership_id)
    transaction.on_commit(lambda: plan_changed(partnership_id))
    if commit_listeners:
        transaction.on_commit(lambda: _announce(partnership_id), robust=True)
    _changed(partnership_id)
    return ChangeEvent.objects.create(
        txid=_txid_expression(),
        partnership_id=partnership_id,
        actor=user,
        actor_label=(user.display_name if user else str(actor or "system"))[:200],
        object_type=object_type_of(obj),
        object_id=cast(uuid.UUID, obj.pk or (before or {}).get("id")),  # a deleted object's id is in ``before``
        action=action,
        summary=summary[:300],
        side_only=side_only,
        before=before,
        after=after,
    )


def record_creations(
    *, actor: Any, partnership: Partnership | Any, created: list[tuple[models.Model, str]]
) -> list[ChangeEvent]:
    """``record_change(action=CREATE)`` for many new objects of one plan at once (an import of
    actuals): one event per object, each with the object's record and its own summary, in a fixed
    number of queries. Call inside the service's transaction, after the inserts. The events carry
    the transaction's id like every other event, so the feed serves them only once it committed."""
    if not created:
        return []
    partnership_id = partnership.pk if isinstance(partnership, Partnership) else partnership
    user = actor if getattr(actor, "is_authenticated", False) else None
    plan_changed(partnership_id)
    transaction.on_commit(lambda: plan_changed(partnership_id))
    if commit_listeners:
        transaction.on_commit(lambda: _announce(partnership_id), robust=True)
    _changed(partnership_id)
    txid = 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {PG_TXID}")
            txid = int(cursor.fetchone()[0])
    label = (user.display_name if user else str(actor or "system"))[:200]
    return ChangeEvent.objects.bulk_create(
        [
            ChangeEvent(
                txid=txid,
                partnership_id=partnership_id,
                actor=user,
                actor_label=label,
                object_type=object_type_of(obj),
                object_id=cast(uuid.UUID, obj.pk),
                action=ChangeEvent.Action.CREATE,
                summary=summary[:300],
                after=obj.to_record(),  # type: ignore[attr-defined]
            )
            for obj, summary in created
        ],
        batch_size=2000,
    )


# The horizon and the reader's own transaction id (NULL until it writes), as one row. Read first,
# they let ``feed_queryset(bounds=...)`` compare with plain numbers, whose selectivity the planner
# knows: with the subquery it guessed a third of the log and, near the log's end, bitmap-scanned and
# sorted every remaining event for one page instead of reading the feed index in order.
FEED_BOUNDS = f"SELECT {FEED_HORIZON} AS horizon, pg_current_xact_id_if_assigned()::text::bigint AS own"


def feed_queryset(
    after: tuple[int, int] | None = None,
    *,
    bounds: tuple[int, int | None] | None = None,
    unbounded: bool = False,
) -> models.QuerySet[ChangeEvent]:
    """Events in feed order after the cursor ``(txid, seq)``, limited to committed history.

    ``bounds`` is the row of ``FEED_BOUNDS`` read earlier in the same request (PostgreSQL only).
    Every transaction below that horizon had ended when it was read, so a later statement sees
    each of them committed or never; a horizon read a moment earlier only holds back more.
    ``unbounded`` leaves the horizon out, for a caller that reads ``FEED_BOUNDS`` in the same
    statement and serves only the events below it (``api.feed.feed_page``).
    """
    qs = ChangeEvent.objects.all()
    if connection.vendor == "postgresql" and not unbounded:
        if bounds is not None:
            horizon, own = bounds
            visible = models.Q(txid__lt=int(horizon))
            if own is not None:
                visible |= models.Q(txid=int(own))
            qs = qs.filter(visible)
        else:
            qs = qs.filter(
                models.Q(txid__lt=RawSQL(FEED_HORIZON, []))  # noqa: S611 - constant SQL
                | models.Q(txid=RawSQL("coalesce(pg_current_xact_id_if_assigned()::text::bigint, -1)", []))
            )
    if after is not None:
        txid, seq = int(after[0]), int(after[1])
        # A row-value comparison lets the index scan start at the cursor; the equivalent
        # ``txid > x OR (txid = x AND seq > y)`` makes PostgreSQL read the log from its start on
        # every page (a full sync turns quadratic). SQLite understands row values too.
        qs = qs.extra(  # constant SQL; the cursor goes in as parameters
            where=['("alignment_changeevent"."txid", "alignment_changeevent"."seq") > (%s, %s)'],
            params=[txid, seq],
        )
    return qs.order_by("txid", "seq")


# --- Plan generations ---------------------------------------------------------------------------
#
# Anything cached from a plan's data (its health, the dashboard's numbers, the /plan document) is
# keyed by the plan's generation: a token in the shared cache that ``record_change`` renews with
# every change, so a cached value never outlives a change of the plan it was computed from.


def _generation_key(pid: Any) -> str:
    return f"health-gen:{pid}"


def plan_changed(partnership_id: Any) -> None:
    """Give the plan a new generation: whatever was cached from its data is stale (called for
    every change event)."""
    cache.set(_generation_key(partnership_id), uuid.uuid4().hex, None)


def plan_generations(ids: list[Any]) -> dict[Any, str]:
    """The current generation token of each plan: it changes with every change to the plan, so it
    keys anything cached from a plan's data."""
    found = cache.get_many([_generation_key(pid) for pid in ids])
    fresh = {_generation_key(pid): uuid.uuid4().hex for pid in ids if _generation_key(pid) not in found}
    if fresh:
        # A plan without a token (never changed since the cache was emptied) gets one now, so an
        # entry cached under an older token can never be mistaken for a current one.
        cache.set_many(fresh, None)
        found |= fresh
    return {pid: found[_generation_key(pid)] for pid in ids}


def cache_hour(now: dt.datetime) -> str:
    """The hour in cache keys of time-dependent plan data (health decays by the day)."""
    return now.astimezone(dt.UTC).strftime("%Y%m%d%H")
