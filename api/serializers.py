"""Output serializers: how each object of a plan is shown (read-only, explicit fields)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import ApiToken, Organisation
from alignment.models import (
    AlignmentReview,
    Invitation,
    Objective,
    Partnership,
    PartnershipMember,
    Vision,
    VisionEndorsement,
)
from goals.models import Approval, CheckIn, Comment, Commitment, Goal

from .fields import UserIdField

COMMON = ("id", "version", "created_at", "updated_at")


class Out(serializers.ModelSerializer[Any]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.read_only = True


class OrganisationOut(Out):
    class Meta:
        model = Organisation
        fields = ("id", "name")


class PartnershipOut(Out):
    vendor = OrganisationOut()
    partner = OrganisationOut()

    class Meta:
        model = Partnership
        fields = (
            *COMMON,
            "name",
            "vendor",
            "partner",
            "partner_type",
            "status",
            "margin_percent",
            "referral_fee_percent",
            "economic_notes",
            "vendor_drivers",
            "partner_drivers",
            "review_cadence",
            "review_rrule",
            "review_time",
            "review_duration_minutes",
            "timezone",
            "reminder_offsets_days",
            "reviews_on_working_days",
        )


class VisionOut(Out):
    class Meta:
        model = Vision
        fields = (*COMMON, "partnership", "why_together", "what_we_hope", "how_we_work", "horizon", "revision")


class VisionEndorsementOut(Out):
    user = UserIdField()

    class Meta:
        model = VisionEndorsement
        fields = ("id", "vision", "revision", "side", "user", "created_at")


class ObjectiveOut(Out):
    class Meta:
        model = Objective
        fields = (
            *COMMON,
            "partnership",
            "title",
            "description",
            "vendor_gain",
            "partner_gain",
            "vendor_drivers",
            "partner_drivers",
            "success_measure",
            "metric_name",
            "metric_unit",
            "baseline",
            "target",
            "baseline_date",
            "target_date",
            "status",
            "position",
        )


class GoalOut(Out):
    negotiation_state = serializers.CharField(read_only=True)
    created_by = UserIdField()

    class Meta:
        model = Goal
        fields = (
            *COMMON,
            "partnership",
            "objective",
            "title",
            "description",
            "period_start",
            "period_end",
            "metric_name",
            "metric_unit",
            "baseline",
            "target",
            "direction",
            "status",
            "revision",
            "agreed_revision",
            "amendment",
            "negotiation_state",
            "proposed_by_side",
            "proposed_at",
            "agreed_at",
            "closed_at",
            "close_note",
            "created_by",
        )


class ApprovalOut(Out):
    user = UserIdField()

    class Meta:
        model = Approval
        fields = ("id", "goal", "revision", "side", "user", "created_at")


class CommitmentOut(Out):
    owner = UserIdField()

    class Meta:
        model = Commitment
        fields = (*COMMON, "goal", "side", "text", "owner", "due_date", "done", "done_at", "placeholder", "position")


class CheckInOut(Out):
    author = UserIdField()

    class Meta:
        model = CheckIn
        fields = (*COMMON, "goal", "side", "author", "measured_on", "value", "confidence", "note")


class CommentOut(Out):
    author = UserIdField()

    class Meta:
        model = Comment
        fields = (*COMMON, "goal", "author", "side", "kind", "revision", "body")


class ReviewOut(Out):
    attendees = serializers.SerializerMethodField()

    class Meta:
        model = AlignmentReview
        fields = (
            *COMMON,
            "partnership",
            "title",
            "scheduled_for",
            "occurrence",
            "status",
            "held_on",
            "attendees",
            "other_attendees",
            "notes",
            "decisions",
            "goal_snapshot",
            "health_score",
        )

    def get_attendees(self, review: AlignmentReview) -> list[str]:
        return [str(u.public_id) for u in review.attendees.all()]


class InvitationOut(Out):
    state = serializers.CharField(read_only=True)
    invited_by = UserIdField()

    class Meta:
        model = Invitation
        fields: tuple[str, ...] = (
            *COMMON,
            "partnership",
            "email",
            "side",
            "role",
            "message",
            "state",
            "invited_by",
            "expires_at",
            "accepted_at",
            "revoked_at",
        )


class MemberOut(Out):
    user = UserIdField()
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = PartnershipMember
        fields = ("id", "user", "email", "name", "side", "role")


class ApiTokenOut(Out):
    class Meta:
        model = ApiToken
        fields: tuple[str, ...] = ("id", "name", "hint", "created_at", "last_used_at", "revoked_at")


class IssuedTokenOut(ApiTokenOut):
    token = serializers.CharField(read_only=True, help_text="Shown once: store it now.")

    class Meta(ApiTokenOut.Meta):
        fields = (*ApiTokenOut.Meta.fields, "token")


class MembershipSummary(serializers.Serializer[Any]):
    partnership = serializers.UUIDField()
    name = serializers.CharField()
    side = serializers.CharField()
    role = serializers.CharField()
    is_org_admin = serializers.BooleanField()


class OrganisationMembershipOut(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="organisation.id")
    name = serializers.CharField(source="organisation.name")
    role = serializers.CharField()


class MeOut(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()
    full_name = serializers.CharField()
    timezone = serializers.CharField()
    organisations = OrganisationMembershipOut(many=True)
    partnerships = MembershipSummary(many=True)


class ApprovalResultOut(serializers.Serializer[Any]):
    approval = ApprovalOut()
    goal = GoalOut()


class CommitAndApproveResultOut(serializers.Serializer[Any]):
    commitment = CommitmentOut()
    approval = ApprovalOut()
    goal = GoalOut()


class ChangeRequestResultOut(serializers.Serializer[Any]):
    comment = CommentOut()
    goal = GoalOut()


class EndorsementResultOut(serializers.Serializer[Any]):
    endorsement = VisionEndorsementOut()
    vision = VisionOut()


class InvitationCreatedOut(InvitationOut):
    token = serializers.CharField(read_only=True, help_text="The invitation link's token, shown once.")

    class Meta(InvitationOut.Meta):
        fields = (*InvitationOut.Meta.fields, "token")
