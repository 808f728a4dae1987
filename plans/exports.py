"""The joint plan on paper and in spreadsheets: a print view (clean on paper, "save as PDF" from the
browser's print dialog) and CSV exports of goals and of check-ins.

Each runs a fixed number of queries whatever the size of the plan. The CSV files are streamed,
start with a byte order mark so spreadsheet programs read them as UTF-8, and neutralise cells that
a spreadsheet would run as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from alignment.economics import load_economics
from alignment.models import AlignmentReview, Objective, PartnershipMember, Side, Vision, VisionEndorsement
from alignment.reviews import is_next_review_candidate
from alignment.web import PlanView
from cadence import pulse
from cadence.health import partnership_health
from cadence.models import PulseAnswer
from goals.charts import expected_share
from goals.models import Approval, CheckIn, Commitment, Goal, GoalRevision, progress_between
from goals.queries import latest_check_ins

from .cells import FORMULA_TRIGGERS, safe_cell  # noqa: F401 - FORMULA_TRIGGERS is part of this module's face


class _Echo:
    """A file-like object whose ``write`` hands the line back, for streaming ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def stream_csv(head: list[str], rows: Iterable[Iterable[Any]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff" + writer.writerow(head)
        for row in rows:
            yield writer.writerow([safe_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _filename(partnership: Any, what: str) -> str:
    return f"{slugify(partnership.name) or 'partnership'}-{what}-{timezone.localdate():%Y-%m-%d}.csv"


def _percent(share: float | None) -> int | None:
    return None if share is None else round(share * 100)


# --- CSV: goals -------------------------------------------------------------------------------

GOAL_COLUMNS = [
    "Goal id",
    "Objective",
    "Goal",
    "Period start",
    "Period end",
    "Metric",
    "Unit",
    "Baseline",
    "Target",
    "Direction",
    "Status",
    "Under negotiation",
    "Revision",
    "Agreed revision",
    "Vendor commitments",
    "Partner commitments",
    "Latest value",
    "Latest check-in",
    "Progress %",
    "Vendor confidence",
    "Partner confidence",
    "Updated at",
]


class GoalsCsv(PlanView):
    """``GET /p/<pid>/export/goals.csv``: every goal of the plan with its terms, status, both sides'
    commitments and latest check-ins (4 queries after access)."""

    def get(self, request: HttpRequest, **kwargs: Any) -> StreamingHttpResponse:
        p = self.access.partnership
        goals = list(
            Goal.objects.filter(partnership=p)
            .select_related("objective")
            .order_by("objective__position", "objective__created_at", "period_start", "created_at")
        )
        commitments: dict[Any, dict[str, list[str]]] = defaultdict(lambda: {"vendor": [], "partner": []})
        for c in Commitment.objects.filter(goal__partnership=p, placeholder=False).order_by("position", "created_at"):
            done = " (done)" if c.done else f" (due {c.due_date:%Y-%m-%d})" if c.due_date else ""
            commitments[c.goal_id][c.side].append(c.text.replace("\r\n", "\n") + done)
        latest = latest_check_ins(g.pk for g in goals)

        def rows() -> Iterator[list[Any]]:
            for g in goals:
                mine = [c for c in (latest.get((g.pk, "vendor")), latest.get((g.pk, "partner"))) if c]
                newest = max(mine, key=lambda c: (c.measured_on, c.created_at), default=None)
                vendor, partner = latest.get((g.pk, "vendor")), latest.get((g.pk, "partner"))
                yield [
                    str(g.pk),
                    g.objective.title,
                    g.title,
                    g.period_start,
                    g.period_end,
                    g.metric_name,
                    g.metric_unit,
                    g.baseline,
                    g.target,
                    g.direction,
                    g.get_status_display(),
                    g.negotiation_state.replace("_", " "),
                    g.revision,
                    g.agreed_revision,
                    "\n".join(commitments[g.pk]["vendor"]),
                    "\n".join(commitments[g.pk]["partner"]),
                    newest.value if newest else None,
                    newest.measured_on if newest else None,
                    _percent(g.progress(newest.value)) if newest else None,
                    vendor.confidence if vendor else None,
                    partner.confidence if partner else None,
                    g.updated_at,
                ]

        return stream_csv(GOAL_COLUMNS, rows(), _filename(p, "goals"))


# --- CSV: check-ins ---------------------------------------------------------------------------

CHECK_IN_COLUMNS = [
    "Check-in id",
    "Goal id",
    "Goal",
    "Objective",
    "Side",
    "Measured on",
    "Value",
    "Unit",
    "Progress %",
    "Confidence (1-5)",
    "Note",
    "By",
    "Recorded at",
    "Source",
    "State",
    "Other side's figure",
    "Dispute note",
]


class CheckInsCsv(PlanView):
    """``GET /p/<pid>/export/check-ins.csv``: every check-in of the plan, oldest first, read from the
    database while the file streams (one query)."""

    def get(self, request: HttpRequest, **kwargs: Any) -> StreamingHttpResponse:
        p = self.access.partnership
        values = (
            CheckIn.objects.filter(goal__partnership=p)
            .order_by("measured_on", "created_at")
            .values_list(
                "id",
                "goal_id",
                "goal__title",
                "goal__objective__title",
                "side",
                "measured_on",
                "value",
                "goal__metric_unit",
                "goal__baseline",
                "goal__target",
                "confidence",
                "note",
                "author__full_name",
                "author__email",
                "created_at",
                "source",
                "review",
                "disputed_value",
                "dispute_note",
            )
        )

        def rows() -> Iterator[list[Any]]:
            for (
                pk,
                goal_id,
                goal,
                objective,
                side,
                day,
                value,
                unit,
                baseline,
                target,
                confidence,
                note,
                name,
                email,
                created,
                source,
                review,
                disputed,
                dispute_note,
            ) in values.iterator(chunk_size=500):
                yield [
                    str(pk),
                    str(goal_id),
                    goal,
                    objective,
                    side,
                    day,
                    value,
                    unit,
                    _percent(progress_between(baseline, target, value)),
                    confidence,
                    note,
                    name or email or "",
                    created,
                    source,  # web, api, import
                    review,  # the two-key state: unconfirmed, confirmed, disputed
                    "" if disputed is None else disputed,
                    dispute_note,
                ]

        return stream_csv(CHECK_IN_COLUMNS, rows(), _filename(p, "check-ins"))


# --- Print view -------------------------------------------------------------------------------


@dataclass
class PrintedGoal:
    goal: Goal
    commitments: dict[str, list[Commitment]]
    approved_sides: set[str]
    latest: dict[str, CheckIn]
    check_ins: list[CheckIn]
    in_force: GoalRevision | None  # the agreed revision while an amendment is negotiated

    @property
    def newest(self) -> CheckIn | None:
        return max(self.latest.values(), key=lambda c: (c.measured_on, c.created_at), default=None)

    @property
    def progress(self) -> float | None:
        return self.goal.progress(self.newest.value) if self.newest else None

    @property
    def expected(self) -> float | None:
        return expected_share(self.goal) if self.goal.status == "agreed" else None

    @property
    def confidence_gap(self) -> int | None:
        v, p = self.latest.get("vendor"), self.latest.get("partner")
        return abs(v.confidence - p.confidence) if v and p else None


@dataclass
class PrintedObjective:
    objective: Objective
    periods: list[tuple[tuple[dt.date, dt.date], list[PrintedGoal]]] = field(default_factory=list)


# --- CSV: relationship pulse ------------------------------------------------------------------

PULSE_COLUMNS = [
    "Review id",
    "Held on",
    "Question",
    "Vendor mean",
    "Vendor answers",
    "Partner mean",
    "Partner answers",
    "Gap (partner - vendor)",
    "Sides 1.5 or more apart",
]


class PulseCsv(PlanView):
    """``GET /p/<pid>/export/pulse.csv``: the relationship pulse of every held review, one row per
    review and question with both sides side by side (``cadence.pulse``). Held reviews only: their
    pulse is visible to both sides (two queries)."""

    def get(self, request: HttpRequest, **kwargs: Any) -> StreamingHttpResponse:
        p = self.access.partnership
        reviews = list(
            AlignmentReview.objects.filter(partnership=p, status=AlignmentReview.Status.HELD)
            .order_by("held_on", "scheduled_for")
            .values_list("pk", "held_on")
        )
        answers: dict[Any, dict[str, list[PulseAnswer]]] = defaultdict(lambda: defaultdict(list))
        for a in PulseAnswer.objects.filter(review__partnership=p, review__status=AlignmentReview.Status.HELD):
            answers[a.review_id][a.side].append(a)

        def rows() -> Iterator[list[Any]]:
            for pk, held_on in reviews:
                if pk not in answers:
                    continue
                by_side = answers[pk]
                questions, _overall = pulse.side_by_side(by_side)
                for q in questions:
                    yield [
                        str(pk),
                        held_on,
                        q.question,
                        q.means[Side.VENDOR],
                        len(by_side[Side.VENDOR]),
                        q.means[Side.PARTNER],
                        len(by_side[Side.PARTNER]),
                        q.gap,
                        "yes" if q.flagged else "no",
                    ]

        return stream_csv(PULSE_COLUMNS, rows(), _filename(p, "pulse"))


def load_printed_plan(access: Any) -> dict[str, Any]:
    """Everything the print view shows, in a fixed number of queries."""
    p = access.partnership
    vision = Vision.objects.filter(partnership=p).first()
    endorsed: dict[str, VisionEndorsement] = {}
    if vision is not None:
        endorsed = {
            e.side: e
            for e in VisionEndorsement.objects.filter(vision=vision, revision=vision.revision).select_related("user")
        }
    objectives = list(Objective.objects.filter(partnership=p).exclude(status=Objective.Status.RETIRED))
    goals = list(
        Goal.objects.filter(partnership=p)
        .exclude(status="withdrawn")
        .prefetch_related(
            Prefetch("commitments", queryset=Commitment.objects.select_related("owner")),
            Prefetch("check_ins", queryset=CheckIn.objects.order_by("measured_on", "created_at")),
        )
        .order_by("period_start", "created_at")
    )
    approvals = set(Approval.objects.filter(goal__partnership=p).values_list("goal_id", "revision", "side"))
    amended = [g.pk for g in goals if g.has_pending_amendment]
    in_force: dict[tuple[uuid.UUID, int | None], GoalRevision] = (
        {(r.goal_id, r.number): r for r in GoalRevision.objects.filter(goal_id__in=amended)} if amended else {}
    )
    by_objective: dict[Any, dict[tuple[dt.date, dt.date], list[PrintedGoal]]] = defaultdict(lambda: defaultdict(list))
    for g in goals:
        check_ins = list(g.check_ins.all())
        latest: dict[str, CheckIn] = {}
        for c in check_ins:
            latest[c.side] = c  # ordered oldest first: the last one wins
        commitments: dict[str, list[Commitment]] = {"vendor": [], "partner": []}
        for commitment in g.commitments.all():
            commitments[commitment.side].append(commitment)
        by_objective[g.objective_id][(g.period_start, g.period_end)].append(
            PrintedGoal(
                goal=g,
                commitments=commitments,
                check_ins=check_ins,
                latest=latest,
                approved_sides={side for side in Side.values if (g.pk, g.revision, side) in approvals},
                in_force=in_force.get((g.pk, g.agreed_revision)),
            )
        )
    printed = []
    for o in objectives:
        periods = sorted(by_objective.get(o.pk, {}).items())
        printed.append(PrintedObjective(o, periods))
    members: dict[str, list[PartnershipMember]] = {"vendor": [], "partner": []}
    for m in PartnershipMember.objects.filter(partnership=p).select_related("user").order_by("side", "role"):
        members[m.side].append(m)
    now = timezone.now()
    reviews = list(
        AlignmentReview.objects.filter(partnership=p, scheduled_for__gte=now - dt.timedelta(days=200)).order_by(
            "scheduled_for"
        )[:12]
    )
    return {
        "vision": vision,
        "endorsed": endorsed,
        "objectives": printed,
        "members": members,
        "held_reviews": [r for r in reviews if r.status == AlignmentReview.Status.HELD][-3:],
        # The relationship pulse of those reviews, side by side (``cadence.pulse``).
        "held_pulses": pulse.held_pulses([r for r in reviews if r.status == AlignmentReview.Status.HELD][-3:]),
        "next_review": next((r for r in reviews if is_next_review_candidate(r.status, r.scheduled_for, now)), None),
        "health": partnership_health(p, now),
        "printed_at": now,
        # Each side's drivers with the latest figure the reader may see (never another side's private one).
        "economics": load_economics(access),
    }


class PrintPlan(PlanView):
    """``GET /p/<pid>/print/``: the whole joint plan laid out for paper, with a "Print / save as PDF"
    button (the browser's print dialog saves a PDF)."""

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        context = load_printed_plan(self.access)
        return render(
            request, "print/plan.html", context | {"access": self.access, "partnership": self.access.partnership}
        )
