"""Alignment health (0-100) of a partnership, explainable: every component says what it measured,
how much it contributes and why. Health decays when the plan goes stale (no check-ins, overdue
reviews). ``health_for`` computes it for many partnerships with a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone, translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext, ngettext

from alignment.changes import cache_hour, plan_generations
from alignment.models import AlignmentReview, Objective, Partnership, Side, Vision, VisionEndorsement
from core.kept_reads import KeptRows
from core.statements import among
from core.templatetags.formatting import side_word
from goals.models import Commitment, Goal, GoalStatus
from goals.queries import confirmed_figures, latest_check_ins
from goals.rules import due_filter, is_due

from .balance import PROMISED, Balance, Period, add_outcomes, flow_counts, flow_score, objective_driver_sides

# Weights add up to 100.
WEIGHTS = {
    "vision": 15,
    "coverage": 15,
    "agreement": 15,
    "balance": 5,
    "timeliness": 5,
    "reviews": 15,
    "freshness": 10,
    "confidence": 10,
    "flows": 10,
}
FRESH_DAYS, STALE_DAYS = 30, 90
# In the keys of cached reports: a release that changes ``HealthReport`` (or the module it is
# pickled from) bumps it, so processes of either release never read the other's entries.
CACHE_FORMAT = 5  # 5: freshness counts only confirmed figures (two-key actuals)
REVIEW_GRACE_DAYS, REVIEW_ZERO_DAYS = 7, 60
SIDES = tuple(Side.values)  # ``Side.values`` makes a list at each use


@dataclass
class Component:
    key: str
    label: str
    weight: int
    score: float  # 0..1
    explanation: str

    @property
    def points(self) -> float:
        return round(self.weight * self.score, 1)


@dataclass
class HealthReport:
    score: int
    components: list[Component]
    # Whether the plan has started (``has_started``): before, screens say "Getting started"
    # instead of a score that would only count what is not written yet.
    started: bool = True

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(c) | {"points": c.points} for c in self.components]


@dataclass
class PlanFacts:
    """What health is computed from, loaded in bulk (see ``load_facts``)."""

    endorsed_sides: set[str] = field(default_factory=set)
    has_vision_text: bool = False
    active_objectives: dict[Any, str] = field(default_factory=dict)  # id -> title
    current_goals: list[Mapping[str, Any]] = field(default_factory=list)
    # Of this period's goals, and those due so far of agreed goals of any period (with "goal_status").
    commitments: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[Mapping[str, Any]] = field(default_factory=list)
    # The latest figure of each (goal, side) of this period's agreed goals that shows (its day and
    # the side's confidence; a disputed figure does not show): a side's confidence is its own
    # opinion, not a figure the other side confirms, so the confidence gap reads it as entered.
    latest_check_ins: dict[tuple[Any, str], dict[str, Any]] = field(default_factory=dict)
    # Of the same goals and sides: the day of the latest figure the other side confirmed and how
    # many figures wait for its confirmation (``goals.queries.confirmed_figures``). Only confirmed
    # figures make check-ins fresh (two-key actuals).
    confirmed_figures: dict[tuple[Any, str], dict[str, Any]] = field(default_factory=dict)
    # Both sides agreed a goal at some time (any period; in force, closed or amended since).
    agreed_a_goal: bool = False
    # The give/get balance of the quarter (``cadence.balance``), kept by goal so that it can be
    # patched goal by goal: each goal's promised commitments due in the quarter counted by side and
    # kind, the goals achieved in the quarter, and the sides each objective's drivers belong to.
    flows: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[Mapping[str, Any]] = field(default_factory=list)
    objective_sides: dict[Any, frozenset[str]] = field(default_factory=dict)


def has_started(facts: PlanFacts) -> bool:
    """The rule "the plan has started": both sides have agreed its first goal.

    Until then the plan is being written (the vision, objectives, first goals, the partner's
    invitation), and its health score would only count what is not there yet: a new plan would
    open at 10 of 100 in red. Every screen that shows the score (plan header, dashboard, health
    page) shows "Getting started" instead while this is False; the score is still computed,
    explained and stored, so its trend begins on the plan's first day."""
    return facts.agreed_a_goal


def _day(moment: dt.datetime | dt.date) -> str:
    """A day as the explanations write it ("3 Mar 2026"), in the active language."""
    return date_format(moment, "j M Y")


AGREED_STATES = frozenset({"agreed", "achieved", "missed"})


class GoalPart(NamedTuple):
    """What one goal brings to the components counted over goals (coverage, agreement, balance,
    timeliness, freshness, confidence), from its own facts alone. ``compute`` adds up the parts of
    a plan's goals; ``HealthState`` keeps each goal's part and works out again only the parts of
    the goals that changed. Both add them up in ``_report``, so the rules stay here, once."""

    counted: bool = False  # a goal of this period, not withdrawn or dropped
    agreed: bool = False  # of those: agreed, achieved or missed
    objective: Any = None
    open: bool = False  # of those: not achieved or missed (both sides should have committed)
    sides: frozenset[str] = frozenset()  # the sides with a real commitment on it
    due: int = 0  # its commitments due so far (``goals.rules.is_due``)
    overdue: Mapping[str, int] = MappingProxyType({})  # of those, not done, by side
    live: bool = False  # counted and agreed (in force): freshness and confidence
    fresh: float = 0.0  # freshness of a live goal (1 up to 30 days, 0 from 90)
    stale: tuple[int, str, bool] | None = None  # (days, title, ever confirmed) past 30 days
    waiting: tuple[int, str] | None = None  # (figures waiting for confirmation, title)
    gap: tuple[int, str] | None = None  # (confidence gap, title) when both sides checked in


def goal_part(
    goal: Mapping[str, Any] | None,
    commitments: Iterable[Mapping[str, Any]],
    latest: Mapping[str, Mapping[str, Any] | None],
    confirmed: Mapping[str, Mapping[str, Any] | None],
    today: dt.date,
) -> GoalPart:
    """One goal's ``GoalPart`` on ``today``: ``goal``, its row among ``PlanFacts.current_goals``
    (None for a goal not of this period, which only has commitments due); its commitments among
    ``PlanFacts.commitments``; its latest check-in and its confirmed figures by side (a side
    without one: missing or None)."""
    status = goal["status"] if goal is not None else ""
    due = 0
    overdue: dict[str, int] = {}
    sides = set()
    for c in commitments:
        placeholder = c["placeholder"]
        if not placeholder and c["text"].strip():
            sides.add(c["side"])
        # Due and overdue are ``goals.rules``' (every screen counts the same commitments).
        if is_due(
            placeholder=placeholder, due_date=c["due_date"], today=today, goal_status=c.get("goal_status") or status
        ):
            due += 1
            if not c["done"]:
                overdue[c["side"]] = overdue.get(c["side"], 0) + 1
    if goal is None or status in ("withdrawn", "dropped"):
        return GoalPart(sides=frozenset(sides), due=due, overdue=overdue) if sides or due else NOTHING
    fresh, stale, waiting, gap = 0.0, None, None, None
    live = status == "agreed"
    if live:
        # Two-key actuals: only a figure the other side confirmed (or the sides settled) counts.
        figures = [f for s in SIDES if (f := confirmed.get(s))]
        days = [f["confirmed_on"] for f in figures if f["confirmed_on"] is not None]
        pending = sum(f["waiting"] for f in figures)
        if pending:
            waiting = (pending, goal["title"])
        since = max(days) if days else (goal["agreed_at"].date() if goal["agreed_at"] else goal["period_start"])
        age = max(0, (today - since).days)
        fresh = 1.0 if age <= FRESH_DAYS else max(0.0, 1 - (age - FRESH_DAYS) / (STALE_DAYS - FRESH_DAYS))
        if age > FRESH_DAYS:
            stale = (age, goal["title"], bool(days))
        v, p = latest.get("vendor"), latest.get("partner")
        if v and p:
            gap = (abs(v["confidence"] - p["confidence"]), goal["title"])
    return GoalPart(
        True,
        status in AGREED_STATES,
        goal["objective_id"],
        status not in ("achieved", "missed"),
        frozenset(sides),
        due,
        overdue,
        live,
        fresh,
        stale,
        waiting,
        gap,
    )


NOTHING = GoalPart()


def goal_parts(facts: PlanFacts, today: dt.date) -> list[GoalPart]:
    """The parts of a plan's goals: of this period's goals in their order, then of the goals of
    other periods that have commitments among the facts."""
    commitments: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for c in facts.commitments:
        commitments[c["goal_id"]].append(c)
    latest, confirmed = facts.latest_check_ins, facts.confirmed_figures
    parts = []
    for g in facts.current_goals:
        gid = g["id"]
        if g["status"] == "agreed":  # a live goal's check-ins count (``goal_part``)
            mine = {"vendor": latest.get((gid, "vendor")), "partner": latest.get((gid, "partner"))}
            figures = {s: confirmed.get((gid, s)) for s in SIDES}
        else:
            mine = figures = {}
        parts.append(goal_part(g, commitments.pop(gid, ()), mine, figures, today))
    parts += [goal_part(None, rows, {}, {}, today) for rows in commitments.values()]
    return parts


def compute(facts: PlanFacts, now: dt.datetime) -> HealthReport:
    """Pure: the health of one partnership from its facts."""
    return _report(facts, goal_parts(facts, now.date()), now)


def _report(facts: PlanFacts, parts: Sequence[GoalPart], now: dt.datetime) -> HealthReport:
    """The health from the plan's own facts (vision, objectives, reviews, the give/get balance) and
    its goals' parts (``goal_parts``: this period's goals in their order first); of ``facts``, the
    lists of the goals' facts are not read."""
    today = now.date()
    components: list[Component] = []

    # 1. The vision, endorsed by both sides on its current revision.
    n = len(facts.endorsed_sides)
    if n == 2:
        why = gettext("Both sides endorsed the current vision.")
    elif n == 1:
        endorsed = next(iter(facts.endorsed_sides))
        why = gettext("Only the %(side)s side endorsed the current vision; the %(other)s side has not.") % {
            "side": side_word(endorsed),
            "other": side_word(Side.other(endorsed)),
        }
    elif facts.has_vision_text:
        why = gettext("Neither side has endorsed the current vision.")
    else:
        why = gettext("The vision is not written yet.")
    components.append(Component("vision", gettext("Shared vision endorsed"), WEIGHTS["vision"], n / 2, why))

    # What the goals' parts add up to, in one pass (in order: the live goals are this period's in their order).
    counted = agreed = open_goals = balanced = due = overdue = 0
    covered: set[Any] = set()
    lacking = dict.fromkeys(SIDES, 0)
    by_side = dict.fromkeys(SIDES, 0)
    live: list[GoalPart] = []
    for part in parts:
        if part.due:
            due += part.due
            for side, k in part.overdue.items():
                overdue += k
                if side in by_side:
                    by_side[side] += k
        if not part.counted:
            continue
        counted += 1
        if part.agreed:
            agreed += 1
            covered.add(part.objective)
        if part.open:
            open_goals += 1
            balanced += len(part.sides) == 2
            for side in SIDES:
                lacking[side] += side not in part.sides
        if part.live:
            live.append(part)

    # 2. Objectives covered by an agreed goal this period.
    objectives = facts.active_objectives
    if objectives:
        uncovered = [t for oid, t in objectives.items() if oid not in covered]
        score = (len(objectives) - len(uncovered)) / len(objectives)
        if not uncovered:
            why = ngettext(
                "The objective has an agreed goal this period.",
                "All %(n)s objectives have an agreed goal this period.",
                len(objectives),
            ) % {"n": len(objectives)}
        else:
            titles = ", ".join(f"“{t}”" for t in uncovered[:3]) + ("…" if len(uncovered) > 3 else "")
            why = ngettext(
                "%(n)s objective without an agreed goal this period: %(titles)s.",
                "%(n)s objectives without an agreed goal this period: %(titles)s.",
                len(uncovered),
            ) % {"n": len(uncovered), "titles": titles}
    else:
        score, why = 0.0, gettext("No active mutual objectives yet.")
    components.append(
        Component("coverage", gettext("Objectives covered by agreed goals"), WEIGHTS["coverage"], score, why)
    )

    # 3. Share of this period's goals that both sides agreed.
    if counted:
        score = agreed / counted
        pending = counted - agreed
        if not pending:
            why = ngettext(
                "The goal of this period is agreed.", "All %(n)s goals of this period are agreed.", counted
            ) % {"n": counted}
        else:
            why = ngettext(
                "%(agreed)s of %(n)s goal of this period agreed; %(pending)s still in negotiation.",
                "%(agreed)s of %(n)s goals of this period agreed; %(pending)s still in negotiation.",
                counted,
            ) % {"agreed": agreed, "n": counted, "pending": pending}
    else:
        score, why = 0.0, gettext("No goals for the current period.")
    components.append(Component("agreement", gettext("Goals agreed by both sides"), WEIGHTS["agreement"], score, why))

    # 4. Balance: every open goal has a real commitment from each side.
    if open_goals:
        score = balanced / open_goals
        shortfalls = [
            ngettext("%(side)s has no commitment on %(n)s goal", "%(side)s has no commitment on %(n)s goals", k)
            % {"side": side_word(side), "n": k}
            for side, k in lacking.items()
            if k
        ]
        if shortfalls:
            text = "; ".join(shortfalls)
            why = text[:1].upper() + text[1:] + "."
        else:
            why = gettext("Both sides committed on every open goal.")
    else:
        score, why = 0.0, gettext("No open goals to commit to.")
    components.append(Component("balance", gettext("Commitments from both sides"), WEIGHTS["balance"], score, why))

    # 5. Timeliness: commitments due so far are done. Only an agreed goal's commitments are promises
    # that can still be kept (marked done); a draft's or a closed goal's due dates would count forever.
    # Due and overdue are ``goals.rules``' (``goal_part``: every screen counts the same commitments).
    if due:
        score = 1 - overdue / due
        if not overdue:
            why = ngettext("The commitment due so far is done.", "All %(n)s commitments due so far are done.", due) % {
                "n": due
            }
        else:
            why = ngettext(
                "%(n)s commitment overdue (vendor %(vendor)s, partner %(partner)s).",
                "%(n)s commitments overdue (vendor %(vendor)s, partner %(partner)s).",
                overdue,
            ) % {"n": overdue, "vendor": by_side["vendor"], "partner": by_side["partner"]}
    else:
        score, why = 1.0, gettext("No commitment was due yet.")
    components.append(Component("timeliness", gettext("Commitments kept on time"), WEIGHTS["timeliness"], score, why))

    # 6. Reviews held on schedule.
    due_reviews = [r for r in facts.reviews if r["scheduled_for"] <= now and r["status"] != "skipped"]
    upcoming = [r for r in facts.reviews if r["scheduled_for"] > now and r["status"] == "scheduled"]
    if due_reviews:
        last = max(due_reviews, key=lambda r: r["scheduled_for"])
        if last["status"] == "held":
            score, why = 1.0, gettext("The last review (%(date)s) was held.") % {"date": _day(last["scheduled_for"])}
        else:
            late = (now - last["scheduled_for"]).days
            if late <= REVIEW_GRACE_DAYS:
                score = 1.0
            else:
                score = max(0.0, 1 - (late - REVIEW_GRACE_DAYS) / (REVIEW_ZERO_DAYS - REVIEW_GRACE_DAYS))
            why = ngettext(
                "The last review is %(n)s day overdue (due %(date)s).",
                "The last review is %(n)s days overdue (due %(date)s).",
                late,
            ) % {"n": late, "date": _day(last["scheduled_for"])}
    elif upcoming:
        first = min(r["scheduled_for"] for r in upcoming)
        score, why = 1.0, gettext("The first review is scheduled for %(date)s.") % {"date": _day(first)}
    else:
        score, why = 0.0, gettext("No alignment review is scheduled.")
    components.append(Component("reviews", gettext("Reviews held on schedule"), WEIGHTS["reviews"], score, why))

    # 7. Freshness of check-ins on agreed goals (decays from 30 to 90 days). Two-key actuals: only
    # a figure the other side confirmed (or the sides settled) counts; the others wait and are named.
    if live:
        # In the goals' order: the sum of the scores is a sum of floats, and the waiting are named in order.
        stale = [part.stale for part in live if part.stale is not None]
        waiting = [part.waiting for part in live if part.waiting is not None]
        score = sum(part.fresh for part in live) / len(live)
        if stale:
            age, title, had = max(stale)
            weeks = age // 7
            how_many = ngettext(
                "%(n)s agreed goal without a recent confirmed check-in;",
                "%(n)s agreed goals without a recent confirmed check-in;",
                len(stale),
            ) % {"n": len(stale)}
            if had:
                worst = ngettext(
                    "“%(title)s” has had no confirmed check-in for %(n)s week.",
                    "“%(title)s” has had no confirmed check-in for %(n)s weeks.",
                    weeks,
                )
            else:
                worst = ngettext(
                    "“%(title)s” has had no confirmed check-in since it was agreed %(n)s week ago.",
                    "“%(title)s” has had no confirmed check-in since it was agreed %(n)s weeks ago.",
                    weeks,
                )
            why = f"{how_many} {worst % {'title': title, 'n': weeks}}"
        else:
            why = ngettext(
                "Every agreed goal had a confirmed check-in in the last %(n)s day.",
                "Every agreed goal had a confirmed check-in in the last %(n)s days.",
                FRESH_DAYS,
            ) % {"n": FRESH_DAYS}
        if waiting:
            n = sum(k for k, _ in waiting)
            titles = ", ".join(f"“{t}”" for _, t in waiting[:3]) + ("…" if len(waiting) > 3 else "")
            why += " " + ngettext(
                "%(n)s figure waits for the other side's confirmation and does not count yet (%(titles)s).",
                "%(n)s figures wait for the other side's confirmation and do not count yet (%(titles)s).",
                n,
            ) % {"n": n, "titles": titles}
    else:
        score, why = 0.0, gettext("No agreed goals to check in on.")
    components.append(Component("freshness", gettext("Check-ins are fresh"), WEIGHTS["freshness"], score, why))

    # 8. Confidence gap between the sides' latest check-ins.
    gaps = [part.gap for part in live if part.gap is not None]
    if gaps:
        mean = sum(gap for gap, _ in gaps) / len(gaps)
        score = 1 - mean / 4
        widest = max(gaps)
        if widest[0] == 0:
            why = ngettext(
                "Both sides are equally confident on %(n)s goal.",
                "Both sides are equally confident on %(n)s goals.",
                len(gaps),
            ) % {"n": len(gaps)}
        else:
            why = ngettext(
                "Average confidence gap %(mean)s of 4; widest on “%(title)s” (%(n)s point).",
                "Average confidence gap %(mean)s of 4; widest on “%(title)s” (%(n)s points).",
                widest[0],
            ) % {"mean": number_format(Decimal(f"{mean:.1f}"), decimal_pos=1), "title": widest[1], "n": widest[0]}
    else:
        score, why = 0.0, gettext("No goal has a confidence from both sides yet.")
    components.append(
        Component("confidence", gettext("Both sides equally confident"), WEIGHTS["confidence"], score, why)
    )

    # 9. Value flows both ways: both sides deliver, both sides gain (``cadence.balance``).
    score, why = flow_score(balance_of(facts, today))
    components.append(Component("flows", gettext("Value flows both ways"), WEIGHTS["flows"], score, why))

    total = round(sum(c.weight * c.score for c in components))
    return HealthReport(score=max(0, min(100, total)), components=components, started=has_started(facts))


def balance_of(facts: PlanFacts, today: dt.date) -> Balance:
    """The give/get balance of the quarter of ``today`` from a plan's facts."""
    balance = Balance(Period.quarter_of(today))
    for row in facts.flows:
        balance.sides[row["side"]].add(row)
    add_outcomes(balance, ((g["objective_id"], 1) for g in facts.outcomes), facts.objective_sides)
    return balance


def _flow_rows(scope: Q, today: dt.date) -> Any:
    """Promised commitments due in the quarter of ``today``, counted by goal, side and kind."""
    quarter = Period.quarter_of(today)
    return (
        Commitment.objects.filter(scope, PROMISED, due_date__range=(quarter.start, quarter.end))
        .values("goal_id", "goal__partnership_id", "side")
        .annotate(**flow_counts(today))
        .order_by("goal_id", "side")
    )


def _outcome_rows(scope: Q, today: dt.date) -> Any:
    """Goals achieved in the quarter of ``today``."""
    quarter = Period.quarter_of(today)
    return Goal.objects.filter(
        scope, status=GoalStatus.ACHIEVED, closed_at__date__range=(quarter.start, quarter.end)
    ).values("id", "partnership_id", "objective_id")


def load_facts(partnership_ids: Iterable[Any], now: dt.datetime) -> dict[Any, PlanFacts]:
    """Facts for many partnerships in a fixed number of queries (11), whatever their size."""
    ids = list(partnership_ids)
    facts = {pid: PlanFacts() for pid in ids}
    if not ids:
        return facts
    today = now.date()
    # Every partnership has its vision (made with it): its row also says whether a goal was agreed.
    agreed_goal = Goal.objects.filter(partnership_id=OuterRef("partnership_id"), agreed_revision__isnull=False)
    for pid, a, b, c, agreed in (
        Vision.objects.filter(partnership_id__in=ids)
        .annotate(agreed_a_goal=Exists(agreed_goal))
        .values_list("partnership_id", "why_together", "what_we_hope", "how_we_work", "agreed_a_goal")
    ):
        facts[pid].has_vision_text = bool(a.strip() and b.strip() and c.strip())
        facts[pid].agreed_a_goal = agreed
    for pid, side in VisionEndorsement.objects.filter(
        vision__partnership_id__in=ids, revision=F("vision__revision")
    ).values_list("vision__partnership_id", "side"):
        facts[pid].endorsed_sides.add(side)
    for oid, pid, title in Objective.objects.filter(partnership_id__in=ids, status=Objective.Status.ACTIVE).values_list(
        "id", "partnership_id", "title"
    ):
        facts[pid].active_objectives[oid] = title
    goals = list(
        Goal.objects.filter(partnership_id__in=ids, period_start__lte=today, period_end__gte=today).values(
            "id", "partnership_id", "objective_id", "status", "title", "agreed_at", "period_start"
        )
    )
    goal_partnership = {}
    for g in goals:
        facts[g["partnership_id"]].current_goals.append(g)
        goal_partnership[g["id"]] = g["partnership_id"]
    # One round trip for two needs: the commitments of this period's goals (balance), and every
    # commitment due so far of an agreed goal, of any period (timeliness: ``goals.rules.is_due``).
    # Two branches of a UNION ALL, not one OR: an OR across the two tables cannot use either
    # index and scans every commitment of the portfolio; each branch is an index lookup.
    current = list(goal_partnership)
    columns = ("goal_id", "goal__partnership_id", "goal__status", "side", "text", "placeholder", "due_date", "done")
    rows = (
        Commitment.objects.filter(goal_id__in=current)
        .values(*columns)
        .order_by()  # the model's ordering is not allowed in a branch of a UNION (SQLite)
        .union(
            Commitment.objects.filter(Q(goal__partnership_id__in=ids) & due_filter(today))
            .exclude(goal_id__in=current)
            .values(*columns)
            .order_by(),
            all=True,
        )
    )
    for row in cast(Iterable[dict[str, Any]], rows):  # plain dicts, reshaped here
        facts[row.pop("goal__partnership_id")].commitments.append(row | {"goal_status": row.pop("goal__status")})
    for r in AlignmentReview.objects.filter(
        partnership_id__in=ids, scheduled_for__gte=now - dt.timedelta(days=400)
    ).values("partnership_id", "status", "scheduled_for"):
        facts[r["partnership_id"]].reviews.append(r)
    agreed_ids = [g["id"] for g in goals if g["status"] == "agreed"]
    for (gid, side), ci in latest_check_ins(agreed_ids).items():
        facts[goal_partnership[gid]].latest_check_ins[(gid, side)] = {
            "measured_on": ci.measured_on,
            "confidence": ci.confidence,
        }
    for (gid, side), figures in confirmed_figures(agreed_ids).items():
        facts[goal_partnership[gid]].confirmed_figures[(gid, side)] = figures
    for row in _flow_rows(Q(goal__partnership_id__in=ids), today):
        facts[row.pop("goal__partnership_id")].flows.append(row)
    for g in _outcome_rows(Q(partnership_id__in=ids), today):
        facts[g["partnership_id"]].outcomes.append(g)
    for pid, objective_sides in objective_driver_sides(ids).items():
        facts[pid].objective_sides = objective_sides
    return facts


def health_for(partnerships: Iterable[Partnership | Any], now: dt.datetime | None = None) -> dict[Any, HealthReport]:
    now = now or timezone.now()
    ids = [p.pk if isinstance(p, Partnership) else p for p in partnerships]
    return {pid: compute(f, now) for pid, f in load_facts(ids, now).items()}


# --- Cached health (dashboards over many partnerships) -----------------------------------------
#
# A report is cached under (partnership, plan generation, hour). Every change to a plan goes
# through ``record_change``, which gives the partnership a new generation token
# (``alignment.changes.plan_generations``), so a cached report never outlives a change; the hour in
# the key covers the decay of an unchanged plan (overdue reviews, stale check-ins), whose inputs
# move by the day.


def cached_health_for(
    partnerships: Iterable[Partnership | Any],
    now: dt.datetime | None = None,
    *,
    generations: dict[Any, str] | None = None,
) -> dict[Any, HealthReport]:
    """``health_for`` through the cache: only partnerships changed since their report was cached
    (or whose hour has turned) are computed."""
    now = now or timezone.now()
    ids = [p.pk if isinstance(p, Partnership) else p for p in partnerships]
    seconds = getattr(settings, "HEALTH_CACHE_SECONDS", 3600)
    if seconds <= 0 or not ids:
        return health_for(ids, now)
    generations = generations or plan_generations(ids)
    hour = cache_hour(now)
    # A report explains itself in words: one per language.
    language = translation.get_language()
    keys = {pid: _report_key(pid, generations[pid], hour, language) for pid in ids}
    hits = cache.get_many(list(keys.values()))
    reports = {pid: hits[key] for pid, key in keys.items() if key in hits}
    missing = [pid for pid in ids if pid not in reports]
    if missing:
        computed = health_for(missing, now)
        cache.set_many({keys[pid]: report for pid, report in computed.items()}, seconds)
        reports |= computed
    return reports


def partnership_health(partnership: Partnership | Any, now: dt.datetime | None = None) -> HealthReport:
    pid = partnership.pk if isinstance(partnership, Partnership) else partnership
    return health_for([pid], now)[pid]


def _report_key(pid: Any, generation: str, hour: str, language: str | None) -> str:
    return f"health:{CACHE_FORMAT}:{pid}:{generation}:{hour}:{language}"


def remember_health(pid: Any, generation: str, now: dt.datetime, report: HealthReport) -> None:
    """Put a report computed elsewhere (``state_report``) where ``cached_health_for`` finds it."""
    seconds = getattr(settings, "HEALTH_CACHE_SECONDS", 3600)
    if seconds > 0:
        cache.set(_report_key(pid, generation, cache_hour(now), translation.get_language()), report, seconds)


# --- Health of one plan, kept up to date goal by goal -------------------------------------------
#
# ``load_facts`` reads a whole plan: for the 500 goals of a large plan some 50 ms, most of it the
# latest check-in of every agreed goal and the commitments. After a change of one goal only that
# goal's facts can have moved, so ``HealthState`` keeps one plan's facts goal by goal
# (``GoalFacts``, with the goal's ``GoalPart``) and ``patch_state`` reads again only what the change
# touched: the rows of the goals named (their current row, commitments and latest check-ins) and,
# when told, the vision, the objectives or the reviews (small reads). It replaces those goals'
# facts and parts and leaves the others as they are: patching does not walk the plan.
# ``state_report`` adds up the kept parts (``_report``, as ``compute`` does over ``load_facts``;
# ``tests/test_plan_updates.py`` compares the two after random changes).
#
# Facts depend on the day (the current period, what is due): a state is valid for the day it was
# loaded on; ``patch_state`` refuses another day and the caller loads it anew.

GOAL_FACTS = ("id", "partnership_id", "objective_id", "status", "title", "agreed_at", "period_start")
COMMITMENT_FACTS = (
    "goal_id",
    "goal__partnership_id",
    "goal__status",
    "side",
    "text",
    "placeholder",
    "due_date",
    "done",
)
REVIEW_DAYS = 400


@dataclass(frozen=True)
class GoalFacts:
    """One goal's share of its plan's ``PlanFacts``, and its ``GoalPart`` on the state's day."""

    row: Mapping[str, Any] | None = None  # in ``current_goals``: a goal of this period
    order: tuple[Any, ...] | None = None  # its place among them (period, creation, id)
    commitments: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # its latest check-in, by side
    confirmed: dict[str, dict[str, Any]] = field(default_factory=dict)  # its confirmed figures, by side
    flows: list[dict[str, Any]] = field(default_factory=list)
    outcome: Mapping[str, Any] | None = None  # achieved in the quarter
    part: GoalPart = field(default_factory=GoalPart)


@dataclass
class HealthState:
    """One plan's ``PlanFacts`` as of ``day``, kept goal by goal (``facts`` puts them together)."""

    day: dt.date
    # The plan's own facts (vision, objectives, reviews, drivers, whether a goal was agreed); its
    # lists of goals' facts stay empty: those are in ``goals``.
    plan: PlanFacts
    goals: dict[Any, GoalFacts] = field(default_factory=dict)
    # The places of the current goals (``GoalFacts.order``), in order: ``current_goals``' order.
    current: list[tuple[Any, ...]] = field(default_factory=list)
    # The plan's goals both sides agreed at some time (``PlanFacts.agreed_a_goal``), and whether
    # the plan has its vision (without it ``load_facts`` leaves ``agreed_a_goal`` False).
    agreed: set[Any] = field(default_factory=set)
    has_vision: bool = False

    @property
    def facts(self) -> PlanFacts:
        """The plan's facts as ``load_facts`` reads them (a new object, a walk over every goal)."""
        goals = self.goals.items()
        return replace(
            self.plan,
            current_goals=[self.goals[place[-1]].row for place in self.current],  # type: ignore[misc]
            commitments=[c for _gid, g in goals for c in g.commitments],
            latest_check_ins={(gid, side): ci for gid, g in goals for side, ci in g.latest.items()},
            confirmed_figures={(gid, side): f for gid, g in goals for side, f in g.confirmed.items()},
            flows=[row for _gid, g in goals for row in g.flows],
            outcomes=[g.outcome for _gid, g in goals if g.outcome is not None],
        )


def load_state(pid: Any, now: dt.datetime) -> HealthState:
    """The health state of one plan read whole (10 queries)."""
    state = HealthState(day=now.date(), plan=PlanFacts())
    _load_vision(state, pid)
    _load_objectives(state, pid)
    _load_reviews(state, pid, now)
    _load_goals(state, pid, None)
    return state


def patch_state(
    state: HealthState,
    pid: Any,
    now: dt.datetime,
    *,
    goals: Iterable[Any] = (),
    vision: bool = False,
    objectives: bool = False,
    reviews: bool = False,
) -> HealthState | None:
    """A copy of ``state`` with the named goals (ids) and parts read again; None when the day has
    turned since it was loaded (every fact that depends on the day may have moved)."""
    if now.date() != state.day:
        return None
    patched = HealthState(
        day=state.day,
        plan=replace(state.plan),
        goals=state.goals,
        current=state.current,
        agreed=state.agreed,
        has_vision=state.has_vision,
    )
    if vision:
        _load_vision(patched, pid)
    if objectives:
        _load_objectives(patched, pid)
    if reviews:
        _load_reviews(patched, pid, now)
    ids = {uuid.UUID(str(g)) for g in goals}
    if ids:
        _load_goals(patched, pid, ids)
    return patched


def state_report(state: HealthState, now: dt.datetime) -> HealthReport:
    """``compute`` over the state's facts as ``load_facts`` would read them at ``now``: the kept
    parts of the goals added up (on another day than the state's, its facts computed whole)."""
    since = now - dt.timedelta(days=REVIEW_DAYS)
    plan = state.plan
    if any(r["scheduled_for"] < since for r in plan.reviews):
        plan = replace(plan, reviews=[r for r in plan.reviews if r["scheduled_for"] >= since])
    if now.date() != state.day:
        return compute(replace(state.facts, reviews=plan.reviews), now)
    goals = state.goals
    parts = [goals[place[-1]].part for place in state.current]
    parts += [g.part for g in goals.values() if g.row is None and g.commitments]
    # What the give/get balance reads (``balance_of``): the goals' flows and outcomes.
    plan = replace(
        plan,
        flows=[row for g in goals.values() for row in g.flows],
        outcomes=[g.outcome for g in goals.values() if g.outcome is not None],
    )
    return _report(plan, parts, now)


def _load_vision(state: HealthState, pid: Any) -> None:
    state.has_vision, state.plan.has_vision_text = False, False
    for a, b, c in Vision.objects.filter(partnership_id=pid).values_list("why_together", "what_we_hope", "how_we_work"):
        state.has_vision = True
        state.plan.has_vision_text = bool(a.strip() and b.strip() and c.strip())
    state.plan.agreed_a_goal = state.has_vision and bool(state.agreed)
    state.plan.endorsed_sides = set(
        VisionEndorsement.objects.filter(vision__partnership_id=pid, revision=F("vision__revision")).values_list(
            "side", flat=True
        )
    )


def _load_objectives(state: HealthState, pid: Any) -> None:
    state.plan.active_objectives = dict(
        Objective.objects.filter(partnership_id=pid, status=Objective.Status.ACTIVE).values_list("id", "title")
    )
    state.plan.objective_sides = objective_driver_sides([pid]).get(pid, {})


def _load_reviews(state: HealthState, pid: Any, now: dt.datetime) -> None:
    # From ``REVIEW_DAYS`` before now: ``state_report`` drops those that age out later in the day.
    state.plan.reviews = list(
        AlignmentReview.objects.filter(
            partnership_id=pid, scheduled_for__gte=now - dt.timedelta(days=REVIEW_DAYS)
        ).values("partnership_id", "status", "scheduled_for")
    )


def _load_goals(state: HealthState, pid: Any, ids: set[Any] | None) -> None:
    """The facts of the given goals of the plan (all of them: None), in place of what the state had."""
    today = state.day
    # A few goals: by statements kept compiled (``_by_goal``), the plan's ids as one array.
    named = sorted(ids) if ids is not None else None
    rows = (
        _goal_rows(None, scope=Q(partnership_id=pid))
        if named is None
        else GOAL_ROWS(None, partnership=uuid.UUID(str(pid)), goals=named)
    )
    goals: dict[Any, GoalFacts] = {}
    current: list[tuple[Any, ...]] = []
    agreed: set[Any] = set()
    if ids is not None:
        goals, current, agreed = dict(state.goals), list(state.current), state.agreed - ids
    for gid in ids or ():
        old = goals.pop(gid, None)
        if old is not None and old.order is not None:
            del current[bisect_left(current, old.order)]
    # What was read of each goal, by id: the ``GoalFacts`` fields.
    read: dict[Any, dict[str, Any]] = defaultdict(dict)
    # The goals achieved in the quarter (``_outcome_rows``, by the day in the current time zone as
    # its ``__date`` lookup), from the same rows.
    quarter = Period.quarter_of(today)
    for row in rows:
        gid = row["id"]
        if row["agreed_revision"] is not None:
            agreed.add(gid)
        closed = timezone.localdate(row["closed_at"]) if row["closed_at"] else None
        if row["status"] == GoalStatus.ACHIEVED and closed and quarter.start <= closed <= quarter.end:
            read[gid]["outcome"] = {key: row[key] for key in ("id", "partnership_id", "objective_id")}
        if row["period_start"] <= today <= row["period_end"]:
            read[gid]["row"] = {key: row[key] for key in GOAL_FACTS}
            read[gid]["order"] = (row["period_start"], row["created_at"], gid)
    state.agreed = agreed
    state.plan.agreed_a_goal = state.has_vision and bool(agreed)
    # As ``load_facts``: the commitments of current goals, and those due so far of agreed goals.
    current_ids = [gid for gid, facts in read.items() if "row" in facts]
    commitments = (
        _commitment_rows(today, current=current_ids, due=Q(goal__partnership_id=pid))
        if named is None
        else COMMITMENT_ROWS(today, current=current_ids, goals=named)
    )
    for row in cast(Iterable[dict[str, Any]], commitments):
        row.pop("goal__partnership_id")
        read[row["goal_id"]].setdefault("commitments", []).append(row | {"goal_status": row.pop("goal__status")})
    live = [gid for gid in current_ids if read[gid]["row"]["status"] == "agreed"]
    for (gid, side), ci in latest_check_ins(live).items():
        read[gid].setdefault("latest", {})[side] = {"measured_on": ci.measured_on, "confidence": ci.confidence}
    for (gid, side), figures in confirmed_figures(live).items():
        read[gid].setdefault("confirmed", {})[side] = figures
    # The quarter's give/get balance of the goals read (``load_facts``).
    flows = (
        _flow_rows(Q(goal__partnership_id=pid), today)
        if named is None
        else FLOW_ROWS(today, partnership=uuid.UUID(str(pid)), goals=named)
    )
    for row in flows:
        row.pop("goal__partnership_id")
        read[row["goal_id"]].setdefault("flows", []).append(row)
    for gid, facts in read.items():
        row = facts.get("row")
        part = goal_part(row, facts.get("commitments", ()), facts.get("latest", {}), facts.get("confirmed", {}), today)
        goals[gid] = GoalFacts(**facts, part=part)
        if row is not None:
            insort(current, facts["order"])
    state.goals, state.current = goals, current


def _goal_rows(_form: None, *, scope: Q) -> Any:
    return Goal.objects.filter(scope).values(*GOAL_FACTS, "period_end", "created_at", "agreed_revision", "closed_at")


def _commitment_rows(today: dt.date, *, current: list[Any], due: Q) -> Any:
    """As ``load_facts``: the commitments of current goals, and those due so far of agreed goals."""
    return Commitment.objects.filter(among("goal_id", current) | (due & due_filter(today))).values(*COMMITMENT_FACTS)


# The reads of a few goals (``patch_state``), kept compiled per connection (and day).
GOAL_ROWS = KeptRows(
    "health_goal_rows",
    lambda form, *, partnership, goals: _goal_rows(form, scope=Q(partnership_id=partnership) & among("pk", goals)),
)
COMMITMENT_ROWS = KeptRows(
    "health_commitment_rows",
    lambda today, *, current, goals: _commitment_rows(today, current=current, due=among("goal_id", goals)),
)
FLOW_ROWS = KeptRows(
    "health_flow_rows",
    lambda today, *, partnership, goals: _flow_rows(
        Q(goal__partnership_id=partnership) & among("goal_id", goals), today
    ),
)
