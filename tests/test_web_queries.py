"""The dashboard, the plan page and live updates run a constant number of queries, whatever the
size of the data."""

from __future__ import annotations

import datetime as dt

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alignment import services
from cadence import attention
from cadence.models import HealthSnapshot
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import services as goals
from tests import factories as f


def grow_plan(cast, objectives: int, goals_each: int) -> None:
    editor = cast.access("vendor_editor")
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    for _ in range(objectives):
        objective = f.make_objective(editor)
        for i in range(goals_each):
            goal = f.make_goal(editor, objective)
            if i % 2 == 0:
                goal = f.agree(goal, vendor, partner)
                goal_check_ins.check_in_create(access=editor, goal_id=goal.pk, value="150", confidence=4)
                goal_check_ins.check_in_create(access=partner, goal_id=goal.pk, value="140", confidence=2)
            else:
                goals.goal_propose(access=editor, goal_id=goal.pk)
            goal_comments.comment_create(access=partner, goal_id=goal.pk, body="Fine by us")


def grow_dashboard(cast, partnerships: int) -> None:
    for i in range(partnerships):
        p = f.make_partnership(cast.vendor_admin, name=f"Partnership {i}")
        a = f.access(cast.vendor_admin, p)
        objective = f.make_objective(a)
        goal = f.make_goal(a, objective)
        goals.goal_propose(access=a, goal_id=goal.pk)
        services.review_schedule(access=a, scheduled_for=timezone.now() + dt.timedelta(days=10 + i))
        for d in range(3):
            HealthSnapshot.objects.create(
                partnership=p, day=timezone.localdate() - dt.timedelta(days=7 * d), score=40 + d
            )
    attention.flush_pending()  # what the commit of these changes stores (the test never commits)


def count_queries(client, method: str, url: str, data=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, data or {})
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def test_plan_page_queries_do_not_grow_with_objectives_goals_and_check_ins(client, cast):
    client.force_login(cast.partner_approver)
    url = f"/p/{cast.partnership.pk}/"
    grow_plan(cast, objectives=1, goals_each=2)
    small = count_queries(client, "get", url)
    grow_plan(cast, objectives=4, goals_each=5)
    assert count_queries(client, "get", url) == small


def test_goal_list_and_history_fragments_do_not_grow(client, cast):
    client.force_login(cast.vendor_editor)
    grow_plan(cast, objectives=1, goals_each=2)
    objective = cast.partnership.objectives.first()
    p = cast.partnership.pk
    urls = [f"/p/{p}/fragment/goals-of-{objective.pk}/", f"/p/{p}/fragment/history/"]
    small = [count_queries(client, "get", u) for u in urls]
    grow_plan(cast, objectives=2, goals_each=3)
    for extra in range(6):
        f.make_goal(cast.access("vendor_editor"), objective, title=f"More {extra}")
    assert [count_queries(client, "get", u) for u in urls] == small


def test_dashboard_queries_do_not_grow_with_partnerships(client, cast):
    client.force_login(cast.vendor_admin)
    grow_dashboard(cast, 2)
    small = count_queries(client, "get", "/")
    cache.clear()
    searched = {"sort": "health", "q": "Partnership"}
    # A filter counts the partnerships it leaves (unfiltered, the totals have counted them).
    assert count_queries(client, "get", "/", searched) == small + 1
    grow_dashboard(cast, 8)
    assert count_queries(client, "get", "/") == small
    # Cold (nothing cached): ranked from the stored numbers, no health computed, the rows loaded.
    cache.clear()
    assert count_queries(client, "get", "/", searched) == small + 1
    # With every row of the page cached, the dashboard loads none of their data.
    assert count_queries(client, "get", "/", searched) < small
    # Beyond one page, every sort and filter: the same queries (only the page's 20 rows are loaded).
    grow_dashboard(cast, 15)
    for params, expected in (
        ({}, small),
        ({"sort": "review", "page": "2"}, small),
        ({"sort": "-health", "waiting": "on"}, small + 1),
        ({"sort": "name"}, small),
    ):
        cache.clear()
        assert count_queries(client, "get", "/", params) == expected, params


def test_live_updates_queries_do_not_grow_with_the_number_of_changes(client, cast):
    client.force_login(cast.vendor_editor)
    url = f"/p/{cast.partnership.pk}/live/"
    grow_plan(cast, objectives=1, goals_each=1)
    small = count_queries(client, "post", url, {"after": "0.0"})
    grow_plan(cast, objectives=3, goals_each=4)
    assert count_queries(client, "post", url, {"after": "0.0"}) == small


def test_goal_detail_page_queries_do_not_grow_with_revisions_and_comments(client, cast):
    editor, partner = cast.access("vendor_editor"), cast.access("partner_approver")
    objective = f.make_objective(editor)
    goal = f.make_goal(editor, objective)
    client.force_login(cast.vendor_editor)
    url = f"/p/{cast.partnership.pk}/goals/{goal.pk}/"

    def negotiate(rounds: int) -> None:
        for i in range(rounds):
            goals.goal_update(access=editor, goal_id=goal.pk, target=str(200 + i + goal.revision * 10))
            goals.goal_propose(access=editor, goal_id=goal.pk)
            goals.goal_request_changes(access=partner, goal_id=goal.pk, comment=f"Round {i}")
            goal.refresh_from_db()

    negotiate(1)
    small = count_queries(client, "get", url)
    negotiate(5)
    assert count_queries(client, "get", url) == small
