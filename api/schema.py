"""The OpenAPI description: every operation lists every status it can answer with, each error
as a problem-details body, and the headers that make writes safe (If-Match, Idempotency-Key)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from .problems import PROBLEM_CONTENT_TYPE, TITLES


class ProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. goal.commitment_missing.")
    # A field, not the ``errors`` property: DRF's serializer metaclass takes fields out of the class.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field; nested fields are joined with dots.",
    )
    current = serializers.JSONField(required=False, allow_null=True, help_text="With 412: the object as it is now.")

    class Meta:
        ref_name = "Problem"


READ_ERRORS = (400, 401, 404, 406, 429)
WRITE_ERRORS = (400, 401, 403, 404, 406, 409, 413, 415, 429)
DESCRIPTIONS = {
    400: "Invalid input (field errors in `errors`).",
    401: "No or invalid credentials.",
    403: "Your role may not do this (or the CSRF check failed for a browser session).",
    404: "Not there, or not visible to you.",
    406: "Only JSON is offered.",
    409: "A rule of the plan forbids this now; `code` names the rule.",
    410: "The cursor is older than the history kept: re-sync from /plan.",
    412: "Stale: someone changed the object; `current` holds its state now.",
    413: "The request body is too large.",
    415: "Send JSON (Content-Type: application/json).",
    422: "The Idempotency-Key was used for a different request.",
    428: "Send If-Match (or `version` in the body).",
    429: "Too many requests; retry after the time in Retry-After.",
}


class ApiSchema(AutoSchema):
    def _error_codes(self) -> tuple[int, ...]:
        method = self.method.upper()
        codes = set(READ_ERRORS if method in ("GET", "HEAD") else WRITE_ERRORS)
        if method in ("PUT", "PATCH", "DELETE"):
            codes |= {412, 428}
        if method == "POST":
            codes |= {412, 422}
        codes |= set(getattr(self.view, "extra_error_codes", ()))
        if method == "POST" and not getattr(self.view, "post_has_body", True):
            codes.discard(413)
        return tuple(sorted(codes))

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        problem_ref = self.resolve_serializer(ProblemSerializer, direction).ref
        for code in self._error_codes():
            responses.setdefault(
                str(code),
                {
                    "description": DESCRIPTIONS.get(code, TITLES.get(code, "")),
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": problem_ref}},
                },
            )
        return responses

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        if getattr(self.view, "is_list", False) and self.method.upper() == "GET":
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        method = self.method.upper()
        if method in ("PUT", "PATCH", "DELETE"):
            params.append(
                OpenApiParameter(
                    "If-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description='The ETag you read, e.g. "3". Required unless the body has `version`.',
                )
            )
        elif method == "POST" and getattr(self.view, "accepts_if_match", False):
            params.append(
                OpenApiParameter(
                    "If-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Optional: refuse (412) if the object changed since you read it.",
                )
            )
        if method == "POST" and getattr(self.view, "idempotent", True):
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Retry safely: the same key and body replay the first response (kept 48 hours).",
                )
            )
        return params


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A token from POST /api/v1/auth/token."}


class SessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.authentication.SessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The browser's session; unsafe methods need the X-CSRFToken header.",
        }


_pages: dict[type[serializers.Serializer[Any]], type[serializers.Serializer[Any]]] = {}


def paginated(item: type[serializers.Serializer[Any]]) -> type[serializers.Serializer[Any]]:
    """The OpenAPI shape of one page of a cursor-paginated list of ``item``."""
    if item not in _pages:
        name = item.__name__.removesuffix("Out")
        _pages[item] = type(
            f"{name}Page",
            (serializers.Serializer,),
            {
                "next": serializers.URLField(allow_null=True, help_text="The next page, or null at the end."),
                "previous": serializers.URLField(allow_null=True),
                "results": item(many=True),
                "Meta": type("Meta", (), {"ref_name": f"{name}Page"}),
            },
        )
    return _pages[item]
