"""The base of every API view: authentication, throttling, JSON only, one exception handler."""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from ..authentication import (
    AnonThrottle,
    BearerTokenAuthentication,
    SessionAuthentication,
    UserThrottle,
    rate_limit_headers,
)
from ..fields import require_all
from ..parsers import JSONParser
from ..problems import RequestTooLarge, TokenScopeDenied, handle_exception
from ..renderers import JSONRenderer
from ..resources import represent_current
from ..schema import ApiSchema
from ..scope import is_read_only

ID_PARAM = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The object's id.")


class ApiView(APIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [UserThrottle, AnonThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    schema: ViewInspector | None = ApiSchema()

    def get_exception_handler(self) -> Any:
        return functools.partial(handle_exception, represent=represent_current)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise RequestTooLarge()
        # DRF's ``initial``, with the throttles before the permissions: every answer, a 401 or 403
        # included, counts against a limit and says so in its RateLimit headers (a refused caller is
        # counted against its address's limit: probing for tokens is throttled too).
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
        request.version, request.versioning_scheme = self.determine_version(request, *args, **kwargs)
        try:
            self.perform_authentication(request)
        except exceptions.AuthenticationFailed:
            self.check_throttles(request)  # as an anonymous caller (DRF has unset the user)
            raise
        self.check_throttles(request)
        self.check_permissions(request)
        if request.method not in permissions.SAFE_METHODS and not self.read_only_tokens_may and is_read_only(request):
            raise TokenScopeDenied("This token is read-only: it may not change anything.", code="token_read_only")

    # A read-only token may still do this unsafe request (revoke itself).
    read_only_tokens_may = False

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Authorization",))  # answers differ per caller: never share a cache
        for name, value in rate_limit_headers(request).items():
            response[name] = value
        return response


def validated(
    serializer_class: type[Serializer[Any]], data: Any, *, put: bool = False, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validated input as a plain dict (``ValidationError`` → 400 with field errors)."""
    serializer = serializer_class(data=data, context=context or {})
    if put:
        require_all(serializer)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def query(request: Request, serializer_class: type[Serializer[Any]]) -> dict[str, Any]:
    return validated(serializer_class, dict(request.query_params.items()))
