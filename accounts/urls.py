"""A person's own settings, mounted at ``settings/``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.user_settings, name="user_settings"),
    path("profile/", views.profile_save, name="user_profile_save"),
    path("notifications/", views.notifications_save, name="user_notifications_save"),
    path("tokens/", views.token_create, name="api_token_create"),
    path("tokens/<uuid:token_id>/revoke/", views.token_revoke, name="api_token_revoke"),
]
