"""Times in the person's own time zone: every page a signed-in person opens renders its times in
``User.timezone`` (Django converts aware datetimes to the active zone in templates, ``|date`` and
``|time`` included, and ``timezone.localdate()`` is the person's today).

Where the partnership's zone matters more than the reader's (a review is held at 10:00 in the
partnership's zone), templates say so and convert explicitly with ``{% load tz %}|timezone:zone``.
The REST API answers in UTC whoever asks, so its datetimes never depend on the session.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

API_PREFIX = "/api/"


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
