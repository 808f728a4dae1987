from django.contrib import admin

from .models import Approval, CheckIn, Comment, Commitment, Goal, GoalRevision


class CommitmentInline(admin.TabularInline[Commitment, Goal]):
    model = Commitment
    extra = 0
    raw_id_fields = ["owner"]


class ApprovalInline(admin.TabularInline[Approval, Goal]):
    model = Approval
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin[Goal]):
    list_display = ["title", "partnership", "status", "revision", "agreed_revision", "period_start", "period_end"]
    list_filter = ["status"]
    search_fields = ["title"]
    list_select_related = ["partnership"]
    raw_id_fields = ["partnership", "objective", "created_by"]
    inlines = [CommitmentInline, ApprovalInline]


@admin.register(GoalRevision)
class GoalRevisionAdmin(admin.ModelAdmin[GoalRevision]):
    list_display = ["goal", "number", "proposed_by_side", "created_at"]
    raw_id_fields = ["goal", "proposed_by"]


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin[CheckIn]):
    list_display = ["goal", "side", "measured_on", "value", "confidence"]
    raw_id_fields = ["goal", "author"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin[Comment]):
    list_display = ["goal", "side", "kind", "created_at"]
    raw_id_fields = ["goal", "author"]
