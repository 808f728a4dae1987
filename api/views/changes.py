"""``GET /api/v1/changes``: the change feed (see ``api.feed``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlencode

from django.http import StreamingHttpResponse
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from .. import inputs
from ..feed import (
    START,
    Partnerships,
    collector_paused,
    decode_cursor,
    encode_cursor,
    feed_page,
    one_partnership,
    represent,
)
from ..renderers import FastJSON, FastJSONList, JSONRenderer
from ..representation import SERIALIZERS, VERSIONED
from ..scope import resolve, standing_partnership_ids, visible_partnership_values, visible_partnerships
from .base import ApiView, query


class ActorOut(serializers.Serializer[Any]):
    id = serializers.UUIDField(allow_null=True, help_text="The person, by public id (null for the system).")
    name = serializers.CharField()


def change_of(api_type: str, out: type[serializers.Serializer[Any]]) -> type[serializers.Serializer[Any]]:
    """The event of one type: the envelope, and ``data`` typed as the type's representation."""
    name = "".join(part.title() for part in api_type.split("-"))
    versioned = api_type in VERSIONED
    fields: dict[str, Any] = {
        "cursor": serializers.CharField(help_text="This event's position; pass as `since` to resume after it."),
        "partnership": serializers.UUIDField(),
        "type": serializers.ChoiceField([api_type]),
        "id": serializers.UUIDField(),
        "action": serializers.ChoiceField(["create", "update", "delete"]),
        "version": serializers.IntegerField(
            allow_null=not versioned,
            help_text="The object's version after the change (a tombstone: its last version)."
            if versioned
            else "Always null: objects of this type have no version (apply events in feed order).",
        ),
        "at": serializers.DateTimeField(),
        "actor": ActorOut(),
        "summary": serializers.CharField(allow_blank=True),
        "data": out(
            allow_null=True,
            help_text=f"The {api_type} as its resource and /plan show it, after the change; null for a delete.",
        ),
        "Meta": type("Meta", (), {"ref_name": f"{name}Change"}),
    }
    return type(f"{name}Change", (serializers.Serializer,), fields)


CHANGE_TYPES: dict[str, Serializer[Any] | type[Serializer[Any]]] = {
    api_type: change_of(api_type, out) for api_type, out in SERIALIZERS.items()
}


class ChangesPageOut(serializers.Serializer[Any]):
    cursor = serializers.CharField(help_text="Pass as `since` to get what comes next.")
    has_more = serializers.BooleanField(help_text="Ask again at once if true; otherwise poll later.")
    results = PolymorphicProxySerializer(
        component_name="Change",
        serializers=CHANGE_TYPES,
        resource_type_field_name="type",
        many=True,
        help_text="Oldest first. A client ignores a type it does not know (a later release may add some).",
    )


class ChangesView(ApiView):
    extra_error_codes = (410,)
    is_list = True
    links_next = True

    @extend_schema(
        tags=["changes"],
        parameters=[inputs.ChangesParams],
        responses=ChangesPageOut,
        summary="Every change you may see, oldest first",
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        params = query(request, inputs.ChangesParams)
        since = decode_cursor(params["since"]) if "since" in params else None
        partnerships: Any  # ids, a query of them, or ``Partnerships`` (a page's statement kept compiled)
        if "partnership" in params:
            pk = resolve(request.user, params["partnership"]).partnership.pk
            partnerships = Partnerships(one_partnership, {"partnership": pk})
        elif (standing := visible_partnership_values(request.user)) is not None:
            partnerships = Partnerships(standing_partnership_ids, standing)
        else:
            partnerships = visible_partnerships(request.user).values("pk")
        with collector_paused():
            events, has_more = feed_page(
                partnership_ids=partnerships, since=since, limit=params["limit"], reader=request.user
            )
        position = (events[-1].txid, events[-1].seq) if events else (since or START)
        cursor = encode_cursor(position)
        headers = next_link(request, params, cursor, has_more)
        renderer = request.accepted_renderer
        if has_more and isinstance(renderer, JSONRenderer):
            context = self.get_renderer_context()
            if renderer.fast_path(request.accepted_media_type, context):
                return StreamedPage(
                    page_body(renderer, cursor, events, request.accepted_media_type, context),
                    content_type=renderer.media_type,
                    headers=headers,
                )
        with collector_paused():
            results, exact = represent(events)
        document = {"cursor": cursor, "has_more": has_more, "results": results}
        return Response(FastJSON(document) if exact else document, headers=headers)


class StreamedPage(StreamingHttpResponse):
    """A page of the feed with more after it: its headers, the ``Link`` to the next page among them,
    go out as soon as the page's events are read, and its body follows once they are represented.
    A client syncing in bulk asks for the next page on those headers, so another worker reads and
    builds it while this one builds this page (a full sync is one client's pages one after the
    other otherwise). Its bytes are the document ``ChangesView`` answers whole for a last page, and
    may be read whole too (``content`` and ``text``: the test client, a middleware).

    A failure while the body is built (the database gone between the two) can no longer become an
    error status: the body stops short, and the client, whose JSON does not parse, asks again."""

    @property
    def content(self) -> bytes:  # type: ignore[override]
        if not hasattr(self, "_whole"):
            self._whole = b"".join(cast(Iterator[bytes], self.streaming_content))
        return self._whole

    @property
    def text(self) -> str:  # type: ignore[override]
        return self.content.decode(self.charset)


def page_body(
    renderer: JSONRenderer, cursor: str, events: list[Any], media_type: str | None, context: dict[str, Any]
) -> Iterator[bytes]:
    """The body of a ``StreamedPage``: ``{"cursor":…,"has_more":true,"results":[`` first (WSGI servers
    send the headers with the first piece), then the events, byte for byte as the renderer writes the
    whole document (it writes it compact: ``fast_path``)."""
    empty = renderer.render({"cursor": cursor, "has_more": True, "results": []}, media_type, context)
    if not empty.endswith(b"[]}"):
        raise AssertionError(f"the renderer wrote an empty page unlike a compact one: {empty[:80]!r}")
    yield empty[:-2]
    with collector_paused():
        results, exact = represent(events)
        events.clear()  # the page's objects go while the collector is paused: none is left to scan
        body = renderer.render(FastJSONList(results) if exact else results, media_type, context)
        del results
    yield body[1:]
    yield b"}"


def next_link(request: Request, params: dict[str, Any], cursor: str, has_more: bool) -> dict[str, str]:
    """The next page's URL while there is more (RFC 8288 ``rel="next"``): a client syncing in bulk can
    ask for it as soon as the headers arrive and read this page's body meanwhile."""
    if not has_more:
        return {}
    query = {"since": cursor, "limit": params["limit"]}
    if "partnership" in params:
        query["partnership"] = str(params["partnership"])
    return {"Link": f'<{request.path}?{urlencode(query)}>; rel="next"'}
