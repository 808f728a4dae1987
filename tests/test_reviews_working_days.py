"""Reviews the cadence puts on a Saturday or Sunday (in the partnership's zone) are held on the
nearest working day: Saturday → Friday, Sunday → Monday, at the same local time. The review keeps
standing for the cadence's own occurrence (its identity); only its time moves."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
import time_machine

from alignment import schedule
from alignment.models import AlignmentReview, ChangeEvent, Partnership
from alignment.schedule import Slot
from alignment.services import partnership_update, review_schedule, review_skip
from cadence.reminders import run_sweeps
from cadence.services import review_hold
from core.models import OutboxMessage
from tests import factories as f
from tests.api_support import ApiClient

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


SATURDAY_9_JANUARY = utc(2027, 1, 9, 12)


def partnership(zone: str = "Europe/Berlin", created: dt.datetime = SATURDAY_9_JANUARY, **fields) -> Partnership:  # type: ignore[no-untyped-def]
    """A partnership started on ``created``: its monthly cadence falls on that day of the month."""
    fields = {"review_cadence": "monthly", "review_time": dt.time(10, 0)} | fields
    with time_machine.travel(created, tick=False):
        return f.make_partnership(f.make_user(), timezone=zone, **fields)


def local(when: dt.datetime, zone: str = "Europe/Berlin") -> str:
    return when.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%a %d %b %H:%M")


# --- Where the reviews land -----------------------------------------------------------------


def test_monthly_reviews_on_a_weekend_move_to_the_nearest_working_day() -> None:
    # Monthly on the 9th, from Saturday 9 January 2027, at 10:00 in Berlin.
    p = partnership()
    found = schedule.occurrences(p, utc(2027, 1, 10), 9)
    assert [local(when) for when in found] == [
        "Tue 09 Feb 10:00",
        "Tue 09 Mar 10:00",
        "Fri 09 Apr 10:00",
        "Mon 10 May 10:00",  # Sunday 9 May → Monday
        "Wed 09 Jun 10:00",
        "Fri 09 Jul 10:00",
        "Mon 09 Aug 10:00",
        "Thu 09 Sep 10:00",
        "Fri 08 Oct 10:00",  # Saturday 9 October → Friday
    ]


def test_a_moved_review_keeps_the_cadence_occurrence_as_its_identity() -> None:
    p = partnership()
    assert schedule.slots(p, utc(2027, 5, 1), 2) == [
        Slot(occurrence=utc(2027, 5, 9, 8), scheduled_for=utc(2027, 5, 10, 8)),
        Slot(occurrence=utc(2027, 6, 9, 8), scheduled_for=utc(2027, 6, 9, 8)),  # unmoved: the same instant
    ]


def test_a_partnership_may_keep_its_reviews_on_weekends() -> None:
    p = partnership(reviews_on_working_days=False)
    found = schedule.occurrences(p, utc(2027, 5, 1), 1) + schedule.occurrences(p, utc(2027, 10, 1), 1)
    assert [local(when) for when in found] == ["Sun 09 May 10:00", "Sat 09 Oct 10:00"]


def test_the_weekend_is_the_one_in_the_partnerships_time_zone() -> None:
    # 09:00 on Saturday 2 January in Auckland is Friday in UTC: it moves (to Friday in Auckland).
    december = utc(2026, 12, 1)  # the cadence starts when the partnership does
    saturday = partnership(
        "Pacific/Auckland", december, review_cadence="custom", review_rrule="FREQ=MONTHLY;BYMONTHDAY=2"
    )
    saturday.review_time = dt.time(9, 0)
    assert schedule.next_occurrence(saturday, utc(2026, 12, 25)) == utc(2026, 12, 31, 20)  # Fri 1 Jan 09:00 NZDT
    # 09:00 on Monday 4 January in Auckland is Sunday in UTC: it stays.
    monday = partnership(
        "Pacific/Auckland", december, review_cadence="custom", review_rrule="FREQ=MONTHLY;BYMONTHDAY=4"
    )
    monday.review_time = dt.time(9, 0)
    assert schedule.next_occurrence(monday, utc(2026, 12, 25)) == utc(2027, 1, 3, 20)
    # 17:00 on Friday 1 January in Los Angeles is Saturday in UTC: it stays.
    friday = partnership(
        "America/Los_Angeles", december, review_cadence="custom", review_rrule="FREQ=MONTHLY;BYMONTHDAY=1"
    )
    friday.review_time = dt.time(17, 0)
    assert schedule.next_occurrence(friday, utc(2026, 12, 25)) == utc(2027, 1, 2, 1)


# --- DST ------------------------------------------------------------------------------------


def test_a_sunday_review_on_the_spring_change_moves_to_monday_at_the_same_local_time() -> None:
    # Sundays 28 February and 28 March 2027; Berlin moves to CEST (UTC+2) on 28 March.
    p = partnership(review_cadence="custom", review_rrule="FREQ=MONTHLY;BYMONTHDAY=28")
    assert schedule.slots(p, utc(2027, 2, 1), 3) == [
        Slot(occurrence=utc(2027, 2, 28, 9), scheduled_for=utc(2027, 3, 1, 9)),  # CET
        Slot(occurrence=utc(2027, 3, 28, 8), scheduled_for=utc(2027, 3, 29, 8)),  # CEST
        Slot(occurrence=utc(2027, 4, 28, 8), scheduled_for=utc(2027, 4, 28, 8)),
    ]


def test_a_time_skipped_on_the_sunday_is_moved_before_the_dst_policy_applies() -> None:
    # 02:30 on Sunday 28 March 2027 does not exist in Berlin; on Monday it does.
    p = partnership(review_cadence="custom", review_rrule="FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=28")
    p.review_time = dt.time(2, 30)
    (slot,) = schedule.slots(p, utc(2027, 1, 10), 1)
    assert slot.occurrence == utc(2027, 3, 28, 1, 30)  # the gap policy: 03:30 CEST
    assert slot.scheduled_for == utc(2027, 3, 29, 0, 30)  # Monday 02:30 CEST


def test_a_time_repeated_on_the_sunday_is_moved_to_monday_once() -> None:
    # 02:30 on Sunday 31 October 2027 happens twice in Berlin; Monday 02:30 is CET (UTC+1).
    p = partnership(review_cadence="custom", review_rrule="FREQ=YEARLY;BYMONTH=10;BYMONTHDAY=31")
    p.review_time = dt.time(2, 30)
    assert schedule.slots(p, utc(2027, 1, 10), 2) == [
        Slot(occurrence=utc(2027, 10, 31, 0, 30), scheduled_for=utc(2027, 11, 1, 1, 30)),
        Slot(occurrence=utc(2028, 10, 31, 1, 30), scheduled_for=utc(2028, 10, 31, 1, 30)),  # a Tuesday
    ]


# --- Custom rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "names_weekend"),
    [
        ("FREQ=WEEKLY;BYDAY=SA", True),
        ("RRULE:BYDAY=SU;FREQ=WEEKLY", True),
        ("FREQ=MONTHLY;BYDAY=-1SA", True),
        ("FREQ=WEEKLY;BYDAY=FR,+1SU", True),
        ("freq=monthly;byday=1su", True),
        ("FREQ=MONTHLY;BYDAY=1TU", False),
        ("FREQ=WEEKLY;BYDAY=MO,WE,FR", False),
        ("FREQ=MONTHLY;BYMONTHDAY=6", False),
        ("FREQ=WEEKLY", False),
    ],
)
def test_a_custom_rule_asks_for_weekend_days_only_by_naming_them(rule: str, names_weekend: bool) -> None:
    assert schedule.names_weekend_days(rule) is names_weekend


def test_a_custom_rule_that_names_weekend_days_is_kept_as_written() -> None:
    p = partnership(review_cadence="custom", review_rrule="FREQ=WEEKLY;BYDAY=FR,SA")
    found = schedule.occurrences(p, utc(2027, 1, 10), 4)
    assert [local(when) for when in found] == [
        "Fri 15 Jan 10:00",
        "Sat 16 Jan 10:00",
        "Fri 22 Jan 10:00",
        "Sat 23 Jan 10:00",
    ]


def test_a_weekly_rule_that_falls_on_a_weekend_only_by_its_start_moves() -> None:
    # Started on a Saturday, FREQ=WEEKLY repeats on Saturdays without naming them.
    p = partnership(review_cadence="custom", review_rrule="FREQ=WEEKLY")
    found = schedule.occurrences(p, utc(2027, 1, 10), 2)
    assert [local(when) for when in found] == ["Fri 15 Jan 10:00", "Fri 22 Jan 10:00"]


def test_a_daily_rule_gives_one_review_per_working_day_each_standing_for_its_own_day() -> None:
    p = partnership(review_cadence="custom", review_rrule="FREQ=DAILY")
    found = schedule.slots(p, utc(2027, 1, 14, 12), 4)  # from Thursday noon
    assert [local(s.scheduled_for) for s in found] == [
        "Fri 15 Jan 10:00",
        "Mon 18 Jan 10:00",
        "Tue 19 Jan 10:00",
        "Wed 20 Jan 10:00",
    ]
    assert all(s.occurrence == s.scheduled_for for s in found)


# --- Scheduling: the sweep, holding, skipping, the service -------------------------------------


def scheduled(p: Partnership) -> AlignmentReview:
    return AlignmentReview.objects.get(partnership=p, status=AlignmentReview.Status.SCHEDULED)


def test_the_sweep_schedules_a_moved_review_once_with_its_occurrence() -> None:
    p = partnership()
    with time_machine.travel(utc(2027, 4, 20), tick=False):
        for _ in range(3):
            run_sweeps()
    review = AlignmentReview.objects.get(partnership=p)
    assert (review.occurrence, review.scheduled_for) == (utc(2027, 5, 9, 8), utc(2027, 5, 10, 8))
    event = ChangeEvent.objects.get(object_id=review.pk)
    assert event.summary == "scheduled a review for 2027-05-10 08:00 UTC"


def test_between_a_sunday_occurrence_and_its_monday_the_monday_review_is_still_scheduled() -> None:
    p = partnership()
    with time_machine.travel(utc(2027, 5, 9, 12), tick=False):  # Sunday noon, after the occurrence
        run_sweeps()
    assert scheduled(p).scheduled_for == utc(2027, 5, 10, 8)


def test_a_moved_review_skipped_before_its_occurrence_is_followed_by_the_next_one() -> None:
    p = partnership()
    access = f.access(p.members.get().user, p)
    with time_machine.travel(utc(2027, 5, 8, 12), tick=False):  # Saturday, before Sunday's occurrence
        run_sweeps()
        review_skip(access=access, review_id=scheduled(p).pk)
        run_sweeps()
        assert scheduled(p).scheduled_for == utc(2027, 6, 9, 8)
        review_skip(access=access, review_id=scheduled(p).pk)
        assert review_schedule(access=access).occurrence == utc(2027, 7, 9, 8)


def test_holding_a_moved_review_schedules_the_following_occurrence() -> None:
    p = partnership()
    access = f.access(p.members.get().user, p)
    with time_machine.travel(utc(2027, 4, 20), tick=False):
        run_sweeps()
    with time_machine.travel(utc(2027, 5, 10, 12), tick=False):
        review_hold(access=access, review_id=scheduled(p).pk, held_on=dt.date(2027, 5, 10))
        following = scheduled(p)
    assert (following.occurrence, following.scheduled_for) == (utc(2027, 6, 9, 8), utc(2027, 6, 9, 8))


def test_scheduling_the_next_review_by_hand_moves_it_off_the_weekend() -> None:
    p = partnership()
    with time_machine.travel(utc(2027, 9, 20), tick=False):
        review = review_schedule(access=f.access(p.members.get().user, p))
    assert (review.occurrence, review.scheduled_for) == (utc(2027, 10, 9, 8), utc(2027, 10, 8, 8))


def test_an_unmoved_review_keeps_its_occurrence_and_reminder_keys() -> None:
    p = partnership()
    with time_machine.travel(utc(2027, 1, 20), tick=False):
        run_sweeps()
    review = scheduled(p)
    assert review.occurrence == review.scheduled_for == utc(2027, 2, 9, 9)
    with time_machine.travel(utc(2027, 2, 2, 10), tick=False):
        run_sweeps()
    keys = set(OutboxMessage.objects.filter(subject_id=str(review.pk)).values_list("kind", "occurrence"))
    assert keys == {("review_upcoming", utc(2027, 2, 2, 9))}  # 7 days before, as always


def test_a_moved_review_is_reminded_of_before_the_day_it_is_held() -> None:
    p = partnership()
    with time_machine.travel(utc(2027, 4, 20), tick=False):
        run_sweeps()
    with time_machine.travel(utc(2027, 5, 3, 8, 30), tick=False):  # 7 days before Monday 10 May
        run_sweeps()
    review = scheduled(p)
    keys = set(OutboxMessage.objects.filter(subject_id=str(review.pk)).values_list("kind", "occurrence"))
    assert keys == {("review_upcoming", utc(2027, 5, 3, 8))}


# --- The setting: service, settings page, API -----------------------------------------------


def test_turning_the_setting_off_is_a_recorded_change_and_moves_no_scheduled_review() -> None:
    p = partnership()
    access = f.access(p.members.get().user, p)
    with time_machine.travel(utc(2027, 4, 20), tick=False):
        run_sweeps()
        partnership_update(access=access, reviews_on_working_days=False)
        review = scheduled(p)
        assert review.scheduled_for == utc(2027, 5, 10, 8)  # as announced; the next one may be on a weekend
        review_skip(access=access, review_id=review.pk)
        assert review_schedule(access=access).scheduled_for == utc(2027, 6, 9, 8)
    p.refresh_from_db()
    assert p.reviews_on_working_days is False
    event = ChangeEvent.objects.filter(object_id=p.pk, action="update").get()
    assert event.before["reviews_on_working_days"] is True  # type: ignore[index]


def test_the_settings_page_shows_and_saves_the_setting(client, cast) -> None:  # type: ignore[no-untyped-def]
    p = cast.partnership
    url = f"/p/{p.pk}/settings/"
    client.force_login(cast.vendor_admin)
    html = client.get(url).content.decode()
    assert "Keep reviews off weekends" in html
    assert re.search(r'<input type="checkbox" name="reviews_on_working_days"[^>]* checked>', html)
    form = {
        "version": p.version,
        "review_cadence": p.review_cadence,
        "review_rrule": "",
        "review_time": "10:00",
        "review_duration_minutes": "60",
        "timezone": p.timezone,
        "reminder_offsets_days": "7, 1",
    }
    assert client.post(f"{url}schedule/", form).status_code == 302  # an unticked box is "off"
    p.refresh_from_db()
    assert p.reviews_on_working_days is False
    assert (
        client.post(f"{url}schedule/", form | {"version": p.version, "reviews_on_working_days": "on"}).status_code
        == 302
    )
    p.refresh_from_db()
    assert p.reviews_on_working_days is True
    client.force_login(cast.vendor_viewer)
    assert "Reviews move to the nearest working day" in client.get(url).content.decode()


def test_the_api_reads_and_writes_the_setting(cast) -> None:  # type: ignore[no-untyped-def]
    admin = ApiClient(cast.vendor_admin)
    path = f"partnerships/{cast.partnership.pk}"
    assert admin.get(path).json()["reviews_on_working_days"] is True
    response = admin.patch(path, {"reviews_on_working_days": False}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.content
    assert response.json()["reviews_on_working_days"] is False
    bad = admin.patch(path, {"reviews_on_working_days": "sometimes"}, headers={"If-Match": '"2"'})
    assert bad.status_code == 400 and "reviews_on_working_days" in bad.content.decode()
