"""``GET /calendar/<token>.ics``: a person's calendar subscription (``cadence.calendar_feed``).

Calendar clients fetch it without a session or a CSRF token: the secret link is the authority. An
unknown or revoked link answers a plain 404 that tells nothing more. Each answer carries an ETag (a
hash of the feed), so a client polling with ``If-None-Match`` gets a 304 while nothing changed; there
is no Last-Modified, because an event leaving the feed (a partnership left, a goal closed) changes
no timestamp. Fetches are rate-limited per client address.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_safe
from django_ratelimit.core import is_ratelimited

from accounts.models import CalendarFeed

from .calendar_feed import build_feed

# Fetches per client address and minute (calendar clients poll about hourly; guessing links is futile
# with 256-bit tokens, but cheap to refuse).
CALENDAR_FEED_RATE = getattr(settings, "CALENDAR_FEED_RATE", "30/m")
# ``last_used_at`` is written at most this often per link (polling should not write on every fetch).
LAST_USED_GRANULARITY = dt.timedelta(minutes=15)


def _plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    if is_ratelimited(request, group="calendar-feed", key="ip", rate=CALENDAR_FEED_RATE, increment=True):
        response = _plain(429, "Too many requests. Try again in a minute.\n")
        response["Retry-After"] = "60"
        return response
    feed = CalendarFeed.find_active(token)
    if feed is None:
        return _plain(404, "Not found.\n")
    now = timezone.now()
    CalendarFeed.objects.filter(pk=feed.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
    ).update(last_used_at=now)
    body = build_feed(feed.user, now)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["Content-Disposition"] = 'inline; filename="partnerplan.ics"'
    response["X-Robots-Tag"] = "noindex"
    conditional = get_conditional_response(request, etag=etag, response=response)
    return conditional if conditional is not None else response
