"""Check-ins: a measured value of an agreed goal with one side's confidence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from alignment.access import Access
from core.errors import InvalidInput, NotAllowed, RuleViolation
from core.writes import apply_changes, check_version, free_id, insert, lock, model_update, validate
from core.writes import text as text_input

from .models import CheckIn, CheckInSource, Goal, GoalStatus
from .workflow import CREATE, DELETE, UPDATE, lock_goal, record

CHECK_IN_FIELDS = ("measured_on", "value", "confidence", "note")
# The confidence of a check-in that does not say (the form's initial choice, the API's default).
DEFAULT_CONFIDENCE = 3


def goal_refusal(goal: Goal) -> RuleViolation | None:
    """Why ``goal`` takes no check-ins now (None: it does). Imports ask it of every row."""
    if goal.status != GoalStatus.AGREED:
        return RuleViolation(
            f"Check-ins are recorded on agreed goals; this one is {goal.get_status_display().lower()}.",
            code="check_in.goal_not_agreed",
        )
    return None


def date_refusal(goal: Goal, measured_on: dt.date, today: dt.date | None = None) -> InvalidInput | None:
    """Why a check-in of ``goal`` may not be measured on this day (None: it may)."""
    if measured_on > (today or timezone.localdate()) + dt.timedelta(days=1):
        return InvalidInput(
            "A check-in measures the past, not the future.", fields={"measured_on": ["Must not be in the future."]}
        )
    if measured_on < goal.period_start - dt.timedelta(days=366):
        return InvalidInput(
            "This date is long before the goal's period.", fields={"measured_on": ["Too far before the period."]}
        )
    return None


def _validate_check_in(ci: CheckIn, goal: Goal) -> None:
    validate(ci, exclude=["goal", "author"])
    refusal = date_refusal(goal, ci.measured_on)
    if refusal is not None:
        raise refusal


@transaction.atomic
def check_in_create(
    *,
    access: Access,
    goal_id: Any,
    value: Any,
    measured_on: dt.date | None = None,
    confidence: int = DEFAULT_CONFIDENCE,
    note: str = "",
    id: Any = None,
    source: str = CheckInSource.WEB,
) -> CheckIn:
    """Record a measured value with the caller's side's confidence (1-5)."""
    access.require_edit("check in")
    goal = lock_goal(access, goal_id)
    refusal = goal_refusal(goal)
    if refusal is not None:
        raise refusal
    ci = CheckIn(goal=goal, side=access.side, author=access.user, note=text_input(note, "note"), source=source)
    if id is not None:
        ci.id = free_id(CheckIn, id, "check-in")
    apply_changes(
        ci,
        {"value": value, "measured_on": measured_on or timezone.localdate(), "confidence": confidence},
        CHECK_IN_FIELDS,
    )
    _validate_check_in(ci, goal)
    insert(ci, "check-in")
    record(access, ci, CREATE, summary=f"checked in {ci.value} on “{goal.title}”")
    return ci


def _lock_check_in(access: Access, check_in_id: Any) -> CheckIn:
    ci = lock(CheckIn.objects.filter(goal__partnership=access.partnership), check_in_id, "check-in")
    if ci.side != access.side:
        raise NotAllowed(f"This check-in belongs to the {ci.side} side.")
    return ci


@transaction.atomic
def check_in_update(
    *, access: Access, check_in_id: Any, expected_version: int | None = None, **changes: Any
) -> CheckIn:
    access.require_edit("edit check-ins")
    return model_update(
        _lock_check_in(access, check_in_id),
        changes=changes,
        allowed=CHECK_IN_FIELDS,
        expected_version=expected_version,
        clean=lambda ci, changed: _validate_check_in(ci, ci.goal),
        record=lambda ci, before, changed: record(access, ci, UPDATE, before, summary="corrected a check-in"),
    ).obj


@transaction.atomic
def check_in_delete(*, access: Access, check_in_id: Any, expected_version: int | None = None) -> None:
    access.require_edit("delete check-ins")
    ci = _lock_check_in(access, check_in_id)
    check_version(ci, expected_version)
    before = ci.to_record()
    ci.delete()
    record(access, ci, DELETE, before, summary="deleted a check-in")
