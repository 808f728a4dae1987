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

from .models import Approval, Commitment, Goal, GoalRevision, GoalStatus, RevisionState
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
    """Record a change. A goal's update also records what follows from it for everyone who keeps a
    copy of the plan (``after_goal_change``): the agreed revision that is in force beside a pending
    amendment, and which commitments their own side has approved."""
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=obj,
        action=action,
        before=before,
        after=after,
        summary=summary,
    )
    if isinstance(obj, Goal) and action == UPDATE and before is not None:
        after_goal_change(access, obj, before)


IN_FORCE = {GoalStatus.AGREED, GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED}


def _pending_amendment(status: Any, amendment: Any) -> bool:
    return status == GoalStatus.AGREED and bool(amendment)  # Goal.has_pending_amendment


def after_goal_change(access: Access, goal: Goal, before: dict[str, Any]) -> None:
    """What a change of a goal (saved, ``before`` its record) means for the other objects of the plan.

    - The agreed revision stays in force while an amendment is negotiated: it appears in the plan
      when an amendment opens and leaves it when the amendment is agreed or discarded. Both are
      recorded (as a create and a delete of the ``GoalRevision``), so a copy of the plan kept from
      the change log holds exactly what ``/plan`` holds.
    - Each commitment says whether its own side approved the revision it belongs to.
    """
    was = _pending_amendment(before.get("status"), before.get("amendment"))
    now = goal.has_pending_amendment
    if was != now:
        number = goal.agreed_revision if now else before.get("agreed_revision")
        revision = GoalRevision.objects.filter(goal=goal, number=int(number)).first() if number else None
        if revision is not None:
            record_change(
                actor=access.user,
                partnership=access.partnership,
                obj=revision,
                action=CREATE if now else DELETE,
                before=None if now else revision.to_record(),
                after=revision.to_record() if now else None,
                summary=f"{'opened an amendment of' if now else 'settled the amendment of'} “{goal.title}”",
            )
    sync_commitment_approvals(access, goal)


def own_side_approved(goal: Goal, side: str, approved_sides: set[str]) -> bool:
    """Whether a commitment of ``side`` is approved by its own side: the goal is in force on its
    current revision (agreed, or closed after agreement, with no amendment pending), or that side
    approved the goal's current revision."""
    in_force = goal.status in IN_FORCE and goal.agreed_revision is not None and not goal.amendment
    return in_force or side in approved_sides


def approved_sides(goal: Goal) -> set[str]:
    return set(Approval.objects.filter(goal=goal, revision=goal.revision).values_list("side", flat=True))


def sync_commitment_approvals(access: Access, goal: Goal) -> None:
    """Bring every commitment's ``own_side_approved`` up to date with the goal (locked) and its
    approvals, recording each commitment that changes (its version grows: its representation did)."""
    sides = approved_sides(goal)
    for c in Commitment.objects.filter(goal=goal).select_for_update(of=("self",)):
        wanted = own_side_approved(goal, c.side, sides)
        if c.own_side_approved != wanted:
            before = c.to_record()
            c.own_side_approved = wanted
            c.bump()
            c.save(update_fields=["own_side_approved", "version", "updated_at"])
            record(
                access,
                c,
                UPDATE,
                before,
                summary=(
                    f"approved the {c.side} side's commitment to “{goal.title}”"
                    if wanted
                    else f"reopened the {c.side} side's commitment to “{goal.title}” for approval"
                ),
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
        drafted_by=access.user,
        drafted_by_side=access.side,
        # A new commitment changes the terms (a new revision) or completes a revision its side has
        # not approved yet (a side approves only with a commitment of its own): not approved.
        own_side_approved=False,
    )
    if id is not None:
        c.id = free_id(Commitment, id, "commitment")
    validate(c, exclude=["goal", "owner"])
    insert(c, "commitment")
    record(access, c, CREATE, summary=f"added a {side} commitment to “{goal.title}”")
    return c
