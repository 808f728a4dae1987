"""Invitation pages, mounted at ``invite/``."""

from __future__ import annotations

from django.urls import path, re_path

from . import invite_views as views

urlpatterns = [
    path("manage/<uuid:partnership_id>/", views.invitations_manage, name="invitations-manage"),
    path("manage/<uuid:partnership_id>/<uuid:invitation_id>/resend", views.invitation_resend, name="invitation-resend"),
    path("manage/<uuid:partnership_id>/<uuid:invitation_id>/revoke", views.invitation_revoke, name="invitation-revoke"),
    # Anything in the token position reaches the view, which answers every bad token with the same page.
    re_path(r"^(?P<token>[^/]+)/$", views.invitation_page, name="invitation"),
    re_path(r"^(?P<token>[^/]+)/accept$", views.invitation_accept, name="invitation-accept"),
]
