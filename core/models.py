"""The toolkit's models: what every piece of plan data shares (a UUID id, an integer version and a
JSON record of itself), and the mail outbox every e-mail the product sends goes through."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def json_value(value: Any) -> Any:
    """Turn a model field value into something JSON can hold, losslessly for our types."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


class PlanObject(models.Model):
    """Base of every mutable object in a plan.

    ``version`` starts at 1 and grows by one on every change; the API exposes it as the ETag and
    services refuse a write made against an older version (no lost updates).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    # Fields left out of the change record (kept small; derived or internal).
    record_exclude: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def to_record(self) -> dict[str, Any]:
        """The object's state as JSON, for change events and snapshots."""
        record: dict[str, Any] = {}
        for field in self._meta.concrete_fields:
            if field.name in self.record_exclude:
                continue
            key = field.attname if field.is_relation else field.name
            record[key if not field.is_relation else field.name] = json_value(getattr(self, field.attname))
        return record

    def bump(self) -> None:
        """Mark a change: call before ``save()`` in a service."""
        self.version += 1
        self.updated_at = timezone.now()


class MailKind(models.TextChoices):
    """Every e-mail Partnerplan sends. Each has one sender, registered with ``core.outbox``."""

    INVITATION = "invitation", "Invitation to a partnership"
    INVITATION_CONFIRM = "invitation_confirm", "An invitation of a colleague waits for confirmation"
    INVITATION_LINK_REQUEST = "invitation_link_request", "An invitee asked for a new link"
    GOAL_PROPOSED = "goal_proposed", "A goal was proposed"
    GOAL_APPROVED = "goal_approved", "A goal was approved"
    GOAL_CHANGES_REQUESTED = "goal_changes_requested", "Changes to a goal were requested"
    REVIEW_UPCOMING = "review_upcoming", "An alignment review is coming up"
    REVIEW_OVERDUE = "review_overdue", "A review was due and has not been recorded"
    APPROVAL_WAITING = "approval_waiting", "A goal is waiting for approval"
    CHECKIN_MISSING = "checkin_missing", "A goal has no recent check-in"
    WEEKLY_DIGEST = "weekly_digest", "Digest"
    SIGNUP_CONFIRM = "signup_confirm", "Confirm the address of a sign-up"
    SIGNUP_EXISTING = "signup_existing", "Someone tried to sign up with a registered address"
    WEBHOOK_DISABLED = "webhook_disabled", "A webhook was turned off after failing deliveries"
    CHAT_CHANNEL_DISABLED = "chat_channel_disabled", "A chat channel was turned off after failing deliveries"
    REPLY_REFUSED = "reply_refused", "A reply by e-mail could not become a comment"
    PULSE_UNANSWERED = "pulse_unanswered", "The relationship pulse of a review is not answered yet"


class OutboxMessage(models.Model):
    """The outbox: one row per e-mail that should reach one recipient exactly once.

    Unique per (kind, subject, occurrence, recipient), so a sweep or a service that runs twice, or
    two at once, insert one row between them. The send task claims the row with a conditional
    UPDATE before sending (see ``core.outbox``). The recipient is a person, or for an invitation an
    e-mail address that has no account yet; ``recipient_key`` names either in the unique key.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=24, choices=MailKind.choices)
    subject_type = models.CharField(max_length=24)  # "review", "goal", "invitation", "approval", "comment", "user"
    subject_id = models.CharField(max_length=64)
    # The moment this message stands for (a review occurrence minus the offset, a proposal), in UTC.
    occurrence = models.DateTimeField()
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="outbox_messages"
    )
    to_email = models.EmailField(max_length=254, blank=True, help_text="For a recipient without an account.")
    recipient_key = models.CharField(max_length=300)
    # The partnership whose log lists the message: a plain id, as the toolkit knows no partnerships.
    partnership_id = models.UUIDField(null=True, blank=True)
    # Ids and numbers the sender needs to render the message as it was decided (never a secret).
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "alignment_reminderdelivery"  # the table it had when only reminders used it
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id", "occurrence", "recipient_key"], name="outbox_once"
            ),
            models.CheckConstraint(condition=Q(kind__in=MailKind.values), name="outbox_kind_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed", "skipped"]),
                name="reminder_status_valid",
            ),
            models.CheckConstraint(condition=Q(recipient__isnull=False) | ~Q(to_email=""), name="outbox_has_recipient"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="reminder_due"),
            models.Index(fields=["partnership_id", "created_at"], name="reminder_log"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_key} ({self.status})"

    @staticmethod
    def key_for(*, recipient_id: Any = None, email: str = "") -> str:
        """How a recipient is named in the unique key: a person, or an address without an account."""
        return f"user:{recipient_id}" if recipient_id is not None else f"email:{email.strip().lower()}"
