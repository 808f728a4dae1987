"""The alignment health page: the score, every component with its points and why, and the trend.

``templates/health/_explained.html`` is the explanation on its own, for other pages to include::

    {% include "health/_explained.html" with health=report %}

where ``report`` is an ``alignment.health.HealthReport`` (from ``health_for`` or
``partnership_health``). It needs nothing else and runs no query.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from alignment.web import PlanView
from core.web import HtmxHttpRequest

from .balance import Period, balance_with_quarters
from .health import partnership_health
from .snapshots import recent_snapshots

TREND_DAYS = 180


def trend_with_today(snapshots: list[Any], score: int, today: dt.date) -> list[dict[str, Any]]:
    """The stored daily snapshots, with today's live score in place of (or after) today's row."""
    points = [{"day": s.day, "score": s.score} for s in snapshots if s.day != today]
    points.append({"day": today, "score": score})
    return points


class HealthPage(PlanView):
    """``GET /p/<pid>/health/``: the explained score and its trend over the last half year. An htmx
    request gets only the explanation (``health/_explained.html``)."""

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        p = self.access.partnership
        now = timezone.now()
        report = partnership_health(p, now)
        if cast(HtmxHttpRequest, request).htmx:
            return render(request, "health/_explained.html", {"health": report})
        today = now.astimezone(dt.UTC).date()
        snapshots = recent_snapshots([p.pk], days=TREND_DAYS, today=today)[p.pk]
        give_get, quarters = balance_with_quarters(p.pk, Period.quarter_of(today), today)
        return render(
            request,
            "health/page.html",
            {
                "access": self.access,
                "partnership": p,
                "health": report,
                "trend": trend_with_today(snapshots, report.score, today),
                "trend_days": TREND_DAYS,
                "give_get": give_get,
                "give_get_quarters": quarters,
            },
        )
