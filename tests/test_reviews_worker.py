"""End to end through the real broker: a reminder queued by the sweep travels through Redis to a
real Celery worker, which delivers it to a real SMTP server with a valid calendar invitation."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from email import message_from_bytes
from email.message import Message
from urllib.parse import urlparse

import pytest
from django.db import transaction
from django.utils import timezone
from icalendar import Calendar

from alignment.services import review_schedule
from cadence import reminders
from core import outbox
from core.models import OutboxMessage
from tests.conftest import redis_url

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def reviews_broker_url() -> str:
    """Our own Redis database (index 6), on the server the suite was given."""
    url = urlparse(redis_url())
    return f"redis://{url.hostname or '127.0.0.1'}:{url.port or 6379}/6"


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.arrived:
            self.messages.append(message_from_bytes(envelope.content))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 60) -> list[Message]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server(settings):  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    yield inbox
    controller.stop()


@pytest.fixture
def redis_worker():  # type: ignore[no-untyped-def]
    """A real worker thread consuming from Redis; tasks are not run eagerly here."""
    from celery.contrib.testing.worker import start_worker

    from partnerplan.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=reviews_broker_url(), task_always_eager=False, broker_transport_options={})
    # Drop connection pools made for another broker before this test's first publish.
    app._pool = None
    app.amqp._producer_pool = None
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    try:
        with start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ):
            yield app
    finally:
        app.conf.update(saved)
        app._pool = None
        app.amqp._producer_pool = None


@pytest.fixture
def delivering_threads(monkeypatch):  # type: ignore[no-untyped-def]
    """The threads that ran ``outbox.deliver``: proves the worker, not the test, sent the mail."""
    threads: list[str] = []
    deliver = outbox.deliver

    def spy(delivery_id):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return deliver(delivery_id)

    monkeypatch.setattr(outbox, "deliver", spy)
    return threads


def wait_until_none_pending() -> None:
    deadline = time.monotonic() + 30  # the worker marks a row just after the SMTP server answered
    while OutboxMessage.objects.filter(status__in=["pending", "sending"]).exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_reminder_goes_through_redis_and_a_worker_to_a_real_smtp_server(
    cast, smtp_server, redis_worker, delivering_threads
) -> None:
    when = (timezone.now() + dt.timedelta(hours=20)).replace(second=0, microsecond=0)
    review = review_schedule(access=cast.access("vendor_admin"), scheduled_for=when)
    members = cast.partnership.members.count()

    queued = reminders.sweep_reviews_upcoming()  # commits, then enqueues through Redis

    assert len(queued) == members
    messages = smtp_server.wait_for(members)
    assert sorted(m["To"] for m in messages) == sorted(cast.partnership.members.values_list("user__email", flat=True))
    message = next(m for m in messages if m["To"] == cast.partner_approver.email)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    calendars = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1
    event = Calendar.from_ical(calendars[0].get_payload(decode=True)).walk("VEVENT")[0]
    assert str(event["UID"]) == f"review-{review.pk}@partnerplan"
    assert event.decoded("DTSTART") == when.astimezone(dt.UTC)
    assert event.decoded("DTSTART").utcoffset() == dt.timedelta(0)
    wait_until_none_pending()
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
    assert len(delivering_threads) == members
    assert threading.current_thread().name not in delivering_threads


def test_a_reminder_queued_in_a_rolled_back_transaction_never_reaches_the_worker(
    cast, smtp_server, redis_worker
) -> None:
    soon = (timezone.now() + dt.timedelta(hours=20)).replace(second=0, microsecond=0)
    review = review_schedule(access=cast.access("vendor_admin"), scheduled_for=soon)
    due = outbox.Message(
        "review_upcoming",
        "review",
        str(review.pk),
        soon,
        recipient_id=cast.partner_viewer.pk,
        partnership_id=cast.partnership.pk,
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.queue([due])
        raise RuntimeError("rolled back")
    # Then one that commits; the worker consumes in order, so once it arrived the first had its chance.
    outbox.queue(
        [
            outbox.Message(
                "review_upcoming",
                "review",
                str(review.pk),
                soon,
                recipient_id=cast.partner_editor.pk,
                partnership_id=cast.partnership.pk,
            )
        ]
    )
    smtp_server.wait_for(1)
    wait_until_none_pending()
    assert [m["To"] for m in smtp_server.messages] == [cast.partner_editor.email]
    assert list(OutboxMessage.objects.values_list("recipient__email", "status")) == [
        (cast.partner_editor.email, "sent")
    ]
