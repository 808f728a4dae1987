"""Partnership settings pages."""

from __future__ import annotations

from django.urls import path

from . import settings_views as views

S = "p/<uuid:pid>/settings/"
urlpatterns = [
    path(S, views.PartnershipSettings.as_view(), name="partnership_settings"),
    path(S + "members/<uuid:mid>/role/", views.MemberRole.as_view(), name="partnership_member_role"),
    path(S + "members/<uuid:mid>/remove/", views.MemberRemove.as_view(), name="partnership_member_remove"),
    path(S + "<slug:section>/", views.PartnershipSettingsSection.as_view(), name="partnership_settings_section"),
]
