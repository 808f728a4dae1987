"""The relationship pulse at each alignment review: how each side feels the partnership works.

Every person of both sides answers five short questions at a review — trust, fairness, value
received, responsiveness, ease of working together — each from 1 to 5, with an optional note. A
side's score for a question is the mean of its people's answers (with how many answered). The
results are read side by side: the vendor's mean, the partner's mean and the gap between them,
flagged when the sides are ``GAP_FLAG`` points or more apart. The trend is each side's overall mean
(all five questions of all its people) over the last held reviews.

When answers are taken: from the moment a review is scheduled until ``answer_days()`` days after
the day it was held (the days after a review are when people have the review fresh in mind; the
unanswered-pulse reminder goes out in that time). A skipped review has no pulse.

Anchoring: a person does not see the other side's numbers or notes until they have answered
themselves, or the review is recorded as held (then everyone sees both sides). Their own side's
results are always shown. Notes are visible to both sides under the same rule, with their author.
A change of one's answers is recorded in the change log visible to one's own side only, so the
change feed does not show the other side a person's numbers before the results do.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alignment.access import Access
from alignment.changes import record_change
from alignment.models import AlignmentReview, ChangeEvent, Partnership, Side
from alignment.services import lock_review
from core.errors import InvalidInput, RuleViolation
from core.writes import check_version, validate

from .models import PulseAnswer

QUESTIONS = PulseAnswer.QUESTIONS
# Each question: what is asked, and what 1 and 5 mean.
QUESTION_TEXT: dict[str, tuple[Promise, Promise, Promise]] = {
    "trust": (_("Trust"), _("We cannot rely on each other"), _("We trust each other fully")),
    "fairness": (_("Fairness"), _("One side carries the weight"), _("Give and take are balanced")),
    "value": (_("Value received"), _("We get little from this partnership"), _("We get a lot from it")),
    "responsiveness": (_("Responsiveness"), _("Answers are slow or missing"), _("Answers come quickly")),
    "ease": (_("Ease of working together"), _("Working together is hard"), _("Working together is easy")),
}
SCALE = range(PulseAnswer.LOWEST, PulseAnswer.HIGHEST + 1)
NOTE_LIMIT = 2000
GAP_FLAG = Fraction(3, 2)  # the sides are this far apart or more: a gap to talk about
TREND_SIZE = 6


def answer_days() -> int:
    """For how many days after the day a review was held its pulse takes answers."""
    return int(getattr(settings, "PULSE_ANSWER_DAYS", 14))


def _today(partnership: Partnership) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(partnership.timezone)).date()


def closes_on(review: AlignmentReview) -> dt.date | None:
    """The last day (in the partnership's zone) answers are taken; None while the review is not held."""
    if review.status != AlignmentReview.Status.HELD or review.held_on is None:
        return None
    return review.held_on + dt.timedelta(days=answer_days())


def is_open(review: AlignmentReview, today: dt.date | None = None) -> bool:
    """Whether the review's pulse takes answers now: scheduled, or held at most ``answer_days()`` ago."""
    if review.status == AlignmentReview.Status.SCHEDULED:
        return True
    last = closes_on(review)
    return last is not None and (today or _today(review.partnership)) <= last


# --- Answering ----------------------------------------------------------------------------------


def _scores(answers: Mapping[str, Any]) -> dict[str, int]:
    """The five answers as whole numbers from 1 to 5, or one ``InvalidInput`` naming each bad one."""
    scores: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for q in QUESTIONS:
        raw = answers.get(q)
        value: int | None = None
        if isinstance(raw, int | str | float) and not isinstance(raw, bool) and raw != "":
            try:
                value = int(raw) if not isinstance(raw, float) or raw.is_integer() else None
            except ValueError:
                value = None
        if value is None or value not in SCALE:
            errors[q] = [gettext("Choose a number from 1 to 5.")]
        else:
            scores[q] = value
    unknown = sorted(set(answers) - set(QUESTIONS) - {"note"})
    for name in unknown:
        errors[str(name)[:50]] = [gettext("Not a question of the pulse.")]
    if errors:
        raise InvalidInput(gettext("Answer each of the five questions with a number from 1 to 5."), fields=errors)
    return scores


@transaction.atomic
def pulse_answer(
    *,
    access: Access,
    review_id: Any,
    answers: Mapping[str, Any],
    note: str = "",
    expected_version: int | None = None,
) -> PulseAnswer:
    """Give or change one's own pulse at a review (any member of either side, viewers too: it asks
    how they feel, not for a change of the plan). One change event per change, visible to the
    person's own side only; answering again with the same numbers and note changes nothing."""
    review = lock_review(access, review_id)  # one answer per person even when two arrive at once
    if not is_open(review, _today(access.partnership)):
        if review.status == AlignmentReview.Status.SKIPPED:
            message = gettext("This review was skipped: it has no pulse.")
        else:
            message = gettext("The pulse of this review closed %(days)s days after the review was held.") % {
                "days": answer_days()
            }
        raise RuleViolation(message, code="pulse.closed")
    scores = _scores(answers)
    if not isinstance(note, str):
        raise InvalidInput(gettext("The note must be text."), fields={"note": [gettext("Expected text.")]})
    note = note.strip()
    if len(note) > NOTE_LIMIT:
        raise InvalidInput(
            gettext("The note is too long (at most %(limit)s characters).") % {"limit": NOTE_LIMIT},
            fields={"note": [gettext("At most %(limit)s characters.") % {"limit": NOTE_LIMIT}]},
        )
    answer = PulseAnswer.objects.select_for_update().filter(review=review, respondent=access.user).first()
    if answer is None:
        answer = PulseAnswer(review=review, respondent=access.user, side=access.side, note=note, **scores)
        validate(answer, exclude=["review", "respondent"])
        answer.save()
        record_change(
            actor=access.user,
            partnership=access.partnership,
            obj=answer,
            action=ChangeEvent.Action.CREATE,
            summary="answered the relationship pulse",
            side_only=access.side,
        )
        return answer
    check_version(answer, expected_version)
    if answer.note == note and all(getattr(answer, q) == v for q, v in scores.items()):
        return answer
    before = answer.to_record()
    for q, v in scores.items():
        setattr(answer, q, v)
    answer.note = note
    validate(answer, exclude=["review", "respondent"])
    answer.bump()
    answer.save()
    record_change(
        actor=access.user,
        partnership=access.partnership,
        obj=answer,
        action=ChangeEvent.Action.UPDATE,
        before=before,
        summary="changed their relationship pulse",
        side_only=answer.side,
    )
    return answer


# --- Reading ------------------------------------------------------------------------------------


def _mean(values: list[int]) -> Fraction | None:
    return Fraction(sum(values), len(values)) if values else None


def _number(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 2)


@dataclass(frozen=True)
class QuestionResult:
    """One question side by side: each side's mean (None when nobody answered or it is hidden)."""

    question: str
    label: str
    low: str
    high: str
    means: dict[str, float | None]
    gap: float | None  # the partner's mean minus the vendor's, when both are known
    flagged: bool  # the sides are ``GAP_FLAG`` points or more apart

    @property
    def distance(self) -> float | None:
        return None if self.gap is None else abs(self.gap)


@dataclass(frozen=True)
class Note:
    side: str
    author: str
    text: str


@dataclass
class PulseResults:
    """The pulse of one review as one reader may see it."""

    review: AlignmentReview
    reader_side: str
    is_open: bool
    closes_on: dt.date | None
    own: PulseAnswer | None  # the reader's own answers
    counts: dict[str, int]  # how many people of each side answered (shown even when numbers are hidden)
    hidden_side: str | None  # the side whose numbers and notes the reader may not see yet
    questions: list[QuestionResult] = field(default_factory=list)
    overall: dict[str, float | None] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    @property
    def other_side(self) -> str:
        return Side.other(self.reader_side)

    @property
    def flagged(self) -> list[QuestionResult]:
        return [q for q in self.questions if q.flagged]

    def rows(self) -> list[dict[str, Any]]:
        """The questions as the reader reads them: their own side first, then the other side, the
        distance between them and which of the two rates the question higher."""
        rows = []
        for q in self.questions:
            own, other = q.means[self.reader_side], q.means[self.other_side]
            higher = None
            if own is not None and other is not None and own != other:
                higher = "own" if own > other else "other"
            rows.append(
                {
                    "question": q.question,
                    "label": q.label,
                    "own": own,
                    "other": other,
                    "distance": q.distance,
                    "flagged": q.flagged,
                    "higher": higher,
                }
            )
        return rows


def hides_other_side(review: AlignmentReview, *, answered: bool) -> bool:
    """Whether a reader who has (not) answered yet may not see the other side's numbers: until they
    answered themselves or the review is held, so their own answers are not anchored by the other's."""
    return not answered and review.status != AlignmentReview.Status.HELD


def side_by_side(by_side: Mapping[str, list[PulseAnswer]]) -> tuple[list[QuestionResult], dict[str, float | None]]:
    """Each question with both sides' means and the gap, and each side's overall mean."""
    questions = []
    for q in QUESTIONS:
        means = {side: _mean([getattr(a, q) for a in by_side.get(side, [])]) for side in Side.values}
        vendor, partner = means[Side.VENDOR], means[Side.PARTNER]
        gap = None if vendor is None or partner is None else partner - vendor
        label, low, high = QUESTION_TEXT[q]
        questions.append(
            QuestionResult(
                question=q,
                label=str(label),
                low=str(low),
                high=str(high),
                means={side: _number(m) for side, m in means.items()},
                gap=_number(gap),
                flagged=gap is not None and abs(gap) >= GAP_FLAG,
            )
        )
    overall = {side: _number(_mean([s for a in by_side.get(side, []) for s in a.scores()])) for side in Side.values}
    return questions, overall


def held_pulse(review: AlignmentReview) -> tuple[list[QuestionResult], dict[str, int]]:
    """The pulse of a held review as everyone sees it (nothing is hidden once a review is held):
    the questions side by side and how many of each side answered (one query)."""
    by_side: dict[str, list[PulseAnswer]] = defaultdict(list)
    for a in PulseAnswer.objects.filter(review=review):
        by_side[a.side].append(a)
    questions, _overall = side_by_side(by_side)
    return questions, {side: len(by_side[side]) for side in Side.values}


def held_pulses(reviews: list[AlignmentReview]) -> list[tuple[AlignmentReview, list[QuestionResult], dict[str, int]]]:
    """The pulse of each of these held reviews that has answers, side by side, in their order (one
    query). Only held reviews: nothing of their pulse is hidden from either side."""
    held = [r for r in reviews if r.status == AlignmentReview.Status.HELD]
    answers: dict[Any, dict[str, list[PulseAnswer]]] = defaultdict(lambda: defaultdict(list))
    for a in PulseAnswer.objects.filter(review__in=[r.pk for r in held]):
        answers[a.review_id][a.side].append(a)
    out = []
    for r in held:
        if r.pk in answers:
            questions, _overall = side_by_side(answers[r.pk])
            out.append((r, questions, {side: len(answers[r.pk][side]) for side in Side.values}))
    return out


def pulse_results(access: Access, review: AlignmentReview) -> PulseResults:
    """The review's pulse for the reader: side by side with the gaps, the other side hidden while
    ``hides_other_side``. One query (the answers, with their authors for the notes)."""
    answers = list(PulseAnswer.objects.filter(review=review).select_related("respondent").order_by("created_at"))
    own = next((a for a in answers if a.respondent_id == access.user.pk), None)
    hidden = access.other_side if hides_other_side(review, answered=own is not None) else None
    by_side: dict[str, list[PulseAnswer]] = defaultdict(list)
    for a in answers:
        by_side[a.side].append(a)
    visible = {side: ([] if side == hidden else by_side[side]) for side in Side.values}
    results = PulseResults(
        review=review,
        reader_side=access.side,
        is_open=is_open(review, _today(access.partnership)),
        closes_on=closes_on(review),
        own=own,
        counts={side: len(by_side[side]) for side in Side.values},
        hidden_side=hidden,
    )
    results.questions, results.overall = side_by_side(visible)
    results.notes = notes_of(visible)
    return results


def notes_of(by_side: Mapping[str, list[PulseAnswer]]) -> list[Note]:
    """The notes of these answers with their authors, side by side (vendor first), each side's in
    the order of its answers."""
    return [
        Note(side=a.side, author=a.respondent.display_name, text=a.note)
        for side in Side.values
        for a in by_side.get(side, [])
        if a.note
    ]


@dataclass(frozen=True)
class HeldPulse:
    """The pulse of a held review as both sides see it: what ``pulse_results`` shows either side
    once the review is held (nothing is hidden then), without the reader's own answers."""

    review_id: Any
    held_on: dt.date
    counts: dict[str, int]
    overall: dict[str, float | None]
    questions: list[QuestionResult]
    notes: list[Note]


def held_results(partnership_id: Any) -> list[HeldPulse]:
    """The pulse of every held review of a partnership that has answers, oldest review first, the
    same for every reader (the plan document of either side). One query, whatever the number of
    reviews and answers; of the respondents only what names them."""
    answers = (
        PulseAnswer.objects.filter(review__partnership_id=partnership_id, review__status=AlignmentReview.Status.HELD)
        .select_related("respondent")
        .only(
            "review_id",
            "side",
            "note",
            "created_at",
            *QUESTIONS,
            "respondent__full_name",
            "respondent__first_name",
            "respondent__last_name",
            "respondent__email",
        )
        .annotate(held_on=F("review__held_on"))
        # The reviews in the order they were held, the answers of each as ``pulse_results`` reads them.
        .order_by("review__held_on", "review__scheduled_for", "review_id", "created_at", "pk")
    )
    by_review: dict[Any, dict[str, list[PulseAnswer]]] = defaultdict(lambda: defaultdict(list))
    held_on: dict[Any, dt.date] = {}
    for a in answers:
        by_review[a.review_id][a.side].append(a)
        held_on[a.review_id] = a.held_on  # annotated above
    results = []
    for review_id, by_side in by_review.items():
        questions, overall = side_by_side(by_side)
        results.append(
            HeldPulse(
                review_id=review_id,
                held_on=held_on[review_id],
                counts={side: len(by_side[side]) for side in Side.values},
                overall=overall,
                questions=questions,
                notes=notes_of(by_side),
            )
        )
    return results


@dataclass(frozen=True)
class TrendPoint:
    review_id: Any
    held_on: dt.date
    means: dict[str, float | None]  # each side's overall mean (all questions, all its people)
    counts: dict[str, int]


def pulse_trend(partnership: Partnership, size: int = TREND_SIZE) -> list[TrendPoint]:
    """Each side's overall pulse at the last ``size`` held reviews that have answers, oldest first
    (two queries, whatever the number of reviews and answers)."""
    reviews = list(
        AlignmentReview.objects.filter(
            partnership=partnership, status=AlignmentReview.Status.HELD, pulse_answers__isnull=False
        )
        .distinct()
        .order_by("-held_on", "-scheduled_for")
        .values_list("pk", "held_on")[:size]
    )
    if not reviews:
        return []
    total = F("trust") + F("fairness") + F("value") + F("responsiveness") + F("ease")
    sums: dict[tuple[Any, str], tuple[int, int]] = {
        (row["review_id"], row["side"]): (row["points"], row["people"])
        for row in PulseAnswer.objects.filter(review_id__in=[pk for pk, _ in reviews])
        .values("review_id", "side")
        .annotate(points=Sum(total), people=Count("pk"))
        .order_by()
    }
    points = []
    for pk, held_on in reversed(reviews):
        means: dict[str, float | None] = {}
        counts: dict[str, int] = {}
        for side in Side.values:
            got, people = sums.get((pk, side), (0, 0))
            counts[side] = people
            means[side] = _number(Fraction(got, people * len(QUESTIONS))) if people else None
        assert held_on is not None  # a held review has its day (``review_held_has_date``)
        points.append(TrendPoint(review_id=pk, held_on=held_on, means=means, counts=counts))
    return points


def trend_lines(points: list[TrendPoint], width: int = 120, height: int = 32) -> dict[str, str]:
    """SVG polyline points of each side's trend on the 1 to 5 scale (as the dashboard's sparkline);
    a side with fewer than two known points has no line."""
    lines: dict[str, str] = {}
    if len(points) < 2:
        return dict.fromkeys(Side.values, "")
    step = width / (len(points) - 1)
    span = PulseAnswer.HIGHEST - PulseAnswer.LOWEST
    for side in Side.values:
        known = [(i, m) for i, p in enumerate(points) if (m := p.means[side]) is not None]
        lines[side] = (
            " ".join(f"{i * step:.1f},{height - (m - PulseAnswer.LOWEST) * height / span:.1f}" for i, m in known)
            if len(known) >= 2
            else ""
        )
    return lines


def answered_at(review_ids: list[Any]) -> set[tuple[Any, int]]:
    """(review id, person id) of every answer given at these reviews (one query): whoever is not in
    it has not answered."""
    return set(PulseAnswer.objects.filter(review_id__in=review_ids).values_list("review_id", "respondent_id"))
