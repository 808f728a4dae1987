"""The give/get balance of a partnership in a period: what each side gave, what each side got.

A joint plan promises that both sides perform and both sides gain. This module is the one home of
how that is counted, for the health component "value flows both ways", the health page, the
review agenda and the API alike.

**What a side gave** in a period: its commitments due in the period (by due date) that were
promises, that is real commitments (not empty placeholders) of goals both sides agreed at some
time (``agreed_revision`` set; a draft's or a withdrawn proposal's commitments were never
promised). Each is one of:

- *done on time*: done on or before its due date (the day of ``done_at`` in the site's time zone);
- *done late*: done after its due date;
- *overdue*: not done, its goal in force and its due date passed (``goals.rules.overdue_filter``);
- *dropped*: not done, and its goal closed (achieved, missed or dropped): the promise can no
  longer be kept. A commitment deleted from a plan is gone from it and counts nowhere: deleting is
  how the sides correct a plan, not how they break a promise;
- *open*: not done, its goal in force and its due date still ahead.

Commitments without a due date are not due in any period and are not counted.

**What a side got** in a period: goals closed as achieved in the period (by ``closed_at``) whose
objective links to at least one of that side's drivers (``Objective.drivers``). An objective that
links to both sides' drivers counts for both; one that links to none counts for neither (it is
reported as *not attributed*). Partnerplan has no "partly achieved" outcome: a missed goal gives
no side an outcome.

Everything is counted in SQL with a fixed number of queries (``load_balances``: 3, for any number
of partnerships and periods). ``flow_score`` is the rule the health component applies.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext

from alignment.models import Objective, Side
from core.templatetags.formatting import side_word
from goals.models import Commitment, Goal, GoalStatus
from goals.rules import overdue_filter

QUARTERS_SHOWN = 4
FLOW_KINDS = ("on_time", "late", "overdue", "dropped", "open")
ENDED = (GoalStatus.ACHIEVED, GoalStatus.MISSED, GoalStatus.DROPPED)


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def quarter_of(cls, day: dt.date) -> Period:
        first = 3 * ((day.month - 1) // 3) + 1
        start = dt.date(day.year, first, 1)
        following = dt.date(day.year + (first == 10), 1 if first == 10 else first + 3, 1)
        return cls(start, following - dt.timedelta(days=1))

    def previous_quarter(self) -> Period:
        return Period.quarter_of(self.start - dt.timedelta(days=1))

    @property
    def is_quarter(self) -> bool:
        return Period.quarter_of(self.start) == self

    @property
    def label(self) -> str:
        if self.is_quarter:
            return gettext("Q%(n)s %(year)s") % {"n": (self.start.month - 1) // 3 + 1, "year": self.start.year}
        return f"{date_format(self.start, 'j M Y')} – {date_format(self.end, 'j M Y')}"


def last_quarters(day: dt.date, n: int = QUARTERS_SHOWN) -> list[Period]:
    """The quarter of ``day`` and the ``n - 1`` before it, oldest first."""
    quarters = [Period.quarter_of(day)]
    while len(quarters) < n:
        quarters.append(quarters[-1].previous_quarter())
    return quarters[::-1]


# --- The rule, as filters on commitments ------------------------------------------------------

PROMISED = Q(placeholder=False, due_date__isnull=False, goal__agreed_revision__isnull=False)


def flow_filters(today: dt.date) -> dict[str, Q]:
    """Each kind of a promised commitment as a filter (they exclude one another)."""
    return {
        "on_time": Q(done=True, done_at__date__lte=F("due_date")),
        "late": Q(done=True, done_at__date__gt=F("due_date")),
        "overdue": overdue_filter(today),
        "dropped": Q(done=False, goal__status__in=ENDED),
        "open": Q(done=False, goal__status=GoalStatus.AGREED, due_date__gte=today),
    }


def flow_counts(today: dt.date) -> dict[str, Count]:
    """The counts of each kind, to ``annotate`` a grouped queryset of promised commitments."""
    return {kind: Count("pk", filter=q) for kind, q in flow_filters(today).items()}


# --- What was counted -------------------------------------------------------------------------


@dataclass
class Flow:
    """One side in one period."""

    on_time: int = 0
    late: int = 0
    overdue: int = 0
    dropped: int = 0
    open: int = 0
    got: int = 0  # goals achieved in the period that move this side's drivers

    @property
    def gave(self) -> int:
        return self.on_time + self.late

    @property
    def owed(self) -> int:
        return self.overdue + self.dropped

    @property
    def due(self) -> int:
        return self.gave + self.owed + self.open

    def add(self, row: Mapping[str, Any]) -> None:
        for kind in FLOW_KINDS:
            setattr(self, kind, getattr(self, kind) + int(row.get(kind) or 0))

    def as_json(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in FLOW_KINDS} | {"gave": self.gave, "got": self.got}


@dataclass
class Balance:
    period: Period
    sides: dict[str, Flow] = field(default_factory=lambda: {s: Flow() for s in Side.values})
    achieved: int = 0  # goals achieved in the period
    unattributed: int = 0  # of which no objective driver names a side

    @property
    def has_commitments(self) -> bool:
        return any(f.due for f in self.sides.values())

    @property
    def settled(self) -> int:
        """Commitments whose fate is known (given or owed): what the delivery balance weighs."""
        return sum(f.gave + f.owed for f in self.sides.values())

    @property
    def started(self) -> bool:
        """Whether there is anything to balance: a commitment delivered or owed, or an outcome."""
        return bool(self.settled or self.achieved)

    @property
    def delivery_share(self) -> float | None:
        """What the side that delivered less delivered, as a share of what the other delivered
        (1: both alike; 0: one side delivered everything). None while nothing was settled."""
        if not self.settled:
            return None
        gave = sorted(f.gave for f in self.sides.values())
        return gave[0] / gave[-1] if gave[-1] else 0.0

    @property
    def got_sides(self) -> list[str]:
        return [s for s, f in self.sides.items() if f.got]


def add_outcomes(balance: Balance, achieved: Iterable[tuple[Any, int]], objective_sides: Mapping[Any, Any]) -> None:
    """Attribute goals achieved (``(objective id, how many)``) to the sides whose drivers their
    objective links to: both sides when it links to both, neither when to none."""
    for objective_id, n in achieved:
        balance.achieved += n
        sides = objective_sides.get(objective_id) or ()
        if not sides:
            balance.unattributed += n
        for side in sides:
            balance.sides[side].got += n


def flow_score(balance: Balance) -> tuple[float, str]:
    """The rule "value flows both ways": the delivery share (``Balance.delivery_share``) and
    whether both sides got an outcome, each weighing half when there is something to weigh.
    Nothing to balance yet scores 1: nobody carries the plan alone (as "no commitment was due
    yet" in timeliness); that is said in words, never as a percentage."""
    parts: list[float] = []
    words: list[str] = []
    share = balance.delivery_share
    vendor, partner = balance.sides[Side.VENDOR], balance.sides[Side.PARTNER]
    if share is not None:
        parts.append(share)
        if not vendor.gave and not partner.gave:
            words.append(
                ngettext(
                    "Neither side delivered the %(n)s commitment due this quarter.",
                    "Neither side delivered any of the %(n)s commitments due this quarter.",
                    balance.settled,
                )
                % {"n": balance.settled}
            )
        else:
            words.append(
                gettext("Delivered this quarter: vendor %(vendor)s, partner %(partner)s.")
                % {"vendor": vendor.gave, "partner": partner.gave}
            )
    attributed = balance.achieved - balance.unattributed
    if attributed:
        got = balance.got_sides
        parts.append(1.0 if len(got) == 2 else 0.0)
        if len(got) == 2:
            words.append(gettext("Both sides got outcomes from goals achieved."))
        else:
            words.append(
                gettext("Only the %(side)s side got outcomes from goals achieved.") % {"side": side_word(got[0])}
            )
    if not parts:
        return 1.0, gettext("Nothing to balance yet this quarter: no commitment delivered or owed, no goal achieved.")
    return sum(parts) / len(parts), " ".join(words)


# --- Loading, in SQL --------------------------------------------------------------------------


def _bucket(name: str, periods: Sequence[Period]) -> Case:
    """The index of the period a date falls in (first match), None outside them all."""
    return Case(
        *[When(**{f"{name}__range": (p.start, p.end)}, then=Value(i)) for i, p in enumerate(periods)],
        default=None,
        output_field=IntegerField(),
    )


def objective_driver_sides(partnership_ids: Iterable[Any]) -> dict[Any, dict[Any, frozenset[str]]]:
    """For each partnership, which sides' drivers each of its objectives links to (one query)."""
    sides: dict[Any, dict[Any, set[str]]] = defaultdict(lambda: defaultdict(set))
    through = Objective.drivers.through.objects.filter(objective__partnership_id__in=list(partnership_ids))
    for pid, oid, side in through.values_list("objective__partnership_id", "objective_id", "driver__side").distinct():
        sides[pid][oid].add(side)
    return {pid: {oid: frozenset(s) for oid, s in objectives.items()} for pid, objectives in sides.items()}


def load_balances(
    partnership_ids: Iterable[Any], periods: Sequence[Period], today: dt.date
) -> dict[Any, list[Balance]]:
    """The balance of every partnership in every period (in the order given), in 3 queries."""
    ids = list(partnership_ids)
    result = {pid: [Balance(period) for period in periods] for pid in ids}
    if not ids or not periods:
        return result
    first, last = min(p.start for p in periods), max(p.end for p in periods)
    rows = (
        Commitment.objects.filter(PROMISED, goal__partnership_id__in=ids, due_date__range=(first, last))
        .annotate(bucket=_bucket("due_date", periods))
        .exclude(bucket=None)
        .values("goal__partnership_id", "side", "bucket")
        .annotate(**flow_counts(today))
        .order_by()
    )
    for row in rows:
        result[row["goal__partnership_id"]][row["bucket"]].sides[row["side"]].add(row)
    objective_sides = {oid: sides for by in objective_driver_sides(ids).values() for oid, sides in by.items()}
    achieved = (
        Goal.objects.filter(partnership_id__in=ids, status=GoalStatus.ACHIEVED, closed_at__date__range=(first, last))
        .annotate(bucket=_bucket("closed_at__date", periods))
        .exclude(bucket=None)
        .values("partnership_id", "bucket", "objective_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in achieved:
        add_outcomes(result[row["partnership_id"]][row["bucket"]], [(row["objective_id"], row["n"])], objective_sides)
    return result


def partnership_balance(partnership_id: Any, period: Period, today: dt.date) -> Balance:
    return load_balances([partnership_id], [period], today)[partnership_id][0]


def balance_with_quarters(partnership_id: Any, period: Period, today: dt.date) -> tuple[Balance, list[Balance]]:
    """The balance of ``period`` and of the last quarters up to ``today``'s (oldest first): 3
    queries, 6 when ``period`` is not one of those quarters (periods counted together must not
    overlap)."""
    quarters = last_quarters(today)
    if period in quarters:
        balances = load_balances([partnership_id], quarters, today)[partnership_id]
        return balances[quarters.index(period)], balances
    current = partnership_balance(partnership_id, period, today)
    return current, load_balances([partnership_id], quarters, today)[partnership_id]
