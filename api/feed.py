"""The change feed: every create, update and delete the caller may see, oldest first.

Built on ``alignment.changes.feed_queryset``, whose ``(txid, seq)`` order never lets an event
appear behind a cursor once served (see its docstring). The cursor is that pair, encoded. Pruned
history leaves a watermark; a cursor behind it answers 410 and the client re-syncs from ``/plan``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.models import User
from alignment.changes import feed_queryset
from alignment.models import ChangeEvent

from .models import FeedWatermark
from .problems import CursorExpired

CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,80}")
MAX_POSITION = 2**63 - 1
START = (0, 0)
# How the change log names objects → how the API names them.
TYPE_NAMES = {
    "alignmentreview": "review",
    "checkin": "check-in",
    "visionendorsement": "endorsement",
    "partnershipmember": "member",
}
USER_KEYS = ("user", "owner", "author", "created_by", "invited_by", "accepted_by", "proposed_by")


def encode_cursor(position: tuple[int, int]) -> str:
    raw = f"{position[0]}.{position[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, int]:
    invalid = exceptions.ValidationError({"since": ["Not a cursor of this feed."]})
    if not CURSOR_CHARS.fullmatch(value):
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        txid, seq = (int(part) for part in raw.split("."))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid from exc
    if not (0 <= txid <= MAX_POSITION and 0 <= seq <= MAX_POSITION) or raw != f"{txid}.{seq}":
        raise invalid
    return (txid, seq)


def watermark() -> tuple[int, int] | None:
    row = FeedWatermark.objects.filter(pk=1).first()
    return row.position if row else None


def feed_page(*, partnership_ids: Any, since: tuple[int, int] | None, limit: int) -> tuple[list[ChangeEvent], bool]:
    """Up to ``limit`` events after ``since`` of the given partnerships (a queryset or list of ids)."""
    mark = watermark()
    if mark is not None and (since or START) < mark:
        raise CursorExpired(
            "Changes before this cursor were pruned (history is kept for "
            f"{settings.CHANGE_EVENT_RETENTION_DAYS} days). Fetch GET /api/v1/partnerships/<id>/plan again and "
            "follow the feed from the cursor it returns."
        )
    qs = feed_queryset(after=since).filter(partnership_id__in=partnership_ids)
    events = list(qs[: limit + 1])
    return events[:limit], len(events) > limit


def current_position(partnership_id: Any) -> tuple[int, int]:
    """The feed position of the newest served event of a partnership: a cursor to follow the feed
    from after reading its plan (events after it are replayed; replaying is harmless)."""
    last = feed_queryset().filter(partnership_id=partnership_id).order_by("-txid", "-seq").values_list(
        "txid", "seq"
    ).first()
    return tuple(last) if last else (watermark() or START)  # type: ignore[return-value]


def _map_users(record: dict[str, Any] | None, people: dict[int, str]) -> dict[str, Any] | None:
    if record is None:
        return None
    out = dict(record)
    for key in USER_KEYS:
        if isinstance(out.get(key), int):
            out[key] = people.get(out[key])
    if isinstance(out.get("attendees"), list):
        out["attendees"] = [people.get(u) for u in out["attendees"] if isinstance(u, int)]
    return out


def _user_ids(event: ChangeEvent) -> set[int]:
    ids = {event.actor_id} if event.actor_id else set()
    for record in (event.before, event.after):
        if not isinstance(record, dict):
            continue
        ids.update(record[k] for k in USER_KEYS if isinstance(record.get(k), int))
        ids.update(u for u in record.get("attendees") or [] if isinstance(u, int))
    return ids


def represent(events: list[ChangeEvent]) -> list[dict[str, Any]]:
    """Events as the feed shows them; people appear by their public id (one query for all)."""
    ids = set().union(*(_user_ids(e) for e in events)) if events else set()
    people: dict[int, str] = {}
    if ids:
        people = {pk: str(public) for pk, public in User.objects.filter(pk__in=ids).values_list("pk", "public_id")}
    out = []
    for e in events:
        data = _map_users(e.after, people) if e.action != ChangeEvent.Action.DELETE else None
        out.append({
            "cursor": encode_cursor((e.txid, e.seq)),
            "partnership": str(e.partnership_id),
            "type": TYPE_NAMES.get(e.object_type, e.object_type),
            "id": str(e.object_id),
            "action": e.action,
            "version": (data or {}).get("version") if isinstance((data or {}).get("version"), int) else None,
            "at": e.created_at,
            "actor": {"id": people.get(e.actor_id) if e.actor_id else None, "name": e.actor_label},
            "summary": e.summary,
            "data": data,
        })
    return out


@transaction.atomic
def change_events_prune(*, now: dt.datetime | None = None) -> int:
    """Delete change events older than ``CHANGE_EVENT_RETENTION_DAYS`` and move the watermark past
    them, so that a client whose cursor is older learns it must re-sync (410)."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.CHANGE_EVENT_RETENTION_DAYS)
    old = ChangeEvent.objects.filter(created_at__lt=cutoff)
    last = old.order_by("-txid", "-seq").values_list("txid", "seq").first()
    if last is None:
        return 0
    mark, _ = FeedWatermark.objects.select_for_update().get_or_create(pk=1)
    if tuple(last) > mark.position:
        mark.txid, mark.seq = last
    mark.pruned_at = timezone.now()
    mark.save()
    deleted, _ = old.delete()
    return deleted
