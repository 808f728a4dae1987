"""The change feed: creates, updates and deletes (tombstones) oldest first, an opaque cursor,
``has_more``, only what the caller may see, and 410 for a cursor older than the kept history."""

from __future__ import annotations

import base64
import datetime as dt

import time_machine
from django.utils import timezone

from api.feed import change_events_prune
from tests import factories as f
from tests.api_support import ApiClient, if_match


def follow(client, since=None, **params):
    """Read the feed to its end; return the events and the last cursor."""
    events = []
    while True:
        query = {**params, **({"since": since} if since else {})}
        page = client.get("changes", **query).json()
        events += page["results"]
        since = page["cursor"]
        if not page["has_more"]:
            return events, since


def test_creates_updates_and_deletes_come_oldest_first_with_tombstones(cast):
    editor = ApiClient(cast.vendor_editor)
    _, cursor = follow(editor)
    objective = editor.post("objectives", {"partnership": str(cast.partnership.pk), "title": "Enter retail"}).json()
    editor.patch(f"objectives/{objective['id']}", {"title": "Enter retail in 2027"}, headers=if_match(1))
    editor.delete(f"objectives/{objective['id']}", headers=if_match(2))
    events, _ = follow(editor, cursor)
    assert [(e["type"], e["action"], e["version"]) for e in events] == [
        ("objective", "create", 1),
        ("objective", "update", 2),
        ("objective", "delete", 2),  # a tombstone carries the last version
    ]
    assert events[1]["data"]["title"] == "Enter retail in 2027"
    assert events[2]["data"] is None and events[2]["id"] == objective["id"]
    assert events[0]["actor"] == {"id": str(cast.vendor_editor.public_id), "name": "Ed Editor"}


def test_pages_follow_each_other_without_gaps_or_repeats(cast):
    editor = ApiClient(cast.vendor_editor)
    for n in range(7):
        editor.post("objectives", {"partnership": str(cast.partnership.pk), "title": f"Objective {n}"})
    everything, _ = follow(editor, limit=1000)
    paged, _ = follow(editor, limit=3)
    assert [e["cursor"] for e in paged] == [e["cursor"] for e in everything]
    first = editor.get("changes", limit=3).json()
    assert first["has_more"] is True and len(first["results"]) == 3
    assert first["cursor"] == first["results"][-1]["cursor"]


def test_a_caller_at_the_end_gets_an_empty_page_and_the_same_cursor(cast):
    editor = ApiClient(cast.vendor_editor)
    _, cursor = follow(editor)
    page = editor.get("changes", since=cursor).json()
    assert page == {"cursor": cursor, "has_more": False, "results": []}


def test_people_appear_by_public_id_in_the_data(cast):
    editor = ApiClient(cast.vendor_editor)
    objective = f.make_objective(cast.access("vendor_editor"))
    goal = editor.post(
        "goals",
        {
            "objective": str(objective.pk),
            "title": "T",
            "period_start": "2026-10-01",
            "period_end": "2026-12-31",
            "baseline": "1",
            "target": "2",
        },
    ).json()
    events, _ = follow(editor, partnership=str(cast.partnership.pk))
    created = next(e for e in events if e["id"] == goal["id"])
    assert created["data"]["created_by"] == str(cast.vendor_editor.public_id)


def test_the_feed_of_a_partnership_one_may_not_see_is_a_404(cast):
    response = ApiClient(cast.outsider).get("changes", partnership=str(cast.partnership.pk))
    assert response.status_code == 404


def test_a_malformed_cursor_is_a_400(cast):
    editor = ApiClient(cast.vendor_editor)
    for since in (
        "%%%",
        "bm90LWEtY3Vyc29y",
        base64.urlsafe_b64encode(b"-1.5").decode(),
        "x" * 90,
        base64.urlsafe_b64encode(b"1.2.3").decode(),
    ):
        response = editor.get("changes", since=since)
        assert response.status_code == 400, since
        assert "since" in response.json()["errors"]


def test_the_plan_gives_a_cursor_to_follow_changes_from(cast):
    editor = ApiClient(cast.vendor_editor)
    plan = editor.get(f"partnerships/{cast.partnership.pk}/plan").json()
    editor.post("objectives", {"partnership": str(cast.partnership.pk), "title": "After the plan"})
    events, _ = follow(editor, plan["cursor"], partnership=str(cast.partnership.pk))
    assert [(e["type"], e["data"]["title"]) for e in events] == [("objective", "After the plan")]


def test_a_cursor_older_than_the_kept_history_answers_410(cast, settings):
    settings.CHANGE_EVENT_RETENTION_DAYS = 30
    editor = ApiClient(cast.vendor_editor)
    _, old_cursor = follow(editor)
    with time_machine.travel(timezone.now() - dt.timedelta(days=40)):
        f.make_objective(cast.access("vendor_editor"), title="Long ago")
    plan_cursor = editor.get(f"partnerships/{cast.partnership.pk}/plan").json()["cursor"]
    f.make_objective(cast.access("vendor_editor"), title="Recent")
    assert change_events_prune() >= 1
    gone = editor.get("changes", since=old_cursor)
    assert gone.status_code == 410
    assert "/plan" in gone.json()["detail"] and gone.json()["code"] == "cursor_expired"
    assert editor.get("changes").status_code == 410  # from the very start is gone too
    events, _ = follow(editor, plan_cursor)
    assert [e["data"]["title"] for e in events if e["type"] == "objective"] == ["Recent"]


def test_each_page_with_more_links_the_next_and_following_the_links_reads_the_same_events(cast):
    editor = ApiClient(cast.vendor_editor)
    for n in range(5):
        editor.post("objectives", {"partnership": str(cast.partnership.pk), "title": f"Objective {n}"})
    partnership = str(cast.partnership.pk)
    by_cursor, last = follow(editor, limit=2, partnership=partnership)
    response = editor.get("changes", limit=2, partnership=partnership)
    by_link = []
    while True:
        page = response.json()
        by_link += page["results"]
        if not page["has_more"]:
            assert "Link" not in response.headers
            break
        assert response.headers["Link"] == (
            f'</api/v1/changes?since={page["cursor"]}&limit=2&partnership={partnership}>; rel="next"'
        )
        response = editor.get(response.headers["Link"].removeprefix("<").split(">;")[0])
    assert [e["cursor"] for e in by_link] == [e["cursor"] for e in by_cursor]
    titles = [e["data"]["title"] for e in by_link if e["type"] == "objective"]
    assert titles[-5:] == [f"Objective {n}" for n in range(5)]
    assert page["cursor"] == last
