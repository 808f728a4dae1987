"""``/api/v1/partnerships/{id}/balance``: the give/get balance of a partnership (``cadence.balance``).

For a quarter (``period=2026-Q4``; the current quarter when left out) and for each side: what it
gave, its promised commitments due in the quarter counted as done on time, done late, overdue,
dropped (not done when their goal closed) and still open; and what it got, the goals achieved in
the quarter whose objective links to that side's drivers (both sides when it links to both).
``delivery_share`` is what the side that delivered less delivered as a share of the other's
(null while nothing was delivered or owed: nothing to balance yet); ``score`` and
``explanation`` are the health component "value flows both ways" for that quarter. ``quarters``
holds the same numbers for the four quarters up to the one asked for, oldest first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from cadence.balance import Balance, Period, flow_score, last_quarters, load_balances
from core.errors import InvalidInput

from ..fields import StrictSerializer
from ..resources import PARTNERSHIPS, load
from .base import ID_PARAM, ApiView, query


class BalanceQuery(StrictSerializer):
    period = serializers.RegexField(
        r"^\d{4}-Q[1-4]$", required=False, help_text="A quarter, e.g. 2026-Q4 (default: the current quarter)."
    )


class FlowOut(serializers.Serializer[Any]):
    on_time = serializers.IntegerField(help_text="Done on or before the due date.")
    late = serializers.IntegerField(help_text="Done after the due date.")
    overdue = serializers.IntegerField(help_text="Not done, due date passed, goal in force.")
    dropped = serializers.IntegerField(help_text="Not done when the goal was closed.")
    open = serializers.IntegerField(help_text="Not done, due later in the period.")
    gave = serializers.IntegerField(help_text="Delivered: on time and late.")
    got = serializers.IntegerField(help_text="Goals achieved that move this side's drivers.")


class SidesFlowOut(serializers.Serializer[Any]):
    vendor = FlowOut()
    partner = FlowOut()


class PeriodBalanceOut(serializers.Serializer[Any]):
    period = serializers.CharField(help_text="The quarter, e.g. 2026-Q4.")
    start = serializers.DateField()
    end = serializers.DateField()
    started = serializers.BooleanField(help_text="False: nothing to balance yet in this period.")
    sides = SidesFlowOut()
    achieved = serializers.IntegerField(help_text="Goals achieved in the period.")
    unattributed = serializers.IntegerField(help_text="Of those, achieved goals whose objective links no driver.")
    delivery_share = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(help_text="The health component “value flows both ways”, 0..1.")
    explanation = serializers.CharField()


class BalanceOut(PeriodBalanceOut):
    partnership = serializers.UUIDField()
    quarters = PeriodBalanceOut(many=True)


def quarter_name(period: Period) -> str:
    return f"{period.start.year}-Q{(period.start.month - 1) // 3 + 1}"


def parse_quarter(text: str) -> Period:
    year, quarter = int(text[:4]), int(text[-1])
    if year < 1:
        raise InvalidInput("Choose a quarter from year 1 on.", fields={"period": ["Year out of range."]})
    return Period.quarter_of(dt.date(year, 3 * quarter - 2, 1))


def represent(balance: Balance) -> dict[str, Any]:
    score, why = flow_score(balance)
    return {
        "period": quarter_name(balance.period),
        "start": balance.period.start,
        "end": balance.period.end,
        "started": balance.started,
        "sides": {side: flow.as_json() for side, flow in balance.sides.items()},
        "achieved": balance.achieved,
        "unattributed": balance.unattributed,
        "delivery_share": balance.delivery_share,
        "score": score,
        "explanation": why,
    }


def balance_document(partnership_id: Any, period: Period, today: dt.date) -> dict[str, Any]:
    """``BalanceOut`` of ``period`` and the four quarters up to it (3 queries): this endpoint's answer
    and ``/plan``'s ``balance``."""
    balances = load_balances([partnership_id], last_quarters(period.start), today)[partnership_id]
    return represent(balances[-1]) | {"partnership": partnership_id, "quarters": [represent(b) for b in balances]}


class PartnershipBalance(ApiView):
    @extend_schema(
        tags=["partnerships"],
        parameters=[
            ID_PARAM,
            OpenApiParameter("period", str, OpenApiParameter.QUERY, required=False, description="e.g. 2026-Q4"),
        ],
        responses={200: BalanceOut},
        summary="The give/get balance of both sides in a quarter (and the last four quarters)",
        description=__doc__,
    )
    def get(self, request: Request, pk: str) -> Response:
        partnership, _access = load(PARTNERSHIPS, request.user, pk)
        params = query(request, BalanceQuery)
        today = timezone.now().date()
        period = parse_quarter(params["period"]) if "period" in params else Period.quarter_of(today)
        return Response(BalanceOut(balance_document(partnership.pk, period, today)).data)
