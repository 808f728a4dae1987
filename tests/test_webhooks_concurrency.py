"""The webhook sweep on PostgreSQL with real concurrent transactions: an event that commits late is
not skipped, and sweeps that run at once make each delivery once. Threads use their own database
connections (``transactional_db``)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connections, transaction

from api.webhook_feed import load_events
from plans import webhooks
from plans.models import WebhookDelivery
from tests import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "https://93.184.216.34/hooks"


def sweep() -> int:
    return webhooks.webhooks_sweep(load=load_events)


def titles() -> list[str]:
    deliveries = WebhookDelivery.objects.filter(event_type="objective.created").order_by("event_seq")
    return [json.loads(d.payload)["data"]["title"] for d in deliveries]


def test_an_event_committed_late_is_not_skipped(cast: Any) -> None:
    """The slow transaction writes first (smaller ``seq``) and commits last: a sweep in between
    delivers neither, and its mark stays before both."""
    webhooks.webhook_create(user=cast.vendor_admin, organisation_id=cast.partnership.vendor_id, url=URL)
    slow_wrote, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with transaction.atomic():
            f.make_objective(cast.access("vendor_editor"), title="Slow")
            slow_wrote.set()
            release.wait(timeout=30)
        connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert slow_wrote.wait(timeout=30)
        f.make_objective(cast.access("vendor_editor"), title="Fast")  # commits while "Slow" is open
        sweep()
        assert titles() == []
    finally:
        release.set()
        thread.join()
    sweep()
    assert titles() == ["Slow", "Fast"]


def test_sweeps_running_at_once_make_each_delivery_once(cast: Any) -> None:
    for n in range(3):
        webhooks.webhook_create(user=cast.vendor_admin, organisation_id=cast.partnership.vendor_id, url=f"{URL}/{n}")
    for n in range(20):
        f.make_objective(cast.access("vendor_editor"), title=f"Objective {n}")
    barrier = threading.Barrier(4)
    made: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            made.append(webhooks.webhooks_sweep(load=load_events, batch=3))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sweep()  # whatever a skipped-over (locked) subscription still had
    assert WebhookDelivery.objects.filter(event_type="objective.created").count() == 60
    assert sum(made) <= 60
