"""Input serializers: what a client may send to create, change or act on each object.
They refuse unknown fields and bound every value; the services enforce the plan's rules."""

from __future__ import annotations

from typing import cast

from rest_framework import serializers

from accounts.models import ApiToken
from alignment.models import AlignmentReview, FigureVisibility, Objective, Partnership, Role, Side
from goals.models import Comment, Direction, GoalStatus
from goals.services import OUTCOMES

from .fields import DateField, DateTimeField, StrictSerializer, UUIDField, drivers, number, text, version_field, whole
from .schema import LocalTimeField

SIDES = Side.choices
ROLES = Role.choices


# --- Auth -------------------------------------------------------------------------------------


class TokenCreateIn(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=1000, trim_whitespace=False)
    name = serializers.CharField(
        max_length=cast(int, ApiToken._meta.get_field("name").max_length), required=False, default="API token"
    )
    # A field named like Field.read_only (DRF moves declared fields off the class).
    read_only = serializers.BooleanField(  # type: ignore[assignment]
        required=False, default=False, help_text="Reads only; writes answer 403."
    )
    partnerships = serializers.ListField(
        child=UUIDField(),
        max_length=100,
        required=False,
        default=list,
        help_text="Only these partnerships (others answer 404); leave out for every partnership of yours.",
    )
    expires_in_days = whole(1, 3650, required=False, help_text="The token stops working after this many days.")


class TokenParams(StrictSerializer):
    cursor = serializers.CharField(max_length=500, required=False)
    limit = whole(1, 200, required=False)


# --- Partnerships -----------------------------------------------------------------------------


class PartnershipFieldsIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    partner_type = serializers.ChoiceField(Partnership.PartnerType.choices, required=False)
    status = serializers.ChoiceField(Partnership.Status.choices, required=False)
    margin_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False, allow_null=True
    )
    referral_fee_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False, allow_null=True
    )
    economic_notes = text(5000)
    vendor_drivers = drivers()
    partner_drivers = drivers()
    review_cadence = serializers.ChoiceField(Partnership.Cadence.choices, required=False)
    review_rrule = text(500)
    review_time = LocalTimeField(required=False, help_text="Local time of reviews in the partnership's `timezone`.")
    review_duration_minutes = whole(5, 24 * 60, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    reminder_offsets_days = serializers.ListField(child=whole(0, 90), max_length=10, required=False)
    reviews_on_working_days = serializers.BooleanField(
        required=False, help_text="Move reviews that fall on a weekend to the nearest working day (default true)."
    )


class PartnershipCreateIn(PartnershipFieldsIn):
    id = UUIDField(required=False)
    vendor = UUIDField(required=False, help_text="Your vendor organisation (needed if you have several).")
    partner_name = serializers.CharField(max_length=200)


class PartnershipUpdateIn(PartnershipFieldsIn):
    version = version_field()


# --- Vision -----------------------------------------------------------------------------------


class VisionUpdateIn(StrictSerializer):
    why_together = text(10000)
    what_we_hope = text(10000)
    how_we_work = text(10000)
    horizon = DateField(required=False, allow_null=True)
    version = version_field()


class EndorseIn(StrictSerializer):
    revision = whole(1)


# --- Objectives -------------------------------------------------------------------------------


class ObjectiveFieldsIn(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False)
    description = text(10000)
    vendor_gain = text(5000)
    partner_gain = text(5000)
    vendor_drivers = drivers()
    partner_drivers = drivers()
    success_measure = text(5000)
    metric_name = text(120)
    metric_unit = text(40)
    baseline = number(required=False, allow_null=True)
    target = number(required=False, allow_null=True)
    baseline_date = DateField(required=False, allow_null=True)
    target_date = DateField(required=False, allow_null=True)
    status = serializers.ChoiceField(Objective.Status.choices, required=False)
    position = whole(0, 100000, required=False)


class ObjectiveCreateIn(ObjectiveFieldsIn):
    id = UUIDField(required=False)
    partnership = UUIDField()
    title = serializers.CharField(max_length=200)


class ObjectiveUpdateIn(ObjectiveFieldsIn):
    version = version_field()


# --- Each side's economics ---------------------------------------------------------------------


class DriverCreateIn(StrictSerializer):
    id = UUIDField(required=False)
    partnership = UUIDField()
    name = serializers.CharField(max_length=120, help_text="A driver of your side; the other side names its own.")
    unit = text(40)
    order = whole(0, 1000, required=False, default=0)


class DriverUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=120, required=False)
    unit = text(40)
    order = whole(0, 1000, required=False)
    version = version_field()


class DriverFigureCreateIn(StrictSerializer):
    id = UUIDField(required=False)
    driver = UUIDField(help_text="A driver of your side.")
    period_start = DateField()
    period_end = DateField()
    value = number()
    note = text(2000)
    visibility = serializers.ChoiceField(
        FigureVisibility.choices,
        required=False,
        default=FigureVisibility.PRIVATE,
        help_text="Private to your side (the default) or shared with the other side (approvers only).",
    )


class DriverFigureUpdateIn(StrictSerializer):
    period_start = DateField(required=False)
    period_end = DateField(required=False)
    value = number(required=False)
    note = text(2000)
    visibility = serializers.ChoiceField(
        FigureVisibility.choices, required=False, help_text="Only your side's approvers change who sees a figure."
    )
    version = version_field()


# --- Goals ------------------------------------------------------------------------------------


class GoalTermsIn(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False)
    description = text(10000)
    period_start = DateField(required=False)
    period_end = DateField(required=False)
    metric_name = serializers.CharField(max_length=120, required=False)
    metric_unit = text(40)
    baseline = number(required=False)
    target = number(required=False)
    direction = serializers.ChoiceField(Direction.choices, required=False)
    external_key = text(
        100, help_text="The goal's id in your own system (a CRM); unique in the partnership. Not part of the terms."
    )


class CommitmentSpecIn(StrictSerializer):
    id = UUIDField(required=False)
    side = serializers.ChoiceField(SIDES)
    text = serializers.CharField(max_length=5000)
    owner = UUIDField(required=False, allow_null=True)
    due_date = DateField(required=False, allow_null=True)


class GoalCreateIn(GoalTermsIn):
    id = UUIDField(required=False)
    objective = UUIDField()
    title = serializers.CharField(max_length=200)
    period_start = DateField()
    period_end = DateField()
    baseline = number()
    target = number()
    # DRF hands max_length to the list (many=True); the stubs do not know that argument.
    commitments = CommitmentSpecIn(many=True, required=False, max_length=50)  # type: ignore[call-arg]


class GoalUpdateIn(GoalTermsIn):
    version = version_field()


class GoalVersionIn(StrictSerializer):
    version = version_field()


class ApproveIn(StrictSerializer):
    revision = whole(1, help_text="The revision you read and approve.")


class CommitAndApproveIn(StrictSerializer):
    revision = whole(1, help_text="The revision you read and approve.")
    text = serializers.CharField(max_length=5000, help_text="What your side will do for this goal.")
    owner = UUIDField(required=False, allow_null=True, help_text="A person of your side who owns it.")
    due_date = DateField(required=False, allow_null=True)


class RequestChangesIn(StrictSerializer):
    comment = serializers.CharField(max_length=10000)
    revision = whole(1, required=False)


class WithdrawIn(StrictSerializer):
    note = text(5000)
    version = version_field()


class CloseIn(StrictSerializer):
    outcome = serializers.ChoiceField(sorted(OUTCOMES))
    note = text(5000)
    version = version_field()


# --- Commitments, check-ins, comments ----------------------------------------------------------


class CommitmentCreateIn(StrictSerializer):
    id = UUIDField(required=False)
    goal = UUIDField()
    side = serializers.ChoiceField(SIDES)
    text = serializers.CharField(max_length=5000)
    owner = UUIDField(required=False, allow_null=True)
    due_date = DateField(required=False, allow_null=True)


class CommitmentUpdateIn(StrictSerializer):
    side = serializers.ChoiceField(SIDES, required=False)
    text = serializers.CharField(max_length=5000, required=False)
    owner = UUIDField(required=False, allow_null=True)
    due_date = DateField(required=False, allow_null=True)
    position = whole(0, 100000, required=False)
    done = serializers.BooleanField(required=False)
    version = version_field()


class CheckInCreateIn(StrictSerializer):
    id = UUIDField(required=False)
    goal = UUIDField()
    value = number()
    measured_on = DateField(required=False)
    confidence = whole(1, 5, required=False, default=3)
    note = text(5000)


class CheckInUpdateIn(StrictSerializer):
    value = number(required=False)
    measured_on = DateField(required=False)
    confidence = whole(1, 5, required=False)
    note = text(5000)
    correction = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Change a figure of a closed goal: recorded as a correction after the close (refused without).",
    )
    reason = text(5000, help_text="With `correction`: why the figure is corrected (the history shows it).")
    version = version_field()


class CheckInDeleteParams(StrictSerializer):
    correction = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Delete a figure of a closed goal: recorded as a correction after the close (409 "
        "`check_in.goal_closed` without).",
    )
    reason = text(5000, help_text="With `correction`: why the figure is deleted (the history shows it).")


class CheckInConfirmIn(StrictSerializer):
    version = version_field()


class CheckInDisputeIn(StrictSerializer):
    value = number(help_text="Your side's number for the same day.")
    note = serializers.CharField(max_length=5000, help_text="Why your side's number differs.")
    version = version_field()


class CheckInSettleIn(StrictSerializer):
    value = number(help_text="One of the two numbers: the figure as entered, or the disputed one.")
    version = version_field()


class CommentCreateIn(StrictSerializer):
    id = UUIDField(required=False)
    goal = UUIDField()
    body = serializers.CharField(max_length=10000)


class CommentUpdateIn(StrictSerializer):
    body = serializers.CharField(max_length=10000)
    version = version_field()


# --- Reviews ----------------------------------------------------------------------------------


class ReviewCommentCreateIn(StrictSerializer):
    id = UUIDField(required=False)
    review = UUIDField()
    body = serializers.CharField(max_length=10000)


class ReviewCreateIn(StrictSerializer):
    id = UUIDField(required=False)
    partnership = UUIDField()
    scheduled_for = DateTimeField(required=False, help_text="Leave out to take the cadence's next occurrence.")
    title = serializers.CharField(max_length=200, required=False, default="")


class ReviewUpdateIn(StrictSerializer):
    title = serializers.CharField(max_length=200, required=False)
    scheduled_for = DateTimeField(required=False)
    notes = text(20000)
    decisions = text(20000)
    other_attendees = text(2000)
    version = version_field()


class ReviewHoldIn(StrictSerializer):
    held_on = DateField()
    attendees = serializers.ListField(child=UUIDField(), max_length=200, required=False)
    other_attendees = text(2000)
    notes = text(20000)
    decisions = text(20000)
    schedule_next = serializers.BooleanField(required=False, default=True)
    version = version_field()


class ReviewSkipIn(StrictSerializer):
    version = version_field()


# --- Invitations ------------------------------------------------------------------------------


class InvitationCreateIn(StrictSerializer):
    partnership = UUIDField()
    email = serializers.EmailField(max_length=254)
    side = serializers.ChoiceField(SIDES)
    role = serializers.ChoiceField(ROLES)
    message = text(2000)


class RevokeIn(StrictSerializer):
    pass


# --- Filters (query parameters of lists) --------------------------------------------------------


class ListParams(StrictSerializer):
    cursor = serializers.CharField(max_length=500, required=False)
    limit = whole(1, 200, required=False)
    partnership = UUIDField(required=False)
    updated_since = DateTimeField(required=False)


class PartnershipParams(StrictSerializer):
    cursor = serializers.CharField(max_length=500, required=False)
    limit = whole(1, 200, required=False)
    status = serializers.ChoiceField(Partnership.Status.choices, required=False)
    updated_since = DateTimeField(required=False)


class ObjectiveParams(ListParams):
    status = serializers.ChoiceField(Objective.Status.choices, required=False)


PERIOD_HELP = "A year (2026), half (2026-H1), quarter (2026-Q3), month (2026-07) or day (2026-07-15)."


class GoalParams(ListParams):
    status = serializers.ChoiceField(GoalStatus.choices, required=False)
    objective = UUIDField(required=False)
    period = serializers.CharField(max_length=10, required=False, help_text=PERIOD_HELP)


class GoalChildParams(ListParams):
    goal = UUIDField(required=False)
    side = serializers.ChoiceField(SIDES, required=False)


class CommentParams(GoalChildParams):
    kind = serializers.ChoiceField(Comment.Kind.choices, required=False)


class ReviewCommentParams(ListParams):
    review = UUIDField(required=False)
    side = serializers.ChoiceField(SIDES, required=False)


class ReviewParams(ListParams):
    status = serializers.ChoiceField(AlignmentReview.Status.choices, required=False)
    period = serializers.CharField(max_length=10, required=False, help_text=PERIOD_HELP)


class InvitationParams(ListParams):
    pass


class VisionParams(ListParams):
    pass


class DriverParams(ListParams):
    side = serializers.ChoiceField(SIDES, required=False)


class DriverFigureParams(ListParams):
    driver = UUIDField(required=False)
    visibility = serializers.ChoiceField(FigureVisibility.choices, required=False)


class ChangesParams(StrictSerializer):
    since = serializers.CharField(
        max_length=100,
        required=False,
        help_text="The cursor of the last page (or of /plan); leave out to start at the beginning.",
    )
    # Up to 5,000: with per-event costs low, a page's fixed costs (authentication, throttle, bounds,
    # people) are a fifth of a full sync at 1,000; a page of 5,000 is about 3.5 MB of JSON.
    limit = whole(
        1,
        5000,
        required=False,
        default=100,
        help_text="Events per page (1-5000); a full sync is quickest with large pages.",
    )
    partnership = UUIDField(required=False)
