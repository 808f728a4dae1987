"""Cursor pagination for lists: stable under inserts, an opaque ``cursor`` and ``limit``."""

from __future__ import annotations

from typing import Any, cast

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination


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


class PartnershipPagination(ApiPagination):
    pass
