"""What every piece of plan data shares: a UUID id, an integer version and a JSON record of itself."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.db import models
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
