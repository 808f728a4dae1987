"""What each side commits to for a goal. Commitments are terms: changing one on a proposed or
agreed goal opens a new revision (or an amendment), like any other term, with one exception: the
first commitment of a side that has none, on a proposed revision, completes that revision (the
other side may have approved it subject to this commitment; ``goals.rules.completes_revision``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from alignment.access import Access
from core.errors import InvalidInput, NotAllowed, RuleViolation
from core.writes import check_version, lock, model_update, validate
from core.writes import text as text_input

from .models import Commitment, GoalStatus
from .rules import committed_sides, completes_revision
from .workflow import (
    DELETE,
    UPDATE,
    commitment_insert,
    complete_revision,
    lock_goal,
    owner_for,
    record,
    refuse_if_closed,
    touch_goal_terms,
)

COMMITMENT_TERMS = ("text", "owner", "due_date", "position", "side")


@transaction.atomic
def commitment_create(
    *,
    access: Access,
    goal_id: Any,
    side: str,
    text: str,
    owner: Any = None,
    due_date: dt.date | None = None,
    id: Any = None,
) -> Commitment:
    """Add what one side will do. Commitments are terms: on a proposed or agreed goal this opens a
    new revision (or an amendment)."""
    access.require_edit("add commitments")
    goal = lock_goal(access, goal_id)
    refuse_if_closed(goal)
    completing = completes_revision(goal, side, committed_sides(goal.commitments.all()))
    position = goal.commitments.filter(side=side).count() + 1
    c = commitment_insert(access, goal, side=side, text=text, owner=owner, due_date=due_date, id=id, position=position)
    if completing:
        complete_revision(goal)
    else:
        touch_goal_terms(access, goal, f"changed the commitments of “{goal.title}”")
    return c


@transaction.atomic
def commitment_update(
    *, access: Access, commitment_id: Any, expected_version: int | None = None, **changes: Any
) -> Commitment:
    """Edit a commitment's terms, or mark it done (marking done is not a change of terms; only the
    committed side marks its own work done)."""
    access.require_edit("edit commitments")
    c = lock(Commitment.objects.filter(goal__partnership=access.partnership), commitment_id, "commitment")
    check_version(c, expected_version)
    goal = lock_goal(access, c.goal_id)
    if "owner" in changes:
        changes["owner"] = owner_for(access, changes.get("side", c.side), changes["owner"])
    if "text" in changes:
        changes["text"] = text_input(changes["text"], "text")
        if not changes["text"]:
            raise InvalidInput("Say what this side will do.", fields={"text": ["This field is required."]})
    # Writing the placeholder of a side that has no commitment completes a proposed revision.
    completing = c.placeholder and completes_revision(goal, c.side, committed_sides(goal.commitments.all()))
    if "done" in changes and changes["done"] is not None:
        changes["done"] = bool(changes["done"])
    else:
        changes.pop("done", None)

    def clean(c: Commitment, changed: dict[str, Any]) -> None:
        if "done" in changed:
            if c.side != access.side:
                raise NotAllowed(f"Only the {c.side} side marks its own commitments done.")
            if goal.status != GoalStatus.AGREED:
                raise RuleViolation("Commitments are marked done on agreed goals.", code="commitment.goal_not_agreed")
            c.done_at = timezone.now() if c.done else None
        if set(changed) - {"done"}:
            refuse_if_closed(goal)
            if "text" in changed:
                c.placeholder = False
            if set(changed) - {"done", "position"}:
                c.drafted_by, c.drafted_by_side = access.user, access.side
                # New terms (a new revision, or completing one its side has not approved): not
                # approved yet; set here so the commitment changes once, not twice.
                c.own_side_approved = False
        validate(c, exclude=["goal", "owner"])

    def log(c: Commitment, before: dict[str, Any], changed: dict[str, Any]) -> None:
        record(access, c, UPDATE, before, summary=f"updated a {c.side} commitment of “{goal.title}”")
        terms = set(changed) - {"done"}
        if terms and completing and "side" not in terms and not c.placeholder:
            complete_revision(goal)
        elif terms:
            touch_goal_terms(access, goal, f"changed the commitments of “{goal.title}”")

    return model_update(c, changes=changes, allowed=(*COMMITMENT_TERMS, "done"), clean=clean, record=log).obj


@transaction.atomic
def commitment_delete(*, access: Access, commitment_id: Any, expected_version: int | None = None) -> None:
    access.require_edit("remove commitments")
    c = lock(Commitment.objects.filter(goal__partnership=access.partnership), commitment_id, "commitment")
    check_version(c, expected_version)
    goal = lock_goal(access, c.goal_id)
    refuse_if_closed(goal)
    before = c.to_record()
    c.delete()
    record(access, c, DELETE, before, summary=f"removed a {before['side']} commitment of “{goal.title}”")
    touch_goal_terms(access, goal, f"changed the commitments of “{goal.title}”")
