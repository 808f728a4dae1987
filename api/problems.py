"""Every API error as RFC 9457 problem details, mapped in this one place.

Body: ``type``, ``title``, ``status``, ``detail`` (for people), ``code`` (stable, for programs) and
``errors`` ({field: [messages]}, nested fields joined with dots). A stale write also carries
``current``: the object as it is now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, StaleVersion

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Invalid input",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflicts with a rule of the plan",
    410: "Gone",
    412: "Changed by someone else",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Idempotency key reused",
    428: "Precondition required",
    429: "Too many requests",
}


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "Send If-Match with the object's ETag (or its version in the body) to change it."
    default_code = "precondition_required"


class CursorExpired(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This cursor is older than the change history kept; re-sync from the plan."
    default_code = "cursor_expired"


class CursorUnknown(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This cursor was not issued by this server; re-sync from the plan."
    default_code = "cursor_unknown"


class IdTaken(DomainError):
    """A client-chosen id that an object has already (409, not 400: the input is well-formed)."""

    status = 409
    code = "id_taken"


class CsrfFailed(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "The CSRF check failed: send the X-CSRFToken header with a browser session (or use a token)."
    default_code = "csrf_failed"


class TokenScopeDenied(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This token may not do this."
    default_code = "token_scope"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used for a different request."
    default_code = "idempotency_key_reused"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field.sub.0": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out.update(flatten_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name))
    elif isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            messages = [str(item) for item in detail]
            if messages:
                out.setdefault(prefix or "non_field_errors", []).extend(messages)
        else:
            for index, item in enumerate(detail):
                out.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    elif detail is not None:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


def problem(
    status_code: int,
    code: str,
    detail: str,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": f"urn:partnerplan:problem:{code}",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
        "errors": errors or {},
        **extra,
    }
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def _summary(errors: dict[str, list[str]]) -> str:
    parts = [
        f"{name}: {' '.join(messages)}" if name != "non_field_errors" else " ".join(messages)
        for name, messages in errors.items()
    ]
    return "Please correct: " + "; ".join(parts) if parts else "The input is not valid."


def handle_exception(
    exc: Exception,
    context: dict[str, Any],
    represent: Callable[[Any, Any], tuple[Any, str | None]] | None = None,
) -> Response | None:
    """The API's exception handler (see ``ApiView.get_exception_handler``). ``represent`` gives the
    current state of the object a stale write was made against, and its ETag, for the 412 body."""
    if isinstance(exc, StaleVersion):
        # A stale version (If-Match) or a stale revision (approving or endorsing what has changed
        # since it was read): 412 either way, with the object as it is now.
        current, etag = represent(exc.current, context.get("request")) if represent else (None, None)
        return problem(
            412, exc.code, exc.message, exc.fields, headers={"ETag": etag} if etag else None, current=current
        )
    if isinstance(exc, DomainError):
        return problem(exc.status, exc.code, exc.message, exc.fields)
    if isinstance(exc, IntegrityError):
        # A uniqueness check lost a race with a concurrent write (e.g. two creates with one client id).
        return problem(409, "conflict", "This conflicts with a change saved at the same moment; read again and retry.")
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("The request could not be read.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    headers = {k: v for k, v in response.items() if k.lower() in ("www-authenticate", "retry-after", "allow")}
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        return problem(400, "invalid", _summary(errors), errors, headers=headers)
    detail = exc.detail
    if isinstance(detail, list | dict):
        errors = flatten_errors(detail)
        return problem(exc.status_code, _code_of(exc), _summary(errors), errors, headers=headers)
    return problem(exc.status_code, _code_of(exc), str(detail), headers=headers)


def _code_of(exc: exceptions.APIException) -> str:
    code = getattr(exc.detail, "code", None) or exc.default_code
    return str(code)
