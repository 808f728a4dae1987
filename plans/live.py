"""Live co-editing of the joint plan page: change polling and presence.

Each open plan page posts a heartbeat every second with its cursor and the item being edited.
The answer lists the change events since the cursor with the page fragments each one touches
(PostgreSQL stays the source of truth; see ``LiveUpdates`` for why nothing is missed), short
announcements for the ``aria-live`` region and who else is on the plan.

Presence lives in the shared Django cache (Redis in production), so every web process sees it:
one key per person and plan with a short TTL, plus a roster of who was seen on the plan. A lost
roster write (two first heartbeats at once) heals on the next heartbeat.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse

from alignment.changes import feed_queryset
from alignment.economics import side_visible
from alignment.models import ChangeEvent
from alignment.web import PlanView
from goals.models import CLOSED

PRESENCE_TTL = 10  # seconds without a heartbeat before a person is gone
ROSTER_TTL = 3600
MAX_EVENTS = 200
CURSOR = re.compile(r"^(\d{1,20})\.(\d{1,20})$")
EDITING = re.compile(
    r"^[a-z][a-z-]{0,30}(?:-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?"
    r"(?:-[a-z]{1,10})?$"
)

# Which fragments of the page an event touches, by object type.
GOAL_CHILDREN = {"commitment", "approval", "checkin", "comment"}


def fragments_for(event: ChangeEvent) -> set[str]:
    record = event.after or event.before or {}
    kind = event.object_type
    touched = {"history", "plan-header"}
    if kind in ("vision", "visionendorsement"):
        touched.add("vision")
    elif kind == "objective":
        touched.add("objectives" if event.action != ChangeEvent.Action.UPDATE else f"objective-{event.object_id}")
    elif kind == "goal":
        if event.action == ChangeEvent.Action.UPDATE:
            touched.add(f"goal-{event.object_id}")
            if record.get("objective"):
                # What its list's summary counts (open, awaiting approval, closed) may have moved.
                touched.add(f"goals-count-{record['objective']}")
            if _closes(event) and record.get("objective"):
                # A goal that closes moves to its objective's closed goals: the list is redrawn.
                touched.add(f"goals-of-{record['objective']}")
        elif record.get("objective"):
            touched.add(f"goals-of-{record['objective']}")
        else:
            touched.add("objectives")
    elif kind in GOAL_CHILDREN and record.get("goal"):
        touched.add(f"goal-{record['goal']}")
    elif kind in ("driver", "driverfigure"):
        touched.add("economics")
    return touched


def _closes(event: ChangeEvent) -> bool:
    before, after = event.before or {}, event.after or {}
    return after.get("status") in CLOSED and before.get("status") not in CLOSED


def _roster_key(pid: Any) -> str:
    return f"presence:{pid}:roster"


def _person_key(pid: Any, user_id: Any) -> str:
    return f"presence:{pid}:{user_id}"


def heartbeat(pid: Any, user: Any, side: str, editing: str) -> None:
    cache.set(
        _person_key(pid, user.pk),
        {
            "id": user.pk,
            "name": user.display_name,
            "side": side,
            "editing": editing,
            "seen": time.time(),
        },
        PRESENCE_TTL,
    )
    roster = cache.get(_roster_key(pid)) or []
    if user.pk not in roster:
        cache.set(_roster_key(pid), [*roster, user.pk][-200:], ROSTER_TTL)


def present(pid: Any, exclude_user_id: Any = None) -> list[dict[str, Any]]:
    roster = cache.get(_roster_key(pid)) or []
    found = cache.get_many([_person_key(pid, uid) for uid in roster if uid != exclude_user_id])
    # The cache's TTL removes a silent page; the timestamp check also covers caches that keep
    # expired keys a little longer.
    now = time.time()
    alive = [p for p in found.values() if now - p.get("seen", 0) <= PRESENCE_TTL]
    return sorted(alive, key=lambda p: (p["name"].lower(), p["id"]))


def _after(t: int, s: int) -> Q:
    return Q(txid__gt=t) | Q(txid=t, seq__gt=s)


class LiveUpdates(PlanView):
    """Heartbeat and changes since the cursor.

    Two reads: every committed event after the cursor (so a change shows up as soon as it is
    committed, even while an unrelated long transaction holds the feed's horizon back), and the
    feed's safe position (``feed_queryset``), which is where the cursor moves to. Events past the
    safe position come again on the next poll; the page skips those it has applied already (by
    ``seq``), so a late commit behind them is still picked up and nothing is missed.
    """

    def post(self, request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
        match = CURSOR.match(request.POST.get("after", ""))
        if not match:
            return JsonResponse({"error": "A cursor like 123.456 is required."}, status=400)
        editing = request.POST.get("editing", "")
        if editing and not EDITING.match(editing):
            editing = ""
        heartbeat(pid, request.user, self.access.side, editing)
        t, s = int(match[1]), int(match[2])
        events = list(
            ChangeEvent.objects.filter(partnership_id=pid)
            .filter(side_visible(self.access.side))  # another side's private figures stay unannounced
            .filter(_after(t, s))
            .order_by("txid", "seq")
            .only(
                "seq",
                "txid",
                "object_type",
                "object_id",
                "action",
                "before",
                "after",
                "summary",
                "actor_id",
                "actor_label",
            )[: MAX_EVENTS + 1]
        )
        more = len(events) > MAX_EVENTS
        events = events[:MAX_EVENTS]
        cursor = f"{t}.{s}"
        if events:
            last = events[-1]
            safe = (
                feed_queryset((t, s))
                .filter(partnership_id=pid)
                .exclude(_after(last.txid, last.seq))
                .only("txid", "seq")
                .last()
            )
            if safe is not None:
                cursor = f"{safe.txid}.{safe.seq}"
        return JsonResponse(
            {
                "cursor": cursor,
                "more": more,
                "events": [
                    {
                        "seq": e.seq,
                        "fragments": sorted(fragments_for(e)),
                        "announce": f"{e.actor_label} {e.summary}".strip() if e.actor_id != request.user.pk else "",
                        # Who changed it, for the note on a form being edited here (not for one's own changes).
                        "actor": e.actor_label if e.actor_id != request.user.pk else "",
                    }
                    for e in events
                ],
                "presence": present(pid, exclude_user_id=request.user.pk),
            }
        )
