"""Recording an alignment review as held: the review workflow that needs the whole plan (the
status of every open goal and the plan's health at that moment), so it lives above goals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from alignment.access import Access
from alignment.changes import record_change
from alignment.models import AlignmentReview, ChangeEvent, PartnershipMember
from alignment.services import lock_review, partnership_zone, review_schedule
from core.errors import InvalidInput, RuleViolation
from core.writes import check_version, convert, validate
from goals.queries import goal_status_snapshot

from .health import partnership_health


@transaction.atomic
def review_hold(
    *,
    access: Access,
    review_id: Any,
    held_on: dt.date,
    attendees: list[User] | None = None,
    other_attendees: str = "",
    notes: str = "",
    decisions: str = "",
    expected_version: int | None = None,
    schedule_next: bool = True,
) -> AlignmentReview:
    """Record a review as held, with a snapshot of every open goal's status and the plan's health,
    and schedule the next occurrence of the cadence. A review recorded days after it was held
    snapshots the goals as they were on ``held_on`` (``goal_status_snapshot``)."""
    access.require_edit("record reviews")
    held_on = convert(AlignmentReview._meta.get_field("held_on"), held_on, "held_on")
    if held_on is None:
        raise InvalidInput(
            gettext("Say when the review was held."), fields={"held_on": [gettext("This field is required.")]}
        )
    review = lock_review(access, review_id)
    check_version(review, expected_version)
    if review.status == AlignmentReview.Status.HELD:
        raise RuleViolation(gettext("This review is recorded as held already."), code="review.already_held")
    if held_on > timezone.localdate() + dt.timedelta(days=1):
        raise InvalidInput(
            gettext("A review cannot be held in the future."),
            fields={"held_on": [gettext("Must not be in the future.")]},
        )
    allowed_people = set(
        PartnershipMember.objects.filter(partnership=access.partnership).values_list("user_id", flat=True)
    )
    people = list(attendees or [])
    strangers = [u for u in people if u.pk not in allowed_people]
    if strangers:
        # Never echo who they are: the caller may have guessed ids of people outside the partnership.
        strangers_message = gettext("%(n)s of them are not members of this partnership.")
        raise InvalidInput(
            gettext("Attendees must be members of this partnership."),
            fields={"attendees": [strangers_message % {"n": len(strangers)}]},
        )
    before = review.to_record()
    review.status = AlignmentReview.Status.HELD
    review.held_on = held_on
    review.notes = notes
    review.decisions = decisions
    review.other_attendees = other_attendees
    held_before_today = held_on < timezone.localtime(timezone=partnership_zone(access.partnership)).date()
    review.goal_snapshot = goal_status_snapshot(access.partnership, as_of=held_on if held_before_today else None)
    review.health_score = partnership_health(access.partnership).score
    validate(review, exclude=["partnership", "attendees"])
    review.bump()
    review.save()
    review.attendees.set(people)
    after = review.to_record() | {"attendees": [u.pk for u in people]}
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=review,
        action=ChangeEvent.Action.UPDATE,
        before=before,
        after=after,
        summary="recorded a review",
    )
    if schedule_next and not access.partnership.reviews.filter(status=AlignmentReview.Status.SCHEDULED).exists():
        review_schedule(access=access)
    return review
