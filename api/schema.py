"""The OpenAPI description: every operation lists every status it can answer with, each error
as a problem-details body, and the headers that make writes safe (If-Match, Idempotency-Key)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
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


_stale: dict[type[serializers.Serializer[Any]], type[serializers.Serializer[Any]]] = {}


def stale_problem(out: type[serializers.Serializer[Any]]) -> type[serializers.Serializer[Any]]:
    """The 412 body of an operation on ``out``'s objects: a problem whose ``current`` is typed."""
    if out not in _stale:
        name = out.__name__.removesuffix("Out")
        _stale[out] = type(
            f"Stale{name}Problem",
            (ProblemSerializer,),
            {
                "current": out(help_text="The object as it is now: re-read it, decide, retry with its ETag."),
                "Meta": type("Meta", (), {"ref_name": f"Stale{name}Problem"}),
            },
        )
    return _stale[out]


def header(description: str, schema_type: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": schema_type}}


# Described once under components/headers and referenced by every answer.
HEADER_COMPONENTS = {
    "RateLimit-Policy": header('The limit this request counted against, e.g. `"user";q=1200;w=60`.'),
    "RateLimit": header('Where you stand: requests left and seconds until the window ends, e.g. `"user";r=1187;t=42`.'),
    "X-RateLimit-Limit": header("Requests allowed in the window.", "integer"),
    "X-RateLimit-Remaining": header("Requests left in the window.", "integer"),
    "X-RateLimit-Reset": header("Seconds until the window ends.", "integer"),
}
RATE_LIMIT_HEADERS = {name: {"$ref": f"#/components/headers/{name}"} for name in HEADER_COMPONENTS}
ETAG_HEADER = {
    "ETag": header('The object\'s version as a strong tag, e.g. `"4"`: send it as If-Match or If-None-Match.')
}
PARENT_HEADERS = {
    "Link": header('The goal the commitment belongs to: `</api/v1/goals/<id>>; rel="up"`.'),
    "Goal-ETag": header("The goal's ETag after this write (a commitment is part of its terms)."),
    "Goal-Revision": header("The goal's revision after this write.", "integer"),
}

READ_ERRORS = (400, 401, 404, 406, 429)
WRITE_ERRORS = (400, 401, 403, 404, 406, 409, 413, 415, 429)
DESCRIPTIONS = {
    400: "Invalid input (field errors in `errors`).",
    401: "No or invalid credentials.",
    403: "Not allowed: `permission_denied` (your role), `token_read_only` or `token_scope` (your token), "
    "`csrf_failed` (a browser session without the X-CSRFToken header).",
    404: "Not there, or not visible to you.",
    406: "Only JSON is offered.",
    409: "A rule of the plan forbids this now (`code` names the rule), or `id_taken`: the id you chose is used.",
    410: "`cursor_expired` (older than the history kept) or `cursor_unknown` (not issued by this server): "
    "re-sync from /plan.",
    412: "Stale: `stale_version` (If-Match) or `<type>.stale_revision` (the revision you acted on is no longer "
    "current); `current` holds the object as it is now.",
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
        resource = getattr(self.view, "resource", None)
        for code in self._error_codes():
            ref = problem_ref
            if code == 412 and resource is not None:
                ref = self.resolve_serializer(stale_problem(resource.out), direction).ref
            responses.setdefault(
                str(code),
                {
                    "description": DESCRIPTIONS.get(code, TITLES.get(code, "")),
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": ref}},
                },
            )
        return responses

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        """The operation, with the headers every answer carries (rate limits; ETag and Location where
        they apply), conditional GET (If-None-Match → 304) where an answer has an ETag, and
        Retry-After on 429."""
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        method = self.method.upper()
        conditional = method == "GET" and getattr(self.view, "conditional_get", False)
        resource = getattr(self.view, "resource", None)
        for code, response in operation.get("responses", {}).items():
            headers = response.setdefault("headers", {})
            headers.update(RATE_LIMIT_HEADERS)
            answers_etag = method != "GET" and getattr(self.view, "answers_etag", False)
            if code.startswith("2") and (conditional or answers_etag):
                headers.update(ETAG_HEADER)
            if code == "201" and getattr(self.view, "is_list", False):
                headers["Location"] = header("The new object's URL.")
                if resource is not None:
                    response["links"] = self._links(resource)
            if code.startswith("2") and method != "GET" and resource is not None and resource.parent is not None:
                headers.update(PARENT_HEADERS)
            if code == "200" and getattr(self.view, "links_next", False):
                headers["Link"] = header(
                    'While `has_more` is true, the next page: `</api/v1/changes?since=<cursor>&limit=<n>>; rel="next"` '
                    "(the same filters, `since` this page's `cursor`). A client may ask for it as soon as the "
                    "headers arrive."
                )
            if code == "429":
                headers["Retry-After"] = header("Seconds to wait before the next request.", "integer")
        if conditional:
            operation.setdefault("parameters", []).append(
                {
                    "in": "header",
                    "name": "If-None-Match",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "The ETag you hold: 304 Not Modified (no body) while it is still current.",
                }
            )
            operation["responses"]["304"] = {
                "description": "Not modified: what you hold is current.",
                "headers": {**ETAG_HEADER, **RATE_LIMIT_HEADERS},
            }
        return operation

    @staticmethod
    def _links(resource: Any) -> dict[str, Any]:
        """OpenAPI links from a created object to what can be done with it (for stateful testing and
        for tools that follow them): read it, change it, delete it."""
        name = resource.name.replace("-", "_")
        by_id = {"id": "$response.body#/id"}
        links = {"Read": {"operationId": f"{name}_retrieve", "parameters": by_id, "description": "Read it back."}}
        if resource.update is not None:
            links["Change"] = {"operationId": f"{name}_partial_update", "parameters": by_id}
        if resource.delete is not None:
            links["Delete"] = {"operationId": f"{name}_destroy", "parameters": by_id}
        return links

    def get_operation_id(self) -> str:
        """Readable ids for generated clients: ``goals_list``, ``goals_retrieve``, ``goals_approve``,
        ``partnerships_plan``, ``changes_list`` (not ``v1_goals_approve_create``)."""
        operation_id = str(super().get_operation_id()).removeprefix("v1_")
        if getattr(self.view, "is_list", False) and self.method.upper() == "GET":
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        after_id = self.path.rstrip("/").split("{id}")
        if len(after_id) == 2 and after_id[1]:  # an action or a view of one object: /goals/{id}/approve
            operation_id = operation_id.removesuffix("_create").removesuffix("_retrieve")
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
                "next_cursor": serializers.CharField(
                    allow_null=True, help_text="Pass as ?cursor= for the next page (null at the end)."
                ),
                "previous": serializers.URLField(allow_null=True),
                "previous_cursor": serializers.CharField(allow_null=True),
                "results": item(many=True),
                "Meta": type("Meta", (), {"ref_name": f"{name}Page"}),
            },
        )
    return _pages[item]


class ApiSchemaGenerator(SchemaGenerator):
    """The schema with ``servers``: the API's own origin, as the request for the schema reached it."""

    def get_schema(self, request: Any = None, public: bool = False) -> Any:
        schema = super().get_schema(request=request, public=public)  # type: ignore[no-untyped-call]
        url = request.build_absolute_uri("/").rstrip("/") if request is not None else settings.SITE_URL.rstrip("/")
        schema["servers"] = [{"url": url, "description": "This Partnerplan (paths start with /api/v1/)."}]
        schema.setdefault("components", {})["headers"] = HEADER_COMPONENTS
        return schema


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
        "example": "10:00:00",
    }
)
class LocalTimeField(serializers.TimeField):
    """A time of day without an offset (``10:00:00``), local to a time zone named elsewhere. Not
    ``format: time``: OpenAPI takes that from RFC 3339, whose times carry an offset, and strict
    validators refuse ``10:00:00`` against it."""
