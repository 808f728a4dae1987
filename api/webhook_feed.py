"""The events an organisation's webhooks send, as the change feed shows them.

``plans.webhooks`` decides which events go where and when; the feed's representation of an event
lives here in the API layer, so the sweep's task (``api.tasks.webhooks_sweep``) hands it this
loader. A webhook thus carries the very event ``GET /api/v1/changes`` serves to a service token
of the organisation: the same keys, formats and people ids.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import Case, F, Q, TextField, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from rest_framework.renderers import JSONRenderer

from alignment.changes import FEED_BOUNDS, feed_queryset
from alignment.models import ChangeEvent, Partnership, Side
from plans.webhooks import FeedEvent

from .feed import EVENT_FIELDS, represent

BEFORE_FIELDS = ("before_status", "before_amendment", "before_agreed_revision")


def _bounds() -> tuple[int, int | None] | None:
    """The feed's horizon and the reader's own transaction id, read once (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(FEED_BOUNDS)
        horizon, own = cursor.fetchone()
    return int(horizon), (None if own is None else int(own))


def load_events(
    *, organisation_id: Any, after: tuple[int, int], limit: int
) -> tuple[list[FeedEvent], tuple[int, int] | None]:
    """Up to ``limit`` events after ``after`` (feed order) of the partnerships whose vendor or
    partner is the organisation, represented as the feed does; and, when that is all of them, the
    feed's end under the same bounds: no event of the organisation can appear before it any more,
    so the sweep moves its mark there and the next read starts near the end of the log, however
    long the organisation has been quiet. (Read in one transaction with the same bounds, both see
    the same settled history; on SQLite the transaction's snapshot does the same.)"""
    uuid_text = (lambda name: Cast(name, output_field=TextField())) if connection.vendor == "postgresql" else F
    partnerships = Partnership.objects.filter(Q(vendor_id=organisation_id) | Q(partner_id=organisation_id))
    bounds = _bounds()
    rows = list(
        feed_queryset(after=after, bounds=bounds)
        .filter(partnership_id__in=partnerships.values("pk"))
        .filter(_side_of(organisation_id))
        .annotate(
            after_text=Cast("after", output_field=TextField()),
            deleted_version=Case(
                When(action=ChangeEvent.Action.DELETE, then=KT("before__version")), output_field=TextField()
            ),
            partnership_key=uuid_text("partnership_id"),
            object_key=uuid_text("object_id"),
            **{name: _before_of_goal(name.removeprefix("before_")) for name in BEFORE_FIELDS},
        )
        .values_list(*EVENT_FIELDS, *BEFORE_FIELDS, named=True)[:limit]
    )
    end = None
    if len(rows) < limit:
        last = feed_queryset(bounds=bounds).order_by("-txid", "-seq").values_list("txid", "seq").first()
        end = (int(last[0]), int(last[1])) if last else None
    if not rows:
        return [], end
    documents, _exact = represent(rows)
    renderer = JSONRenderer()
    events = [
        FeedEvent(
            position=(int(row.txid), int(row.seq)),
            # Through the API's own JSON encoder: times, decimals and ids as the feed writes them.
            document=_plain(renderer, document),
            before={
                "status": row.before_status,
                "amendment": row.before_amendment,
                "agreed_revision": row.before_agreed_revision,
            },
        )
        for row, document in zip(rows, documents, strict=True)
    ]
    return events, end


def _side_of(organisation_id: Any) -> Q:
    """Events the organisation may be sent: those both sides see, and those only its side sees (its
    own private figures) in the partnerships where it is that side."""
    vendor_of = Partnership.objects.filter(vendor_id=organisation_id).values("pk")
    partner_of = Partnership.objects.filter(partner_id=organisation_id).values("pk")
    return (
        Q(side_only__isnull=True)
        | Q(side_only=Side.VENDOR, partnership_id__in=vendor_of)
        | Q(side_only=Side.PARTNER, partnership_id__in=partner_of)
    )


def _before_of_goal(key: str) -> Case:
    """A fact of a goal before an update (what tells a workflow step from an edit); null otherwise."""
    goal_update = Q(object_type="goal", action=ChangeEvent.Action.UPDATE)
    return Case(When(goal_update, then=KT(f"before__{key}")), output_field=TextField())


def _plain(renderer: JSONRenderer, document: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(renderer.render(document)))
