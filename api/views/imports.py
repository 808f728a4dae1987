"""``POST /api/v1/partnerships/{id}/check-ins/bulk``: many check-ins in one request, by the rules of
the actuals import (``goals.imports``).

Each row is answered on its own: ``created`` (with the new check-in), ``duplicate`` (the caller's
side has a check-in on that goal with the same date, value and note already: nothing written) or
``error`` (with field errors). A bad row never fails the request: the answer is ``200`` with the
per-row results. A body that is not an object with a list of 1 to ``MAX_ROWS`` row objects, or a
row with an unknown field, is a ``400`` problem. Sending the same rows again creates nothing (they
are duplicates); an ``Idempotency-Key`` replays the first answer exactly."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from goals import imports

from .. import serializers as out
from ..fields import StrictSerializer
from ..idempotency import idempotent
from ..resources import PARTNERSHIPS, load
from .base import ID_PARAM, ApiView, validated

MAX_ROWS = 1000


class BulkRowIn(StrictSerializer):
    """One row: the goal by ``goal`` (its id, or its external key) or by ``external_key``."""

    goal = serializers.JSONField(required=False, help_text="The goal's id (or its external key).")
    external_key = serializers.JSONField(required=False, help_text="The goal's external key.")
    measured_on = serializers.JSONField(help_text="The day measured, YYYY-MM-DD.")
    value = serializers.JSONField(help_text="The measured value: a number or a decimal string with '.'.")
    confidence = serializers.JSONField(required=False, help_text="1 to 5; 3 when left out.")
    note = serializers.JSONField(required=False, help_text="Up to 5,000 characters.")

    def to_internal_value(self, data: Any) -> Any:
        # The raw values: each is checked by the import's rules and reported on its row.
        super().to_internal_value(data)
        return dict(data)


class BulkCheckInsIn(StrictSerializer):
    rows = serializers.ListField(
        child=BulkRowIn(),
        min_length=1,
        max_length=MAX_ROWS,
        help_text=f"1 to {MAX_ROWS:,} rows, answered in this order.",
    )


class BulkErrorOut(serializers.Serializer[Any]):
    field = serializers.CharField(help_text="The row's field the error is about ('' for the whole row).")
    message = serializers.CharField()


class BulkResultOut(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="The row's position in `rows`, from 0.")
    status = serializers.ChoiceField(choices=[imports.CREATE, imports.DUPLICATE, imports.ERROR])
    check_in = out.CheckInOut(allow_null=True, help_text="The new check-in (created rows only).")
    errors = BulkErrorOut(many=True)  # type: ignore[assignment]  # a field named "errors", not Serializer.errors (DRF moves declared fields off the class)


class BulkSummaryOut(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    error = serializers.IntegerField()


class BulkCheckInsOut(serializers.Serializer[Any]):
    summary = BulkSummaryOut()
    results = BulkResultOut(many=True)


class CheckInsBulk(ApiView):
    @extend_schema(
        tags=["check-ins"],
        parameters=[ID_PARAM],
        request=BulkCheckInsIn,
        responses={200: BulkCheckInsOut},
        summary="Check in many rows at once (per-row results)",
        description=__doc__,
    )
    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._run(request, pk))

    def _run(self, request: Request, pk: str) -> Response:
        _partnership, access = load(PARTNERSHIPS, request.user, pk)
        data = validated(BulkCheckInsIn, request.data)
        outcomes = imports.check_ins_bulk(access=access, rows=data["rows"])
        counts = dict.fromkeys((imports.CREATE, imports.DUPLICATE, imports.ERROR), 0)
        results = []
        for o in outcomes:
            counts[o.status] += 1
            results.append(
                {
                    "index": o.row,
                    "status": o.status,
                    "check_in": out.CheckInOut(o.check_in).data if o.check_in is not None else None,
                    "errors": [{"field": e.column, "message": e.message} for e in o.errors],
                }
            )
        return Response({"summary": counts, "results": results})
