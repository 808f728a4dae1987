"""Reads of goals that several parts of Partnerplan share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from alignment.models import Partnership

from .models import CLOSED, CheckIn, CheckInReview, Goal


def latest_check_ins(goal_ids: Iterable[Any]) -> dict[tuple[Any, str], CheckIn]:
    """The latest check-in of each (goal, side) that counts, in one query.

    This is the one home of the two-key rule for what counts: confirmed and unconfirmed figures
    do, a disputed one does not until the sides settle it (the latest undisputed figure counts
    meanwhile). Health, progress, the dashboard and the review agenda all read figures here."""
    ids = list(goal_ids)
    if not ids:
        return {}
    qs: QuerySet[CheckIn] = (
        CheckIn.objects.filter(goal_id__in=ids)
        .exclude(review=CheckInReview.DISPUTED)
        .order_by("goal_id", "side", "-measured_on", "-created_at")
    )
    if connection.vendor == "postgresql":
        return {(c.goal_id, c.side): c for c in qs.distinct("goal_id", "side")}
    latest: dict[tuple[Any, str], CheckIn] = {}
    for c in qs:
        latest.setdefault((c.goal_id, c.side), c)
    return latest


def goal_status_snapshot(partnership: Partnership) -> list[dict[str, Any]]:
    """Every open or recently closed goal with its status and latest value (for a held review)."""
    goals = list(Goal.objects.filter(partnership=partnership).exclude(status__in=CLOSED).order_by("period_start"))
    latest = latest_check_ins(g.pk for g in goals)
    snapshot = []
    for g in goals:
        values = [c for c in (latest.get((g.pk, "vendor")), latest.get((g.pk, "partner"))) if c]
        newest = max(values, key=lambda c: (c.measured_on, c.created_at), default=None)
        snapshot.append(
            {
                "goal": str(g.pk),
                "title": g.title,
                "status": g.status,
                "revision": g.revision,
                "agreed_revision": g.agreed_revision,
                "target": str(g.target),
                "unit": g.metric_unit,
                "latest_value": str(newest.value) if newest else None,
                "progress": g.progress(newest.value if newest else None),
                "confidence": {c.side: c.confidence for c in values},
            }
        )
    return snapshot
