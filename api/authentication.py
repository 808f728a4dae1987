"""Who is calling: a bearer token (scripts, CRMs) or the browser's session (with CSRF)."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import Q
from django.utils import timezone
from django_ratelimit.core import get_usage
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from accounts.models import ApiToken
from core.clientip import client_ip

from . import scope
from .problems import CsrfFailed

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
        # A read answers from the standing read with the token; a write reads it after its lock.
        safe = request.method in permissions.SAFE_METHODS
        token = scope.find_token(raw, with_standing=safe) if raw.isprintable() and len(raw) <= 200 else None
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token is not valid (unknown, revoked or expired).")
        self._touch(token)
        scope.attach(token.user, token)
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

    def enforce_csrf(self, request: Request) -> None:
        """A failed CSRF check has its own code (``csrf_failed``), never a role's ``permission_denied``."""
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise CsrfFailed(f"{exc.detail} Send the X-CSRFToken header (or use a bearer token).") from exc


DEFAULT_RATES = {"user": "1200/minute", "anon": "120/minute", "auth_token": "10/minute"}


def rate_for(scope: str) -> str:
    rates: dict[str, str] = {**DEFAULT_RATES, **getattr(settings, "API_THROTTLE_RATES", {})}
    return rates[scope]


class UserThrottle(throttling.BaseThrottle):
    """Requests per person, counted in a fixed window: one integer in the cache per person and
    window, however busy the client (DRF's sliding window rereads and rewrites the time of every
    request in the window on each call, ~10 kB for a busy client). On Redis the count is one
    round trip (``count_request``); on another cache it is django-ratelimit's counter."""

    time_left: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True
        rate = rate_for("user")
        usage = count_request(request, rate)
        if usage is None:  # rate limiting switched off (RATELIMIT_ENABLE)
            return True
        self.time_left = usage["time_left"]
        remember(request, "user", usage["limit"], usage["limit"] - usage["count"], usage["time_left"], _window(rate))
        return not usage["should_limit"]

    def wait(self) -> float | None:
        return max(self.time_left, 1) if self.time_left is not None else None


def _user_key(group: str, request: Request) -> str:
    return str(request.user.pk)


# Count one request and keep the count as long as its window lasts, atomically.
COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_count_scripts: dict[tuple[str, ...], Any] = {}


def _count_script() -> Any:
    """The counting script on the rate limits' cache when it is Redis (one client per process and
    server: a client is costly to build), else None."""
    backend = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    if not isinstance(backend, RedisCache):
        return None
    # Django's own client for the cache's first (write) server, with the cache's options and pool.
    django_client: Any = cast(Any, backend)._cache
    servers = tuple(cast(Any, backend)._servers)
    script = _count_scripts.get(servers)
    if script is None:
        script = _count_scripts[servers] = django_client.get_client(write=True).register_script(COUNT_SCRIPT)
    return script


def count_request(request: Request, rate: str) -> dict[str, Any] | None:
    """Count this request against the person's limit: django-ratelimit's fixed window (the same
    staggered window ends, its settings), in one Redis round trip (the script runs by its digest:
    EVALSHA) instead of three (ADD, EXISTS, INCR)."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    script = _count_script()
    if script is None:
        usage: dict[str, Any] | None = get_usage(request, group="api-user", key=_user_key, rate=rate, increment=True)
        return usage
    limit, window = int(rate.split("/", 1)[0]), _window(rate)
    value = str(request.user.pk)
    window_end = _window_end(value, window)
    key = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")].make_key(
        f"rl:api-user:{limit}/{window}s:{value}:{window_end}"
    )
    count = int(script(keys=[key], args=[window + 5]))  # kept a little past its window's end
    return {
        "count": count,
        "limit": limit,
        "should_limit": count > limit,
        "time_left": window_end - int(time.time()),
    }


def _window_end(value: str, window: int) -> int:
    """When the current window ends: windows start on multiples of their length from the epoch,
    shifted per person (as django-ratelimit's) so that not every count resets at once."""
    now = int(time.time())
    if window == 1:
        return now
    end = now - (now % window) + (zlib.crc32(value.encode()) % window)
    return end + window if end < now else end


def _window(rate: str) -> int:
    """The seconds of a rate's window ("1200/minute" → 60, "40/2s" → 2), as django-ratelimit reads it."""
    match = re.match(r"(\d+)/(\d*)([smhd])?", rate)
    if match is None:
        return 60
    multiplier = int(match.group(2) or 1)
    return multiplier * {"s": 1, "m": 60, "h": 3600, "d": 86400}[(match.group(3) or "s").lower()]


@dataclass(frozen=True)
class RateState:
    """Where the caller stands with the limit that counted this request (for the RateLimit headers)."""

    policy: str
    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    window: int  # seconds


RATE_ATTRIBUTE = "_api_rate_state"


def remember(request: Request, policy: str, limit: int, remaining: int, reset: float, window: int) -> None:
    state = RateState(policy, int(limit), max(0, int(remaining)), max(0, math.ceil(reset)), int(window))
    setattr(request._request, RATE_ATTRIBUTE, state)


def rate_state(request: Any) -> RateState | None:
    state = getattr(getattr(request, "_request", request), RATE_ATTRIBUTE, None)
    return state if isinstance(state, RateState) else None


def rate_limit_headers(request: Any) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers) and the common
    ``X-RateLimit-*`` for the limit this request counted against (the person's, or the address's
    for anonymous calls)."""
    state = rate_state(request)
    if state is None:
        return {}
    return {
        "RateLimit-Policy": f'"{state.policy}";q={state.limit};w={state.window}',
        "RateLimit": f'"{state.policy}";r={state.remaining};t={state.reset}',
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
        "X-RateLimit-Reset": str(state.reset),
    }


class SlidingWindowState(throttling.SimpleRateThrottle):
    """DRF's sliding-window throttles, remembering where the caller stands for the headers."""

    def allow_request(self, request: Request, view: Any) -> bool:
        allowed = super().allow_request(request, view)
        limit, window = getattr(self, "num_requests", None), getattr(self, "duration", None)
        if getattr(self, "key", None) is not None and limit is not None and window is not None:
            history = getattr(self, "history", [])
            reset = window - (self.now - history[-1]) if history else window
            remember(request, str(self.scope), limit, limit - len(history), reset, window)
        return allowed


class ClientAddressIdent:
    """Throttles keyed by the client's address take it from ``core.clientip`` (the one configured
    source), never from a header the client could choose (DRF's ``get_ident`` default)."""

    def get_ident(self, request: Request) -> str:
        return client_ip(request)


class AnonThrottle(ClientAddressIdent, SlidingWindowState, throttling.AnonRateThrottle):
    def get_rate(self) -> str:
        return rate_for("anon")


class TokenRequestThrottle(ClientAddressIdent, SlidingWindowState):
    """Attempts to obtain a token, per client address (slows down password guessing)."""

    scope = "auth_token"

    def get_rate(self) -> str:
        return rate_for("auth_token")

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
