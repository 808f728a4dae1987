"""Invitation pages, mounted at ``invite/``."""

from __future__ import annotations

from django.urls import path, re_path

from . import invite_views as views

M = "manage/<uuid:partnership_id>/"
urlpatterns = [
    path(M, views.invitations_manage, name="invitations-manage"),
    path(M + "vendor-invitations", views.vendor_invitations_setting, name="invitations-vendor-setting"),
    path(M + "<uuid:invitation_id>/resend", views.invitation_resend, name="invitation-resend"),
    path(M + "<uuid:invitation_id>/revoke", views.invitation_revoke, name="invitation-revoke"),
    path(M + "<uuid:invitation_id>/confirm", views.invitation_confirm, name="invitation-confirm"),
    path(M + "<uuid:invitation_id>/decline", views.invitation_decline, name="invitation-decline"),
    # Anything in the token position reaches the view, which answers every bad token with the same page.
    re_path(r"^(?P<token>[^/]+)/$", views.invitation_page, name="invitation"),
    re_path(r"^(?P<token>[^/]+)/accept$", views.invitation_accept, name="invitation-accept"),
    re_path(r"^(?P<token>[^/]+)/new-link$", views.invitation_request_link, name="invitation-new-link"),
]
