"""Housekeeping of the API: forget old idempotency keys, prune the change log past its retention."""

from __future__ import annotations

from celery import shared_task

from .feed import change_events_prune
from .idempotency import idempotency_keys_prune


@shared_task(name="api.prune_idempotency_keys")  # type: ignore[untyped-decorator]
def prune_idempotency_keys() -> int:
    return idempotency_keys_prune()


@shared_task(name="api.prune_change_events")  # type: ignore[untyped-decorator]
def prune_change_events() -> int:
    return change_events_prune()
