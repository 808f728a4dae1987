"""``/api/v1/reviews/{id}/pulse``: the relationship pulse of a review (``cadence.pulse``).

``GET`` answers the results as the caller may see them: each question with both sides' means, the
gap (the partner's mean minus the vendor's) and ``flagged`` when the sides are 1.5 points or more
apart; how many of each side answered; the notes; the caller's own answers; and the trend of the
last held reviews. Until the caller has answered, and while the review is not held, the other
side's means and notes are ``null``/left out (``hidden_side`` names that side), so that nobody's
answers are anchored by the other side's.

``PUT`` (or ``POST``) gives or changes the caller's own answers: the five questions from 1 to 5 and
an optional ``note`` (read by both sides). ``version`` (the version of one's answers) refuses a
change made against an older one (412). Any member may answer, viewers too, while the review is
scheduled and until ``PULSE_ANSWER_DAYS`` days after the day it was held; later, or for a skipped
review, the answer is a 409.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from alignment.access import Access
from alignment.models import AlignmentReview
from cadence import pulse

from ..fields import StrictSerializer
from ..idempotency import idempotent
from ..resources import REVIEWS, load
from .base import ID_PARAM, ApiView, validated

SCORE_HELP = "A whole number from 1 to 5."


class PulseIn(StrictSerializer):
    # Raw values: the pulse's own rules check them and name each bad one (``cadence.pulse``).
    trust = serializers.JSONField(help_text=SCORE_HELP)
    fairness = serializers.JSONField(help_text=SCORE_HELP)
    value = serializers.JSONField(help_text=f"Value received. {SCORE_HELP}")
    responsiveness = serializers.JSONField(help_text=SCORE_HELP)
    ease = serializers.JSONField(help_text=f"Ease of working together. {SCORE_HELP}")
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=pulse.NOTE_LIMIT, help_text="Optional; read by both sides."
    )
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version of your answers you changed (412 if older)."
    )


class SidesNumberOut(serializers.Serializer[Any]):
    vendor = serializers.FloatField(allow_null=True)
    partner = serializers.FloatField(allow_null=True)


class SidesCountOut(serializers.Serializer[Any]):
    vendor = serializers.IntegerField()
    partner = serializers.IntegerField()


class PulseQuestionOut(serializers.Serializer[Any]):
    question = serializers.ChoiceField(choices=list(pulse.QUESTIONS))
    title = serializers.CharField(help_text="The question, in the caller's language.")
    means = SidesNumberOut(help_text="Each side's mean; null when nobody of it answered, or hidden.")
    gap = serializers.FloatField(allow_null=True, help_text="The partner's mean minus the vendor's.")
    flagged = serializers.BooleanField(help_text="The sides are 1.5 points or more apart.")


class PulseNoteOut(serializers.Serializer[Any]):
    side = serializers.CharField()
    author = serializers.CharField()
    note = serializers.CharField()


class PulseOwnOut(serializers.Serializer[Any]):
    trust = serializers.IntegerField()
    fairness = serializers.IntegerField()
    value = serializers.IntegerField()
    responsiveness = serializers.IntegerField()
    ease = serializers.IntegerField()
    note = serializers.CharField()
    version = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class PulseTrendOut(serializers.Serializer[Any]):
    review = serializers.UUIDField()
    held_on = serializers.DateField()
    means = SidesNumberOut(help_text="Each side's mean of all its answers at that review.")
    counts = SidesCountOut()


class PulseOut(serializers.Serializer[Any]):
    review = serializers.UUIDField()
    open = serializers.BooleanField(help_text="Whether answers are taken now.")
    closes_on = serializers.DateField(allow_null=True, help_text="The last day answers are taken (held reviews).")
    your_side = serializers.CharField()
    hidden_side = serializers.CharField(allow_null=True, help_text="The side whose numbers you may not see yet.")
    counts = SidesCountOut(help_text="How many people of each side answered.")
    overall = SidesNumberOut()
    questions = PulseQuestionOut(many=True)
    notes = PulseNoteOut(many=True)
    yours = PulseOwnOut(allow_null=True)
    trend = PulseTrendOut(many=True)


class HeldPulseOut(serializers.Serializer[Any]):
    review = serializers.UUIDField()
    held_on = serializers.DateField()
    counts = SidesCountOut(help_text="How many people of each side answered.")
    overall = SidesNumberOut(help_text="Each side's mean of all its answers.")
    questions = PulseQuestionOut(many=True)
    notes = PulseNoteOut(many=True, help_text="Both sides' notes, with their authors.")


def question_out(q: pulse.QuestionResult) -> dict[str, Any]:
    return {"question": q.question, "title": q.label, "means": q.means, "gap": q.gap, "flagged": q.flagged}


def note_out(n: pulse.Note) -> dict[str, Any]:
    return {"side": n.side, "author": n.author, "note": n.text}


def held_pulses_out(partnership_id: Any) -> list[dict[str, Any]]:
    """``HeldPulseOut`` of each held review of a partnership with answers (``/plan``'s ``pulse``):
    what ``GET /reviews/{id}/pulse`` shows either side once the review is held (one query)."""
    return [
        {
            "review": h.review_id,
            "held_on": h.held_on,
            "counts": h.counts,
            "overall": h.overall,
            "questions": [question_out(q) for q in h.questions],
            "notes": [note_out(n) for n in h.notes],
        }
        for h in pulse.held_results(partnership_id)
    ]


def represent(access: Access, review: AlignmentReview) -> dict[str, Any]:
    results = pulse.pulse_results(access, review)
    own = results.own
    return {
        "review": review.pk,
        "open": results.is_open,
        "closes_on": results.closes_on,
        "your_side": results.reader_side,
        "hidden_side": results.hidden_side,
        "counts": results.counts,
        "overall": results.overall,
        "questions": [question_out(q) for q in results.questions],
        "notes": [note_out(n) for n in results.notes],
        "yours": None
        if own is None
        else {q: getattr(own, q) for q in pulse.QUESTIONS}
        | {"note": own.note, "version": own.version, "updated_at": own.updated_at},
        "trend": [
            {"review": p.review_id, "held_on": p.held_on, "means": p.means, "counts": p.counts}
            for p in pulse.pulse_trend(access.partnership)
        ],
    }


class ReviewPulse(ApiView):
    @extend_schema(
        tags=["reviews"],
        parameters=[ID_PARAM],
        responses={200: PulseOut},
        operation_id="reviews_pulse_retrieve",
        summary="The relationship pulse of a review (side by side, the trend)",
        description=__doc__,
    )
    def get(self, request: Request, pk: str) -> Response:
        review, access = load(REVIEWS, request.user, pk)
        return Response(PulseOut(represent(access, review)).data)

    @extend_schema(
        tags=["reviews"],
        parameters=[ID_PARAM],
        request=PulseIn,
        responses={200: PulseOut},
        operation_id="reviews_pulse_update",
        summary="Give or change your own answers to the pulse",
        description=__doc__,
    )
    def put(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._answer(request, pk))

    @extend_schema(
        tags=["reviews"],
        parameters=[ID_PARAM],
        request=PulseIn,
        responses={200: PulseOut},
        operation_id="reviews_pulse_create",
        summary="Give or change your own answers to the pulse (as PUT)",
        description=__doc__,
    )
    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._answer(request, pk))

    def _answer(self, request: Request, pk: str) -> Response:
        review, access = load(REVIEWS, request.user, pk)
        data = validated(PulseIn, request.data)
        pulse.pulse_answer(
            access=access,
            review_id=review.pk,
            answers={q: data.get(q) for q in pulse.QUESTIONS},
            note=data.get("note", ""),
            expected_version=data.get("version"),
        )
        review.refresh_from_db()
        return Response(PulseOut(represent(access, review)).data)
