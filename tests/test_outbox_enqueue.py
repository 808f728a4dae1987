"""Outbox rows reach the broker in batches: one Redis round trip per ``ENQUEUE_BATCH`` messages,
each message the one ``apply_async`` makes, consumed by a real worker that sends every e-mail once;
a broker that is down or fails half-way fails nobody and leaves the rows to ``requeue_stuck``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.client
import redis.connection
import time_machine
from celery import signals
from celery._state import _task_stack
from django.core import mail
from django.utils import timezone

from accounts.models import User
from alignment.models import PartnershipMember, Role, Side
from alignment.services import review_schedule
from cadence import reminders
from core import outbox, taskbase
from core.models import OutboxMessage
from core.outbox import send_outbox_message
from core.taskbase import ENQUEUE_BATCH, task_id_for
from partnerplan.celery import app
from tests import factories as f
from tests.conftest import redis_url

# ``django_db`` for every test (the worker's test overrides it with a transaction): pytest-django then
# runs these before the transactional tests, so no worker thread a transactional test started is
# still taking messages from the queue while a test reads it back.
pytestmark = [pytest.mark.redis, pytest.mark.django_db]

QUEUE = "celery"


def use_broker(url: str) -> None:
    """Publish to ``url`` from now on, dropping connections made for another broker."""
    app.conf.update(broker_url=url, task_always_eager=False, broker_transport_options={})
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker() -> Iterator[Any]:
    """The suite's own Redis database as the broker, tasks not run eagerly; yields its client."""
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}
    use_broker(redis_url())
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.delete(QUEUE)
        try:
            yield client
        finally:
            client.delete(QUEUE)
            app.conf.update(saved)
            app._pool = None
            app.amqp._producer_pool = None


def queued(client: Any) -> list[dict[str, Any]]:
    """The messages waiting in the queue, oldest first, as kombu stored them."""
    return [json.loads(raw) for raw in reversed(client.lrange(QUEUE, 0, -1))]


def task_ids(client: Any) -> list[str]:
    return [m["headers"]["id"] for m in queued(client)]


@dataclass
class Traffic:
    """What this thread sent to Redis. ``round_trips``: each request written before waiting for its
    answer (a pipeline is one); ``pipelines``: the commands in each pipeline; ``commands``: the
    commands sent on their own."""

    round_trips: int = 0
    pipelines: list[Counter[str]] = field(default_factory=list)
    commands: Counter[str] = field(default_factory=Counter)

    def lpush_batches(self) -> list[int]:
        return [p["LPUSH"] for p in self.pipelines if "LPUSH" in p]


@contextmanager
def redis_traffic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traffic]:
    traffic = Traffic()
    me = threading.get_ident()
    send = redis.connection.AbstractConnection.send_packed_command
    execute = redis.client.Pipeline.execute
    command = redis.client.Redis.execute_command

    def counted_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            traffic.round_trips += 1
        return send(self, *args, **kwargs)

    def counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            traffic.pipelines.append(Counter(str(args[0]).upper() for args, _options in self.command_stack))
        return execute(self, *args, **kwargs)

    def counted_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            traffic.commands[str(args[0]).upper()] += 1
        return command(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(redis.connection.AbstractConnection, "send_packed_command", counted_send)
        m.setattr(redis.client.Pipeline, "execute", counted_execute)
        m.setattr(redis.client.Redis, "execute_command", counted_command)
        yield traffic


def warm_up(client: Any) -> None:
    """The first publish on a new connection connects and declares the queue (a few round trips,
    once per connection of the pool); the counts below are those of every enqueue after it."""
    send_outbox_message.enqueue([str(uuid.uuid4())])
    client.delete(QUEUE)


def fresh_ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


# --- Round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, ENQUEUE_BATCH - 1, ENQUEUE_BATCH, ENQUEUE_BATCH + 1, 2 * ENQUEUE_BATCH + 234])
def test_enqueueing_n_runs_takes_one_round_trip_per_batch(broker, monkeypatch, n: int) -> None:
    ids = fresh_ids(n)
    warm_up(broker)

    with redis_traffic(monkeypatch) as traffic:
        send_outbox_message.enqueue(ids)

    assert traffic.round_trips == math.ceil(n / ENQUEUE_BATCH)
    assert traffic.lpush_batches() == [min(ENQUEUE_BATCH, n - start) for start in range(0, n, ENQUEUE_BATCH)]
    assert traffic.commands == Counter()  # nothing on its own
    assert task_ids(broker) == [task_id_for(pk) for pk in ids]  # each once, in the order given


@pytest.mark.django_db
def test_rows_queued_in_a_transaction_are_enqueued_in_batches_when_it_commits(
    broker, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    n = 2 * ENQUEUE_BATCH + 17
    now = timezone.now()
    messages = [
        outbox.Message("signup_confirm", "signup", str(uuid.uuid4()), now, to_email=f"person{i}@example.test")
        for i in range(n)
    ]
    warm_up(broker)

    with redis_traffic(monkeypatch) as traffic, django_capture_on_commit_callbacks() as callbacks:
        inserted = outbox.queue(messages, now)
    assert (len(inserted), traffic.round_trips) == (n, 0)  # nothing before the commit
    with redis_traffic(monkeypatch) as traffic:
        for callback in callbacks:
            callback()

    assert traffic.round_trips == math.ceil(n / ENQUEUE_BATCH) == 3
    assert task_ids(broker) == [task_id_for(str(pk)) for pk in inserted]


# --- The messages are apply_async's -------------------------------------------------------------


def without_delivery_tag(message: dict[str, Any]) -> dict[str, Any]:
    """A message as stored, less the tag kombu draws at random for every publish."""
    properties = {k: v for k, v in message["properties"].items() if k != "delivery_tag"}
    return message | {"properties": properties}


def published_both_ways(client: Any, ids: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    send_outbox_message.enqueue(ids)
    batched = [without_delivery_tag(m) for m in queued(client)]
    client.delete(QUEUE)
    for pk in ids:
        send_outbox_message.apply_async(args=[pk], task_id=task_id_for(pk))
    one_by_one = [without_delivery_tag(m) for m in queued(client)]
    client.delete(QUEUE)
    return batched, one_by_one


def test_each_batched_message_is_the_one_apply_async_makes(broker) -> None:
    ids = [*fresh_ids(3), "42", "an id with 'quotes' and ünïcode"]

    batched, one_by_one = published_both_ways(broker, ids)

    assert len(batched) == len(ids)
    assert batched == one_by_one
    first, other = batched[0], batched[1]
    assert other["headers"]["id"] == other["headers"]["root_id"] == other["properties"]["correlation_id"]
    assert other["headers"]["id"] != first["headers"]["id"]
    assert other["headers"]["timelimit"] == [180, 120]
    assert other["properties"]["delivery_info"] == {"exchange": "", "routing_key": QUEUE}
    assert {m["properties"]["priority"] for m in batched} == {0}


def test_messages_enqueued_by_a_running_task_name_it_as_their_parent_as_apply_async_does(broker) -> None:
    """The reminder sweep runs in a worker: its messages carry the sweep as parent and its root."""
    parent = send_outbox_message  # any task will do: only its request is read
    parent.push_request(id="sweep-task", root_id="beat-root", called_directly=False, delivery_info={})
    _task_stack.push(parent)
    try:
        batched, one_by_one = published_both_ways(broker, fresh_ids(3))
    finally:
        _task_stack.pop()
        parent.pop_request()

    assert batched == one_by_one
    assert {(m["headers"]["parent_id"], m["headers"]["root_id"]) for m in batched} == {("sweep-task", "beat-root")}


def test_a_receiver_of_the_publish_signals_gets_every_message_still_in_batches(broker, monkeypatch) -> None:
    """Celery makes each message itself when something listens to its publishing."""
    seen: list[str] = []

    def receiver(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        seen.append(headers["id"])

    ids = fresh_ids(ENQUEUE_BATCH + 3)
    warm_up(broker)
    signals.before_task_publish.connect(receiver)
    try:
        with redis_traffic(monkeypatch) as traffic:
            send_outbox_message.enqueue(ids)
    finally:
        signals.before_task_publish.disconnect(receiver)

    assert seen == [task_id_for(pk) for pk in ids]
    assert (traffic.round_trips, traffic.lpush_batches()) == (2, [ENQUEUE_BATCH, 3])
    assert task_ids(broker) == seen


def test_a_message_that_names_its_id_anywhere_else_is_made_by_celery_each_time(broker) -> None:
    """Copies replace the id where Celery puts it today; a message naming it elsewhere is not copied."""
    pk = str(uuid.uuid4())
    with app.producer_or_acquire() as producer:
        recorder = taskbase._Recorder(producer)
        send_outbox_message.apply_async(args=[pk], task_id=task_id_for(pk), producer=recorder)
    [(body, options)] = recorder.published

    def args_repr(args: Any) -> str:
        return repr(args)

    assert taskbase._copyable(body, options, pk, args_repr)
    for other in (
        dict(options, headers=dict(options["headers"], lineage=task_id_for(pk))),
        dict(options, reply_to=f"results-{task_id_for(pk)}"),
        dict(options, headers=dict(options["headers"], argsrepr="[…]")),
    ):
        assert not taskbase._copyable(body, other, pk, args_repr)
    assert not taskbase._copyable(([pk], {"again": pk}, body[2]), options, pk, args_repr)


# --- A broker that fails --------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.django_db
def test_a_broker_that_is_down_fails_nobody_and_requeue_stuck_enqueues_the_rows_later(
    broker, caplog, django_capture_on_commit_callbacks
) -> None:
    start = timezone.now()
    messages = [
        outbox.Message("signup_confirm", "signup", str(uuid.uuid4()), start, to_email=f"person{i}@example.test")
        for i in range(ENQUEUE_BATCH + 5)
    ]
    use_broker(f"redis://127.0.0.1:{closed_port()}/0")
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        inserted = outbox.queue(messages, start)  # commits, then the enqueue fails: logged, not raised

    assert any("on_commit" in r.getMessage() for r in caplog.records)
    assert OutboxMessage.objects.filter(status="pending").count() == len(inserted) == len(messages)

    use_broker(redis_url())  # the broker is back
    assert task_ids(broker) == []
    with time_machine.travel(start + dt.timedelta(minutes=6)), django_capture_on_commit_callbacks(execute=True):
        requeued = outbox.requeue_stuck()
    assert sorted(requeued) == sorted(inserted)
    assert sorted(task_ids(broker)) == sorted(task_id_for(str(pk)) for pk in inserted)


@pytest.mark.django_db
def test_a_batch_that_fails_half_way_keeps_the_batches_sent_before_and_fails_nobody(
    broker, monkeypatch, caplog, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    messages = [
        outbox.Message("signup_confirm", "signup", str(uuid.uuid4()), now, to_email=f"person{i}@example.test")
        for i in range(3 * ENQUEUE_BATCH)
    ]
    warm_up(broker)
    execute = redis.client.Pipeline.execute
    flushes: list[int] = []

    def broker_lost_at_the_second_flush(self: Any, *args: Any, **kwargs: Any) -> Any:
        flushes.append(len(self.command_stack))
        if len(flushes) == 2:
            raise redis.exceptions.ConnectionError("connection lost")
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", broker_lost_at_the_second_flush)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        inserted = outbox.queue(messages, now)

    assert flushes == [ENQUEUE_BATCH, ENQUEUE_BATCH]  # the third batch was never sent
    assert any("delivery is uncertain" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert task_ids(broker) == [task_id_for(str(pk)) for pk in inserted[:ENQUEUE_BATCH]]
    # Every row is still pending: the first 500 for the worker, the rest for requeue_stuck.
    assert OutboxMessage.objects.filter(status="pending").count() == len(inserted) == len(messages)


@pytest.mark.django_db
def test_a_single_task_enqueued_on_commit_while_the_broker_is_down_fails_nobody(
    monkeypatch, caplog, django_capture_on_commit_callbacks
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(send_outbox_message, "apply_async", broker_down)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        send_outbox_message.apply_async_on_commit(args=[str(uuid.uuid4())])

    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ConnectionError]


# --- A real worker ----------------------------------------------------------------------------------


@pytest.fixture
def worker(broker) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A real Celery worker thread consuming the broker's queue."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    ):
        yield broker


@pytest.fixture
def delivering_threads(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The threads that ran ``outbox.deliver``: proves the worker, not the test, sent the mail."""
    threads: list[str] = []
    deliver = outbox.deliver

    def spy(row_id: Any) -> Any:
        threads.append(threading.current_thread().name)
        return deliver(row_id)

    monkeypatch.setattr(outbox, "deliver", spy)
    return threads


REMINDERS = 4 * ENQUEUE_BATCH  # 2,000


# PostgreSQL's: the worker thread writes while the test reads, and SQLite's in-memory test database
# (shared cache) locks whole tables between connections, so deliveries fail with "database table
# is locked" and wait for ``requeue_stuck``; the embedded default runs one worker on a file.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_each_of_2000_reminders_enqueued_in_batches_exactly_once(
    worker, monkeypatch, delivering_threads
) -> None:
    admin = f.make_user("admin@vendor.test")
    p = f.make_partnership(admin, name="Acme × Many")
    people = User.objects.bulk_create(
        [
            User(email=f"member{i:04d}@partner.test", full_name=f"Member {i}", password="!")
            for i in range(REMINDERS - p.members.count())
        ]
    )
    PartnershipMember.objects.bulk_create(
        [PartnershipMember(partnership=p, user=u, side=Side.PARTNER, role=Role.VIEWER) for u in people]
    )
    members = set(p.members.values_list("user__email", flat=True))
    when = (timezone.now() + dt.timedelta(hours=20)).replace(second=0, microsecond=0)
    review_schedule(access=f.access(admin, p), scheduled_for=when)

    with redis_traffic(monkeypatch) as traffic:
        rows = reminders.sweep_reviews_upcoming()  # commits, then enqueues through Redis in batches

    assert len(rows) == len(members) == REMINDERS
    assert traffic.lpush_batches() == [ENQUEUE_BATCH] * 4
    assert traffic.commands["LPUSH"] == 0
    deadline = time.monotonic() + 600
    while OutboxMessage.objects.filter(status__in=["pending", "sending"]).exists() and time.monotonic() < deadline:
        time.sleep(0.5)

    assert Counter(OutboxMessage.objects.values_list("status", flat=True)) == {"sent": len(rows)}
    sent_to = Counter(to for message in mail.outbox for to in message.to)
    assert set(sent_to) == members
    assert set(sent_to.values()) == {1}
    assert len(delivering_threads) == len(rows)  # no row delivered twice, not even as "not claimed"
    assert threading.current_thread().name not in delivering_threads
    assert worker.llen(QUEUE) == 0
