"""What the REST API keeps for itself: idempotency keys of POST requests and the change-feed
watermark (how far the change log has been pruned)."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first successful response to a POST sent with an ``Idempotency-Key``.

    The row is inserted before the request runs, in the same transaction; the unique constraint
    makes a concurrent duplicate wait for the first one and then replay its response.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


class FeedWatermark(models.Model):
    """One row: the feed position ``(txid, seq)`` up to which change events have been pruned.
    A cursor behind it can no longer be served (HTTP 410)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    txid = models.BigIntegerField(default=0)
    seq = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="feed_watermark_single_row")]

    def __str__(self) -> str:
        return f"pruned through ({self.txid}, {self.seq})"

    @property
    def position(self) -> tuple[int, int]:
        return (self.txid, self.seq)
