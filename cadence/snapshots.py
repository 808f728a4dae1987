"""The daily alignment health snapshot of every partnership: the history behind the health trend.

Beat runs ``cadence.tasks.snapshot_health`` once a day (``CELERY_BEAT_SCHEDULE["health-snapshots"]``). It walks
the partnerships in batches, computes their health with ``health_for`` (a fixed number of queries
per batch) and writes one ``HealthSnapshot`` per (partnership, day). Running it again the same
day rewrites that day's row instead of adding one (the unique constraint on partnership and day),
so a retried or duplicated run is harmless.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from . import attention
from .health import health_for
from .models import HealthSnapshot

BATCH_SIZE = 200


def take_health_snapshots(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Snapshot the health of every partnership that has not ended, for the UTC day of ``now``.
    Returns how many partnerships were snapshotted."""
    now = now or timezone.now()
    day = now.astimezone(dt.UTC).date()
    done = 0
    for batch in attention.current_partnership_batches(batch_size):
        reports = health_for(batch, now)
        HealthSnapshot.objects.bulk_create(
            [
                HealthSnapshot(partnership_id=pid, day=day, score=report.score, components=report.as_json())
                for pid, report in reports.items()
            ],
            update_conflicts=True,
            unique_fields=["partnership", "day"],
            update_fields=["score", "components"],
        )
        done += len(batch)
    return done


def recent_snapshots(
    partnership_ids: Iterable[Any], *, days: int = 90, today: dt.date | None = None
) -> dict[Any, list[HealthSnapshot]]:
    """The last ``days`` days of snapshots of many partnerships in one query, oldest first, keyed by
    partnership id (every id is present, possibly with an empty list)."""
    ids = list(partnership_ids)
    result: dict[Any, list[HealthSnapshot]] = {pid: [] for pid in ids}
    if not ids:
        return result
    since = (today or timezone.now().astimezone(dt.UTC).date()) - dt.timedelta(days=days)
    for snap in (
        HealthSnapshot.objects.filter(partnership_id__in=ids, day__gte=since)
        .only("partnership_id", "day", "score")
        .order_by("partnership_id", "day")
    ):
        result[snap.partnership_id].append(snap)
    return result
