"""Reminder preferences and the one-click unsubscribe page that every e-mail links to (mounted in
the ``reviews`` namespace by ``partnerplan.urls``; the names and paths are in e-mails already sent)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("settings/reminders/", views.preferences, name="preferences"),
    path("reminders/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
