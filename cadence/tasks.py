"""What the clock runs (beat's entries): the reminder sweeps, the hourly warm-up of the health
cache and the daily health snapshots. Thin: each calls a function of this app. The e-mails
themselves are sent by the outbox's task (``core.outbox``). Task names are those of earlier
releases, so the beat schedule and queued messages keep working."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import attention, reminders, snapshots


@shared_task(name="alignment.run_reminder_sweeps", acks_late=True)  # type: ignore[untyped-decorator]
def run_reminder_sweeps() -> dict[str, int]:
    """The periodic sweep (beat): schedule next reviews, queue due reminders, requeue lost ones."""
    return reminders.run_sweeps()


@shared_task(name="alignment.warm_health_cache", ignore_result=True, expires=50 * 60)  # type: ignore[untyped-decorator]
def warm_health() -> int:
    """Hourly, before the hour turns: store every partnership's attention numbers as of now, and cache
    every plan's health and attention facts for the next hour."""
    return attention.warm()


@shared_task(name="alignment.snapshot_health", ignore_result=True)  # type: ignore[untyped-decorator]
def snapshot_health() -> int:
    """Daily: record today's alignment health of every partnership (safe to run twice)."""
    return snapshots.take_health_snapshots()


@shared_task(name="cadence.store_attention", acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def store_attention(ids: list[str]) -> int:
    """Store the attention numbers of partnerships a committing request did not get round to
    (``attention.store_latest``): waits for each row's lock, then reads after every commit."""
    return len(attention.store(ids))


def store_attention_later(ids: list[Any]) -> None:
    store_attention.delay([str(pid) for pid in ids])
