"""Compact goal cards on the plan page: details loaded when a card is opened, closed goals and the
goal lists of a large plan collapsed, every goal still reachable, and live updates that refresh a
card or list as it is shown."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import services as goals
from plans import views as plan_views
from tests import factories as f

OPEN = {"HTTP_X_DETAILS_OPEN": "true"}


@pytest.fixture
def agreed(cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline Q4")
    return f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))


def url(cast, path: str) -> str:
    return f"/p/{cast.partnership.pk}/{path}"


def check_in(cast, goal, value: str, days_ago: int = 0, role: str = "vendor_editor", note: str = "") -> None:
    goal_check_ins.check_in_create(
        access=cast.access(role),
        goal_id=goal.pk,
        value=value,
        confidence=4,
        note=note,
        measured_on=dt.date.today() - dt.timedelta(days=days_ago),
    )


def queries(client, path: str, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, **headers)
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


def test_an_opened_card_shows_commitments_the_newest_check_ins_and_comments(client, cast, agreed):
    for day in range(12):
        check_in(cast, agreed, str(110 + day), days_ago=12 - day, note=f"Week {day}")
    goal_comments.comment_create(access=cast.access("partner_approver"), goal_id=agreed.pk, body="Fine by us")
    client.force_login(cast.partner_viewer)
    html = client.get(url(cast, f"goals/{agreed.pk}/details/")).content.decode()
    for text in (
        "Fund two joint workshops",
        "Certify three consultants",
        "Fine by us",
        "Week 11",
        "121 ",
        "Every check-in on the goal's page",
        "Comment</button>",
    ):
        assert text in html, text
    # Each check-in's row is named by its id (its confirm, dispute and settle steps point at it).
    assert html.count('<tr id="check-in-') == 10 and "Week 1<" not in html  # the ten newest, newest first
    assert html.index("Week 11") < html.index("Week 10")
    # The goal's own page shows the card open with every check-in.
    page = client.get(url(cast, f"goals/{agreed.pk}/")).content.decode()
    assert page.count('<tr id="check-in-') == 12
    assert f'<details id="goal-{agreed.pk}-more" class="goal-more" open>' in page


def test_the_compact_card_shows_status_sides_progress_and_what_needs_attention(client, cast, agreed):
    check_in(cast, agreed, "150")
    check_in(cast, agreed, "140", role="partner_editor")
    goal_comments.comment_create(access=cast.access("partner_approver"), goal_id=agreed.pk, body="Fine by us")
    client.force_login(cast.vendor_editor)
    card = client.get(url(cast, f"fragment/goal-{agreed.pk}/")).content.decode()
    for text in (
        "Pipeline Q4",
        "Agreed",
        '<strong class="goal-target">200</strong>',
        "40% · latest 140",
        "Vendor:</strong>",
        "Partner:</strong>",
        "confidence 4/5",
        "Check in",
        "Amend",
        "Commitments, check-ins and comments · 1 comment",
        "Loading…",
    ):
        assert text in card, text
    assert "Fund two joint workshops" not in card and "Fine by us" not in card


def test_details_of_a_goal_of_another_partnership_or_an_unknown_one_are_404(client, cast, agreed):
    other = f.make_partnership(cast.vendor_admin, name="Second")
    client.force_login(cast.vendor_admin)
    assert client.get(f"/p/{other.pk}/goals/{agreed.pk}/details/").status_code == 404
    assert client.get(f"/p/{other.pk}/objectives/{agreed.objective_id}/goals/closed/").status_code == 404
    assert client.get(url(cast, f"goals/{agreed.objective_id}/details/")).status_code == 404
    client.force_login(cast.outsider)
    assert client.get(url(cast, f"goals/{agreed.pk}/details/")).status_code == 404


def test_details_run_the_same_queries_whatever_the_number_of_check_ins_comments_and_commitments(client, cast, agreed):
    client.force_login(cast.partner_approver)
    details, card = url(cast, f"goals/{agreed.pk}/details/"), url(cast, f"fragment/goal-{agreed.pk}/")
    check_in(cast, agreed, "120")
    small = queries(client, details), queries(client, card, **OPEN)
    for day in range(15):
        check_in(cast, agreed, str(130 + day), days_ago=day)
        goal_comments.comment_create(access=cast.access("vendor_editor"), goal_id=agreed.pk, body=f"Note {day}")
    goal_commitments.commitment_create(
        access=cast.access("partner_editor"), goal_id=agreed.pk, side="partner", text="Run two webinars"
    )
    assert (queries(client, details), queries(client, card, **OPEN)) == small


def test_closed_goals_are_counted_and_load_when_their_section_opens(client, cast, agreed):
    editor = cast.access("vendor_editor")
    withdrawn = f.make_goal(editor, agreed.objective, title="Webinar series")
    goals.goal_withdraw(access=editor, goal_id=withdrawn.pk)
    client.force_login(cast.partner_viewer)
    html = client.get(url(cast, "")).content.decode()
    assert f'id="goal-{agreed.pk}"' in html and f'id="goal-{withdrawn.pk}"' not in html
    assert "1 closed goal<" in html and "1 open goal, 1 closed" in html
    closed_url = f"/p/{cast.partnership.pk}/objectives/{agreed.objective_id}/goals/closed/"
    assert f'hx-get="{closed_url}"' in html
    closed = client.get(closed_url).content.decode()
    assert f'id="goal-{withdrawn.pk}"' in closed and "Withdrawn" in closed and f'id="goal-{agreed.pk}"' not in closed


def grow(cast, objectives: int, goals_each: int) -> list:
    editor = cast.access("vendor_editor")
    made = []
    for i in range(objectives):
        objective = f.make_objective(editor, title=f"Objective {len(made)}-{i}")
        made.append((objective, [f.make_goal(editor, objective) for _ in range(goals_each)]))
    return made


def test_a_large_plan_opens_the_first_goal_lists_and_every_goal_stays_reachable(client, cast, monkeypatch):
    monkeypatch.setattr(plan_views, "INLINE_GOALS", 4)
    made = grow(cast, objectives=4, goals_each=2)
    goals.goal_propose(access=cast.access("vendor_editor"), goal_id=made[3][1][0].pk)
    client.force_login(cast.partner_approver)
    html = client.get(url(cast, "")).content.decode()
    assert "2 open goals (1 awaiting approval)<" in html  # what waits is visible with the list collapsed
    loaded = [o for o, gs in made if all(f'id="goal-{g.pk}"' in html for g in gs)]
    assert [o.pk for o in loaded] == [made[0][0].pk, made[1][0].pk]  # four open goals: two lists
    for objective, goal_list in made[2:]:
        assert f'id="goal-{goal_list[0].pk}"' not in html
        list_url = f"/p/{cast.partnership.pk}/fragment/goals-of-{objective.pk}/"
        assert f'hx-get="{list_url}" hx-trigger="toggle once"' in html
        # Opened, the list loads its cards; asked without the list open, it stays collapsed.
        opened = client.get(list_url, **OPEN).content.decode()
        assert all(f'id="goal-{g.pk}"' in opened for g in goal_list) and " open>" in opened
        collapsed = client.get(list_url).content.decode()
        assert f'id="goal-{goal_list[0].pk}"' not in collapsed and "2 open goals" in collapsed


def test_plan_page_and_open_goal_list_queries_do_not_grow_with_collapsed_lists(client, cast, monkeypatch):
    monkeypatch.setattr(plan_views, "INLINE_GOALS", 3)
    client.force_login(cast.vendor_editor)
    made = grow(cast, objectives=2, goals_each=2)
    first = made[0][0]
    small = queries(client, url(cast, "")), queries(client, url(cast, f"fragment/goals-of-{first.pk}/"), **OPEN)
    grow(cast, objectives=5, goals_each=3)
    for extra in range(4):
        f.make_goal(cast.access("vendor_editor"), first, title=f"More {extra}")
    assert (
        queries(client, url(cast, "")),
        queries(client, url(cast, f"fragment/goals-of-{first.pk}/"), **OPEN),
    ) == small


def test_a_live_update_refreshes_a_compact_card_compact_and_an_open_one_with_its_details(client, cast, agreed):
    client.force_login(cast.partner_approver)
    start = client.post(url(cast, "live/"), {"after": "0.0"}).json()["cursor"]
    check_in(cast, agreed, "150", note="Two deals signed")
    [event] = client.post(url(cast, "live/"), {"after": start}).json()["events"]
    assert f"goal-{agreed.pk}" in event["fragments"]
    # A card shown compact (its details never opened) comes back compact, with the new progress.
    compact = client.get(url(cast, f"fragment/goal-{agreed.pk}/"), HTTP_HX_REQUEST="true").content.decode()
    assert "50% · latest 150" in compact and "Two deals signed" not in compact
    assert f'hx-get="/p/{cast.partnership.pk}/goals/{agreed.pk}/details/"' in compact
    # A card whose details are open comes back open, listing the new check-in.
    opened = client.get(url(cast, f"fragment/goal-{agreed.pk}/"), HTTP_HX_REQUEST="true", **OPEN).content.decode()
    assert f'<details id="goal-{agreed.pk}-more" class="goal-more" open>' in opened and "Two deals signed" in opened
    assert "50% · latest 150" in opened


def test_a_goal_that_closes_redraws_its_list_so_it_moves_to_the_closed_goals(client, cast, agreed):
    client.force_login(cast.vendor_editor)
    start = client.post(url(cast, "live/"), {"after": "0.0"}).json()["cursor"]
    check_in(cast, agreed, "150")
    later = client.post(url(cast, "live/"), {"after": start}).json()
    assert f"goals-of-{agreed.objective_id}" not in later["events"][0]["fragments"]  # a check-in redraws the card
    goals.goal_close(access=cast.access("vendor_approver"), goal_id=agreed.pk, outcome="dropped", note="Market moved")
    [event] = client.post(url(cast, "live/"), {"after": later["cursor"]}).json()["events"]
    assert {f"goal-{agreed.pk}", f"goals-of-{agreed.objective_id}"} <= set(event["fragments"])
    listed = client.get(url(cast, f"fragment/goals-of-{agreed.objective_id}/"), **OPEN).content.decode()
    assert f'id="goal-{agreed.pk}"' not in listed and "0 open goals, 1 closed" in listed


def test_the_plan_header_shows_the_health_of_the_plan_as_it_is_after_every_change(client, cast):
    from cadence.health import health_for

    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    client.force_login(cast.partner_viewer)
    pid = cast.partnership.pk
    scores = []
    for change in (
        lambda: None,
        lambda: f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver")),
        lambda: check_in(cast, goal, "150"),
    ):
        change()
        report = health_for([pid])[pid]
        scores.append(report.score)
        # Before both sides agreed a first goal the plan is getting started: no score to show.
        expected = f"Alignment health <strong>{scores[-1]}</strong>/100" if report.started else "Getting started"
        assert expected in client.get(url(cast, "")).content.decode()
        assert expected in client.get(url(cast, "fragment/plan-header/")).content.decode()
    assert scores[0] != scores[1]  # the agreement moved the score: a stale header would show


def test_a_form_opened_from_an_open_card_brings_the_card_back_open(client, cast, agreed):
    """Editing from a card whose details are open: the form carries the mark, and saving or
    cancelling (requests the page sends with the header while the mark is there) answer the card
    open; from a compact card they answer it compact."""
    from tests.test_web_plan import goal_terms

    client.force_login(cast.vendor_editor)
    edit = url(cast, f"goals/{agreed.pk}/edit/")
    assert "data-details-open" in client.get(edit, **OPEN).content.decode()
    assert "data-details-open" not in client.get(edit).content.decode()
    invalid = client.post(edit, goal_terms(agreed, target="lots"), **OPEN)
    assert invalid.status_code == 422 and "data-details-open" in invalid.content.decode()
    saved = client.post(edit, goal_terms(agreed, target="300"), **OPEN).content.decode()
    assert f'<details id="goal-{agreed.pk}-more" class="goal-more" open>' in saved and "300" in saved
    agreed.refresh_from_db()
    compact = client.post(edit, goal_terms(agreed, target="310")).content.decode()
    assert f'<details id="goal-{agreed.pk}-more" class="goal-more" hx-get=' in compact
    derive = url(cast, f"objectives/{agreed.objective_id}/derive/")  # from the open list of the objective
    assert "data-details-open" in client.get(derive, {"length": "quarter", "count": "2"}, **OPEN).content.decode()
    assert "data-details-open" not in client.get(derive, {"length": "quarter", "count": "2"}).content.decode()


def test_a_goal_step_refreshes_the_counts_in_its_lists_summary(client, cast):
    """A proposal moves "awaiting approval" in the summary of its objective's list, which live updates
    redraw on their own (the list itself stays as the person has it)."""
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline Q4")
    client.force_login(cast.partner_approver)
    name = f"goals-count-{goal.objective_id}"
    before = client.get(url(cast, f"fragment/{name}/"), HTTP_HX_REQUEST="true").content.decode()
    assert before.startswith(f'<span id="{name}">1 open goal</span>')
    assert f'<span id="{name}">' in client.get(url(cast, "")).content.decode()
    start = client.post(url(cast, "live/"), {"after": "0.0"}).json()["cursor"]
    goals.goal_propose(access=editor, goal_id=goal.pk)
    [event] = client.post(url(cast, "live/"), {"after": start}).json()["events"]
    assert name in event["fragments"] and f"goal-{goal.pk}" in event["fragments"]
    after = client.get(url(cast, f"fragment/{name}/"), HTTP_HX_REQUEST="true").content.decode()
    assert "1 open goal (1 awaiting approval)" in after
    not_ours = f"goals-count-{cast.outsider_partnership.pk}"  # not an objective of this plan: tells nothing
    unknown = client.get(url(cast, f"fragment/{not_ours}/"))
    assert unknown.status_code == 200 and unknown.content.decode() == f'<span id="{not_ours}"></span>'
