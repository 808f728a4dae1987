"""Review occurrences from the cadence, in the partnership's zone, across year ends and DST."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from alignment import schedule
from alignment.models import AlignmentReview, ChangeEvent
from cadence.reminders import run_sweeps
from tests import factories as f

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def quarterly_partnership(zone: str, when: dt.datetime):  # type: ignore[no-untyped-def]
    with time_machine.travel(when, tick=False):
        admin = f.make_user()
        return f.make_partnership(admin, timezone=zone, review_cadence="quarterly", review_time=dt.time(10, 0))


# Started on 10 November 2026; reviews at 10:00 local time every quarter.
QUARTERLY = {
    # CET (+1) in winter, CEST (+2) from the last Sunday of March to the last Sunday of October.
    "Europe/Berlin": [utc(2027, 2, 10, 9), utc(2027, 5, 10, 8), utc(2027, 8, 10, 8), utc(2027, 11, 10, 9)],
    # EST (-5) in winter, EDT (-4) from the second Sunday of March to the first Sunday of November.
    "America/New_York": [utc(2027, 2, 10, 15), utc(2027, 5, 10, 14), utc(2027, 8, 10, 14), utc(2027, 11, 10, 15)],
    # Southern hemisphere: AEDT (+11) in the southern summer, AEST (+10) from April to October.
    "Australia/Sydney": [utc(2027, 2, 9, 23), utc(2027, 5, 10, 0), utc(2027, 8, 10, 0), utc(2027, 11, 9, 23)],
}


@pytest.mark.django_db
@pytest.mark.parametrize("zone", sorted(QUARTERLY))
def test_quarterly_cadence_crosses_the_year_end_and_dst_at_the_same_local_time(zone: str) -> None:
    p = quarterly_partnership(zone, utc(2026, 11, 10, 12))
    with time_machine.travel(utc(2026, 12, 1), tick=False):
        found = schedule.occurrences(p, after=utc(2026, 12, 1), count=4)
    assert found == QUARTERLY[zone]
    assert all(when.tzinfo == UTC for when in found)
    assert {when.astimezone(schedule.zoneinfo.ZoneInfo(zone)).time() for when in found} == {dt.time(10, 0)}


@pytest.mark.django_db
@pytest.mark.parametrize("zone", sorted(QUARTERLY))
def test_sweep_schedules_each_next_review_in_utc_as_the_previous_one_is_held(zone: str) -> None:
    p = quarterly_partnership(zone, utc(2026, 11, 10, 12))
    admin_access = f.access(p.members.get().user, p)
    scheduled: list[dt.datetime] = []
    now = utc(2026, 12, 1)
    for _ in range(4):
        with time_machine.travel(now, tick=False):
            run_sweeps(now)
            review = AlignmentReview.objects.get(partnership=p, status="scheduled")
            scheduled.append(review.scheduled_for)
        now = review.scheduled_for + dt.timedelta(hours=2)
        with time_machine.travel(now, tick=False):
            from cadence.services import review_hold

            review_hold(access=admin_access, review_id=review.pk, held_on=now.date(), schedule_next=False)
    assert scheduled == QUARTERLY[zone]


@pytest.mark.django_db
def test_a_local_time_skipped_by_the_spring_change_moves_forward_by_the_gap() -> None:
    # 02:30 on the last Sunday of March 2027 does not exist in Berlin (clocks jump 02:00 → 03:00).
    with time_machine.travel(utc(2027, 1, 5), tick=False):
        p = f.make_partnership(
            f.make_user(),
            timezone="Europe/Berlin",
            review_cadence="custom",
            review_rrule="FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            review_time=dt.time(2, 30),
        )
        when = schedule.next_occurrence(p, utc(2027, 1, 5))
    assert when == utc(2027, 3, 28, 1, 30)  # 03:30 CEST


@pytest.mark.django_db
def test_a_local_time_repeated_by_the_autumn_change_takes_the_first_one() -> None:
    # 02:30 on the last Sunday of October 2027 happens twice in Berlin (CEST, then CET).
    with time_machine.travel(utc(2027, 1, 5), tick=False):
        p = f.make_partnership(
            f.make_user(),
            timezone="Europe/Berlin",
            review_cadence="custom",
            review_rrule="FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
            review_time=dt.time(2, 30),
        )
        found = schedule.occurrences(p, utc(2027, 1, 5), 2)
    assert found == [utc(2027, 10, 31, 0, 30), utc(2028, 10, 29, 0, 30)]  # once a year, never twice


@pytest.mark.django_db
def test_the_sweep_schedules_one_next_review_however_often_it_runs() -> None:
    p = quarterly_partnership("Europe/Berlin", utc(2026, 11, 10, 12))
    with time_machine.travel(utc(2026, 12, 1), tick=False):
        for _ in range(3):
            run_sweeps()
    review = AlignmentReview.objects.get(partnership=p)
    assert (review.scheduled_for, review.occurrence, review.status) == (utc(2027, 2, 10, 9),) * 2 + ("scheduled",)
    event = ChangeEvent.objects.get(object_id=review.pk)
    assert (event.action, event.actor_id, event.actor_label) == ("create", None, "system")


@pytest.mark.django_db
def test_a_skipped_review_is_followed_by_the_next_occurrence() -> None:
    p = quarterly_partnership("Europe/Berlin", utc(2026, 11, 10, 12))
    a = f.access(p.members.get().user, p)
    with time_machine.travel(utc(2026, 12, 1), tick=False):
        run_sweeps()
        from alignment.services import review_skip

        first = AlignmentReview.objects.get(partnership=p)
        review_skip(access=a, review_id=first.pk)
        run_sweeps()
    upcoming = AlignmentReview.objects.get(partnership=p, status="scheduled")
    assert upcoming.scheduled_for == utc(2027, 5, 10, 8)


@pytest.mark.django_db
def test_paused_partnerships_get_no_review_scheduled() -> None:
    p = quarterly_partnership("UTC", utc(2026, 11, 10, 12))
    type(p).objects.filter(pk=p.pk).update(status="paused")
    with time_machine.travel(utc(2026, 12, 1), tick=False):
        run_sweeps()
    assert not AlignmentReview.objects.filter(partnership=p).exists()


@pytest.mark.django_db
def test_a_custom_rule_may_end_with_a_utc_until_and_then_nothing_more_is_scheduled() -> None:
    with time_machine.travel(utc(2027, 1, 5), tick=False):
        p = f.make_partnership(
            f.make_user(),
            timezone="Europe/Berlin",
            review_cadence="custom",
            review_rrule="RRULE:FREQ=MONTHLY;BYDAY=1TU;UNTIL=20270301T000000Z",
            review_time=dt.time(9, 0),
        )
        assert schedule.occurrences(p, utc(2027, 1, 5), 5) == [utc(2027, 1, 5, 8), utc(2027, 2, 2, 8)]
    with time_machine.travel(utc(2027, 3, 5), tick=False):
        assert schedule.keep_next_review_scheduled() == []
    assert schedule.upcoming(p, 3, utc(2027, 3, 5)) == []
