"""An organisation's webhook pages, mounted at ``settings/organisations/<organisation_id>/webhooks/``."""

from __future__ import annotations

from django.urls import path

from . import webhook_views

urlpatterns = [
    path("", webhook_views.webhook_list, name="webhooks"),
    path("<uuid:subscription_id>/", webhook_views.webhook_detail, name="webhook_detail"),
    path("<uuid:subscription_id>/rotate/", webhook_views.webhook_rotate, name="webhook_rotate"),
    path("<uuid:subscription_id>/delete/", webhook_views.webhook_delete, name="webhook_delete"),
    path(
        "<uuid:subscription_id>/deliveries/<uuid:delivery_id>/redeliver/",
        webhook_views.webhook_redeliver,
        name="webhook_redeliver",
    ),
]
