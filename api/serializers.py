"""Output serializers: how each object of a plan is shown (read-only, explicit fields)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.fields import Field

from accounts.models import ApiToken, Organisation
from alignment.models import (
    AlignmentReview,
    Driver,
    DriverFigure,
    Invitation,
    Objective,
    Partnership,
    PartnershipMember,
    ReviewComment,
    Vision,
    VisionEndorsement,
)
from goals.models import Approval, CheckIn, Comment, Commitment, Goal

from .fields import UserIdField
from .schema import LocalTimeField

COMMON = ("id", "version", "created_at", "updated_at")


class Out(serializers.ModelSerializer[Any]):
    """A read-only representation. Its fields are worked out from the model once per class and
    copied for each instance, as DRF copies declared fields: a ``ModelSerializer`` otherwise
    introspects its model for every object it shows (about a millisecond for a goal, a tenth of
    the cheapest API read). A field that holds no other field (a serializer, a list's child, the
    relation of a many-to-many) is copied shallowly: DRF's deep copy calls its ``__init__`` again
    with deep copies of its arguments, a third of the cost of showing a goal; its own state is
    what ``bind`` sets on the copy."""

    _prototypes: ClassVar[dict[type[Out], tuple[dict[str, Field[Any, Any, Any, Any]], frozenset[str]]]] = {}

    def get_fields(self) -> dict[str, Field[Any, Any, Any, Any]]:
        kept = Out._prototypes.get(type(self))
        if kept is None:
            fields = super().get_fields()
            leaves = frozenset(
                name
                for name, field in fields.items()
                if not isinstance(field, serializers.BaseSerializer)
                and not any(isinstance(value, Field) for key, value in vars(field).items() if key != "parent")
            )
            kept = Out._prototypes[type(self)] = (fields, leaves)
        prototype, leaves = kept
        return {name: copy.copy(field) if name in leaves else copy.deepcopy(field) for name, field in prototype.items()}

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
    review_time = LocalTimeField(
        help_text="The local time of reviews, without an offset (e.g. 10:00:00), in the partnership's `timezone`."
    )

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


class DriverOut(Out):
    class Meta:
        model = Driver
        fields = (*COMMON, "partnership", "side", "name", "unit", "order")


class DriverFigureOut(Out):
    entered_by = UserIdField()

    class Meta:
        model = DriverFigure
        fields = (
            *COMMON,
            "driver",
            "period_start",
            "period_end",
            "value",
            "note",
            "visibility",
            "entered_by",
            "entered_at",
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
            "external_key",
        )


class AgreedTermsOut(serializers.Serializer[Any]):
    """The terms of a goal's agreed revision (the snapshot both sides approved)."""

    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    metric_name = serializers.CharField()
    metric_unit = serializers.CharField(allow_blank=True)
    baseline = serializers.DecimalField(max_digits=18, decimal_places=4)
    target = serializers.DecimalField(max_digits=18, decimal_places=4)
    direction = serializers.CharField()


class AgreedCommitmentOut(serializers.Serializer[Any]):
    """A commitment as it stood in the agreed revision."""

    id = serializers.UUIDField()
    side = serializers.CharField()
    text = serializers.CharField()
    owner = serializers.UUIDField(allow_null=True, help_text="A person, by public id.")
    due_date = serializers.DateField(allow_null=True)
    placeholder = serializers.BooleanField()


class AgreedRevisionOut(serializers.Serializer[Any]):
    """The agreed revision of a goal that stays in force while an amendment is negotiated. It is in
    ``/plan`` and in the feed (type ``agreed-revision``) from the moment an amendment opens until it
    is agreed or discarded (then a tombstone)."""

    id = serializers.UUIDField(help_text="The revision's own id.")
    goal = serializers.UUIDField(source="goal_id")
    number = serializers.IntegerField()
    terms = AgreedTermsOut()
    commitments = AgreedCommitmentOut(many=True)


class ApprovalOut(Out):
    user = UserIdField()

    class Meta:
        model = Approval
        fields = ("id", "goal", "revision", "side", "user", "created_at")


class CommitmentOut(Out):
    owner = UserIdField()
    drafted_by = UserIdField(help_text="Who wrote the commitment's current terms (either side may draft it).")
    drafted_by_side = serializers.CharField(
        read_only=True, help_text="The side of the person who drafted it ('' when unknown)."
    )
    own_side_approved = serializers.BooleanField(
        read_only=True,
        help_text="Whether the commitment's own side has approved the revision it belongs to (or the goal is "
        "in force on it). A commitment the other side drafted is consented to by this approval.",
    )

    class Meta:
        model = Commitment
        fields = (
            *COMMON,
            "goal",
            "side",
            "text",
            "owner",
            "due_date",
            "done",
            "done_at",
            "placeholder",
            "position",
            "drafted_by",
            "drafted_by_side",
            "own_side_approved",
        )


class CheckInOut(Out):
    author = UserIdField()
    reviewed_by = UserIdField(
        help_text="Who of the other side confirmed or disputed the figure (null while unconfirmed)."
    )

    class Meta:
        model = CheckIn
        fields = (
            *COMMON,
            "goal",
            "side",
            "author",
            "measured_on",
            "value",
            "confidence",
            "note",
            "source",
            "review",
            "reviewed_by",
            "reviewed_at",
            "disputed_value",
            "dispute_note",
        )


class CommentOut(Out):
    author = UserIdField()

    class Meta:
        model = Comment
        fields = (*COMMON, "goal", "author", "side", "kind", "revision", "body")


class ReviewCommentOut(Out):
    author = UserIdField()

    class Meta:
        model = ReviewComment
        fields = (*COMMON, "review", "author", "side", "body")


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
        """The attendees' public ids, sorted (the same order in the resource, ``/plan`` and the feed)."""
        return sorted(str(u.public_id) for u in review.attendees.all())


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
    partnerships = serializers.ListField(
        child=serializers.UUIDField(), read_only=True, help_text="The partnerships it reaches; empty: all of yours."
    )
    organisation = serializers.UUIDField(
        source="organisation_id", allow_null=True, read_only=True, help_text="A service token's organisation."
    )

    class Meta:
        model = ApiToken
        fields: tuple[str, ...] = (
            "id",
            "name",
            "hint",
            "created_at",
            "last_used_at",
            "revoked_at",
            "read_only",
            "partnerships",
            "expires_at",
            "organisation",
        )


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
