"""What the clock keeps: the daily alignment health of each partnership (its trend)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from alignment.models import Partnership


class HealthSnapshot(models.Model):
    """The alignment health of a partnership on one day: the trend and a cache of the score."""

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="health_snapshots")
    day = models.DateField()
    score = models.PositiveSmallIntegerField()
    components = models.JSONField(default=list)

    class Meta:
        db_table = "alignment_healthsnapshot"  # the table it had when health lived in alignment
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["partnership", "day"], name="health_snapshot_unique"),
            models.CheckConstraint(condition=Q(score__lte=100), name="health_snapshot_range"),
        ]

    def __str__(self) -> str:
        return f"Health {self.score} on {self.day}"
