"""What each side commits to for a goal. Commitments are terms: changing one on a proposed or
agreed goal opens a new revision (or an amendment), like any other term."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from alignment.access import Access
from alignment.errors import InvalidInput, NotAllowed, RuleViolation
from alignment.models import PartnershipMember, Side
from alignment.writes import apply_changes, check_version, free_id, insert, lock, validate
from alignment.writes import text as text_input

from .models import Commitment, Goal, GoalStatus
from .services import CREATE, DELETE, UPDATE, _lock_goal, _open_revision, _record, _refuse_if_closed

COMMITMENT_TERMS = ("text", "owner", "due_date", "position", "side")


def _owner_for(access: Access, side: str, owner: Any) -> User | None:
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


def _commitment_insert(
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
        owner=_owner_for(access, side, owner),
        due_date=due_date,
        placeholder=placeholder,
        position=position or 0,
    )
    if id is not None:
        c.id = free_id(Commitment, id, "commitment")
    validate(c, exclude=["goal", "owner"])
    insert(c, "commitment")
    _record(access, c, CREATE, summary=f"added a {side} commitment to “{goal.title}”")
    return c


def _touch_goal_terms(access: Access, goal: Goal, summary: str) -> None:
    before = goal.to_record()
    _open_revision(goal)
    goal.bump()
    goal.save()
    _record(access, goal, UPDATE, before, summary=summary)


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
    goal = _lock_goal(access, goal_id)
    _refuse_if_closed(goal)
    position = goal.commitments.filter(side=side).count() + 1
    c = _commitment_insert(access, goal, side=side, text=text, owner=owner, due_date=due_date, id=id, position=position)
    _touch_goal_terms(access, goal, f"changed the commitments of “{goal.title}”")
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
    goal = _lock_goal(access, c.goal_id)
    before = c.to_record()
    done = changes.pop("done", None)
    if "owner" in changes:
        changes["owner"] = _owner_for(access, changes.get("side", c.side), changes["owner"])
    if "text" in changes:
        changes["text"] = text_input(changes["text"], "text")
        if not changes["text"]:
            raise InvalidInput("Say what this side will do.", fields={"text": ["This field is required."]})
    changed = apply_changes(c, changes, COMMITMENT_TERMS)
    if done is not None and bool(done) != c.done:
        if c.side != access.side:
            raise NotAllowed(f"Only the {c.side} side marks its own commitments done.")
        if goal.status != GoalStatus.AGREED:
            raise RuleViolation("Commitments are marked done on agreed goals.", code="commitment.goal_not_agreed")
        c.done = bool(done)
        c.done_at = timezone.now() if c.done else None
        changed["done"] = not c.done
    if not changed:
        return c
    term_change = bool(set(changed) - {"done"})
    if term_change:
        _refuse_if_closed(goal)
        if "text" in changed:
            c.placeholder = False
    validate(c, exclude=["goal", "owner"])
    c.bump()
    c.save()
    _record(access, c, UPDATE, before, summary=f"updated a {c.side} commitment of “{goal.title}”")
    if term_change:
        _touch_goal_terms(access, goal, f"changed the commitments of “{goal.title}”")
    return c


@transaction.atomic
def commitment_delete(*, access: Access, commitment_id: Any, expected_version: int | None = None) -> None:
    access.require_edit("remove commitments")
    c = lock(Commitment.objects.filter(goal__partnership=access.partnership), commitment_id, "commitment")
    check_version(c, expected_version)
    goal = _lock_goal(access, c.goal_id)
    _refuse_if_closed(goal)
    before = c.to_record()
    c.delete()
    _record(access, c, DELETE, before, summary=f"removed a {before['side']} commitment of “{goal.title}”")
    _touch_goal_terms(access, goal, f"changed the commitments of “{goal.title}”")
