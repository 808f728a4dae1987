"""The daily health snapshot: one row per partnership and day, safe to run twice, in batches."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alignment import services as plan
from alignment.models import Partnership
from cadence.health import partnership_health
from cadence.models import HealthSnapshot
from cadence.snapshots import recent_snapshots, take_health_snapshots
from cadence.tasks import snapshot_health
from tests import factories as f

pytestmark = pytest.mark.django_db


@time_machine.travel(dt.datetime(2026, 11, 27, 2, 15, tzinfo=dt.UTC), tick=False)
def test_snapshot_records_todays_health_of_every_partnership(cast):
    assert snapshot_health.delay().get() == 2
    snaps = {s.partnership_id: s for s in HealthSnapshot.objects.all()}
    assert set(snaps) == {cast.partnership.pk, cast.outsider_partnership.pk}
    mine = snaps[cast.partnership.pk]
    assert mine.day == dt.date(2026, 11, 27)
    assert mine.score == partnership_health(cast.partnership).score
    assert {c["key"] for c in mine.components} >= {"vision", "reviews", "freshness"}
    assert all("explanation" in c and "points" in c for c in mine.components)


def test_running_twice_the_same_day_keeps_one_row_with_the_latest_score(cast):
    with time_machine.travel(dt.datetime(2026, 11, 27, 2, 15, tzinfo=dt.UTC), tick=False):
        take_health_snapshots()
        first = HealthSnapshot.objects.get(partnership=cast.partnership).score
        a = cast.access("vendor_editor")
        plan.vision_update(access=a, why_together="Grow", what_we_hope="More", how_we_work="Monthly")
        plan.vision_endorse(access=cast.access("vendor_approver"), revision=2)
        take_health_snapshots()
    rows = HealthSnapshot.objects.filter(partnership=cast.partnership)
    assert rows.count() == 1
    assert rows.get().score > first


def test_a_new_day_adds_a_row(cast):
    for day in (26, 27):
        with time_machine.travel(dt.datetime(2026, 11, day, 2, 15, tzinfo=dt.UTC), tick=False):
            take_health_snapshots()
    days = list(HealthSnapshot.objects.filter(partnership=cast.partnership).values_list("day", flat=True))
    assert days == [dt.date(2026, 11, 26), dt.date(2026, 11, 27)]


def test_batches_cover_every_partnership_and_skip_ended_ones():
    admin = f.make_user()
    made = [f.make_partnership(admin, name=f"Partnership {i}") for i in range(5)]
    Partnership.objects.filter(pk=made[0].pk).update(status=Partnership.Status.ENDED)
    assert take_health_snapshots(batch_size=2) == 4
    assert set(HealthSnapshot.objects.values_list("partnership_id", flat=True)) == {p.pk for p in made[1:]}


def _queries_of_a_run(**options) -> int:
    with CaptureQueriesContext(connection) as ctx:
        take_health_snapshots(**options)
    return len(ctx)


def test_queries_grow_with_batches_not_with_partnerships():
    admin = f.make_user()
    for i in range(3):
        f.make_partnership(admin, name=f"Small {i}")
    small = _queries_of_a_run(batch_size=50)
    for i in range(12):
        f.make_partnership(admin, name=f"Large {i}")
    assert _queries_of_a_run(batch_size=50) == small
    # Two batches instead of one: one more batch's worth, not one per partnership.
    assert _queries_of_a_run(batch_size=10) < 2 * small


def test_recent_snapshots_loads_many_partnerships_in_one_query(cast, django_assert_num_queries):
    p, q = cast.partnership, cast.outsider_partnership
    HealthSnapshot.objects.bulk_create(
        [
            HealthSnapshot(partnership=p, day=dt.date(2026, 11, 25), score=40),
            HealthSnapshot(partnership=p, day=dt.date(2026, 11, 20), score=30),
            HealthSnapshot(partnership=p, day=dt.date(2026, 5, 1), score=90),  # older than the window
        ]
    )
    with django_assert_num_queries(1):
        trend = recent_snapshots([p.pk, q.pk], days=90, today=dt.date(2026, 11, 27))
    assert [s.score for s in trend[p.pk]] == [30, 40]
    assert trend[q.pk] == []


def test_the_task_is_imported_by_workers_and_scheduled_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["health-snapshots"]
    assert entry["task"] == snapshot_health.name
    assert entry["schedule"].hour == {2}


def test_a_worker_finds_the_task():
    from partnerplan.celery import app

    app.loader.import_default_modules()
    assert "alignment.snapshot_health" in app.tasks
