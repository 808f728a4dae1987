"""Check-ins: a measured value of an agreed goal with one side's confidence.

Two-key actuals: a figure one side entered is ``unconfirmed`` until the other side confirms it, or
disputes it with its own number and a note; a disputed figure keeps both numbers until either
side settles on one of them (then it is confirmed, and the dispute stays in the history).

What counts: health counts only confirmed figures for the freshness of check-ins and says how many
wait for the other side's confirmation (``goals.queries.confirmed_figures``); progress and charts
show unconfirmed figures marked as such, and leave a disputed figure out until it is settled
(``goals.queries.latest_check_ins``, ``goals.charts``). Changing a figure makes it unconfirmed
again.

After the close: a closed goal's figures change, or are deleted, only as a *correction*
(``correction=True``), recorded as such with the value before and after and, when given, the
reason, which the history shows (``CORRECTION_REASON``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from alignment.access import Access
from core.errors import InvalidInput, NotAllowed, RuleViolation
from core.templatetags.formatting import side_word
from core.writes import apply_changes, check_version, convert, free_id, insert, lock, model_update, validate
from core.writes import text as text_input

from .models import CLOSED, CheckIn, CheckInReview, CheckInSource, Goal, GoalStatus
from .workflow import CREATE, DELETE, UPDATE, lock_goal, record

CHECK_IN_FIELDS = ("measured_on", "value", "confidence", "note")
NOTE_MAX = 5000
# The key of a correction's reason in its change event's record, beside the figure's fields: in
# ``after`` of a change, in ``before`` of a deletion (a tombstone has no ``after``). The reason
# belongs to the change, not to the figure: the feed's representation of a figure leaves it out.
CORRECTION_REASON = "correction_reason"
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


# A change of these makes the figure one the other side has not seen: unconfirmed again.
REVIEWED_FIELDS = ("measured_on", "value")


def _unreviewed(ci: CheckIn) -> None:
    ci.review = CheckInReview.UNCONFIRMED
    ci.reviewed_by, ci.reviewed_at = None, None
    ci.disputed_value, ci.dispute_note = None, ""


def correction_refusal(ci: CheckIn) -> RuleViolation | None:
    """Why a figure of a closed goal may not simply be changed or deleted (None: the goal is open)."""
    if ci.goal.status in CLOSED:
        return RuleViolation(
            gettext(
                "This goal is %(status)s: its figures change only as a correction after the close, "
                "which the history shows with the value before and after."
            )
            % {"status": ci.goal.get_status_display().lower()},
            code="check_in.goal_closed",
        )
    return None


def may_correct(access: Access, ci: CheckIn, goal: Goal) -> bool:
    """Whether ``access`` sees Correct on ``ci`` of ``goal``: a figure of its own side on a closed
    goal (the services decide again)."""
    return access.can_edit and ci.side == access.side and goal.status in CLOSED


def _reason(reason: Any) -> str:
    """Why a figure of a closed goal is corrected (optional here; the browser's form asks for it)."""
    said = text_input(reason, "reason", multiline=True)
    if len(said) > NOTE_MAX:
        raise InvalidInput(
            gettext("The reason is too long."),
            fields={"reason": [gettext("At most %(n)s characters.") % {"n": NOTE_MAX}]},
        )
    return said


def _with_reason(record: dict[str, Any], reason: str) -> dict[str, Any]:
    return record | {CORRECTION_REASON: reason} if reason else record


@transaction.atomic
def check_in_update(
    *,
    access: Access,
    check_in_id: Any,
    expected_version: int | None = None,
    correction: bool = False,
    reason: Any = None,
    **changes: Any,
) -> CheckIn:
    """Change one's own side's figure. A new value or day makes it unconfirmed again (the other
    side has not seen it). A closed goal's figure changes only with ``correction``: recorded as a
    correction after the close, with the value before and after and the ``reason`` given."""
    access.require_edit("edit check-ins")
    ci = _lock_check_in(access, check_in_id)
    if not correction:
        refusal = correction_refusal(ci)
        if refusal is not None:
            raise refusal
    closed = ci.goal.status in CLOSED
    said = _reason(reason) if closed else ""

    def clean(ci: CheckIn, changed: dict[str, Any]) -> None:
        _validate_check_in(ci, ci.goal)
        if any(name in changed for name in REVIEWED_FIELDS):
            _unreviewed(ci)

    def summary(before: dict[str, Any]) -> str:
        if closed:
            return (
                f"corrected a figure of “{ci.goal.title}” after the close "
                f"from {_plain(before.get('value'))} to {_plain(ci.value)}"
            )
        return "corrected a check-in"

    return model_update(
        ci,
        changes=changes,
        allowed=CHECK_IN_FIELDS,
        expected_version=expected_version,
        clean=clean,
        record=lambda ci, before, changed: record(
            access, ci, UPDATE, before, summary=summary(before), after=_with_reason(ci.to_record(), said)
        ),
    ).obj


def _plain(value: Any) -> str:
    """A stored number as people write it: 120, 95.5 (no trailing zeros)."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return f"{number.normalize():f}"


# --- Two-key actuals: the other side confirms, disputes, and both settle ---------------------------


def _lock_for_review(access: Access, check_in_id: Any) -> CheckIn:
    """Lock a figure the person's side did not enter (editors and approvers of the other side)."""
    access.require_edit("confirm or dispute figures")
    ci = lock(CheckIn.objects.filter(goal__partnership=access.partnership), check_in_id, "check-in")
    if ci.side == access.side:
        raise NotAllowed(
            gettext("Your side entered this figure; the %(other)s side confirms or disputes it.")
            % {"other": side_word(access.other_side)},
            code="check_in.own_side",
        )
    return ci


def review_refusal(ci: CheckIn) -> RuleViolation | None:
    """Why ``ci`` takes no confirmation or dispute now (None: it does)."""
    if ci.review == CheckInReview.CONFIRMED:
        return RuleViolation(gettext("This figure is confirmed already."), code="check_in.already_confirmed")
    if ci.review == CheckInReview.DISPUTED:
        return RuleViolation(
            gettext("This figure is disputed already: settle on one of the two numbers."),
            code="check_in.already_disputed",
        )
    return None


def may_review(access: Access, ci: CheckIn) -> bool:
    """Whether ``access`` sees Confirm and Dispute on ``ci`` (the services decide again)."""
    return access.can_edit and ci.side != access.side and ci.review == CheckInReview.UNCONFIRMED


def may_settle(access: Access, ci: CheckIn) -> bool:
    return access.can_edit and ci.review == CheckInReview.DISPUTED


@transaction.atomic
def check_in_confirm(*, access: Access, check_in_id: Any, expected_version: int | None = None) -> CheckIn:
    """The other side confirms a figure as entered."""
    ci = _lock_for_review(access, check_in_id)
    check_version(ci, expected_version)
    refusal = review_refusal(ci)
    if refusal is not None:
        raise refusal
    before = ci.to_record()
    ci.review, ci.reviewed_by, ci.reviewed_at = CheckInReview.CONFIRMED, access.user, timezone.now()
    ci.bump()
    ci.save()
    record(access, ci, UPDATE, before, summary=f"confirmed the figure {_plain(ci.value)} of “{ci.goal.title}”")
    return ci


@transaction.atomic
def check_in_dispute(
    *, access: Access, check_in_id: Any, value: Any, note: Any, expected_version: int | None = None
) -> CheckIn:
    """The other side disputes a figure: its own number and why (both required). Until the sides
    settle, health and progress leave the figure out."""
    ci = _lock_for_review(access, check_in_id)
    check_version(ci, expected_version)
    refusal = review_refusal(ci)
    if refusal is not None:
        raise refusal
    fields: dict[str, list[str]] = {}
    number = None
    if value is None or str(value).strip() == "":
        fields["value"] = [gettext("Give your side's number.")]
    else:
        number = convert(CheckIn._meta.get_field("value"), value, "value")
    said = text_input(note, "note", multiline=True).strip() if note is not None else ""
    if not said:
        fields["note"] = [gettext("Say why your side's number differs.")]
    elif len(said) > NOTE_MAX:
        fields["note"] = [gettext("At most %(n)s characters.") % {"n": NOTE_MAX}]
    if fields:
        raise InvalidInput(gettext("A dispute needs your side's number and a note."), fields=fields)
    if number == ci.value:
        raise InvalidInput(
            gettext("That is the figure as entered: confirm it instead."),
            fields={"value": [gettext("Same as the figure entered.")]},
        )
    before = ci.to_record()
    ci.review, ci.reviewed_by, ci.reviewed_at = CheckInReview.DISPUTED, access.user, timezone.now()
    ci.disputed_value, ci.dispute_note = number, said
    validate(ci, exclude=["goal", "author", "reviewed_by"])
    ci.bump()
    ci.save()
    record(
        access,
        ci,
        UPDATE,
        before,
        summary=f"disputed the figure {_plain(before['value'])} of “{ci.goal.title}” with {_plain(number)}",
    )
    return ci


@transaction.atomic
def check_in_settle(*, access: Access, check_in_id: Any, value: Any, expected_version: int | None = None) -> CheckIn:
    """Either side settles a disputed figure on one of its two numbers: the figure takes that value
    and is confirmed; the dispute (both numbers, the note) stays in the history."""
    access.require_edit("settle disputed figures")
    ci = lock(CheckIn.objects.filter(goal__partnership=access.partnership), check_in_id, "check-in")
    check_version(ci, expected_version)
    if ci.review != CheckInReview.DISPUTED or ci.disputed_value is None:
        raise RuleViolation(
            gettext("This figure is not disputed: there is nothing to settle."), code="check_in.not_disputed"
        )
    if value is None or str(value).strip() == "":
        raise InvalidInput(
            gettext("Say which of the two numbers the sides settle on."),
            fields={"value": [gettext("Choose one of the two numbers.")]},
        )
    number = convert(CheckIn._meta.get_field("value"), value, "value")
    if number not in (ci.value, ci.disputed_value):
        raise InvalidInput(
            gettext("Settle on one of the two numbers: %(entered)s or %(disputed)s.")
            % {"entered": _plain(ci.value), "disputed": _plain(ci.disputed_value)},
            fields={"value": [gettext("Choose one of the two numbers.")]},
        )
    before = ci.to_record()
    entered, disputed = ci.value, ci.disputed_value
    ci.value = number
    ci.review, ci.reviewed_by, ci.reviewed_at = CheckInReview.CONFIRMED, access.user, timezone.now()
    ci.disputed_value, ci.dispute_note = None, ""
    ci.bump()
    ci.save()
    record(
        access,
        ci,
        UPDATE,
        before,
        summary=(
            f"settled the disputed figure of “{ci.goal.title}” on {_plain(number)} "
            f"({_plain(entered)} vs {_plain(disputed)})"
        ),
    )
    return ci


@transaction.atomic
def check_in_delete(
    *,
    access: Access,
    check_in_id: Any,
    expected_version: int | None = None,
    correction: bool = False,
    reason: Any = None,
) -> None:
    """Delete one's own side's figure. A closed goal's figure is deleted only with ``correction``
    (as it is changed): recorded as a correction after the close, with the value it had and the
    ``reason`` given."""
    access.require_edit("delete check-ins")
    ci = _lock_check_in(access, check_in_id)
    check_version(ci, expected_version)
    if not correction:
        refusal = correction_refusal(ci)
        if refusal is not None:
            raise refusal
    closed = ci.goal.status in CLOSED
    said = _reason(reason) if closed else ""
    before = _with_reason(ci.to_record(), said)
    ci.delete()
    if closed:
        summary = f"deleted the figure {_plain(ci.value)} of “{ci.goal.title}” after the close"
    else:
        summary = "deleted a check-in"
    record(access, ci, DELETE, before, summary=summary)
