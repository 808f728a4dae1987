"""Two sweeps at the same moment, in two database connections, still send each reminder once."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from alignment.services import review_schedule
from cadence import reminders
from core import outbox
from core.models import OutboxMessage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(count: int, work) -> list[BaseException]:  # type: ignore[no-untyped-def]
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            work()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_sweeps_send_each_reminder_once(cast) -> None:
    when = timezone.now() + dt.timedelta(hours=20)
    review_schedule(access=cast.access("vendor_admin"), scheduled_for=when)
    members = cast.partnership.members.count()

    errors = run_at_once(4, reminders.run_sweeps)

    assert errors == []
    assert OutboxMessage.objects.filter(kind="review_upcoming", partnership_id=cast.partnership.pk).count() == members
    ours = [m for m in mail.outbox if m.subject.startswith("Alignment review") and cast.partnership.name in m.subject]
    everyone = cast.partnership.members.values_list("user__email", flat=True)
    assert Counter(m.to[0] for m in ours) == dict.fromkeys(everyone, 1)


def test_concurrent_sends_of_one_row_send_it_once(cast, monkeypatch) -> None:
    monkeypatch.setattr(outbox.send_outbox_message, "enqueue_on_commit", lambda ids: None)  # the workers below send it
    when = timezone.now() + dt.timedelta(hours=20)
    review = review_schedule(access=cast.access("vendor_admin"), scheduled_for=when)
    [row_id] = outbox.queue(
        [
            outbox.Message(
                "review_upcoming",
                "review",
                str(review.pk),
                when,
                recipient_id=cast.partner_approver.pk,
                partnership_id=cast.partnership.pk,
            )
        ]
    )
    outcomes: list[str] = []

    errors = run_at_once(6, lambda: outcomes.append(outbox.deliver(row_id).status))

    assert errors == []
    assert sorted(outcomes) == ["not_claimed"] * 5 + ["sent"]
    assert len([m for m in mail.outbox if m.to == [cast.partner_approver.email]]) == 1
