from django.contrib import admin

from .models import HealthSnapshot


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(admin.ModelAdmin[HealthSnapshot]):
    list_display = ["partnership", "day", "score"]
    raw_id_fields = ["partnership"]
