"""The plan's history as sentences: who did what, field by field with labels and formatted values,
people by name, never an id, in the reader's time zone, a page at a time with a constant number of
queries, collapsed on the plan page."""

from __future__ import annotations

import datetime as dt
import re

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alignment import services as plan
from cadence import services as review_services
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import services as goals
from plans.history import PAGE_SIZE, history_page
from tests import factories as f

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fragment(client, cast, query: str = "") -> str:
    return client.get(f"/p/{cast.partnership.pk}/fragment/history/{query}").content.decode()


def sentences(cast, who: str = "vendor_viewer") -> list[str]:
    return [f"{i.actor} {i.sentence}" for i in history_page(cast.access(who)).items]


def test_each_event_is_a_sentence_with_the_actor_first(cast):
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    goal = f.make_goal(editor, f.make_objective(editor, title="Grow the pipeline"), title="Pipeline Q4")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_approve(access=partner, goal_id=goal.pk, revision=1)
    said = sentences(cast)
    assert said[0] == "Pat Partner approved “Pipeline Q4” (revision 1) for the partner side"
    assert "Ed Editor proposed “Pipeline Q4” (revision 1)" in said  # no double space, no internals
    assert "Ed Editor added the goal “Pipeline Q4”" in said
    assert "Ed Editor added the objective “Grow the pipeline”" in said
    assert vendor  # the vendor approver only watches here


def test_changed_fields_show_labels_and_formatted_values_never_ids(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), title="Pipeline Q4", metric_unit="people")
    goals.goal_update(
        access=cast.access("partner_editor"),
        goal_id=goal.pk,
        target="10.8000",
        period_end=dt.date(2027, 3, 31),
        direction="decrease",
    )
    [item] = [i for i in history_page(cast.access("vendor_viewer")).items if i.changes]
    assert item.actor == "Pete Editor" and item.sentence == "edited the terms of “Pipeline Q4”"
    rows = {c.label: (c.before, c.after) for c in item.changes}
    assert rows["Target"] == ("200 people", "10.8 people")
    assert rows["Period end"][1] == "31 Mar 2027"
    assert rows["Direction"] == ("Increase (higher is better)", "Decrease (lower is better)")
    client.force_login(cast.vendor_viewer)
    html = fragment(client, cast)
    assert not UUID.search(html.replace(str(cast.partnership.pk), ""))
    assert "{&#x27;" not in html and "period_end" not in html


def test_a_recorded_review_names_its_attendees_and_times_in_the_partnership_zone(client, cast):
    p = cast.partnership
    p.timezone = "Europe/Berlin"
    p.save()
    editor = cast.access("vendor_editor")
    review = plan.review_schedule(access=editor, scheduled_for=dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC))
    review_services.review_hold(
        access=editor,
        review_id=review.pk,
        held_on=dt.date(2026, 3, 4),
        attendees=[cast.vendor_editor, cast.partner_approver],
        notes="Pipeline reviewed.",
    )
    said = sentences(cast)
    recorded = said.index("Ed Editor recorded the review of 4 Mar 2026, 10:00 Europe/Berlin as held")
    assert said[recorded + 1] == "Ed Editor scheduled a review for 4 Mar 2026, 10:00 Europe/Berlin"
    [following] = said[:recorded]  # holding a review schedules the next one
    assert re.fullmatch(r"Ed Editor scheduled a review for \d{1,2} \w{3} \d{4}, 10:00 Europe/Berlin", following)
    rows = {c.label: c.after for c in history_page(cast.access("vendor_viewer")).items[recorded].changes}
    assert rows["Attendees"] == "Ed Editor, Pat Partner"
    assert rows["Held on"] == "4 Mar 2026" and rows["Status"] == "Held"
    assert "Goal snapshot" not in rows and "goal_snapshot" not in rows


def test_check_ins_and_comments_read_as_what_was_said(cast):
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    goal = f.agree(
        f.make_goal(editor, f.make_objective(editor), title="Certify", metric_unit="people"), vendor, partner
    )
    goal_check_ins.check_in_create(access=partner, goal_id=goal.pk, value="1.0000", confidence=4, note="On plan")
    goal_comments.comment_create(access=editor, goal_id=goal.pk, body="Great <b>work</b>")
    first, second = history_page(cast.access("vendor_viewer")).items[:2]
    assert (first.sentence, first.quote) == ("commented on “Certify”", "Great <b>work</b>")
    assert second.sentence == "checked in 1 person on “Certify” (confidence 4 of 5)" and second.quote == "On plan"


def test_times_are_in_the_readers_zone(client, cast):
    with time_machine.travel(dt.datetime(2026, 6, 1, 22, 15, tzinfo=dt.UTC), tick=False):
        f.make_objective(cast.access("vendor_editor"), title="Late objective")
    cast.partner_viewer.timezone = "Asia/Tokyo"
    cast.partner_viewer.save()
    client.force_login(cast.partner_viewer)
    html = fragment(client, cast)
    assert "added the objective “Late objective” <time" in html
    assert ">2 Jun 2026, 07:15</time>" in html and " UTC</time>" not in html


def test_the_history_is_collapsed_on_the_plan_page_and_says_what_happened_last(client, cast):
    f.make_objective(cast.access("vendor_editor"), title="Newest objective")
    client.force_login(cast.vendor_viewer)
    html = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert '<details id="history-details">' in html  # not open
    assert "Latest: Ed Editor added the objective “Newest objective”" in html


def test_older_pages_load_after_the_cursor_until_the_start(client, cast):
    editor = cast.access("vendor_editor")
    for n in range(PAGE_SIZE + 5):
        f.make_objective(editor, title=f"Objective {n:02d}")
    first = history_page(cast.access("vendor_viewer"))
    assert len(first.items) == PAGE_SIZE and first.older
    client.force_login(cast.vendor_viewer)
    html = fragment(client, cast)
    assert f'hx-get="/p/{cast.partnership.pk}/fragment/history/?before={first.older}"' in html
    older = fragment(client, cast, f"?before={first.older}")
    assert older.lstrip().startswith("<li") and f'data-history-page-start="{first.older}"' in older
    events = html.split('<ol class="events">')[1] + older
    titles = re.findall(r"added the objective “(Objective \d\d)”", events)
    assert titles == [f"Objective {n:02d}" for n in reversed(range(PAGE_SIZE + 5))]
    assert "started the partnership" in older and "Show older changes" not in older
    assert "Show older" not in fragment(client, cast, "?before=nonsense").split("</summary>")[0]


def test_a_page_of_history_runs_a_constant_number_of_queries(client, cast):
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))

    def grow(n: int) -> None:
        for _ in range(n):
            goal = f.agree(f.make_goal(editor, f.make_objective(editor)), vendor, partner)
            goal_check_ins.check_in_create(access=partner, goal_id=goal.pk, value="150", confidence=3)
            goals.goal_update(access=editor, goal_id=goal.pk, target="260")
            review = plan.review_schedule(access=editor, scheduled_for=timezone.now() + dt.timedelta(days=3))
            review_services.review_hold(
                access=editor, review_id=review.pk, held_on=timezone.localdate(), attendees=[cast.vendor_editor]
            )

    def count(query: str = "") -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/p/{cast.partnership.pk}/fragment/history/{query}").status_code == 200
        return len(ctx.captured_queries)

    client.force_login(cast.vendor_viewer)
    grow(2)
    small = count()
    grow(6)
    assert count() == small
    cursor = history_page(cast.access("vendor_viewer")).older
    assert count(f"?before={cursor}") <= small
