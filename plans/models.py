"""What the joint-plan web layer keeps of its own: audit exports being built or waiting to be
downloaded (``plans.audit``), organisations' outbound webhooks with their deliveries
(``plans.webhooks``), partnerships' chat channels with theirs (``plans.chat``), and the replies by
e-mail received (``plans.replies``), and the organisations' own plan templates with what templates
created in each plan (``plans.templates_service``)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alignment.models import Partnership


class AuditExport(models.Model):
    """One export of the change history of chosen partnerships, asked for by an organisation admin,
    built in the background into a stored file that only they may download until it expires."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        BUILDING = "building", _("Being built")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        CSV = "csv", _("CSV (a spreadsheet)")
        JSON = "json", _("JSON (for programs)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audit_exports")
    # The partnerships chosen (ids as text); access is checked again when it is built and downloaded.
    partnership_ids = models.JSONField(default=list)
    format = models.CharField(max_length=4, choices=Format.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    file_name = models.CharField(max_length=200, blank=True)
    event_count = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["requested_by", "created_at"], name="audit_export_mine"),
            models.Index(fields=["expires_at"], name="audit_export_expiry"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(format__in=["csv", "json"]), name="audit_export_format"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "building", "ready", "failed"]), name="audit_export_status"
            ),
        ]

    def __str__(self) -> str:
        return f"audit export {self.pk} ({self.format}, {self.status})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_downloadable(self) -> bool:
        return self.status == self.Status.READY and not self.is_expired and bool(self.file_name)


class WebhookSubscription(models.Model):
    """An organisation's outbound webhook (``plans.webhooks``): where the events of the partnerships
    the organisation is a side of are sent, signed per the Standard Webhooks specification.

    The signing secret is kept as it was issued (``whsec_`` + base64): an HMAC needs the secret
    itself, so it cannot be stored as a one-way hash the way API tokens are. It is shown once, at
    creation and on rotation; during a rotation window the previous secret signs too.
    ``after_txid``/``after_seq`` is the sweep's high-water mark in the change log's feed order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # The event types sent (``plans.webhooks.EVENT_TYPES``); empty: every event.
    event_types = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    after_txid = models.BigIntegerField(default=0)
    after_seq = models.BigIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["organisation", "created_at"], name="webhook_sub_org"),
            models.Index(fields=["is_active"], name="webhook_sub_active"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(url__startswith="https://") | Q(url__startswith="http://"), name="webhook_sub_http_url"
            ),
            models.CheckConstraint(condition=Q(secret__startswith="whsec_"), name="webhook_sub_secret_format"),
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"

    @property
    def position(self) -> tuple[int, int]:
        return (self.after_txid, self.after_seq)


class WebhookDelivery(models.Model):
    """One event for one subscription: the exact body sent on every attempt and redelivery, under
    one ``webhook-id`` (this row's id). Unique per (subscription, event), so a sweep that runs twice,
    or two at once, enqueue each event once between them."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_seq = models.BigIntegerField()  # the change event's ``seq`` (the log is pruned: no foreign key)
    event_type = models.CharField(max_length=60)
    payload = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)  # since it was created or last redelivered
    manual = models.BooleanField(default=False)  # the next attempt is an admin's redelivery
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["subscription", "created_at"], name="webhook_delivery_log"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_seq"], name="webhook_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]), name="webhook_delivery_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.event_seq} for {self.subscription_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as the delivery log shows it (excerpts are capped at 1 kB)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveSmallIntegerField()
    redelivery = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)
    request_excerpt = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # when the next try was scheduled for

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["subscription", "started_at"], name="webhook_attempt_log")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"


class ChatChannel(models.Model):
    """A Slack or Microsoft Teams incoming webhook that hears chosen workflow events of one
    partnership (``plans.chat``), added by a person of one side (its owner, told when it is turned
    off). The incoming-webhook URL is the secret that lets anyone post to the chat: it is kept as
    entered (the request needs it) and pages show only its host and last four characters.
    ``after_txid``/``after_seq`` is the sweep's high-water mark in the change log's feed order."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partnership = models.ForeignKey("alignment.Partnership", on_delete=models.CASCADE, related_name="chat_channels")
    side = models.CharField(max_length=8)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    # The event kinds sent (``plans.chat.EVENT_KINDS``); at least one.
    event_kinds = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    after_txid = models.BigIntegerField(default=0)
    after_seq = models.BigIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["partnership", "created_at"], name="chat_channel_partnership"),
            models.Index(fields=["is_active"], name="chat_channel_active"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(url__startswith="https://") | Q(url__startswith="http://"), name="chat_channel_http_url"
            ),
            models.CheckConstraint(condition=Q(kind__in=["slack", "teams"]), name="chat_channel_kind"),
            models.CheckConstraint(condition=Q(side__in=["vendor", "partner"]), name="chat_channel_side"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} channel {self.name}"

    @property
    def position(self) -> tuple[int, int]:
        return (self.after_txid, self.after_seq)


class ChatDelivery(models.Model):
    """One event for one chat channel: the message sent on every attempt. Unique per (channel,
    event): a change event is ``change:<seq>``, a coming review ``review:<id>:<occurrence>``."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="deliveries")
    event_key = models.CharField(max_length=120)
    event_kind = models.CharField(max_length=40)
    payload = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    manual = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="chat_delivery_due")]
        constraints = [
            models.UniqueConstraint(fields=["channel", "event_key"], name="chat_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]), name="chat_delivery_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_kind} {self.event_key} for {self.channel_id} ({self.status})"


class ChatAttempt(models.Model):
    """One HTTP request of a chat delivery, as the channel's delivery log shows it."""

    delivery = models.ForeignKey(ChatDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveSmallIntegerField()
    redelivery = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)
    request_excerpt = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["channel", "started_at"], name="chat_attempt_log")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"


class InboundReply(models.Model):
    """A reply by e-mail that reached a reply address (``plans.replies``), once per message: the
    unique key (a hash of its Message-ID) makes a provider's retried webhook, or the same mail
    received twice, post one comment."""

    class Outcome(models.TextChoices):
        POSTED = "posted", _("Posted as a comment")
        EMPTY = "empty", _("Nothing left after quoted text and signatures were cut")
        REFUSED = "refused", _("Refused (unknown address, another sender, or no access)")

    message_key = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    # What the reply became, when it was posted ("goal" or "review", and the comment's id).
    kind = models.CharField(max_length=8, blank=True)
    comment_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["posted", "empty", "refused"]), name="inbound_reply_outcome"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.message_key[:12]}"


# The kinds of partner a plan template is written for (``plans.template_library``): the
# partnership's own types, so a partnership finds the templates of its type.
TemplateType = Partnership.PartnerType


# What a template's applications are known by: a plan takes templates of one lineage only, and a
# template's items are keyed per lineage (``plans.templates_service``).
LINEAGE_LIMIT = 60


class PlanTemplate(models.Model):
    """An organisation's own template of a joint plan (``plans.templates_service``): vision prompts,
    mutual objectives with their metrics, each side's drivers and the goals' default trajectory.

    ``structure`` holds the validated data of ``plans.template_library.clean_structure``. ``lineage``
    says where the template comes from: the key of the shipped template it was copied from
    (``based_on``), or the lineage of the plan it was saved from (``plan:<id>`` of that plan when no
    template filled it; ``org:<id>``, its own id, for a template of unknown origin). A template
    keeps its items' keys and its lineage when edited, so a plan filled from the same lineage gets
    nothing twice from it, and a plan filled from another lineage refuses it. Its admins edit it;
    its members apply it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="plan_templates")
    name = models.CharField(max_length=200)
    partner_type = models.CharField(max_length=16, choices=TemplateType.choices, default=TemplateType.OTHER)
    structure = models.JSONField(default=dict)
    # The key of the shipped template this one was copied from ("" for one saved from a plan).
    based_on = models.CharField(max_length=40, blank=True)
    lineage = models.CharField(max_length=LINEAGE_LIMIT)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="plan_template_name_unique"),
            models.CheckConstraint(condition=Q(partner_type__in=TemplateType.values), name="plan_template_type"),
            models.CheckConstraint(condition=~Q(lineage=""), name="plan_template_lineage"),
        ]

    def __str__(self) -> str:
        return self.name


class TemplateApplication(models.Model):
    """A template applied to a partnership: which one (``template_ref``: a shipped key, ``org:<id>``
    or ``plan:<id>`` for a cloned plan), its ``lineage`` (``PlanTemplate``), and its vision prompts,
    shown while the vision is empty."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partnership = models.ForeignKey(
        "alignment.Partnership", on_delete=models.CASCADE, related_name="template_applications"
    )
    template_ref = models.CharField(max_length=60)
    template_name = models.CharField(max_length=200)
    template_version = models.PositiveIntegerField(default=1)
    lineage = models.CharField(max_length=LINEAGE_LIMIT)
    vision_prompts = models.JSONField(default=dict, blank=True)
    applied_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-applied_at"]
        constraints = [
            models.UniqueConstraint(fields=["partnership", "template_ref"], name="template_application_unique"),
            models.CheckConstraint(condition=~Q(lineage=""), name="template_application_lineage"),
        ]

    def __str__(self) -> str:
        return f"{self.template_name} on {self.partnership_id}"


class AppliedTemplateItem(models.Model):
    """One item a template created in a partnership, by its lineage and the item's key
    (``objective:<key>``, ``goals:<key>``): the unique key is what makes applying a template twice
    create nothing twice, even when two people apply it at once, and the lineage keeps two
    templates' items apart even where their keys are the same."""

    id = models.BigAutoField(primary_key=True)
    partnership = models.ForeignKey("alignment.Partnership", on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(TemplateApplication, on_delete=models.CASCADE, related_name="items")
    lineage = models.CharField(max_length=LINEAGE_LIMIT)
    key = models.CharField(max_length=120)
    object_type = models.CharField(max_length=40)
    object_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "lineage", "key"], name="applied_template_item_lineage_unique"
            ),
            models.CheckConstraint(condition=~Q(lineage=""), name="applied_template_item_lineage"),
        ]

    def __str__(self) -> str:
        return f"{self.lineage}/{self.key} in {self.partnership_id}"
