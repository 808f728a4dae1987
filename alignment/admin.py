from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import (
    AlignmentReview,
    ChangeEvent,
    Invitation,
    Objective,
    Partnership,
    PartnershipMember,
    Vision,
    VisionEndorsement,
)


class MemberInline(admin.TabularInline[PartnershipMember, Partnership]):
    model = PartnershipMember
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Partnership)
class PartnershipAdmin(admin.ModelAdmin[Partnership]):
    list_display = ["name", "vendor", "partner", "partner_type", "status", "review_cadence", "version"]
    list_filter = ["partner_type", "status", "review_cadence"]
    search_fields = ["name", "vendor__name", "partner__name"]
    list_select_related = ["vendor", "partner"]
    raw_id_fields = ["vendor", "partner"]
    inlines = [MemberInline]


class EndorsementInline(admin.TabularInline[VisionEndorsement, Vision]):
    model = VisionEndorsement
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Vision)
class VisionAdmin(admin.ModelAdmin[Vision]):
    list_display = ["partnership", "revision", "horizon", "version"]
    list_select_related = ["partnership"]
    raw_id_fields = ["partnership"]
    inlines = [EndorsementInline]


@admin.register(Objective)
class ObjectiveAdmin(admin.ModelAdmin[Objective]):
    list_display = ["title", "partnership", "status", "metric_name", "baseline", "target", "target_date"]
    list_filter = ["status"]
    search_fields = ["title"]
    list_select_related = ["partnership"]
    raw_id_fields = ["partnership"]


@admin.register(AlignmentReview)
class AlignmentReviewAdmin(admin.ModelAdmin[AlignmentReview]):
    list_display = ["partnership", "scheduled_for", "status", "held_on"]
    list_filter = ["status"]
    list_select_related = ["partnership"]
    raw_id_fields = ["partnership", "attendees"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ["email", "partnership", "side", "role", "expires_at", "accepted_at", "revoked_at"]
    readonly_fields = ["token_hash"]
    list_select_related = ["partnership"]
    raw_id_fields = ["partnership", "invited_by", "accepted_by"]


@admin.register(ChangeEvent)
class ChangeEventAdmin(admin.ModelAdmin[ChangeEvent]):
    list_display = ["seq", "created_at", "actor_label", "action", "object_type", "summary"]
    list_filter = ["action", "object_type"]
    readonly_fields = [f.name for f in ChangeEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChangeEvent | None = None) -> bool:
        return False
