"""What the joint-plan web layer keeps of its own: audit exports being built or waiting to be
downloaded (``plans.audit``)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AuditExport(models.Model):
    """One export of the change history of chosen partnerships, asked for by an organisation admin,
    built in the background into a stored file that only they may download until it expires."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        BUILDING = "building", "Being built"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV (a spreadsheet)"
        JSON = "json", "JSON (for programs)"

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
