"""Thin Celery tasks: they take ids and call ``alignment.reminders``.

Sending is safe to run twice (the outbox row is claimed before sending), so ``acks_late`` with
``reject_on_worker_lost`` (set in settings) can redeliver a task whose worker died without
producing a second e-mail; see ``alignment.reminders`` for the whole argument.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import reminders


@shared_task(
    name="alignment.send_reminder",
    bind=True,
    max_retries=reminders.MAX_ATTEMPTS,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=180,
)
def send_reminder(self: Any, delivery_id: str) -> str:
    """Deliver one outbox row; transient SMTP failures come back here with a growing countdown."""
    outcome = reminders.deliver(delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="alignment.run_reminder_sweeps", acks_late=True)
def run_reminder_sweeps() -> dict[str, int]:
    """The periodic sweep (beat): schedule next reviews, queue due reminders, requeue lost ones."""
    return reminders.run_sweeps()
