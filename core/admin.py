from django.contrib import admin

from .models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "recipient_key", "status", "attempts", "sent_at"]
    list_filter = ["kind", "status"]
    search_fields = ["recipient_key", "subject_id"]
    raw_id_fields = ["recipient"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
