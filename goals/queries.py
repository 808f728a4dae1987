"""Reads of goals that several parts of Partnerplan share."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from alignment.models import Partnership, Side

from .models import CLOSED, Approval, CheckIn, CheckInReview, Goal, GoalRevision, GoalStatus


def latest_check_ins(goal_ids: Iterable[Any]) -> dict[tuple[Any, str], CheckIn]:
    """The latest check-in of each (goal, side) that shows, in one query.

    One home of the two-key rule for what a figure shows: confirmed and unconfirmed figures do
    (marked as unconfirmed where they show), a disputed one does not until the sides settle it
    (the latest undisputed figure shows meanwhile). Progress, confidence, the dashboard and the
    review agenda read figures here; the freshness of health reads ``confirmed_figures``."""
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


def confirmed_figures(goal_ids: Iterable[Any]) -> dict[tuple[Any, str], dict[str, Any]]:
    """Per (goal, side) with figures: the day of the latest figure the other side confirmed
    (``confirmed_on``, None while none is) and how many of the side's figures wait for the other
    side's confirmation (``waiting``), in one query.

    The other home of the two-key rule, for health: only a figure the other side confirmed (or
    the sides settled, which confirms it) counts for the freshness of check-ins; an unconfirmed
    one waits and does not count yet, a disputed one counts for neither."""
    ids = list(goal_ids)
    if not ids:
        return {}
    rows = (
        CheckIn.objects.filter(goal_id__in=ids)
        .values("goal_id", "side")
        .annotate(
            confirmed_on=Max("measured_on", filter=Q(review=CheckInReview.CONFIRMED)),
            waiting=Count("pk", filter=Q(review=CheckInReview.UNCONFIRMED)),
        )
        .order_by()
    )
    return {
        (row["goal_id"], row["side"]): {"confirmed_on": row["confirmed_on"], "waiting": row["waiting"]}
        for row in rows
        if row["confirmed_on"] is not None or row["waiting"]
    }


def goal_status_snapshot(partnership: Partnership, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Every open goal with its status and latest value (for a held review).

    With ``as_of`` (a review recorded after the day it was held), the plan as it was at the end of
    that day in the partnership's timezone: the goals created by then and not closed by then, the
    latest value measured on or before that day, and each goal's status that day, read from its
    history in the same query: ``agreed`` if both sides had approved one revision by then, else
    ``proposed`` if a revision had been put to them (a request for changes in between is not told
    apart), else ``draft``; a goal unchanged since keeps its status. Terms (title, target,
    revision) are the goal's current ones, and a figure disputed since is left out as it is today.
    Two queries either way."""
    goals_qs = Goal.objects.filter(partnership=partnership)
    end = None
    if as_of is None:
        goals_qs = goals_qs.exclude(status__in=CLOSED)
    else:
        end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min, zoneinfo.ZoneInfo(partnership.timezone))
        partner_approved = Approval.objects.filter(
            goal_id=OuterRef("goal_id"), revision=OuterRef("revision"), side=Side.PARTNER, created_at__lt=end
        )
        goals_qs = (
            goals_qs.filter(created_at__lt=end)
            .filter(Q(closed_at__gte=end) | (Q(closed_at__isnull=True) & ~Q(status__in=CLOSED)))
            .annotate(
                agreed_then=Exists(
                    Approval.objects.filter(goal_id=OuterRef("pk"), side=Side.VENDOR, created_at__lt=end).filter(
                        Exists(partner_approved)
                    )
                ),
                proposed_then=Exists(GoalRevision.objects.filter(goal_id=OuterRef("pk"), created_at__lt=end)),
            )
        )
    goals = list(goals_qs.order_by("period_start"))
    if as_of is None:
        latest = latest_check_ins(g.pk for g in goals)
    else:
        # What ``latest_check_ins`` shows (a disputed figure is left out), up to that day.
        latest = {}
        measured = (
            CheckIn.objects.filter(goal_id__in=[g.pk for g in goals], measured_on__lte=as_of)
            .exclude(review=CheckInReview.DISPUTED)
            .order_by("goal_id", "side", "-measured_on", "-created_at")
        )
        for c in measured:
            latest.setdefault((c.goal_id, c.side), c)
    snapshot = []
    for g in goals:
        values = [c for c in (latest.get((g.pk, "vendor")), latest.get((g.pk, "partner"))) if c]
        newest = max(values, key=lambda c: (c.measured_on, c.created_at), default=None)
        status, agreed_revision = str(g.status), g.agreed_revision
        if end is not None and g.updated_at >= end:
            # Annotated above (``agreed_then``, ``proposed_then``).
            if getattr(g, "agreed_then", False):
                status = GoalStatus.AGREED.value
            else:
                status = (GoalStatus.PROPOSED if getattr(g, "proposed_then", False) else GoalStatus.DRAFT).value
                agreed_revision = None
        snapshot.append(
            {
                "goal": str(g.pk),
                "title": g.title,
                "status": status,
                "revision": g.revision,
                "agreed_revision": agreed_revision,
                "target": str(g.target),
                "unit": g.metric_unit,
                "latest_value": str(newest.value) if newest else None,
                "progress": g.progress(newest.value if newest else None),
                "confidence": {c.side: c.confidence for c in values},
            }
        )
    return snapshot
