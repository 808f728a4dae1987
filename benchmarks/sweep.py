"""The reminder sweep at scale, timed in Python (median of runs).

On a database of its own (``DATABASE_URL``, the harness passes ``<bench database>_sweep``) it seeds
100,000 review schedules over 2,000 partnerships — 5,000 reviews due for their "tomorrow" reminder,
the rest held in the past or beyond the sweep's horizon — each partnership with one person on each
side, so the sweep has 10,000 reminders to queue. Then, per run, it empties the outbox and the Redis
queue and calls ``cadence.reminders.sweep_reviews_upcoming`` as beat would, timing:

- ``find_due_s``: the sweep's query for due reviews (every SQL statement is timed; this is the one
  that reads ``alignment_alignmentreview``),
- ``enqueue_s``: the time spent handing the reminder tasks to Redis after the commit
  (``send_outbox_message.enqueue``, in batches of ``core.taskbase.ENQUEUE_BATCH``), with
  ``enqueue_cpu_s`` the CPU time it took (the wall time includes waiting for Redis and for the
  machine's other processes), ``round_trips`` the requests it sent Redis and waited for (each
  write to a Redis connection; a pipeline is one) and ``lpush_batches`` the size of each pipeline,
- ``sweep_s``: the whole sweep, outbox inserts included.

``--one-by-one`` also times, in each run, the way reminders were enqueued before: one
``apply_async`` (one round trip) per reminder, for the same rows (``one_by_one_s``).

Prints one JSON line with the medians and every run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, os.environ.get("BENCH_APP_DIR", str(HERE.parent)))
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerplan.settings.production")

from run import dataset_state, drop_database, ensure_database, log, record_dataset  # noqa: E402

PARTNERSHIPS = 2000


def seed(schedules: int, due_reviews: int, partnerships: int, now: dt.datetime) -> None:
    from accounts.models import Organisation, OrganisationMembership, User
    from alignment.models import AlignmentReview, Partnership, PartnershipMember, Role, Side

    log(f"seeding {schedules} review schedules over {partnerships} partnerships ({due_reviews} due)")
    vendor = Organisation.objects.create(name="Sweep Vendor")
    partners = Organisation.objects.bulk_create(
        [Organisation(name=f"Sweep Partner {i:05d}") for i in range(partnerships)], batch_size=2000
    )
    ps = Partnership.objects.bulk_create(
        [
            Partnership(vendor=vendor, partner=o, name=f"Sweep {i:05d}", reminder_offsets_days=[7, 1])
            for i, o in enumerate(partners)
        ],
        batch_size=2000,
    )
    # "!" is an unusable password: nobody signs in as these people.
    users = User.objects.bulk_create(
        [
            User(email=f"sweep-{side}-{i:05d}@bench.example", full_name=f"Sweep {side} {i}", password="!")
            for i in range(partnerships)
            for side in ("v", "p")
        ],
        batch_size=2000,
    )
    OrganisationMembership.objects.bulk_create(
        [OrganisationMembership(organisation=partners[i], user=users[2 * i + 1]) for i in range(partnerships)],
        batch_size=2000,
    )
    PartnershipMember.objects.bulk_create(
        [
            PartnershipMember(partnership=p, user=users[2 * i + side_index], side=side, role=Role.EDITOR)
            for i, p in enumerate(ps)
            for side_index, side in enumerate((Side.VENDOR, Side.PARTNER))
        ],
        batch_size=2000,
    )
    reviews = []
    rest = schedules - due_reviews
    for n in range(schedules):
        p = ps[n % partnerships]
        if n < due_reviews:
            # Tomorrow-ish: the 1-day offset is reached, so the sweep queues one reminder per member.
            at = now + dt.timedelta(hours=2 + (n % 20))
            reviews.append(AlignmentReview(id=uuid.uuid4(), partnership=p, scheduled_for=at))
        elif (n - due_reviews) < rest // 2:
            at = now - dt.timedelta(days=31 + (n % 1500))
            reviews.append(
                AlignmentReview(
                    id=uuid.uuid4(),
                    partnership=p,
                    scheduled_for=at,
                    status=AlignmentReview.Status.HELD,
                    held_on=at.date(),
                )
            )
        else:
            at = now + dt.timedelta(days=120 + (n % 1500))
            reviews.append(AlignmentReview(id=uuid.uuid4(), partnership=p, scheduled_for=at))
    AlignmentReview.objects.bulk_create(reviews, batch_size=5000)


class RedisTraffic:
    """Counts the requests written to Redis (each is one round trip: a pipeline is written whole,
    then its answers read) and the commands of each pipeline, while it is active."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.pipelines: list[int] = []

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        import redis.client
        import redis.connection

        send = redis.connection.AbstractConnection.send_packed_command
        execute = redis.client.Pipeline.execute

        def counted_send(connection: Any, *args: Any, **kwargs: Any) -> Any:
            self.round_trips += 1
            return send(connection, *args, **kwargs)

        def counted_execute(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
            self.pipelines.append(len(pipeline.command_stack))
            return execute(pipeline, *args, **kwargs)

        with (
            mock.patch.object(redis.connection.AbstractConnection, "send_packed_command", counted_send),
            mock.patch.object(redis.client.Pipeline, "execute", counted_execute),
        ):
            yield


def queue_length(app: Any) -> int:
    with app.connection_for_write() as conn:
        return int(conn.default_channel.client.llen(app.conf.task_default_queue or "celery"))


def one_run(now: dt.datetime, one_by_one: bool) -> dict[str, Any]:
    from django.db import connection

    from cadence import reminders
    from core.models import OutboxMessage
    from core.outbox import send_outbox_message
    from core.taskbase import task_id_for
    from partnerplan.celery import app

    OutboxMessage.objects.all().delete()
    app.control.purge()
    statements: list[tuple[str, float]] = []

    def timed_query(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((sql, time.perf_counter() - started))

    enqueue = {"seconds": 0.0, "cpu_seconds": 0.0, "tasks": 0}
    traffic = RedisTraffic()
    original = send_outbox_message.enqueue

    def timed_enqueue(ids: Any) -> Any:
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            with traffic.counting():
                return original(ids)
        finally:
            enqueue["seconds"] += time.perf_counter() - started
            enqueue["cpu_seconds"] += time.process_time() - cpu_started
            enqueue["tasks"] += len(ids)

    with (
        mock.patch.object(send_outbox_message, "enqueue", timed_enqueue),
        connection.execute_wrapper(timed_query),
    ):
        started = time.perf_counter()
        queued = reminders.sweep_reviews_upcoming(now)
        sweep_seconds = time.perf_counter() - started
    find_due = [s for s in statements if 'FROM "alignment_alignmentreview"' in s[0]]
    result = {
        "find_due_s": sum(s[1] for s in find_due),
        "find_due_sql": find_due[0][0] if find_due else "",
        "enqueue_s": enqueue["seconds"],
        "enqueue_cpu_s": enqueue["cpu_seconds"],
        "enqueued": enqueue["tasks"],
        "round_trips": traffic.round_trips,
        "lpush_batches": traffic.pipelines,
        "queue_length": queue_length(app),
        "sweep_s": sweep_seconds,
        "queued": len(queued),
        "statements": len(statements),
    }
    if one_by_one:
        app.control.purge()
        before = RedisTraffic()
        started = time.perf_counter()
        with before.counting():
            for pk in queued:
                send_outbox_message.apply_async(args=[str(pk)], task_id=task_id_for(str(pk)))
        result |= {
            "one_by_one_s": time.perf_counter() - started,
            "one_by_one_round_trips": before.round_trips,
            "one_by_one_queue_length": queue_length(app),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 schedules and 1,000 reminders")
    parser.add_argument(
        "--one-by-one", action="store_true", help="also time one apply_async per reminder, as before batches"
    )
    args = parser.parse_args()
    schedules, due = (10_000, 500) if args.quick else (100_000, 5_000)
    partnerships = PARTNERSHIPS // 10 if args.quick else PARTNERSHIPS

    url = os.environ["DATABASE_URL"]
    key = json.dumps({"sweep_schedules": schedules, "due": due, "partnerships": partnerships}, sort_keys=True)
    ensure_database(url)
    state = dataset_state(url, key)
    if state not in ("same", "empty"):  # another dataset, or one whose seeding did not finish
        drop_database(url)
        ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from alignment.models import AlignmentReview
    from core.taskbase import ENQUEUE_BATCH

    call_command("migrate", "--noinput", verbosity=0)
    if state != "same":
        started = time.monotonic()
        with transaction.atomic():
            seed(schedules, due, partnerships, timezone.now().replace(microsecond=0))
        counts = {"schedules": schedules, "due_reviews": due, "partnerships": partnerships, "reminders": 2 * due}
        record_dataset(url, key, time.monotonic() - started, counts)
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    # Sweep as of the moment the dataset was seeded for (two hours before the first due review), so
    # every run, today or next month, finds the same due reviews.
    first_due = AlignmentReview.objects.filter(status=AlignmentReview.Status.SCHEDULED).order_by("scheduled_for")
    now = first_due.values_list("scheduled_for", flat=True)[0] - dt.timedelta(hours=2)
    runs = []
    for n in range(args.runs):
        result = one_run(now, args.one_by_one)
        log(
            f"sweep run {n + 1}: find due {result['find_due_s']:.3f} s, enqueue {result['enqueued']} in "
            f"{result['enqueue_s']:.2f} s ({result['enqueue_cpu_s']:.2f} s CPU, {result['round_trips']} round trips), "
            f"whole sweep {result['sweep_s']:.2f} s"
            + (f"; one by one {result['one_by_one_s']:.2f} s" if args.one_by_one else "")
        )
        runs.append(result)
    print(
        json.dumps(
            {
                "schedules": schedules,
                "reminders": runs[-1]["queued"],
                "find_due_s": statistics.median(r["find_due_s"] for r in runs),
                "enqueue_s": statistics.median(r["enqueue_s"] for r in runs),
                "enqueue_cpu_s": statistics.median(r["enqueue_cpu_s"] for r in runs),
                "round_trips": statistics.median(r["round_trips"] for r in runs),
                "batch": ENQUEUE_BATCH,
                "sweep_s": statistics.median(r["sweep_s"] for r in runs),
                **({"one_by_one_s": statistics.median(r["one_by_one_s"] for r in runs)} if args.one_by_one else {}),
                "find_due_sql": runs[-1].pop("find_due_sql"),
                "each": [{k: v for k, v in r.items() if k != "find_due_sql"} for r in runs],
            }
        )
    )


if __name__ == "__main__":
    main()
