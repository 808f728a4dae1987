"""The base of every Partnerplan task that is decided inside a transaction.

Many runs of one task (a reminder sweep's 10,000 e-mails) are handed to the broker in batches: the
messages are the ones ``apply_async`` makes, published through one kombu producer inside
``Producer.batch``, which on Redis buffers their ``LPUSH`` in a pipeline and sends
``ENQUEUE_BATCH`` of them in one round trip (other brokers publish each at once, as before).

Celery spends a quarter of a millisecond deciding each message (options, routing, the parent
task, the argument's repr) — more than the round trip saved. Runs of one task that differ only in
their id argument differ in nothing else, so Celery makes the first message and the others are
copies of it with their own id in the four places it appears: the body's argument, the task id,
``root_id`` (when the task had no parent) and ``argsrepr``; ``correlation_id`` is the task id
again. ``_copyable`` checks the first message has exactly that shape, and every message is then
serialized, routed and prepared for the transport by kombu itself, as a lone ``apply_async``
would be. Whatever Celery would do per message besides publishing it (a ``before_task_publish``
receiver, "task sent" events, a result backend told of each task) makes every message go through
``apply_async`` instead, in the same batches.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from celery import signals
from celery.contrib.django.task import DjangoTask
from celery.utils.saferepr import saferepr
from django.db import transaction

#: Messages handed to the broker in one round trip (a Redis pipeline of this many ``LPUSH``).
ENQUEUE_BATCH = 500


def task_id_for(pk: str) -> str:
    """The task id of the run for ``pk``: derived from it, so a second copy is the same task."""
    return f"reminder-{pk}"


class _Recorder:
    """Stands in for kombu's producer in one ``apply_async``: keeps what Celery would publish
    (the message body and ``Producer.publish``'s keyword arguments) instead of publishing it."""

    def __init__(self, producer: Any) -> None:
        self.connection = producer.connection  # Celery translates this connection's errors
        self.published: list[tuple[Any, dict[str, Any]]] = []

    def publish(self, body: Any, **options: Any) -> None:
        self.published.append((body, options))


class TransactionAwareTask(DjangoTask):  # type: ignore[misc]  # celery ships no types
    """A task enqueued when the transaction that decided it commits: a rolled-back change enqueues
    nothing, and the worker never looks for rows that are not committed yet. ``robust``: a broker
    that is down does not fail the request that committed (the outbox's sweep requeues)."""

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        # A named function, not a partial: Django logs a robust callback's failure by its
        # ``__qualname__``, which a partial lacks (the logging itself would raise).
        def apply_async() -> None:
            self.apply_async(*args, **kwargs)

        transaction.on_commit(apply_async, robust=True)

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        self.apply_async_on_commit(args, kwargs)

    def enqueue_on_commit(self, ids: Iterable[Any]) -> None:
        """Enqueue one run per id after the commit (the task id is derived from it, so a duplicate
        is harmless), ``ENQUEUE_BATCH`` messages per round trip to the broker."""
        ids = [str(pk) for pk in ids]
        if not ids:
            return

        def enqueue() -> None:
            self.enqueue(ids)

        transaction.on_commit(enqueue, robust=True)

    def enqueue(self, ids: Sequence[str]) -> None:
        """Publish one run per id now, in batches. Raises when the broker cannot be reached; the
        batches published before the failure stay published, the others are dropped whole."""
        if not ids:
            return
        if self.app.conf.task_always_eager:  # run here, one by one, as apply_async does
            for pk in ids:
                self.apply_async(args=[pk], task_id=task_id_for(pk))
            return
        with self.app.producer_or_acquire() as producer, producer.batch(max_size=ENQUEUE_BATCH):
            messages = self._copies(ids, producer) if self._publishes_only() else None
            if messages is None:
                for pk in ids:
                    self.apply_async(args=[pk], task_id=task_id_for(pk), producer=producer)
                return
            for body, options in messages:
                producer.publish(body, **options)

    def _publishes_only(self) -> bool:
        """Whether Celery does nothing per message but publish it (what the copies leave out)."""
        conf = self.app.conf
        return bool(
            self.ignore_result
            and not conf.task_send_sent_event
            and not signals.before_task_publish.receivers
            and not signals.after_task_publish.receivers
        )

    def _copies(self, ids: Sequence[str], producer: Any) -> Iterator[tuple[Any, dict[str, Any]]] | None:
        """The message Celery makes for the first id, then copies of it for the others; None when
        that message does not have the shape the copies rely on."""
        first = ids[0]
        recorder = _Recorder(producer)
        self.apply_async(args=[first], task_id=task_id_for(first), producer=recorder)
        args_repr = functools.partial(
            saferepr, maxlen=self.app.amqp.argsrepr_maxsize, maxlevels=self.app.conf.task_repr_maxlevels
        )
        if len(recorder.published) != 1:
            return None
        [(body, options)] = recorder.published
        if not _copyable(body, options, first, args_repr):
            return None
        headers = options["headers"]
        own_root = headers["root_id"] == task_id_for(first)  # no parent task: each is its own root
        # The first declares the queue (once per connection) and may retry connecting; the copies
        # only add to the batch, which is sent once, without retry, when it is full.
        copy_options = dict(options, declare=[], retry=False)

        def messages() -> Iterator[tuple[Any, dict[str, Any]]]:
            yield body, options
            for pk in ids[1:]:
                task_id = task_id_for(pk)
                args = [pk]
                own = dict(headers, id=task_id, argsrepr=args_repr(args))
                if own_root:
                    own["root_id"] = task_id
                yield (args, *body[1:]), dict(copy_options, headers=own, correlation_id=task_id)

        return messages()


def _copyable(body: Any, options: dict[str, Any], pk: str, args_repr: Callable[[Any], str]) -> bool:
    """Whether the message Celery made for ``pk`` names it in the places a copy replaces and
    nowhere else: not its task id, nor ``pk`` as a JSON string or a repr (a later Celery that adds a
    field derived from either falls back to making each message)."""
    headers = options.get("headers") or {}
    task_id = task_id_for(pk)
    if not (
        isinstance(body, tuple)
        and len(body) == 3
        and body[0] == [pk]
        and headers.get("id") == options.get("correlation_id") == task_id
        and headers.get("argsrepr") == args_repr([pk])
    ):
        return False
    rest = {
        "body": body[1:],
        "headers": {k: v for k, v in headers.items() if k not in ("id", "argsrepr", "root_id")},
        "root_id": headers.get("root_id") if headers.get("root_id") != task_id else None,
        "options": {k: v for k, v in options.items() if k not in ("headers", "correlation_id")},
    }
    text = json.dumps(rest, default=repr)
    return not any(form in text for form in (task_id, json.dumps(pk), repr(pk)))
