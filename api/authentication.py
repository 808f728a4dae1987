"""Who is calling: a bearer token (scripts, CRMs) or the browser's session (with CSRF)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_ratelimit.core import get_usage
from rest_framework import authentication, exceptions, throttling
from rest_framework.request import Request

from accounts.models import ApiToken

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` with a token issued by ``POST /api/v1/auth/token``."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the header as: Authorization: Bearer <token>.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not valid.") from exc
        token = ApiToken.find_active(raw) if raw.isprintable() and len(raw) <= 200 else None
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token is not valid (unknown or revoked).")
        self._touch(token)
        return token.user, token

    @staticmethod
    def _touch(token: ApiToken) -> None:
        """Record the last use, at most once a minute per token (a busy client writes rarely)."""
        now = timezone.now()
        if token.last_used_at and now - token.last_used_at < LAST_USED_RESOLUTION:
            return
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's session; DRF enforces CSRF for it on unsafe methods."""


DEFAULT_RATES = {"user": "1200/minute", "anon": "120/minute", "auth_token": "10/minute"}


def rate_for(scope: str) -> str:
    rates: dict[str, str] = {**DEFAULT_RATES, **getattr(settings, "API_THROTTLE_RATES", {})}
    return rates[scope]


class UserThrottle(throttling.BaseThrottle):
    """Requests per person, counted in a fixed window: one integer in the cache per person and
    window (django-ratelimit's counter), however busy the client. DRF's sliding window rereads and
    rewrites the time of every request in the window on each call, ~10 kB for a busy client."""

    time_left: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True
        usage = get_usage(request, group="api-user", key=_user_key, rate=rate_for("user"), increment=True)
        if usage is None:  # rate limiting switched off (RATELIMIT_ENABLE)
            return True
        self.time_left = usage["time_left"]
        return not usage["should_limit"]

    def wait(self) -> float | None:
        return max(self.time_left, 1) if self.time_left is not None else None


def _user_key(group: str, request: Request) -> str:
    return str(request.user.pk)


class AnonThrottle(throttling.AnonRateThrottle):
    def get_rate(self) -> str:
        return rate_for("anon")


class TokenRequestThrottle(throttling.SimpleRateThrottle):
    """Attempts to obtain a token, per client address (slows down password guessing)."""

    scope = "auth_token"

    def get_rate(self) -> str:
        return rate_for("auth_token")

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
