"""The rules about goals that screens, e-mails, reminders and the API all report, each in one place.

Every page, e-mail and endpoint that says "waits for you", "overdue", "may approve" or "can be
edited" asks these functions (or, to count in the database, their filters), so two screens can
never disagree about the same plan.

- **Waits for a side** (``waiting_sides``, ``waiting_filter``): a proposed revision waits for every
  side that has not approved it yet (the proposing side too, when it did not approve its own
  proposal: a goal is agreed only when both sides approved the same revision); a revision sent
  back with changes requested waits for the side that proposed it, whose turn it is to revise.
- **Overdue commitment** (``is_overdue``, ``overdue_filter``): a real commitment (not an empty
  placeholder), not done, whose due date has passed, of a goal that is agreed (in force, its
  period over or not). A draft's due dates are not promises yet; a closed goal's can no longer be
  kept.
- **May approve** (``approval_refusal``): why a person may not approve a goal's revision now, or
  None when they may. A side approves only with a commitment of its own (no quotas); it may
  approve while the other side's commitment is still missing: its approval is then *subject to
  the other side's commitment*, which that side adds as it approves (``completes_revision``), and
  the goal is agreed when both sides approved the same revision.
- **Editable now** (``edit_refusal``): why a person may not change a goal's terms now, or None.
- **Check-in due** (``check_in_due_on``): an agreed goal in its period needs a check-in
  ``check_in_interval()`` after its last one, or after its period started or it was agreed when
  that is later. The check-in reminder and the digest both ask it.

The next review is ``alignment.reviews``'s rule; what health is computed from is
``cadence.health.load_facts``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils.translation import gettext

from alignment.access import Access
from alignment.models import Side
from core.errors import DomainError, NotAllowed, RuleViolation
from core.templatetags.formatting import role_word, side_word

from .models import CLOSED, Approval, Commitment, Goal, GoalStatus, RevisionState

# The revision under negotiation is proposed, or was sent back with changes requested.
PROPOSED_NOW = Q(status=GoalStatus.PROPOSED) | Q(status=GoalStatus.AGREED, amendment=RevisionState.PROPOSED)
CHANGES_REQUESTED_NOW = Q(status=GoalStatus.CHANGES_REQUESTED) | Q(
    status=GoalStatus.AGREED, amendment=RevisionState.CHANGES_REQUESTED
)
NEGOTIATING = PROPOSED_NOW | CHANGES_REQUESTED_NOW


# --- Waits for a side ---------------------------------------------------------------------------


def waiting_sides(state: str, proposed_by_side: str, approved_sides: Iterable[str]) -> list[str]:
    """The sides a goal waits for (in side order), from its negotiation state, the side that
    proposed the revision and the sides that approved the current revision."""
    if state == RevisionState.PROPOSED:
        approved = set(approved_sides)
        return [side for side in Side.values if side not in approved]
    if state == RevisionState.CHANGES_REQUESTED:
        return [proposed_by_side] if proposed_by_side in Side.values else list(Side.values)
    return []


def waits_for(goal: Goal, side: str, approved_sides: Iterable[str]) -> bool:
    """Does ``goal`` wait for ``side``? (``approved_sides``: who approved its current revision.)"""
    return side in waiting_sides(goal.negotiation_state, goal.proposed_by_side, approved_sides)


def waiting_reason(state: str) -> str:
    """Why the waiting side is waited for: a proposal to approve, or changes requested of it."""
    return gettext("changes requested") if state == RevisionState.CHANGES_REQUESTED else gettext("to approve")


def waiting_filter(side: str) -> Q:
    """``waits_for`` as a filter on goals, to select or count them in the database."""
    approved = Approval.objects.filter(goal=OuterRef("pk"), revision=OuterRef("revision"), side=side)
    # A revision sent back whose proposing side is not known (only edited by hand) waits for both.
    sent_back_to = Q(proposed_by_side=side) | Q(proposed_by_side="")
    return (PROPOSED_NOW & ~Exists(approved)) | (CHANGES_REQUESTED_NOW & sent_back_to)


# --- Overdue commitments ------------------------------------------------------------------------


def is_due(*, placeholder: bool, due_date: dt.date | None, goal_status: str, today: dt.date) -> bool:
    """A promise in force whose due date has passed (kept or not): what timeliness is measured on."""
    return goal_status == GoalStatus.AGREED and not placeholder and due_date is not None and due_date < today


def is_overdue(*, done: bool, placeholder: bool, due_date: dt.date | None, goal_status: str, today: dt.date) -> bool:
    return not done and is_due(placeholder=placeholder, due_date=due_date, goal_status=goal_status, today=today)


def commitment_overdue(commitment: Commitment, goal_status: str, today: dt.date) -> bool:
    return is_overdue(
        done=commitment.done,
        placeholder=commitment.placeholder,
        due_date=commitment.due_date,
        goal_status=goal_status,
        today=today,
    )


def due_filter(today: dt.date) -> Q:
    """``is_due`` as a filter on commitments."""
    return Q(goal__status=GoalStatus.AGREED, placeholder=False, due_date__lt=today)


def overdue_filter(today: dt.date) -> Q:
    """``is_overdue`` as a filter on commitments."""
    return due_filter(today) & Q(done=False)


# --- May approve, may edit ----------------------------------------------------------------------


def committed_sides(commitments: Iterable[Commitment]) -> set[str]:
    """The sides with at least one real commitment (a placeholder slot or an empty text is none)."""
    return {c.side for c in commitments if not c.placeholder and c.text.strip()}


def closed_refusal(goal: Goal) -> RuleViolation | None:
    if goal.status in CLOSED:
        return RuleViolation(
            gettext("This goal is %(status)s; a closed goal cannot change.")
            % {"status": goal.get_status_display().lower()},
            code="goal.closed",
        )
    return None


def edit_refusal(access: Access, goal: Goal) -> DomainError | None:
    """Why ``access`` may not change the terms of ``goal`` now, or None when they may."""
    if not access.can_edit:
        return NotAllowed(
            gettext("Your role (%(role)s) may not edit goals; editors and approvers may.")
            % {"role": role_word(access.role)}
        )
    return closed_refusal(goal)


def approval_refusal(
    access: Access,
    goal: Goal,
    *,
    approved_sides: Iterable[str],
    committed: Iterable[str],
    revision: int | None = None,
) -> DomainError | None:
    """Why ``access`` may not approve ``goal``'s current revision now, or None when they may.

    ``approved_sides``: who approved the current revision; ``committed``: the sides with a real
    commitment (``committed_sides``); ``revision``: the revision the person saw, if they said."""
    if not access.can_approve:
        return NotAllowed(
            gettext("Only approvers may approve goals; your role on the %(side)s side is %(role)s.")
            % {"side": side_word(access.side), "role": role_word(access.role)}
        )
    refusal = closed_refusal(goal)
    if refusal is not None:
        return refusal
    state = goal.negotiation_state
    if state == RevisionState.DRAFT:
        return RuleViolation(
            gettext("Revision %(n)s is still a draft; it must be proposed before approval.") % {"n": goal.revision},
            code="goal.not_proposed",
        )
    if state == RevisionState.CHANGES_REQUESTED:
        return RuleViolation(
            gettext("Changes were requested on this revision; it must be revised or proposed again first."),
            code="goal.changes_requested",
        )
    if state == "":
        return RuleViolation(
            gettext("This goal is agreed; there is no pending revision to approve."), code="goal.nothing_to_approve"
        )
    if revision is not None and revision != goal.revision:
        return RuleViolation(
            gettext(
                "You approved revision %(seen)s, but the goal is at revision %(n)s. "
                "Review the current terms and approve them."
            )
            % {"seen": revision, "n": goal.revision},
            code="goal.stale_revision",
        )
    if access.side not in set(committed):
        return RuleViolation(
            gettext(
                "The %(side)s side has no commitment yet: add what your side will do for this goal, then "
                "approve (no quotas: each side commits to at least one action)."
            )
            % {"side": side_word(access.side)},
            code="goal.commitment_missing",
        )
    if access.side in set(approved_sides):
        return RuleViolation(
            gettext("The %(side)s side has approved revision %(n)s already.")
            % {"side": side_word(access.side), "n": goal.revision},
            code="goal.already_approved",
        )
    return None


def completes_revision(goal: Goal, side: str, committed: Iterable[str]) -> bool:
    """Is a commitment of ``side`` written now the one a proposed revision was still waiting for?

    On a proposed revision, the first real commitment of a side that has none completes the
    revision instead of changing it: the other side may have approved it subject to this
    commitment, and that approval stands. Any other change of commitments is a change of terms
    (a new revision, or an amendment)."""
    return goal.negotiation_state == RevisionState.PROPOSED and side not in set(committed)


# --- Check-in due -------------------------------------------------------------------------------


def check_in_interval() -> dt.timedelta:
    """How long an agreed goal may go without a check-in (``REMINDER_CHECKIN_INTERVAL_DAYS``)."""
    return dt.timedelta(days=int(getattr(settings, "REMINDER_CHECKIN_INTERVAL_DAYS", 30)))


def check_in_since(*, last_measured: dt.date | None, period_start: dt.date, agreed_at: dt.datetime | None) -> dt.date:
    """The day an agreed goal's time without a check-in counts from."""
    return max(d for d in (last_measured, period_start, agreed_at.date() if agreed_at else None) if d)


def check_in_due_on(*, last_measured: dt.date | None, period_start: dt.date, agreed_at: dt.datetime | None) -> dt.date:
    """The day an agreed goal needs its next check-in."""
    return check_in_since(last_measured=last_measured, period_start=period_start, agreed_at=agreed_at) + (
        check_in_interval()
    )


def approved_sides_at(revisions: Mapping[Any, int]) -> dict[Any, set[str]]:
    """``approved_sides_of`` for goals whose current revision is known (goal id → revision): the
    approvals are read by goal alone (one query, no join to the goals: matched to the revision
    here, where PostgreSQL would hash every goal of the database to match them)."""
    approved: dict[Any, set[str]] = {}
    for goal_id, revision, side in (
        Approval.objects.filter(goal_id__in=list(revisions)).order_by().values_list("goal_id", "revision", "side")
    ):
        if revisions[goal_id] == revision:
            approved.setdefault(goal_id, set()).add(side)
    return approved


def approved_sides_of(goal_ids: Iterable[Any]) -> dict[Any, set[str]]:
    """Who approved the current revision of each goal (one query)."""
    approved: dict[Any, set[str]] = {}
    for goal_id, side in Approval.objects.filter(goal_id__in=list(goal_ids), revision=F("goal__revision")).values_list(
        "goal_id", "side"
    ):
        approved.setdefault(goal_id, set()).add(side)
    return approved
