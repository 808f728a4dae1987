"""The calendar subscription: a person's secret iCalendar feed of alignment reviews and goal period
ends (``cadence.calendar_feed``), and the link on their settings page (made, replaced, turned off)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from accounts.models import CalendarFeed, hash_token
from alignment import services as plan
from alignment.models import AlignmentReview, PartnershipMember
from cadence import calendar_views
from cadence.calendar_feed import goal_end_uid, review_uid
from cadence.emails import review_ics
from core.redact import redact
from goals import services as goals
from tests import factories as f

pytestmark = pytest.mark.django_db


def _feed_url(user) -> str:  # type: ignore[no-untyped-def]
    _, raw = CalendarFeed.issue(user)
    return reverse("calendar_feed", args=[raw])


def _events(response) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    cal = Calendar.from_ical(response.content)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def _review(access, days: int = 10, **kwargs):  # type: ignore[no-untyped-def]
    when = (timezone.now() + dt.timedelta(days=days)).replace(microsecond=0, second=0)
    return plan.review_schedule(access=access, scheduled_for=when, **kwargs)


def _proposed_goal(cast, **terms):  # type: ignore[no-untyped-def]
    a = cast.access("vendor_editor")
    goal = f.make_goal(a, f.make_objective(a), **terms)
    return goals.goal_propose(access=a, goal_id=goal.pk)


@pytest.fixture
def outsider_plan(cast):  # type: ignore[no-untyped-def]
    """A review and a proposed goal in the outsider's own partnership."""
    a = f.access(cast.outsider, cast.outsider_partnership)
    review = _review(a, title="Their secret review")
    goal = f.make_goal(a, f.make_objective(a), title="Their secret goal")
    goals.goal_propose(access=a, goal_id=goal.pk)
    return review, goal


def test_the_feed_parses_and_holds_the_persons_reviews_and_goal_ends_only(cast, outsider_plan, client):
    review = _review(cast.access("vendor_editor"), title="Q3 review")
    goal = _proposed_goal(cast, title="Pipeline this quarter")
    draft = f.make_goal(cast.access("vendor_editor"), f.make_objective(cast.access("vendor_editor")), title="Draft")

    response = client.get(_feed_url(cast.partner_viewer))  # no session, no CSRF token
    cal = Calendar.from_ical(response.content)
    events = _events(response)

    assert str(cal["X-WR-CALNAME"]) == "Partnerplan — Paula Viewer"
    assert str(cal["VERSION"]) == "2.0" and cal["PRODID"]
    assert cal["REFRESH-INTERVAL"].to_ical() == b"PT1H" and cal["X-PUBLISHED-TTL"].to_ical() == b"PT1H"
    ev = events[f"review-{review.pk}@partnerplan"]
    assert str(ev["SUMMARY"]) == "Q3 review: Acme × Northwind"
    assert ev.decoded("DTSTART") == review.scheduled_for and ev.decoded("DTSTART").utcoffset() == dt.timedelta(0)
    assert ev.decoded("DTEND") - ev.decoded("DTSTART") == dt.timedelta(minutes=60)
    assert b"DTSTART:" in response.content and re.search(rb"DTSTART:\d{8}T\d{6}Z", response.content)
    assert str(ev["STATUS"]) == "CONFIRMED" and int(ev["SEQUENCE"]) == review.version
    assert ev.decoded("DTSTAMP") == review.updated_at.replace(microsecond=0)
    assert "Acme × Northwind" in str(ev["DESCRIPTION"])
    assert str(ev["URL"]).endswith(reverse("reviews:detail", args=[cast.partnership.pk, review.pk]))

    end = events[f"goal-end-{goal.pk}@partnerplan"]
    assert str(end["SUMMARY"]) == "Goal period ends: Pipeline this quarter"
    assert end.decoded("DTSTART") == goal.period_end  # an all-day event
    assert end.decoded("DTEND") == goal.period_end + dt.timedelta(days=1)
    assert str(end["TRANSP"]) == "TRANSPARENT" and int(end["SEQUENCE"]) == goal.version
    assert "Acme × Northwind" in str(end["DESCRIPTION"]) and str(goal.pk) in str(end["URL"])

    assert goal_end_uid(draft.pk) not in events  # a draft was never put to both sides
    their_review, their_goal = outsider_plan
    assert review_uid(their_review.pk) not in events and goal_end_uid(their_goal.pk) not in events
    assert b"Their secret" not in response.content
    # The outsider's own feed has theirs, and none of this partnership's.
    theirs = _events(client.get(_feed_url(cast.outsider)))
    assert review_uid(their_review.pk) in theirs and review_uid(review.pk) not in theirs


def test_the_feed_and_the_emailed_invitation_agree_on_the_uid(cast):
    review = _review(cast.access("vendor_editor"))
    invite = Calendar.from_ical(review_ics(review))
    [event] = invite.walk("VEVENT")
    assert str(event["UID"]) == review_uid(review.pk) == f"review-{review.pk}@partnerplan"


def test_a_moved_review_keeps_its_uid_with_a_higher_sequence_and_a_new_start(cast, client):
    a = cast.access("vendor_editor")
    review = _review(a)
    url = _feed_url(cast.partner_approver)
    before = _events(client.get(url))[review_uid(review.pk)]

    later = review.scheduled_for + dt.timedelta(days=2, hours=3)
    plan.review_update(access=a, review_id=review.pk, scheduled_for=later)
    after = _events(client.get(url))[review_uid(review.pk)]

    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART") == later != before.decoded("DTSTART")
    assert after.decoded("DTSTAMP") > before.decoded("DTSTAMP") - dt.timedelta(seconds=1)


def test_a_held_review_stays_as_a_past_event(cast, client):
    from cadence import services as cadence

    a = cast.access("vendor_editor")
    review = _review(a, days=-3)
    cadence.review_hold(access=a, review_id=review.pk, held_on=timezone.localdate(), schedule_next=False)
    ev = _events(client.get(_feed_url(cast.vendor_viewer)))[review_uid(review.pk)]
    assert str(ev["STATUS"]) == "CONFIRMED" and "Held on" in str(ev["DESCRIPTION"])


def test_a_skipped_review_is_cancelled_for_a_while_and_a_deleted_one_vanishes(cast, client):
    a = cast.access("vendor_editor")
    skipped = _review(a, days=5)
    long_ago = _review(a, days=-40)
    gone = _review(a, days=8)
    url = _feed_url(cast.partner_editor)
    assert {review_uid(r.pk) for r in (skipped, long_ago, gone)} <= set(_events(client.get(url)))

    plan.review_skip(access=a, review_id=skipped.pk)
    plan.review_skip(access=a, review_id=long_ago.pk)
    AlignmentReview.objects.filter(pk=gone.pk).delete()
    events = _events(client.get(url))

    cancelled = events[review_uid(skipped.pk)]
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) == skipped.version + 1
    assert review_uid(long_ago.pk) not in events  # skipped more than 30 days ago: out of the feed
    assert review_uid(gone.pk) not in events  # clients delete what a subscribed feed no longer carries


def test_a_closed_goal_leaves_the_feed(cast, client):
    goal = _proposed_goal(cast)
    url = _feed_url(cast.vendor_viewer)
    assert goal_end_uid(goal.pk) in _events(client.get(url))
    goals.goal_withdraw(access=cast.access("vendor_editor"), goal_id=goal.pk)
    assert goal_end_uid(goal.pk) not in _events(client.get(url))


def test_a_person_who_leaves_the_partnership_no_longer_gets_its_events(cast, client):
    review = _review(cast.access("vendor_editor"))
    url = _feed_url(cast.vendor_viewer)
    assert review_uid(review.pk) in _events(client.get(url))
    member = PartnershipMember.objects.get(partnership=cast.partnership, user=cast.vendor_viewer)
    plan.member_remove(access=cast.access("vendor_admin"), member_id=member.pk)
    events = _events(client.get(url))
    assert events == {}


def test_revoked_replaced_and_unknown_links_are_404_and_only_the_hash_is_stored(cast, client):
    user = cast.vendor_viewer
    feed, raw = CalendarFeed.issue(user)
    assert raw.startswith("cal_") and len(raw) > 40
    row = CalendarFeed.objects.get(pk=feed.pk)
    assert row.token_hash == hash_token(raw) and raw not in row.token_hash
    assert client.get(reverse("calendar_feed", args=[raw])).status_code == 200

    _, new_raw = CalendarFeed.issue(user)  # replace
    old = client.get(reverse("calendar_feed", args=[raw]))
    assert old.status_code == 404 and old.content == b"Not found.\n"
    assert client.get(reverse("calendar_feed", args=[new_raw])).status_code == 200
    assert CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).count() == 1

    CalendarFeed.revoke_all(user)  # revoke
    assert client.get(reverse("calendar_feed", args=[new_raw])).status_code == 404
    unknown = client.get(reverse("calendar_feed", args=["cal_" + "x1" * 22]))
    assert unknown.status_code == 404 and unknown.content == old.content  # no hint which is which


def test_a_deactivated_person_s_link_stops_working(cast, client):
    url = _feed_url(cast.vendor_viewer)
    cast.vendor_viewer.is_active = False
    cast.vendor_viewer.save(update_fields=["is_active"])
    assert client.get(url).status_code == 404


def test_the_feed_answers_304_while_nothing_changed(cast, client):
    url = _feed_url(cast.vendor_viewer)
    first = client.get(url)
    assert first["ETag"] and "no-cache" in first["Cache-Control"]
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    _review(cast.access("vendor_editor"))
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]


def test_fetching_records_the_last_use(cast, client):
    url = _feed_url(cast.vendor_viewer)
    assert CalendarFeed.active_of(cast.vendor_viewer).last_used_at is None  # type: ignore[union-attr]
    client.get(url)
    assert CalendarFeed.active_of(cast.vendor_viewer).last_used_at is not None  # type: ignore[union-attr]


def test_fetches_are_rate_limited_per_address(cast, client, monkeypatch):
    monkeypatch.setattr(calendar_views, "CALENDAR_FEED_RATE", "3/m")
    url = _feed_url(cast.vendor_viewer)
    codes = [client.get(url).status_code for _ in range(3)]
    limited = client.get(reverse("calendar_feed", args=["cal_guess"]))
    assert codes == [200, 200, 200] and limited.status_code == 429 and limited["Retry-After"]


def test_only_get_and_head_are_answered(cast, client):
    url = _feed_url(cast.vendor_viewer)
    assert client.post(url).status_code == 405
    assert client.head(url).status_code == 200


def test_the_number_of_queries_does_not_grow_with_partnerships(cast, client, django_assert_num_queries):
    person = f.make_user("busy@vendor.test", full_name="Busy Person")
    admin = f.make_user("boss@vendor.test")

    def add_partnership() -> None:
        p = f.make_partnership(admin)
        f.add_member(p, person, "vendor", "editor")
        a = f.access(admin, p)
        _review(a)
        goal = f.make_goal(a, f.make_objective(a))
        goals.goal_propose(access=a, goal_id=goal.pk)

    add_partnership()
    url = _feed_url(person)
    with django_assert_num_queries(4):  # the link, its last use, the reviews, the goals
        events_one = _events(client.get(url))
    for _ in range(19):
        add_partnership()
    client.get(url)  # the last use is written at most every 15 minutes: compare like with like
    CalendarFeed.objects.filter(user=person).update(last_used_at=None)
    with django_assert_num_queries(4):
        events_twenty = _events(client.get(url))
    assert len(events_one) == 2 and len(events_twenty) == 40


def test_the_link_is_redacted_from_logged_paths():
    raw = "cal_" + "AbC9-_xY" * 5
    for line in [f"GET /calendar/{raw}.ics HTTP/1.1", f"Not Found: /calendar/{raw}.ics"]:
        assert raw not in redact(line) and "/calendar/[redacted]" in redact(line)


# --- The settings page ----------------------------------------------------------------------------


def test_the_settings_page_makes_replaces_and_turns_off_the_link(cast):
    browser = Client()
    browser.force_login(cast.vendor_viewer)
    page = browser.get("/settings/")
    assert page.status_code == 200 and b'id="calendar"' in page.content and b"Make my calendar link" in page.content

    made = browser.post(reverse("calendar_feed_create"))
    assert made.status_code == 201 and "no-store" in made["Cache-Control"]
    url = re.search(r'value="(http[^"]+/calendar/[^"]+\.ics)"', made.content.decode())
    assert url is not None
    path = url.group(1).split("://", 1)[1].split("/", 1)[1]
    assert b"webcal://" in made.content
    assert Client().get("/" + path).status_code == 200
    feed = CalendarFeed.active_of(cast.vendor_viewer)
    assert feed is not None and path.split("/")[-1].removesuffix(".ics") not in feed.token_hash

    again = browser.get("/settings/")
    assert path.encode() not in again.content and b"Make a new link" in again.content  # shown once

    replaced = browser.post(reverse("calendar_feed_create"))
    assert replaced.status_code == 201
    assert Client().get("/" + path).status_code == 404

    off = browser.post(reverse("calendar_feed_revoke"))
    assert off.status_code == 302 and off["Location"].endswith("#calendar")
    assert CalendarFeed.active_of(cast.vendor_viewer) is None
    assert b"Make my calendar link" in browser.get("/settings/").content


def test_the_settings_actions_need_a_signed_in_person_and_csrf(cast):
    for name in ("calendar_feed_create", "calendar_feed_revoke"):
        assert Client().post(reverse(name)).status_code == 302
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(cast.vendor_viewer)
        assert strict.post(reverse(name)).status_code == 403
    assert not CalendarFeed.objects.exists()
