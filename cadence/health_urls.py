"""The alignment health page of a partnership."""

from __future__ import annotations

from django.urls import path

from . import health_views

urlpatterns = [
    path("p/<uuid:pid>/health/", health_views.HealthPage.as_view(), name="partnership_health"),
]
