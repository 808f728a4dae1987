"""The relationship and the long-term plan: partnerships, their members, the shared vision,
mutual objectives, alignment reviews and their comments, invitations and the change log."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, hash_token, validate_timezone
from core.models import PlanObject, json_value

LINK_SALT = "partnerplan.invitation.link"


class Side(models.TextChoices):
    VENDOR = "vendor", _("Vendor")
    PARTNER = "partner", _("Partner")

    @classmethod
    def other(cls, side: str) -> str:
        return cls.PARTNER if side == cls.VENDOR else cls.VENDOR


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    EDITOR = "editor", _("Editor")
    APPROVER = "approver", _("Approver")


class Partnership(PlanObject):
    class PartnerType(models.TextChoices):
        CONSULTING = "consulting", _("Consulting house")
        RESELLER = "reseller", _("Solution provider / reseller")
        REFERRAL = "referral", _("Referral partner")
        TECHNOLOGY = "technology", _("Technology / ISV")
        MSP = "msp", _("Managed service provider")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    class Cadence(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        QUARTERLY = "quarterly", _("Quarterly")
        HALF_YEARLY = "half_yearly", _("Half-yearly")
        YEARLY = "yearly", _("Yearly")
        CUSTOM = "custom", _("Custom (RRULE)")

    vendor = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="partnerships_as_vendor")
    partner = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="partnerships_as_partner")
    name = models.CharField(max_length=200, help_text=_("How both sides call this partnership."))
    partner_type = models.CharField(max_length=16, choices=PartnerType.choices, default=PartnerType.RESELLER)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The economic model is context for the plan, never its goal.
    margin_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    referral_fee_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    economic_notes = models.TextField(blank=True, max_length=5000)
    # Each side's strategic business drivers, e.g. ["services revenue", "utilisation", "billable rate"].
    vendor_drivers = models.JSONField(default=list, blank=True)
    partner_drivers = models.JSONField(default=list, blank=True)
    review_cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.QUARTERLY)
    review_rrule = models.CharField(max_length=500, blank=True, help_text=_("RFC 5545 RRULE for a custom cadence."))
    review_time = models.TimeField(default=dt.time(10, 0), help_text=_("Local time of reviews."))
    review_duration_minutes = models.PositiveIntegerField(default=60)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # Days before a review when reminders go out.
    reminder_offsets_days = models.JSONField(default=list, blank=True)
    # Reviews the cadence puts on a Saturday or Sunday (local) move to the nearest working day.
    reviews_on_working_days = models.BooleanField(
        default=True, help_text=_("Move reviews that fall on a weekend to the nearest working day.")
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "partner"], name="partnership_pair_unique"),
            models.CheckConstraint(condition=~Q(vendor=models.F("partner")), name="partnership_two_orgs"),
            models.CheckConstraint(
                condition=Q(margin_percent__isnull=True) | Q(margin_percent__gte=0, margin_percent__lte=100),
                name="partnership_margin_range",
            ),
            models.CheckConstraint(
                condition=Q(referral_fee_percent__isnull=True)
                | Q(referral_fee_percent__gte=0, referral_fee_percent__lte=100),
                name="partnership_referral_fee_range",
            ),
            models.CheckConstraint(
                condition=~Q(review_cadence="custom") | ~Q(review_rrule=""), name="partnership_custom_needs_rrule"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def organisation_for(self, side: str) -> Organisation:
        return self.vendor if side == Side.VENDOR else self.partner

    def drivers_for(self, side: str) -> list[str]:
        return list(self.vendor_drivers if side == Side.VENDOR else self.partner_drivers)


class PartnershipMember(models.Model):
    """A person's access to one partnership: on which side, with which role."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partnership_memberships")
    side = models.CharField(max_length=8, choices=Side.choices)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partnership", "user"], name="partnership_member_unique"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="partnership_member_side"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="partnership_member_role"),
        ]
        indexes = [models.Index(fields=["user", "partnership"])]

    def __str__(self) -> str:
        return f"{self.user} ({self.side} {self.role}) in {self.partnership}"

    def to_record(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "partnership": str(self.partnership_id),
            "user": self.user_id,
            "side": self.side,
            "role": self.role,
        }


class Invitation(PlanObject):
    """An invitation of an e-mail address to one partnership. Only the link token's hash is stored.

    The token is derived, not stored: an HMAC under the ``SECRET_KEY`` of a 256-bit random nonce
    (from ``secrets``) kept with the invitation. So the e-mail task re-derives the link from the
    row, no token travels through the broker, and neither the database alone nor the key alone
    gives a usable link. Issuing a new link (resend) draws a new nonce: the old link dies.
    """

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    side = models.CharField(max_length=8, choices=Side.choices)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.APPROVER)
    message = models.TextField(blank=True, max_length=2000)
    token_hash = models.CharField(max_length=64, unique=True)
    link_nonce = models.CharField(max_length=64, blank=True)
    link_issued_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Made by the other side (a vendor inviting a partner colleague): no link exists until an admin
    # of the invited side's organisation confirms; they may decline instead.
    needs_confirmation = models.BooleanField(default=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The invitee asked for a new link after theirs expired (the inviter was e-mailed).
    link_requested_at = models.DateTimeField(null=True, blank=True)

    record_exclude = ("token_hash", "link_nonce")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(side__in=Side.values), name="invitation_side"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role"),
            models.CheckConstraint(
                condition=Q(confirmed_at__isnull=True) | Q(declined_at__isnull=True),
                name="invitation_confirmed_or_declined",
            ),
            models.CheckConstraint(
                condition=Q(needs_confirmation=True) | Q(confirmed_at__isnull=True, declined_at__isnull=True),
                name="invitation_decided_only_if_asked",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.partnership}"

    @property
    def awaits_confirmation(self) -> bool:
        """Waits for an admin of the invited side to confirm (no link has been sent)."""
        return (
            self.needs_confirmation
            and self.confirmed_at is None
            and self.declined_at is None
            and self.revoked_at is None
            and self.accepted_at is None
        )

    @property
    def is_usable(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.declined_at is None
            and not self.awaits_confirmation
            and self.expires_at > timezone.now()
        )

    def issue_link(self) -> str:
        """Draw a new link (the previous one stops working) valid for ``INVITATION_TTL_DAYS``;
        returns its token, which is never stored. The caller saves."""
        now = timezone.now()
        self.link_nonce = secrets.token_urlsafe(32)
        self.link_issued_at = now
        self.expires_at = now + dt.timedelta(days=settings.INVITATION_TTL_DAYS)
        token = self.link_token()
        self.token_hash = hash_token(token)
        return token

    def withhold_link(self) -> None:
        """No link yet (the invitation waits for confirmation): the stored hash is of a random token
        that is thrown away at once, so no link works until ``issue_link``. The caller saves."""
        self.link_nonce = ""
        self.link_issued_at = None
        self.expires_at = timezone.now() + dt.timedelta(days=settings.INVITATION_TTL_DAYS)
        self.token_hash = hash_token(secrets.token_urlsafe(32))

    def link_token(self) -> str:
        """The token of the current link, derived from the nonce under the secret key."""
        digest = salted_hmac(LINK_SALT, f"{self.pk}:{self.link_nonce}", algorithm="sha256").digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @property
    def state(self) -> str:
        """accepted, revoked, declined, awaiting (the invited side's admins confirm), expired or pending."""
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.declined_at:
            return "declined"
        if self.awaits_confirmation:
            return "awaiting"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class Vision(PlanObject):
    """The shared strategic vision: why we are in business together, what we hope to accomplish
    together, how we best work together. Endorsed when both sides' approvers endorsed the current
    revision; every edit of the texts makes a new revision."""

    partnership = models.OneToOneField(Partnership, on_delete=models.CASCADE, related_name="vision")
    why_together = models.TextField(blank=True, max_length=10000)
    what_we_hope = models.TextField(blank=True, max_length=10000)
    how_we_work = models.TextField(blank=True, max_length=10000)
    horizon = models.DateField(null=True, blank=True, help_text=_("The date this vision looks ahead to."))
    revision = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"Vision of {self.partnership}"

    @property
    def complete(self) -> bool:
        """All three texts are written: only then can a side endorse it."""
        return bool(self.why_together.strip() and self.what_we_hope.strip() and self.how_we_work.strip())


class VisionEndorsement(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vision = models.ForeignKey(Vision, on_delete=models.CASCADE, related_name="endorsements")
    revision = models.PositiveIntegerField()
    side = models.CharField(max_length=8, choices=Side.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vision", "revision", "side"], name="vision_endorsement_unique"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="vision_endorsement_side"),
        ]

    def __str__(self) -> str:
        return f"{self.side} endorsement of revision {self.revision}"

    def to_record(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "vision": str(self.vision_id),
            "revision": self.revision,
            "side": self.side,
            "user": self.user_id,
            "created_at": json_value(self.created_at),
        }


class Driver(PlanObject):
    """One of a side's business drivers: what that side decides by (a consulting house by services
    revenue, utilisation, billable rate; a solution provider by licence revenue, active users,
    discount). The side owns it and its figures; objectives link to the drivers they move.

    ``Partnership.vendor_drivers``/``partner_drivers`` and ``Objective.vendor_drivers``/``partner_drivers``
    are kept by ``alignment.economics`` as the names of these rows (and of the linked ones), so
    clients that read those lists keep working."""

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="drivers")
    side = models.CharField(max_length=8, choices=Side.choices)
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=40, blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["side", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["partnership", "side", "name"], name="driver_name_unique"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="driver_side"),
            models.CheckConstraint(condition=~Q(name=""), name="driver_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class FigureVisibility(models.TextChoices):
    PRIVATE = "private", _("Private to our side")
    SHARED = "shared", _("Shared with the other side")


class DriverFigure(PlanObject):
    """A side's number for one of its drivers in one period. Private to that side unless its
    approvers share it, figure by figure: the other side never sees a private figure anywhere."""

    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="figures")
    period_start = models.DateField()
    period_end = models.DateField()
    value = models.DecimalField(max_digits=18, decimal_places=4)
    note = models.TextField(blank=True, max_length=2000)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    entered_at = models.DateTimeField(default=timezone.now)
    visibility = models.CharField(max_length=8, choices=FigureVisibility.choices, default=FigureVisibility.PRIVATE)

    class Meta:
        ordering = ["period_start", "period_end"]
        indexes = [models.Index(fields=["driver", "period_end"], name="driver_figure_latest")]
        constraints = [
            models.UniqueConstraint(
                fields=["driver", "period_start", "period_end"], name="driver_figure_period_unique"
            ),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="driver_figure_period_order"),
            models.CheckConstraint(
                condition=Q(visibility__in=FigureVisibility.values), name="driver_figure_visibility"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.driver} {self.period_start}–{self.period_end}: {self.value}"

    @property
    def is_shared(self) -> bool:
        return self.visibility == FigureVisibility.SHARED


class Objective(PlanObject):
    """A mutual long-term objective under the vision: what it gives each side and how success is
    measured (optionally a metric with a baseline and a long-term target)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ACHIEVED = "achieved", _("Achieved")
        RETIRED = "retired", _("Retired")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="objectives")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=10000)
    vendor_gain = models.TextField(blank=True, max_length=5000, help_text=_("What this objective gives the vendor."))
    partner_gain = models.TextField(blank=True, max_length=5000, help_text=_("What it gives the partner."))
    vendor_drivers = models.JSONField(default=list, blank=True)
    partner_drivers = models.JSONField(default=list, blank=True)
    success_measure = models.TextField(blank=True, max_length=5000)
    metric_name = models.CharField(max_length=120, blank=True)
    metric_unit = models.CharField(max_length=40, blank=True)
    baseline = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    target = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    baseline_date = models.DateField(null=True, blank=True)
    target_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    position = models.PositiveIntegerField(default=0)
    # The drivers (of either side) this objective moves; the two lists above are their names.
    drivers = models.ManyToManyField(Driver, blank=True, related_name="objectives")

    class Meta:
        ordering = ["position", "created_at"]
        indexes = [models.Index(fields=["partnership", "status"])]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["active", "achieved", "retired"]), name="objective_status"),
            models.CheckConstraint(
                condition=Q(baseline_date__isnull=True)
                | Q(target_date__isnull=True)
                | Q(target_date__gt=F("baseline_date")),
                name="objective_dates_order",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_measurable(self) -> bool:
        return self.target is not None and self.target_date is not None


class AlignmentReview(PlanObject):
    """A periodic business review of the partnership: scheduled from the cadence, then held."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        HELD = "held", _("Held")
        SKIPPED = "skipped", _("Skipped")

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="reviews")
    title = models.CharField(max_length=200, blank=True)
    scheduled_for = models.DateTimeField(help_text=_("Start of the review, in UTC."))
    # The occurrence of the cadence this review stands for (UTC); unchanged when the review is moved.
    occurrence = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    held_on = models.DateField(null=True, blank=True)
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="reviews_attended")
    other_attendees = models.TextField(blank=True, max_length=2000)
    notes = models.TextField(blank=True, max_length=20000)
    decisions = models.TextField(blank=True, max_length=20000)
    goal_snapshot = models.JSONField(default=list, blank=True)
    health_score = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["scheduled_for"]
        indexes = [
            models.Index(fields=["status", "scheduled_for"]),
            models.Index(fields=["partnership", "scheduled_for"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "occurrence"],
                condition=Q(occurrence__isnull=False),
                name="review_occurrence_unique",
            ),
            models.CheckConstraint(condition=Q(status__in=["scheduled", "held", "skipped"]), name="review_status"),
            models.CheckConstraint(condition=~Q(status="held") | Q(held_on__isnull=False), name="review_held_has_date"),
        ]

    def __str__(self) -> str:
        return self.title or f"Review of {self.partnership} on {self.scheduled_for:%Y-%m-%d}"

    def to_record(self) -> dict[str, Any]:
        """The review's fields and its attendees (internal user ids, in the order of their ids)."""
        record = super().to_record()
        record["attendees"] = sorted(self.attendees.values_list("pk", flat=True)) if self.pk else []
        return record


class ReviewComment(PlanObject):
    """A comment on an alignment review, by any member (written on the review's page, through the
    API, or as a reply to a review e-mail)."""

    review = models.ForeignKey(AlignmentReview, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    side = models.CharField(max_length=8, choices=Side.choices)
    body = models.TextField(max_length=10000)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["review", "created_at"])]
        constraints = [models.CheckConstraint(condition=Q(side__in=Side.values), name="review_comment_side")]

    def __str__(self) -> str:
        return self.body[:60]


class ChangeEvent(models.Model):
    """Append-only record of a change to plan data, written in the same transaction as the change.

    ``txid`` is the writing transaction's id on PostgreSQL. The change feed orders by
    ``(txid, seq)`` and only serves transactions older than every transaction still running, so a
    reader never skips a row that commits late (see ``alignment.changes``).
    """

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        DELETE = "delete", _("Deleted")

    seq = models.BigAutoField(primary_key=True)
    # Both are the leading columns of the composite indexes below, which serve their lookups.
    txid = models.BigIntegerField(default=0)
    partnership = models.ForeignKey(
        Partnership, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)
    object_type = models.CharField(max_length=40)
    object_id = models.UUIDField()
    action = models.CharField(max_length=8, choices=Action.choices)
    summary = models.CharField(max_length=300, blank=True)
    # Set for a change only one side may see (a private figure): the feed, history, webhooks and
    # chat serve it to that side's people only.
    side_only = models.CharField(max_length=8, choices=Side.choices, null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["txid", "seq"]
        indexes = [
            models.Index(fields=["txid", "seq"], name="change_feed_order"),
            models.Index(fields=["partnership", "txid", "seq"], name="change_feed_partnership"),
            models.Index(fields=["object_type", "object_id"], name="change_object"),
            # What changed in a partnership between two moments (the digest, cadence.digest).
            models.Index(fields=["partnership", "created_at"], name="change_partnership_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"
