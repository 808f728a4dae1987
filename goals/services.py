"""The goal workflow, enforced in one place for the browser and the API.

    draft ──propose──▶ proposed ──both sides approve the same revision──▶ agreed ──close──▶ achieved/missed/dropped
      ▲                   │ request changes (with a comment)                 │ edit terms = amendment
      └── edit ◀── changes_requested                                          ▼ (agreed revision stays in force)

- Either side may propose. A goal becomes ``agreed`` only when both sides' approvers approved the
  same revision, and only with at least one real commitment from each side (the no-quota rule).
- Editing the terms of a proposed revision opens a new revision; approvals are per revision, so
  approvals of the old one no longer count.
- Editing the terms of an agreed goal opens an *amendment*: a new revision negotiated the same way
  while ``agreed_revision`` stays in force and readable (``GoalRevision``).
- Every refused transition raises ``RuleViolation`` whose ``code`` names the rule.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from alignment.access import Access
from alignment.models import ChangeEvent, Objective, Partnership, Side
from core.errors import InvalidInput, RuleViolation
from core.writes import apply_changes, check_version, find, free_id, insert, integer, model_update, validate
from core.writes import text as text_input

from . import commitments as goal_commitments
from . import emails
from .models import TERM_FIELDS, Approval, Comment, Commitment, Goal, GoalRevision, GoalStatus, RevisionState
from .rules import approval_refusal, committed_sides
from .workflow import (
    CREATE,
    DELETE,
    UPDATE,
    commitment_insert,
    lock_goal,
    open_revision,
    record,
    refuse_if_closed,
    sync_commitment_approvals,
)

COMMITMENT_SPEC = {"side", "text", "owner", "due_date", "placeholder", "id", "position"}


def _validate_goal(goal: Goal) -> None:
    validate(goal, exclude=["partnership", "objective", "created_by"])
    if goal.period_end < goal.period_start:
        raise InvalidInput(
            "The period must end on or after its start.", fields={"period_end": ["Must be on or after the start."]}
        )
    if goal.baseline == goal.target:
        raise InvalidInput("The target must differ from the baseline.", fields={"target": ["Same as the baseline."]})
    if (goal.direction == "increase") != (goal.target > goal.baseline):
        raise InvalidInput(
            f"With direction “{goal.direction}” the target must be "
            f"{'above' if goal.direction == 'increase' else 'below'} the baseline.",
            fields={"direction": ["Does not match baseline and target."]},
        )


def _external_key(access: Access, value: Any, goal_id: Any = None) -> str:
    """A goal's external key: text of at most 100 characters, unique among the plan's goals ('' is none)."""
    key = text_input(value, "external_key")
    if len(key) > 100:
        raise InvalidInput(
            "An external key has at most 100 characters.", fields={"external_key": ["At most 100 characters."]}
        )
    if key:
        # One writer of keys per plan at a time (the caller's transaction holds the lock): two
        # requests giving the same key get a clear refusal, not the unique constraint's error.
        list(Partnership.objects.select_for_update().filter(pk=access.partnership.pk).values_list("pk"))
    if key and Goal.objects.filter(partnership=access.partnership, external_key=key).exclude(pk=goal_id).exists():
        raise InvalidInput(
            f"Another goal of this plan has the external key “{key}”.",
            fields={"external_key": ["Another goal of this plan has this key."]},
        )
    return key


def _snapshot(goal: Goal) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return goal.terms(), [c.terms() for c in goal.commitments.all()]


# --- Goals ------------------------------------------------------------------------------------


@transaction.atomic
def goal_create(
    *,
    access: Access,
    objective_id: Any,
    id: uuid.UUID | None = None,
    commitments: list[dict[str, Any]] | None = None,
    external_key: Any = "",
    **terms: Any,
) -> Goal:
    """A new draft goal under one of the partnership's objectives, optionally with commitments."""
    access.require_edit("add goals")
    objective = find(Objective.objects.filter(partnership=access.partnership), objective_id)
    if objective is None:
        raise InvalidInput("Choose an objective of this partnership.", fields={"objective": ["No such objective."]})
    if objective.status != Objective.Status.ACTIVE:
        raise RuleViolation(
            f"The objective “{objective.title}” is {objective.status}; goals derive from active ones.",
            code="goal.objective_not_active",
        )
    goal = Goal(partnership=access.partnership, objective=objective, created_by=access.user)
    if id is not None:
        goal.id = free_id(Goal, id, "goal")
    terms.setdefault("metric_name", objective.metric_name)
    terms.setdefault("metric_unit", objective.metric_unit)
    apply_changes(goal, terms, TERM_FIELDS)
    for required in ("title", "period_start", "period_end", "metric_name", "baseline", "target"):
        if getattr(goal, required) in (None, ""):
            raise InvalidInput(
                f"A goal needs {required.replace('_', ' ')}.", fields={required: ["This field is required."]}
            )
    _validate_goal(goal)
    goal.external_key = _external_key(access, external_key)
    insert(goal, "goal")
    record(access, goal, CREATE, summary=f"added the goal “{goal.title}”")
    if not isinstance(commitments or [], list):
        raise InvalidInput("Commitments are a list.", fields={"commitments": ["Expected a list."]})
    for spec in commitments or []:
        unknown = set(spec) - COMMITMENT_SPEC if isinstance(spec, dict) else {"?"}
        if unknown:
            raise InvalidInput(
                "A commitment has a side, a text, and optionally an owner, a due date and an id.",
                fields={"commitments": [f"Unknown: {', '.join(sorted(map(str, unknown)))}."]},
            )
        commitment_insert(access, goal, **spec)
    return goal


@transaction.atomic
def goal_update(*, access: Access, goal_id: Any, expected_version: int | None = None, **changes: Any) -> Goal:
    """Change a goal's terms. On a proposed revision this opens a new one; on an agreed goal, an amendment.
    The external key is no term: changing only the key opens no revision (and works on closed goals too)."""
    access.require_edit("edit goals")

    def clean(goal: Goal, changed: dict[str, Any]) -> None:
        if set(changed) - {"external_key"}:
            open_revision(goal)
        if "external_key" in changed:
            goal.external_key = _external_key(access, goal.external_key, goal.pk)
        _validate_goal(goal)

    def log(goal: Goal, before: dict[str, Any], changed: dict[str, Any]) -> None:
        if set(changed) == {"external_key"}:
            record(access, goal, UPDATE, before, summary=f"set the external key of “{goal.title}”")
            return
        what = "an amendment of" if goal.has_pending_amendment else "the terms of"
        record(access, goal, UPDATE, before, summary=f"edited {what} “{goal.title}” ({', '.join(changed)})")

    return model_update(
        lock_goal(access, goal_id),
        changes=changes,
        allowed=(*TERM_FIELDS, "external_key"),
        expected_version=expected_version,
        clean=clean,
        record=log,
    ).obj


@transaction.atomic
def goal_delete(*, access: Access, goal_id: Any, expected_version: int | None = None) -> None:
    """Delete a draft that was never proposed; anything the other side has seen is withdrawn instead."""
    access.require_edit("delete goals")
    goal = lock_goal(access, goal_id)
    check_version(goal, expected_version)
    if goal.status != GoalStatus.DRAFT or goal.revision > 1 or goal.revisions.exists():
        raise RuleViolation(
            "Only a draft that was never proposed can be deleted; withdraw this goal instead.",
            code="goal.not_deletable",
        )
    before = goal.to_record()
    for c in goal.commitments.all():
        c_before = c.to_record()
        c.delete()
        record(access, c, DELETE, c_before, summary="deleted a commitment with its goal")
    # Comments and check-ins go with the goal: each gets its tombstone in the change log too.
    for child in [*goal.comments.all(), *goal.check_ins.all()]:
        child_before = child.to_record()
        child.delete()
        record(access, child, DELETE, child_before, summary="deleted with its goal")
    goal.delete()
    record(access, goal, DELETE, before, summary=f"deleted the draft goal “{before['title']}”")


@transaction.atomic
def goal_propose(*, access: Access, goal_id: Any, expected_version: int | None = None) -> Goal:
    """Put the working revision to both sides for approval (either side may propose)."""
    access.require_edit("propose goals")
    goal = lock_goal(access, goal_id)
    check_version(goal, expected_version)
    refuse_if_closed(goal)
    state = goal.negotiation_state
    if state == RevisionState.PROPOSED:
        raise RuleViolation(
            f"Revision {goal.revision} is already proposed and waiting for approval.", code="goal.already_proposed"
        )
    if state == "":
        raise RuleViolation(
            "This goal is agreed and has no amendment to propose; edit its terms first.", code="goal.nothing_to_propose"
        )
    before = goal.to_record()
    if not GoalRevision.objects.filter(goal=goal, number=goal.revision).exists():
        terms, commitments = _snapshot(goal)
        GoalRevision.objects.create(
            goal=goal,
            number=goal.revision,
            terms=terms,
            commitments=commitments,
            proposed_by=access.user,
            proposed_by_side=access.side,
        )
    goal.revision_open = False
    if goal.status == GoalStatus.AGREED:
        goal.amendment = RevisionState.PROPOSED
    else:
        goal.status = GoalStatus.PROPOSED
    goal.proposed_by_side = access.side
    goal.proposed_at = timezone.now()
    goal.bump()
    goal.save()
    kind = "an amendment of" if goal.status == GoalStatus.AGREED else ""
    record(access, goal, UPDATE, before, summary=f"proposed {kind} “{goal.title}” (revision {goal.revision})")
    emails.announce(access=access, goal=goal, kind=emails.PROPOSED)
    return goal


@transaction.atomic
def goal_approve(*, access: Access, goal_id: Any, revision: int) -> Approval:
    """Approve one revision for the caller's side. The second side's approval of the same
    revision agrees the goal (or puts the amendment in force). Who may approve what, when, is
    ``goals.rules.approval_refusal``: a side approves only with a commitment of its own, and may
    approve while the other side's is missing (subject to it: see ``goal_commit_and_approve``)."""
    access.require_approve("approve goals")
    revision = integer(revision, "revision")
    goal = lock_goal(access, goal_id)
    return _approve(access, goal, revision)


@transaction.atomic
def goal_commit_and_approve(
    *,
    access: Access,
    goal_id: Any,
    revision: int,
    text: str,
    owner: Any = None,
    due_date: dt.date | None = None,
) -> Approval:
    """One step for the side a proposed revision still lacks a commitment from: write what this side
    will do and approve. The commitment completes the revision (no new revision), so an approval
    the other side gave subject to it stands, and the goal is agreed when both approved."""
    access.require_approve("approve goals")
    revision = integer(revision, "revision")
    goal = lock_goal(access, goal_id)
    committed = committed_sides(goal.commitments.all())
    if access.side in committed:
        raise RuleViolation(
            f"The {access.side} side has committed to this goal already: approve the revision as it is.",
            code="goal.already_committed",
        )
    approved = set(Approval.objects.filter(goal=goal, revision=goal.revision).values_list("side", flat=True))
    refusal = approval_refusal(
        access, goal, approved_sides=approved, committed=committed | {access.side}, revision=revision
    )
    if refusal is not None:
        raise refusal
    slot = goal.commitments.filter(side=access.side, placeholder=True).order_by("position", "created_at").first()
    if slot is not None:
        commitment = goal_commitments.commitment_update(
            access=access, commitment_id=slot.pk, text=text, owner=owner, due_date=due_date
        )
    else:
        commitment = goal_commitments.commitment_create(
            access=access, goal_id=goal.pk, side=access.side, text=text, owner=owner, due_date=due_date
        )
    goal.refresh_from_db()
    return _approve(access, goal, revision, commitment=commitment)


def _approve(access: Access, goal: Goal, revision: int, commitment: Commitment | None = None) -> Approval:
    """Record the caller's side's approval of ``goal`` (locked) and agree it when both approved."""
    approved = set(Approval.objects.filter(goal=goal, revision=goal.revision).values_list("side", flat=True))
    refusal = approval_refusal(
        access, goal, approved_sides=approved, committed=committed_sides(goal.commitments.all()), revision=revision
    )
    if refusal is not None:
        raise refusal
    try:
        with transaction.atomic():
            approval = Approval.objects.create(goal=goal, revision=goal.revision, side=access.side, user=access.user)
    except IntegrityError as exc:
        raise RuleViolation(
            f"The {access.side} side has approved revision {goal.revision} already.", code="goal.already_approved"
        ) from exc
    sync_commitment_approvals(access, goal)  # this side's commitments are approved now
    record(
        access,
        approval,
        CREATE,
        after=approval.to_record(),
        summary=f"approved “{goal.title}” (revision {goal.revision}) for the {access.side} side",
    )
    sides = set(Approval.objects.filter(goal=goal, revision=goal.revision).values_list("side", flat=True))
    if sides >= set(Side.values):
        before = goal.to_record()
        amended = goal.status == GoalStatus.AGREED
        goal.status = GoalStatus.AGREED
        goal.agreed_revision = goal.revision
        goal.amendment = RevisionState.NONE
        goal.agreed_at = timezone.now()
        goal.bump()
        goal.save()
        what = "the amendment of" if amended else ""
        record(
            access, goal, UPDATE, before, summary=f"both sides agreed {what} “{goal.title}” (revision {goal.revision})"
        )
    # The proposing side approving its own proposal tells the other side nothing new, unless it
    # agrees the goal or completes it with a commitment of its own.
    if access.side != goal.proposed_by_side or goal.agreed_revision == goal.revision or commitment is not None:
        emails.announce(access=access, goal=goal, kind=emails.APPROVED, approval=approval, commitment=commitment)
    return approval


@transaction.atomic
def goal_request_changes(*, access: Access, goal_id: Any, comment: str, revision: int | None = None) -> Comment:
    """Send the proposed revision back for editing, saying what should change."""
    access.require_edit("request changes")
    body = text_input(comment, "comment")
    if not body:
        raise InvalidInput("Say what should change.", fields={"comment": ["A comment is required."]})
    goal = lock_goal(access, goal_id)
    refuse_if_closed(goal)
    if goal.negotiation_state != RevisionState.PROPOSED:
        raise RuleViolation("Changes can only be requested on a proposed revision.", code="goal.not_proposed")
    if revision is not None and integer(revision, "revision") != goal.revision:
        raise RuleViolation(
            f"The goal is now at revision {goal.revision}; read it before requesting changes.",
            code="goal.stale_revision",
        )
    before = goal.to_record()
    if goal.status == GoalStatus.AGREED:
        goal.amendment = RevisionState.CHANGES_REQUESTED
    else:
        goal.status = GoalStatus.CHANGES_REQUESTED
    goal.bump()
    goal.save()
    record(access, goal, UPDATE, before, summary=f"requested changes to “{goal.title}”")
    note = Comment(
        goal=goal,
        author=access.user,
        side=access.side,
        kind=Comment.Kind.CHANGE_REQUEST,
        revision=goal.revision,
        body=body,
    )
    validate(note, exclude=["goal", "author"])
    note.save()
    record(access, note, CREATE, summary="commented on a change request")
    emails.announce(access=access, goal=goal, kind=emails.CHANGES_REQUESTED, comment=note)
    return note


@transaction.atomic
def goal_withdraw(*, access: Access, goal_id: Any, note: str = "", expected_version: int | None = None) -> Goal:
    """Withdraw a goal before agreement. An agreed goal is closed (dropped) instead."""
    access.require_edit("withdraw goals")
    goal = lock_goal(access, goal_id)
    check_version(goal, expected_version)
    refuse_if_closed(goal)
    if goal.status == GoalStatus.AGREED:
        raise RuleViolation(
            "An agreed goal cannot be withdrawn: close it as dropped, or discard its amendment.",
            code="goal.already_agreed",
        )
    before = goal.to_record()
    goal.status = GoalStatus.WITHDRAWN
    goal.close_note = text_input(note, "note")
    goal.closed_at = timezone.now()
    goal.revision_open = False
    validate(goal, exclude=["partnership", "objective", "created_by"])
    goal.bump()
    goal.save()
    record(access, goal, UPDATE, before, summary=f"withdrew “{goal.title}”")
    return goal


@transaction.atomic
def goal_discard_amendment(*, access: Access, goal_id: Any, expected_version: int | None = None) -> Goal:
    """Drop a pending amendment: the terms and commitments return to the agreed revision."""
    access.require_edit("discard amendments")
    goal = lock_goal(access, goal_id)
    check_version(goal, expected_version)
    if not goal.has_pending_amendment:
        raise RuleViolation("This goal has no pending amendment.", code="goal.no_amendment")
    assert goal.agreed_revision is not None  # an agreed goal has its agreed revision (a constraint)
    agreed = GoalRevision.objects.get(goal=goal, number=goal.agreed_revision)
    before = goal.to_record()
    for name in TERM_FIELDS:
        field = cast("models.Field[Any, Any]", Goal._meta.get_field(name))  # the terms are concrete fields
        setattr(goal, name, field.to_python(agreed.terms[name]))
    kept = {c["id"]: c for c in agreed.commitments}
    for c in goal.commitments.all():
        c_before = c.to_record()
        if str(c.id) not in kept:
            c.delete()
            record(access, c, DELETE, c_before, summary="removed a commitment with the discarded amendment")
            continue
        spec = kept.pop(str(c.id))
        if c.terms() != spec:
            c.text, c.owner_id, c.side, c.placeholder = spec["text"], spec["owner"], spec["side"], spec["placeholder"]
            c.due_date = dt.date.fromisoformat(spec["due_date"]) if spec["due_date"] else None
            c.own_side_approved = True  # the agreed revision is in force again
            c.bump()
            c.save()
            record(access, c, UPDATE, c_before, summary="restored a commitment to the agreed revision")
    # A commitment the amendment removed comes back as it was when removed (its tombstone), so work
    # already marked done on the agreed terms stays done.
    tombstones = {
        str(e.object_id): e.before or {}
        for e in ChangeEvent.objects.filter(object_type="commitment", action=DELETE, object_id__in=list(kept)).order_by(
            "seq"
        )
    }
    for spec in kept.values():
        last = tombstones.get(spec["id"], {})
        done_at = last.get("done_at")
        c = Commitment.objects.create(
            id=spec["id"],
            goal=goal,
            side=spec["side"],
            text=spec["text"],
            owner_id=spec["owner"],
            placeholder=spec["placeholder"],
            due_date=dt.date.fromisoformat(spec["due_date"]) if spec["due_date"] else None,
            done=bool(last.get("done") and done_at),
            position=last.get("position") or 0,
            done_at=dt.datetime.fromisoformat(done_at) if last.get("done") and done_at else None,
            drafted_by_id=last.get("drafted_by") if isinstance(last.get("drafted_by"), int) else None,
            drafted_by_side=last.get("drafted_by_side") or "",
            own_side_approved=True,  # the agreed revision is in force again
        )
        record(access, c, CREATE, summary="restored a commitment of the agreed revision")
    goal.revision = goal.revision + 1
    GoalRevision.objects.create(
        goal=goal,
        number=goal.revision,
        terms=agreed.terms,
        commitments=agreed.commitments,
        proposed_by=access.user,
        proposed_by_side=access.side,
    )
    # The restored terms are the agreed ones: they are in force again without a new round of approvals.
    goal.agreed_revision = goal.revision
    goal.amendment = RevisionState.NONE
    goal.revision_open = False
    goal.bump()
    goal.save()
    record(access, goal, UPDATE, before, summary=f"discarded the amendment of “{goal.title}”")
    return goal


OUTCOMES = {GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED}


@transaction.atomic
def goal_close(
    *,
    access: Access,
    goal_id: Any,
    outcome: str,
    note: str = "",
    today: dt.date | None = None,
    expected_version: int | None = None,
) -> Goal:
    """Close an agreed goal: achieved or missed at or after its period end, or dropped (with a note)."""
    access.require_approve("close goals")
    if outcome not in OUTCOMES:
        raise InvalidInput(
            "The outcome is achieved, missed or dropped.", fields={"outcome": ["Choose achieved, missed or dropped."]}
        )
    goal = lock_goal(access, goal_id)
    check_version(goal, expected_version)
    refuse_if_closed(goal)
    if goal.status != GoalStatus.AGREED:
        raise RuleViolation(
            f"Only an agreed goal can be closed; this one is {goal.get_status_display().lower()}. Withdraw it instead.",
            code="goal.not_agreed",
        )
    if goal.has_pending_amendment:
        raise RuleViolation(
            "Settle or discard the pending amendment before closing the goal.", code="goal.amendment_pending"
        )
    today = today or timezone.localdate()
    if outcome in (GoalStatus.ACHIEVED, GoalStatus.MISSED) and today < goal.period_end:
        raise RuleViolation(
            f"The period runs until {goal.period_end:%Y-%m-%d}; a goal is marked {outcome} at or after its end "
            "(drop it to stop early).",
            code="goal.period_not_over",
        )
    note = text_input(note, "note")
    if outcome != GoalStatus.ACHIEVED and not note:
        raise InvalidInput(f"Say why the goal is {outcome}.", fields={"note": ["A note is required."]})
    before = goal.to_record()
    goal.status = outcome
    goal.close_note = note
    goal.closed_at = timezone.now()
    validate(goal, exclude=["partnership", "objective", "created_by"])
    goal.bump()
    goal.save()
    record(access, goal, UPDATE, before, summary=f"closed “{goal.title}” as {outcome}")
    return goal
