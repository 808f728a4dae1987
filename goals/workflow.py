"""What every goal service shares: locking a goal of the caller's partnership, recording a change,
opening a new revision when terms change, and writing a commitment. The services that use them
are in ``goals.services`` (the goal itself), ``goals.commitments``, ``goals.check_ins`` and
``goals.comments``; callers use those, never this module."""

from __future__ import annotations

import datetime as dt
from typing import Any

from accounts.models import User
from alignment.access import Access
from alignment.changes import record_change
from alignment.models import ChangeEvent, PartnershipMember, Side
from core.errors import InvalidInput
from core.writes import free_id, insert, lock, validate
from core.writes import text as text_input

from .models import Commitment, Goal, GoalRevision, GoalStatus, RevisionState
from .rules import closed_refusal

CREATE, UPDATE, DELETE = ChangeEvent.Action.CREATE, ChangeEvent.Action.UPDATE, ChangeEvent.Action.DELETE


def lock_goal(access: Access, goal_id: Any) -> Goal:
    return lock(Goal.objects.filter(partnership=access.partnership), goal_id, "goal")


def record(
    access: Access,
    obj: Any,
    action: str,
    before: dict[str, Any] | None = None,
    summary: str = "",
    after: dict[str, Any] | None = None,
) -> None:
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=obj,
        action=action,
        before=before,
        after=after,
        summary=summary,
    )


def refuse_if_closed(goal: Goal) -> None:
    refusal = closed_refusal(goal)
    if refusal is not None:
        raise refusal


def open_revision(goal: Goal) -> None:
    """Before a change of terms: start a new revision unless the working one is still open."""
    refuse_if_closed(goal)
    if goal.revision_open:
        return
    goal.revision += 1
    goal.revision_open = True
    if goal.status == GoalStatus.AGREED:
        goal.amendment = RevisionState.DRAFT
    else:
        goal.status = GoalStatus.DRAFT


def touch_goal_terms(access: Access, goal: Goal, summary: str) -> None:
    """A commitment (part of the terms) changed: the goal opens a new revision, like any change of terms."""
    before = goal.to_record()
    open_revision(goal)
    goal.bump()
    goal.save()
    record(access, goal, UPDATE, before, summary=summary)


def complete_revision(goal: Goal) -> None:
    """A commitment the proposed revision was waiting for was written (``rules.completes_revision``):
    it becomes part of the revision as proposed, and the approvals given stand."""
    GoalRevision.objects.filter(goal=goal, number=goal.revision).update(
        commitments=[c.terms() for c in goal.commitments.all()]
    )


def owner_for(access: Access, side: str, owner: Any) -> User | None:
    """The owner of a commitment: a member of the commitment's side, or nobody."""
    if owner in (None, ""):
        return None
    owner_id = owner.pk if isinstance(owner, User) else owner
    member = (
        PartnershipMember.objects.filter(partnership=access.partnership, side=side, user_id=owner_id)
        .select_related("user")
        .first()
    )
    if member is None:
        raise InvalidInput(
            f"The owner must be a member of the {side} side.", fields={"owner": [f"Not a member of the {side} side."]}
        )
    return member.user


def commitment_insert(
    access: Access,
    goal: Goal,
    *,
    side: str,
    text: str = "",
    owner: Any = None,
    due_date: dt.date | None = None,
    placeholder: bool = False,
    id: Any = None,
    position: int | None = None,
) -> Commitment:
    """Write one commitment of ``goal`` and record it (the caller has locked the goal)."""
    if side not in Side.values:
        raise InvalidInput(
            "A commitment belongs to the vendor or the partner side.", fields={"side": ["Choose vendor or partner."]}
        )
    text = text_input(text, "text")
    if not text:
        raise InvalidInput("Say what this side will do.", fields={"text": ["This field is required."]})
    c = Commitment(
        goal=goal,
        side=side,
        text=text,
        owner=owner_for(access, side, owner),
        due_date=due_date,
        placeholder=placeholder,
        position=position or 0,
    )
    if id is not None:
        c.id = free_id(Commitment, id, "commitment")
    validate(c, exclude=["goal", "owner"])
    insert(c, "commitment")
    record(access, c, CREATE, summary=f"added a {side} commitment to “{goal.title}”")
    return c
