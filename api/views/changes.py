"""``GET /api/v1/changes``: the change feed (see ``api.feed``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from alignment.access import resolve, visible_partnerships

from .. import inputs
from ..feed import START, collector_paused, decode_cursor, encode_cursor, feed_page, represent
from ..renderers import FastJSON
from .base import ApiView, query


class ActorOut(serializers.Serializer[Any]):
    id = serializers.UUIDField(allow_null=True)
    name = serializers.CharField()


class ChangeOut(serializers.Serializer[Any]):
    cursor = serializers.CharField()
    partnership = serializers.UUIDField()
    type = serializers.CharField(help_text="goal, commitment, check-in, comment, objective, vision, review, ...")
    id = serializers.UUIDField()
    action = serializers.ChoiceField(["create", "update", "delete"])
    version = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField()
    actor = ActorOut()
    summary = serializers.CharField(allow_blank=True)
    # A field, not the ``data`` property: DRF's serializer metaclass takes fields out of the class.
    data = serializers.JSONField(  # type: ignore[assignment]
        allow_null=True, help_text="The object's state after the change; null for a delete."
    )


class ChangesPageOut(serializers.Serializer[Any]):
    cursor = serializers.CharField(help_text="Pass as `since` to get what comes next.")
    has_more = serializers.BooleanField()
    results = ChangeOut(many=True)


class ChangesView(ApiView):
    extra_error_codes = (410,)

    @extend_schema(
        tags=["changes"],
        parameters=[inputs.ChangesParams],
        responses=ChangesPageOut,
        summary="Every change you may see, oldest first",
    )
    def get(self, request: Request) -> Response:
        params = query(request, inputs.ChangesParams)
        since = decode_cursor(params["since"]) if "since" in params else None
        partnerships: Iterable[Any]  # ids, or a query of them
        if "partnership" in params:
            partnerships = [resolve(request.user, params["partnership"]).partnership.pk]
        else:
            partnerships = visible_partnerships(request.user).values("pk")
        with collector_paused():
            events, has_more = feed_page(partnership_ids=partnerships, since=since, limit=params["limit"])
            results, exact = represent(events)
        position = (events[-1].txid, events[-1].seq) if events else (since or START)
        document = {"cursor": encode_cursor(position), "has_more": has_more, "results": results}
        return Response(FastJSON(document) if exact else document)
