"""A person's own settings, mounted at ``settings/``."""

from __future__ import annotations

from django.urls import path

from . import sso_views, views

urlpatterns = [
    path("", views.user_settings, name="user_settings"),
    path("profile/", views.profile_save, name="user_profile_save"),
    path("notifications/", views.notifications_save, name="user_notifications_save"),
    path("tokens/", views.token_create, name="api_token_create"),
    path("tokens/<uuid:token_id>/revoke/", views.token_revoke, name="api_token_revoke"),
    path("calendar/", views.calendar_feed_create, name="calendar_feed_create"),
    path("calendar/revoke/", views.calendar_feed_revoke, name="calendar_feed_revoke"),
    path("two-factor/", views.two_factor_setup, name="two_factor_setup"),
    path("two-factor/start/", views.two_factor_start, name="two_factor_start"),
    path("two-factor/confirm/", views.two_factor_confirm, name="two_factor_confirm"),
    path("two-factor/recovery-codes/", views.recovery_codes_renew, name="two_factor_recovery_codes"),
    path("two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("sessions/sign-out-others/", views.sessions_sign_out_others, name="sessions_sign_out_others"),
    path(
        "organisations/<uuid:organisation_id>/two-factor/",
        views.organisation_two_factor,
        name="organisation_two_factor",
    ),
    path("organisations/<uuid:organisation_id>/sso/", sso_views.sso_settings, name="organisation_sso"),
    path(
        "organisations/<uuid:organisation_id>/sso/domains/",
        sso_views.sso_domain_add,
        name="organisation_sso_domain_add",
    ),
    path(
        "organisations/<uuid:organisation_id>/sso/domains/<int:domain_id>/remove/",
        sso_views.sso_domain_remove,
        name="organisation_sso_domain_remove",
    ),
]
