"""The middlewares of a person's session.

Times in the person's own time zone: every page a signed-in person opens renders its times in
``User.timezone`` (Django converts aware datetimes to the active zone in templates, ``|date`` and
``|time`` included, and ``timezone.localdate()`` is the person's today).

Where the partnership's zone matters more than the reader's (a review is held at 10:00 in the
partnership's zone), templates say so and convert explicitly with ``{% load tz %}|timezone:zone``.
The REST API answers in UTC whoever asks, so its datetimes never depend on the session.

The person's language: ``UserLanguageMiddleware`` serves a signed-in person in ``User.language``
when they chose one, anyone else in their browser's (``Accept-Language``, Django's
``LocaleMiddleware``). The REST API answers in English whoever asks, like its times in UTC.

The second factor: ``TwoFactorMiddleware`` (below) holds every session to its person's two-factor
standing.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation

from . import two_factor

API_PREFIX = "/api/"
ENGLISH = "en"


def zone_of(user: object) -> zoneinfo.ZoneInfo | None:
    """The person's own zone, or None (anonymous, or a zone this machine does not know)."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return zoneinfo.ZoneInfo(str(getattr(user, "timezone", "") or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class UserTimezoneMiddleware:
    """Activates the signed-in person's time zone for the request (after ``AuthenticationMiddleware``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None if request.path_info.startswith(API_PREFIX) else zone_of(getattr(request, "user", None))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def language_of(user: object) -> str:
    """The language the person chose (a code of ``settings.LANGUAGES``), or "" (anonymous, not
    chosen, or a code no longer offered)."""
    if not getattr(user, "is_authenticated", False):
        return ""
    code = str(getattr(user, "language", "") or "")
    return code if code in dict(settings.LANGUAGES) else ""


class UserLanguageMiddleware(LocaleMiddleware):
    """Activates the request's language (after ``AuthenticationMiddleware``): the signed-in person's
    own, else the browser's. The person is loaded already (``UserTimezoneMiddleware`` reads them),
    so this costs no query. ``Content-Language`` names the language served; ``Vary:
    Accept-Language`` tells caches that a page without a session differs by the browser's.

    The language stays active until the response is closed (``language_finished``), so a streamed
    answer (the CSV exports) is written in it too."""

    sync_capable = True
    async_capable = False

    def process_request(self, request: HttpRequest) -> None:
        api = request.path_info.startswith(API_PREFIX)
        code = ENGLISH if api else language_of(getattr(request, "user", None))
        if not code:
            super().process_request(request)
            return
        translation.activate(code)
        request.LANGUAGE_CODE = translation.get_language()


def language_finished(sender: object, **kwargs: Any) -> None:
    """``request_finished``: the next request (or the test that made this one) starts in the default
    language, as Django's ``LocaleMiddleware`` alone would leave it active on the thread."""
    translation.deactivate()


class TwoFactorMiddleware:
    """Holds a session to the second factor (after ``AuthenticationMiddleware``).

    A session signed in with its second factor (``two_factor.VERIFIED``) passes at no cost. Any
    other signed-in session costs one query (``two_factor.standing``):

    - its person has set up two-factor sign-in, but this session was signed in without it (before
      it was set up, say): it is signed out and sent to sign in again;
    - an organisation of theirs requires it and they have not set it up: every page but the set-up
      pages (and signing out) sends them to set it up; the API answers 403.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.session.get(two_factor.VERIFIED):
            return None
        standing = two_factor.standing(user)
        if standing.enrolled:
            logout(request)
            message = "Sign in again with your authenticator code."
            if request.path_info.startswith(API_PREFIX):
                return _problem(401, "Unauthorized", message, "two_factor.sign_in_again")
            messages.info(request, message)
            return _away(request, reverse("login"))
        if not standing.required:
            return None
        match = request.resolver_match
        if match is not None and match.url_name in SETUP_URL_NAMES:
            return None
        message = "Your organisation requires two-factor sign-in: set it up to go on."
        if request.path_info.startswith(API_PREFIX):
            return _problem(403, "Forbidden", message, "two_factor.required")
        messages.info(request, message)
        return _away(request, reverse("two_factor_setup"))


# The pages a person whose organisation requires two-factor sign-in may still open.
SETUP_URL_NAMES = frozenset(
    {"two_factor_setup", "two_factor_start", "two_factor_confirm", "logout", "csp_report", "healthz"}
)


def _problem(status: int, title: str, detail: str, code: str) -> JsonResponse:
    """The API's error shape (RFC 9457 problem details) for a session the API may not serve."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _away(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect; for htmx, one the browser follows as a whole page."""
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
