"""Shared reads of goals: the latest check-in per goal and side, and the goal status snapshot a
held review keeps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from alignment.models import Side
from goals import check_ins as goal_check_ins
from goals import services as goals
from goals.models import CheckIn
from goals.queries import goal_status_snapshot, latest_check_ins
from tests import factories as f

TODAY = dt.date.today()


@pytest.fixture
def agreed(cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    return [
        f.agree(
            f.make_goal(editor, objective, title=f"Goal {n}"),
            cast.access("vendor_approver"),
            cast.access("partner_approver"),
        )
        for n in range(3)
    ]


def check_in(cast, who, goal, value, days_ago, confidence=3):
    return goal_check_ins.check_in_create(
        access=cast.access(who),
        goal_id=goal.pk,
        value=Decimal(value),
        measured_on=TODAY - dt.timedelta(days=days_ago),
        confidence=confidence,
    )


def test_the_latest_check_in_is_the_one_measured_last_per_goal_and_side(cast, agreed):
    a, b, _ = agreed
    check_in(cast, "vendor_editor", a, 110, days_ago=20)
    newest_vendor = check_in(cast, "vendor_editor", a, 130, days_ago=2)
    check_in(cast, "vendor_editor", a, 120, days_ago=10)  # recorded later, measured earlier
    newest_partner = check_in(cast, "partner_editor", a, 125, days_ago=5)
    only_b = check_in(cast, "partner_editor", b, 150, days_ago=1)

    latest = latest_check_ins([g.pk for g in agreed])

    assert latest == {
        (a.pk, Side.VENDOR): newest_vendor,
        (a.pk, Side.PARTNER): newest_partner,
        (b.pk, Side.PARTNER): only_b,
    }


def test_of_two_check_ins_on_one_day_the_later_recorded_wins(cast, agreed):
    a = agreed[0]
    check_in(cast, "vendor_editor", a, 110, days_ago=1)
    correction = check_in(cast, "vendor_approver", a, 111, days_ago=1)
    assert latest_check_ins([a.pk])[(a.pk, Side.VENDOR)] == correction


def test_latest_check_ins_take_one_query_however_many_goals(cast, agreed, django_assert_num_queries):
    for g in agreed:
        for days in (1, 2, 3):
            check_in(cast, "vendor_editor", g, 100 + days, days_ago=days)
    with django_assert_num_queries(1):
        one = latest_check_ins([agreed[0].pk])
    with django_assert_num_queries(1):
        three = latest_check_ins([g.pk for g in agreed])
    with django_assert_num_queries(0):
        assert latest_check_ins([]) == {}
    assert (len(one), len(three)) == (1, 3)
    assert CheckIn.objects.count() == 9


def test_the_status_snapshot_lists_open_goals_with_their_latest_values(cast, agreed):
    a, _, c = agreed
    check_in(cast, "vendor_editor", a, 150, days_ago=3, confidence=4)
    check_in(cast, "partner_editor", a, 160, days_ago=1, confidence=2)
    goals.goal_close(access=cast.access("vendor_approver"), goal_id=c.pk, outcome="dropped", note="Merged into A")
    draft = f.make_goal(cast.access("vendor_editor"), a.objective, title="Draft")

    snapshot = {row["title"]: row for row in goal_status_snapshot(cast.partnership)}

    assert set(snapshot) == {"Goal 0", "Goal 1", "Draft"}
    assert snapshot["Goal 0"] == {
        "goal": str(a.pk),
        "title": "Goal 0",
        "status": "agreed",
        "revision": 1,
        "agreed_revision": 1,
        "target": str(a.target),
        "unit": "EUR k",
        "latest_value": "160.0000",
        "progress": pytest.approx(0.6),
        "confidence": {"vendor": 4, "partner": 2},
    }
    assert snapshot["Goal 1"]["latest_value"] is None
    assert snapshot["Goal 1"]["progress"] is None
    assert (snapshot["Draft"]["status"], snapshot["Draft"]["agreed_revision"]) == ("draft", None)
    assert str(draft.pk) in {row["goal"] for row in snapshot.values()}
