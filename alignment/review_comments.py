"""Comments on an alignment review, as on a goal: any member, viewers included, may comment; only
the author may delete their comment. Each change is recorded in the change log (the API's feed,
live updates and history), in the same transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.errors import InvalidInput, NotAllowed
from core.writes import check_version, find, free_id, insert, lock, validate
from core.writes import text as text_input

from .access import Access
from .changes import record_change
from .models import AlignmentReview, ChangeEvent, ReviewComment


@transaction.atomic
def review_comment_create(*, access: Access, review_id: Any, body: str, id: Any = None) -> ReviewComment:
    """Comment on a review of the caller's partnership; recorded as theirs."""
    review = find(AlignmentReview.objects.filter(partnership=access.partnership), review_id)
    if review is None:
        raise InvalidInput("No such review in this partnership.", fields={"review": ["No such review."]})
    c = ReviewComment(review=review, author=access.user, side=access.side, body=text_input(body, "body"))
    if not c.body:
        raise InvalidInput("Write something first.", fields={"body": ["This field is required."]})
    if id is not None:
        c.id = free_id(ReviewComment, id, "comment")
    validate(c, exclude=["review", "author"])
    insert(c, "comment")
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=c,
        action=ChangeEvent.Action.CREATE,
        summary=f"commented on the review “{review}”",
    )
    return c


@transaction.atomic
def review_comment_delete(*, access: Access, comment_id: Any, expected_version: int | None = None) -> None:
    """Only the author deletes a comment of theirs."""
    c = lock(ReviewComment.objects.filter(review__partnership=access.partnership), comment_id, "comment")
    if c.author_id != access.user.pk:
        raise NotAllowed("Only the author may delete a comment.")
    check_version(c, expected_version)
    before = c.to_record()
    c.delete()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=c,
        action=ChangeEvent.Action.DELETE,
        before=before,
        summary="deleted a comment on a review",
    )
