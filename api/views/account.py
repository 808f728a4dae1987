"""Tokens and the caller: obtain a token with e-mail and password, list and revoke tokens, ``me``."""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import two_factor
from accounts.models import ApiToken, OrganisationMembership, User
from core.errors import NotFound

from .. import inputs
from .. import serializers as out
from ..authentication import TokenRequestThrottle
from ..idempotency import idempotent
from ..pagination import ApiPagination
from ..resources import parse_uuid
from ..schema import paginated
from ..scope import resolve_many, visible_partnerships
from .base import ApiView, query, validated


class TokenCreate(ApiView):
    """Exchange e-mail and password for a named bearer token (shown once; rate-limited)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [TokenRequestThrottle]
    idempotent = False
    extra_error_codes = (403, 429)

    @extend_schema(
        tags=["auth"],
        request=inputs.TokenCreateIn,
        responses={201: out.IssuedTokenOut},
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request: Request) -> Response:
        data = validated(inputs.TokenCreateIn, request.data)
        user = authenticate(request._request, username=data["email"], password=data["password"])
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("E-mail address or password is wrong.")
        # A password alone is not enough for someone who signs in with a second factor.
        refusal = two_factor.password_alone_refusal(user)
        if refusal is not None:
            raise exceptions.PermissionDenied(refusal)
        mine = set(visible_partnerships(user).filter(pk__in=data["partnerships"]).values_list("pk", flat=True))
        unknown = [str(p) for p in data["partnerships"] if p not in mine]
        if unknown:
            raise exceptions.ValidationError({"partnerships": [f"Not a partnership of yours: {', '.join(unknown)}."]})
        days = data.get("expires_in_days")
        token, raw = ApiToken.issue(
            user=user,
            name=data["name"],
            read_only=data["read_only"],
            partnerships=[str(p) for p in data["partnerships"]],
            expires_at=timezone.now() + dt.timedelta(days=days) if days else None,
        )
        body = out.ApiTokenOut(token).data | {"token": raw}
        return Response(body, status=status.HTTP_201_CREATED)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class TokenList(ApiView):
    is_list = True

    @extend_schema(
        tags=["auth"],
        parameters=[inputs.TokenParams],
        responses=paginated(out.ApiTokenOut),
        summary="List your API tokens",
    )
    def get(self, request: Request) -> Response:
        query(request, inputs.TokenParams)
        qs = ApiToken.objects.filter(user=cast(User, request.user))
        paginator = ApiPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(out.ApiTokenOut(page, many=True).data)


class TokenRevoke(ApiView):
    post_has_body = False
    read_only_tokens_may = True

    @extend_schema(
        tags=["auth"],
        request=None,
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, "path")],
        responses={200: out.ApiTokenOut},
        summary="Revoke one of your API tokens",
    )
    def post(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._revoke(request, pk))

    def _revoke(self, request: Request, pk: str) -> Response:
        token = ApiToken.objects.filter(user=cast(User, request.user), pk=parse_uuid(pk, "token")).first()
        if token is None:
            raise NotFound("No such token.")
        if token.revoked_at is None:
            ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
            token.refresh_from_db()
        return Response(out.ApiTokenOut(token).data)


class Me(ApiView):
    @extend_schema(tags=["me"], responses=out.MeOut, summary="Who you are and what you may see")
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)  # signed in (the API's default permission)
        partnerships = list(visible_partnerships(user).order_by("name"))
        accesses = resolve_many(user, partnerships)
        body = {
            "public_id": user.public_id,
            "email": user.email,
            "full_name": user.full_name,
            "timezone": user.timezone,
            "organisations": OrganisationMembership.objects.filter(user=user).select_related("organisation"),
            "partnerships": [
                {
                    "partnership": p.pk,
                    "name": p.name,
                    "side": accesses[p.pk].side,
                    "role": accesses[p.pk].role,
                    "is_org_admin": accesses[p.pk].is_org_admin,
                }
                for p in partnerships
                if p.pk in accesses
            ],
        }
        return Response(out.MeOut(body).data)
