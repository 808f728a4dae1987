"""Housekeeping of the API: forget old idempotency keys, prune the change log past its retention; and
the webhook sweep, which needs the feed's representation of events."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from plans.webhooks import sweep_wanted
from plans.webhooks import webhooks_sweep as sweep_webhooks

from .feed import change_events_prune
from .idempotency import idempotency_keys_prune
from .webhook_feed import load_events


@shared_task(name="api.prune_idempotency_keys")  # type: ignore[untyped-decorator]
def prune_idempotency_keys() -> int:
    return idempotency_keys_prune()


@shared_task(name="api.prune_change_events")  # type: ignore[untyped-decorator]
def prune_change_events() -> int:
    return change_events_prune()


@shared_task(name="api.webhooks_sweep")  # type: ignore[untyped-decorator]
def webhooks_sweep() -> int:
    """Beat: new change events become webhook deliveries (``plans.webhooks``), in the feed's shape."""
    return sweep_webhooks(load=load_events)


def nudge_webhooks(partnership_id: Any) -> None:
    """A change committed (``alignment.changes.commit_listeners``): sweep now if that is cheap."""
    if sweep_wanted():
        webhooks_sweep.apply_async()
