"""A partnership's chat channel pages, mounted at ``p/<pid>/chat/``."""

from __future__ import annotations

from django.urls import path

from . import chat_views

urlpatterns = [
    path("", chat_views.chat_channels, name="chat_channels"),
    path("<uuid:channel_id>/", chat_views.chat_channel, name="chat_channel"),
    path("<uuid:channel_id>/delete/", chat_views.chat_channel_delete, name="chat_channel_delete"),
    path(
        "<uuid:channel_id>/deliveries/<uuid:delivery_id>/redeliver/",
        chat_views.chat_redeliver,
        name="chat_redeliver",
    ),
]
