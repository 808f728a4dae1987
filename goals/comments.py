"""Comments on a goal; any member, viewers included, may comment."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from alignment.access import Access
from core.errors import InvalidInput, NotAllowed
from core.writes import check_version, find, free_id, insert, lock, model_update, validate
from core.writes import text as text_input

from .models import Comment, Goal
from .workflow import CREATE, DELETE, UPDATE, record


@transaction.atomic
def comment_create(*, access: Access, goal_id: Any, body: str, id: Any = None) -> Comment:
    """Any member, viewers included, may comment on a goal."""
    goal = find(Goal.objects.filter(partnership=access.partnership), goal_id)
    if goal is None:
        raise InvalidInput("No such goal in this partnership.", fields={"goal": ["No such goal."]})
    c = Comment(goal=goal, author=access.user, side=access.side, revision=goal.revision, body=text_input(body, "body"))
    if not c.body:
        raise InvalidInput("Write something first.", fields={"body": ["This field is required."]})
    if id is not None:
        c.id = free_id(Comment, id, "comment")
    validate(c, exclude=["goal", "author"])
    insert(c, "comment")
    record(access, c, CREATE, summary=f"commented on “{goal.title}”")
    return c


def _lock_own_comment(access: Access, comment_id: Any) -> Comment:
    c = lock(Comment.objects.filter(goal__partnership=access.partnership), comment_id, "comment")
    if c.author_id != access.user.pk:
        raise NotAllowed("Only the author may change a comment.")
    return c


@transaction.atomic
def comment_update(*, access: Access, comment_id: Any, body: str, expected_version: int | None = None) -> Comment:
    c = _lock_own_comment(access, comment_id)
    check_version(c, expected_version)
    body = text_input(body, "body")
    if not body:
        raise InvalidInput("Write something first.", fields={"body": ["This field is required."]})
    return model_update(
        c,
        changes={"body": body},
        allowed=("body",),
        expected_version=expected_version,
        clean=lambda c, changed: validate(c, exclude=["goal", "author"]),
        record=lambda c, before, changed: record(access, c, UPDATE, before, summary="edited a comment"),
    ).obj


@transaction.atomic
def comment_delete(*, access: Access, comment_id: Any, expected_version: int | None = None) -> None:
    c = _lock_own_comment(access, comment_id)
    check_version(c, expected_version)
    before = c.to_record()
    c.delete()
    record(access, c, DELETE, before, summary="deleted a comment")
