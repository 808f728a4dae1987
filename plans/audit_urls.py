"""The audit export pages, mounted at ``audit/``."""

from __future__ import annotations

from django.urls import path

from . import audit_views

urlpatterns = [
    path("", audit_views.audit_exports, name="audit_exports"),
    path("exports/<uuid:export_id>/download/", audit_views.audit_export_download, name="audit_export_download"),
]
