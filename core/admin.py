from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin[OutboxMessage]):
    list_display = ["created_at", "kind", "recipient_key", "status", "attempts", "sent_at"]
    list_filter = ["kind", "status"]
    search_fields = ["recipient_key", "subject_id"]
    raw_id_fields = ["recipient"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
