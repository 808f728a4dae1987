"""The rule "the next review" of a partnership, in one place: the dashboard, the digest, the print
view, the plan header and the API all show what this returns.

The next review is the earliest review still scheduled, including one whose time has passed and
that nobody recorded yet (it is overdue, and still the next thing to hold), unless it is more
than ``REVIEW_LOOKBACK`` in the past: such a review is left to the review pages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Min, Q

from .models import AlignmentReview

REVIEW_LOOKBACK = dt.timedelta(days=60)


def is_next_review_candidate(status: str, scheduled_for: dt.datetime, now: dt.datetime) -> bool:
    """Can a review with this status and time be a partnership's next one?"""
    return status == AlignmentReview.Status.SCHEDULED and scheduled_for >= now - REVIEW_LOOKBACK


def next_review_filter(now: dt.datetime) -> Q:
    """``is_next_review_candidate`` as a filter on reviews."""
    return Q(status=AlignmentReview.Status.SCHEDULED, scheduled_for__gte=now - REVIEW_LOOKBACK)


def next_review_time(reviews: Iterable[tuple[str, dt.datetime]], now: dt.datetime) -> dt.datetime | None:
    """When the next review is, among one partnership's loaded reviews (status, time)."""
    return min((when for status, when in reviews if is_next_review_candidate(status, when, now)), default=None)


def next_reviews(partnership_ids: Iterable[Any], now: dt.datetime) -> dict[Any, AlignmentReview]:
    """The next review of each partnership that has one (one query)."""
    found: dict[Any, AlignmentReview] = {}
    for review in AlignmentReview.objects.filter(
        next_review_filter(now), partnership_id__in=list(partnership_ids)
    ).order_by("partnership_id", "scheduled_for", "created_at"):
        found.setdefault(review.partnership_id, review)
    return found


def next_review_times(partnership_ids: Iterable[Any], now: dt.datetime) -> dict[Any, dt.datetime]:
    """When the next review of each partnership is, counted in the database (one query, one row
    per partnership: for lists of many partnerships)."""
    return dict(
        AlignmentReview.objects.filter(next_review_filter(now), partnership_id__in=partnership_ids)
        .values("partnership_id")
        .annotate(first=Min("scheduled_for"))
        .values_list("partnership_id", "first")
    )
