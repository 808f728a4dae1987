"""The base of every Partnerplan task that is decided inside a transaction."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from celery.contrib.django.task import DjangoTask
from django.db import transaction


class TransactionAwareTask(DjangoTask):  # type: ignore[misc]  # celery ships no types
    """A task enqueued when the transaction that decided it commits: a rolled-back change enqueues
    nothing, and the worker never looks for rows that are not committed yet. ``robust``: a broker
    that is down does not fail the request that committed (the outbox's sweep requeues)."""

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        transaction.on_commit(functools.partial(self.apply_async, *args, **kwargs), robust=True)

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        self.apply_async_on_commit(args, kwargs)

    def enqueue_on_commit(self, ids: Iterable[Any]) -> None:
        """Enqueue one run per id (the task id is derived from it, so a duplicate is harmless)."""
        ids = [str(pk) for pk in ids]
        if not ids:
            return

        def send() -> None:
            for pk in ids:
                self.apply_async(args=[pk], task_id=f"reminder-{pk}")

        transaction.on_commit(send, robust=True)
