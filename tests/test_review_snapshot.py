"""A review recorded days after it was held snapshots the plan as it was on the day it was held:
the goals that existed then, with the status they had and the latest value measured by then."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alignment import services as plan
from cadence.services import review_hold
from goals import check_ins, services
from goals.queries import goal_status_snapshot
from tests import factories as f

pytestmark = pytest.mark.django_db

# The partnership's timezone is UTC unless a test says otherwise; days below are in March 2026.
HELD_ON = dt.date(2026, 3, 10)


def day(n: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, n, hour, tzinfo=dt.UTC)


@pytest.fixture
def world(cast):  # type: ignore[no-untyped-def]
    """Goals written, agreed and closed before and after 10 March, and check-ins either side of it."""
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(timezone="UTC")
    cast.partnership.refresh_from_db()
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    period = {"period_start": dt.date(2026, 3, 1), "period_end": dt.date(2026, 5, 31)}
    goals = {}
    with time_machine.travel(day(1), tick=False) as clock:
        objective = f.make_objective(vendor)
        goals["agreed"] = f.agree(f.make_goal(vendor, objective, title="Agreed early", **period), vendor, partner)
        goals["dropped later"] = f.agree(
            f.make_goal(vendor, objective, title="Dropped later", **period), vendor, partner
        )
        goals["agreed later"] = f.make_goal(vendor, objective, title="Agreed later", **period)
        services.goal_propose(access=vendor, goal_id=goals["agreed later"].pk)
        goals["draft then"] = f.make_goal(vendor, objective, title="Draft then", **period)
        goals["withdrawn"] = f.make_goal(vendor, objective, title="Withdrawn before", **period)
        services.goal_propose(access=vendor, goal_id=goals["withdrawn"].pk)
        clock.move_to(day(5))
        services.goal_withdraw(access=vendor, goal_id=goals["withdrawn"].pk, note="Not this quarter")
        check_ins.check_in_create(
            access=vendor, goal_id=goals["agreed"].pk, value="120", measured_on=dt.date(2026, 3, 5), confidence=4
        )
        clock.move_to(day(10, hour=23))  # late on the day of the review, still that day
        check_ins.check_in_create(
            access=partner, goal_id=goals["agreed"].pk, value="125", measured_on=dt.date(2026, 3, 10), confidence=3
        )
        clock.move_to(day(12))
        goals["created after"] = f.make_goal(vendor, objective, title="Written after the review", **period)
        services.goal_propose(access=vendor, goal_id=goals["draft then"].pk)
        check_ins.check_in_create(
            access=vendor, goal_id=goals["agreed"].pk, value="150", measured_on=dt.date(2026, 3, 12), confidence=5
        )
        clock.move_to(day(20))
        agreed_later = goals["agreed later"]
        agreed_later.refresh_from_db()
        services.goal_approve(access=vendor, goal_id=agreed_later.pk, revision=agreed_later.revision)
        services.goal_approve(access=partner, goal_id=agreed_later.pk, revision=agreed_later.revision)
        clock.move_to(day(25))
        services.goal_close(
            access=vendor, goal_id=goals["dropped later"].pk, outcome="dropped", note="Budget moved to Q3"
        )
        clock.move_to(day(30))
        review = plan.review_schedule(access=vendor, scheduled_for=day(10), title="March review")
        yield {"vendor": vendor, "partnership": cast.partnership, "goals": goals, "review": review, "clock": clock}


def by_title(snapshot):  # type: ignore[no-untyped-def]
    return {row["title"]: row for row in snapshot}


def test_a_review_recorded_later_shows_the_plan_as_it_was_on_its_day(world):
    held = review_hold(access=world["vendor"], review_id=world["review"].pk, held_on=HELD_ON, schedule_next=False)
    rows = by_title(held.goal_snapshot)
    # A goal written after the review did not exist then; one withdrawn before it was gone.
    assert "Written after the review" not in rows and "Withdrawn before" not in rows
    # A figure measured after the day is not the latest value; one measured late that day is.
    assert rows["Agreed early"]["latest_value"] == "125.0000"
    assert rows["Agreed early"]["confidence"] == {"vendor": 4, "partner": 3}
    assert rows["Agreed early"]["progress"] == pytest.approx(0.25)
    # Each goal has the status it had that day.
    assert rows["Agreed early"]["status"] == "agreed"
    assert rows["Dropped later"]["status"] == "agreed"  # closed after the review: still open then
    assert rows["Agreed later"]["status"] == "proposed" and rows["Agreed later"]["agreed_revision"] is None
    assert rows["Draft then"]["status"] == "draft"


def test_a_review_recorded_on_its_day_shows_the_plan_as_it_is(world):
    held = review_hold(
        access=world["vendor"], review_id=world["review"].pk, held_on=dt.date(2026, 3, 30), schedule_next=False
    )
    rows = by_title(held.goal_snapshot)
    assert set(rows) == {"Agreed early", "Agreed later", "Draft then", "Written after the review"}
    assert rows["Agreed early"]["latest_value"] == "150.0000"
    assert rows["Agreed later"]["status"] == "agreed" and rows["Draft then"]["status"] == "proposed"


def test_the_day_is_the_partnerships_day(world):
    """In Tokyo, 10 March ends at 15:00 UTC: a goal written at 14:00 UTC existed by the end of the
    day there, one written at 16:00 UTC was written on the 11th."""
    p = world["partnership"]
    type(p).objects.filter(pk=p.pk).update(timezone="Asia/Tokyo")
    p.refresh_from_db()
    with time_machine.travel(day(10, hour=14), tick=False):
        just_before = f.make_goal(world["vendor"], world["goals"]["agreed"].objective, title="Tokyo afternoon")
    with time_machine.travel(day(10, hour=16), tick=False):
        just_after = f.make_goal(world["vendor"], world["goals"]["agreed"].objective, title="Tokyo night")
    titles = set(by_title(goal_status_snapshot(p, as_of=HELD_ON)))
    assert just_before.title in titles and just_after.title not in titles


def test_the_snapshot_reads_the_same_queries_whatever_the_number_of_goals(world):
    p = world["partnership"]
    with CaptureQueriesContext(connection) as few:
        goal_status_snapshot(p, as_of=HELD_ON)
    vendor = world["vendor"]
    objective = world["goals"]["agreed"].objective
    with time_machine.travel(day(2), tick=False):
        for n in range(8):
            goal = f.make_goal(vendor, objective, title=f"More {n}", baseline=Decimal("0"))
            services.goal_propose(access=vendor, goal_id=goal.pk)
    with CaptureQueriesContext(connection) as many:
        rows = goal_status_snapshot(p, as_of=HELD_ON)
    assert len(rows) >= 12
    assert len(many.captured_queries) == len(few.captured_queries) <= 2
