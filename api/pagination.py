"""Cursor pagination for lists: stable under inserts, an opaque ``cursor`` and ``limit``."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response


class ApiPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = ("created_at", "id")

    def decode_cursor(self, request: Any) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({"cursor": ["Not a cursor of this list."]}) from exc
        if cursor is not None and cursor.position is not None:
            position = cast(str, cursor.position)  # text from the query string (the stubs say int)
            try:
                valid = parse_datetime(position) is not None
            except ValueError:
                valid = False
            if not valid or "\x00" in position:
                raise exceptions.ValidationError({"cursor": ["Not a cursor of this list."]})
        if cursor is not None and cursor.offset > 10000:
            raise exceptions.ValidationError({"cursor": ["Not a cursor of this list."]})
        return cursor

    def get_paginated_response(self, data: Any) -> Response:
        """The page, with the next page's link and its cursor as a field of its own (a client passes
        ``?cursor=<next_cursor>`` and never has to parse a URL)."""
        next_link, previous_link = self.get_next_link(), self.get_previous_link()
        return Response(
            {
                "next": next_link,
                "next_cursor": _cursor_of(next_link),
                "previous": previous_link,
                "previous_cursor": _cursor_of(previous_link),
                "results": data,
            }
        )


def _cursor_of(link: str | None) -> str | None:
    if link is None:
        return None
    return parse_qs(urlsplit(link).query).get("cursor", [None])[0]


class PartnershipPagination(ApiPagination):
    pass
