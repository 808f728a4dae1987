"""Deriving interim goals from a mutual objective: the ``goals`` app's core job.

From an objective with a measurable long-term target, propose goals for the coming periods on a
straight trajectory from today's baseline to the target, as drafts with a placeholder commitment
for each side. Both sides then edit and agree them; nothing derived is ever agreed automatically.
Periods that already have a goal for the objective are left alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import models, transaction
from django.utils import timezone

from alignment.access import Access
from alignment.models import Objective, Side
from core.errors import InvalidInput, RuleViolation
from core.writes import convert, find, integer

from .models import Direction, Goal, GoalStatus
from .services import goal_create

PERIOD_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}
# Two years of months, six years of quarters: enough for the objectives of a joint plan.
MAX_PERIODS = 24


@dataclass
class Suggestion:
    period_start: dt.date
    period_end: dt.date
    baseline: Decimal
    target: Decimal
    title: str
    existing_goal: Any = None  # a goal already covering this period (the suggestion is then skipped)
    commitments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        return self.existing_goal is None


def period_containing(day: dt.date, length: str) -> tuple[dt.date, dt.date]:
    months = PERIOD_MONTHS[length]
    start_month = ((day.month - 1) // months) * months + 1
    start = dt.date(day.year, start_month, 1)
    return start, start + relativedelta(months=months) - dt.timedelta(days=1)


def coming_periods(start: dt.date, length: str, count: int) -> list[tuple[dt.date, dt.date]]:
    """``count`` calendar periods, the first being the one that contains ``start``."""
    first, _ = period_containing(start, length)
    months = PERIOD_MONTHS[length]
    return [
        (
            first + relativedelta(months=months * i),
            first + relativedelta(months=months * (i + 1)) - dt.timedelta(days=1),
        )
        for i in range(count)
    ]


def periods_until(target_date: dt.date, length: str, today: dt.date) -> int:
    """How many calendar periods, from the one containing ``today``, reach the one containing
    ``target_date`` (at least 1, at most ``MAX_PERIODS``)."""
    first, _ = period_containing(today, length)
    last, _ = period_containing(target_date, length)
    months = (last.year - first.year) * 12 + last.month - first.month
    return max(1, min(MAX_PERIODS, months // PERIOD_MONTHS[length] + 1))


def _precision(*values: Decimal) -> Decimal:
    exponent = min(v.normalize().as_tuple().exponent for v in values)
    return Decimal(1).scaleb(max(-2, min(0, int(exponent))))


def trajectory_value(
    objective: Objective, start_day: dt.date, day: dt.date, *, precision: Decimal | None = None
) -> Decimal:
    """The value on ``day`` of the straight line from (start_day, baseline) to (target_date, target),
    rounded to ``precision`` (by default, to the precision of the baseline and target themselves)."""
    baseline, target = objective.baseline, objective.target
    assert baseline is not None and target is not None and objective.target_date is not None
    total = (objective.target_date - start_day).days
    if total <= 0 or day >= objective.target_date:
        return target
    elapsed = max(0, (day - start_day).days)
    value = baseline + (target - baseline) * Decimal(elapsed) / Decimal(total)
    return value.quantize(precision or _precision(baseline, target), rounding=ROUND_HALF_UP)


FINEST = Decimal("0.0001")  # the goal's decimal places


def _step_precision(objective: Objective, start_day: dt.date, days: list[dt.date]) -> Decimal:
    """The coarsest rounding at which every period still has a step to make: a short way to go
    (100 to 102 over four quarters) would otherwise round to periods whose target is their baseline."""
    assert objective.baseline is not None and objective.target is not None
    precision = _precision(objective.baseline, objective.target)
    while precision > FINEST:
        points = [trajectory_value(objective, start_day, day, precision=precision) for day in days]
        if all(a != b for a, b in pairwise(points)):
            break
        precision = precision.scaleb(-1)
    return precision


def _as_periods(periods: Any) -> list[tuple[dt.date, dt.date]]:
    """Explicit periods as (start, end) dates; ISO date texts are accepted."""
    day: models.DateField[Any, Any] = models.DateField()
    try:
        pairs = [(convert(day, start, "periods"), convert(day, end, "periods")) for start, end in periods]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            "Periods are pairs of dates (start, end).", fields={"periods": ["Expected date pairs."]}
        ) from exc
    if not pairs or any(start is None or end is None for start, end in pairs):
        raise InvalidInput("Give at least one period with a start and an end.", fields={"periods": ["Missing dates."]})
    if len(pairs) > MAX_PERIODS:
        raise InvalidInput(f"Derive 1 to {MAX_PERIODS} periods.", fields={"periods": ["Too many."]})
    return pairs


def suggest_interim_goals(
    objective: Objective,
    *,
    length: str = "quarter",
    count: int | None = None,
    today: dt.date | None = None,
    periods: list[tuple[dt.date, dt.date]] | None = None,
) -> list[Suggestion]:
    """Interim goals for the coming periods (or the given, possibly uneven, periods). Saves nothing.

    Without a ``count``, the periods reach the objective's target date (up to ``MAX_PERIODS``), so
    the last one's target is the long-term target itself.
    """
    if not objective.is_measurable or objective.baseline is None:
        raise RuleViolation(
            f"“{objective.title}” has no measurable long-term target: give it a metric, a baseline, a numeric "
            "target and a target date to derive interim goals.",
            code="objective.not_measurable",
        )
    if objective.baseline == objective.target:
        raise RuleViolation(
            "The objective's baseline and target are equal: there is no way to go.", code="objective.no_trajectory"
        )
    today = today or timezone.localdate()
    if periods is None:
        if not isinstance(length, str) or length not in PERIOD_MONTHS:
            raise InvalidInput(f"Period length is one of {', '.join(PERIOD_MONTHS)}.", fields={"length": ["Unknown."]})
        assert objective.target_date is not None  # measurable
        count = periods_until(objective.target_date, length, today) if count is None else integer(count, "count")
        if not 1 <= count <= MAX_PERIODS:
            raise InvalidInput(f"Derive 1 to {MAX_PERIODS} periods.", fields={"count": ["Out of range."]})
        periods = coming_periods(today, length, count)
    periods = sorted(_as_periods(periods))
    for (_, e1), (s2, _) in pairwise(periods):
        if s2 <= e1:
            raise InvalidInput("Periods must not overlap.", fields={"periods": [f"{s2} starts before {e1} ends."]})
    for start, end in periods:
        if end < start:
            raise InvalidInput("A period must end after it starts.", fields={"periods": [f"{start} – {end}"]})
    start_day = objective.baseline_date or today
    assert objective.target_date is not None
    periods = [(s, e) for s, e in periods if s <= objective.target_date]
    if not periods:
        raise RuleViolation(
            f"The objective's target date ({objective.target_date}) is before these periods.",
            code="objective.target_date_passed",
        )
    existing = list(
        Goal.objects.filter(objective=objective)
        .exclude(status=GoalStatus.WITHDRAWN)
        .only("id", "title", "period_start", "period_end", "status")
    )
    target_date = objective.target_date
    precision = _step_precision(objective, start_day, [periods[0][0]] + [min(e, target_date) for _, e in periods])
    suggestions = []
    previous_target: Decimal | None = None
    for start, end in periods:
        base = (
            previous_target
            if previous_target is not None
            else trajectory_value(objective, start_day, start, precision=precision)
        )
        target = trajectory_value(objective, start_day, min(end, target_date), precision=precision)
        previous_target = target
        overlap = next((g for g in existing if g.period_start <= end and g.period_end >= start), None)
        unit = f" {objective.metric_unit}" if objective.metric_unit else ""
        suggestions.append(
            Suggestion(
                period_start=start,
                period_end=end,
                baseline=base,
                target=target,
                existing_goal=overlap,
                title=f"{objective.metric_name or objective.title}: {target.normalize():f}{unit} by {end:%-d %b %Y}",
                commitments=[
                    {
                        "side": Side.VENDOR,
                        "text": "What will the vendor do to get there? (suggested slot)",
                        "placeholder": True,
                    },
                    {
                        "side": Side.PARTNER,
                        "text": "What will the partner do to get there? (suggested slot)",
                        "placeholder": True,
                    },
                ],
            )
        )
    return suggestions


@transaction.atomic
def goals_derive(
    *, access: Access, objective_id: Any, suggestions: list[Suggestion] | None = None, **options: Any
) -> list[Goal]:
    """Create the suggested interim goals as drafts, skipping periods that already have a goal."""
    access.require_edit("derive goals")
    unknown = set(options) - {"length", "count", "today", "periods"}
    if unknown:
        raise InvalidInput(
            f"Unknown option(s): {', '.join(sorted(unknown))}.", fields={name: ["Unknown option."] for name in unknown}
        )
    objective = find(Objective.objects.filter(partnership=access.partnership), objective_id)
    if objective is None:
        raise InvalidInput("Choose an objective of this partnership.", fields={"objective": ["No such objective."]})
    planned = suggest_interim_goals(objective, **options) if suggestions is None else suggestions
    if suggestions is not None and not objective.is_measurable:
        suggest_interim_goals(objective)  # raises the not-measurable error
    taken = list(
        Goal.objects.filter(objective=objective)
        .exclude(status=GoalStatus.WITHDRAWN)
        .values_list("period_start", "period_end")
    )
    created = []
    for s in planned:
        if any(start <= s.period_end and end >= s.period_start for start, end in taken):
            continue
        taken.append((s.period_start, s.period_end))
        direction = Direction.INCREASE if objective.target > objective.baseline else Direction.DECREASE  # type: ignore[operator]
        created.append(
            goal_create(
                access=access,
                objective_id=objective.pk,
                title=s.title,
                period_start=s.period_start,
                period_end=s.period_end,
                metric_name=objective.metric_name or objective.title,
                metric_unit=objective.metric_unit,
                baseline=s.baseline,
                target=s.target,
                direction=direction,
                commitments=s.commitments,
            )
        )
    return created
