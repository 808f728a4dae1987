"""Review pages: the agenda drawn from the plan, recording a review, the delivery log and the
reminder preferences, each behind the access resolver."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from alignment import review_comments
from alignment.models import AlignmentReview
from alignment.services import review_schedule
from core.models import OutboxMessage
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals import services as goals
from tests import factories as f


def signed_in(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


@pytest.fixture
def review(cast) -> AlignmentReview:  # type: ignore[no-untyped-def]
    return review_schedule(access=cast.access("vendor_admin"), scheduled_for=timezone.now() + dt.timedelta(days=3))


def list_url(p) -> str:  # type: ignore[no-untyped-def]
    return f"/p/{p.pk}/reviews/"


def detail_url(r: AlignmentReview) -> str:
    return f"/p/{r.partnership_id}/reviews/{r.pk}/"


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "page", "status"),
    [
        ("outsider", "list", 404),
        ("outsider", "detail", 404),
        ("outsider", "deliveries", 404),
        ("partner_viewer", "list", 200),
        ("partner_viewer", "detail", 200),
        ("partner_viewer", "deliveries", 403),
        ("vendor_editor", "deliveries", 403),
        ("partner_approver", "deliveries", 403),
        ("vendor_admin", "deliveries", 200),
    ],
)
def test_who_sees_which_review_page(cast, review, client, who, page, status) -> None:  # type: ignore[no-untyped-def]
    url = {
        "list": list_url(cast.partnership),
        "detail": detail_url(review),
        "deliveries": f"/p/{cast.partnership.pk}/reviews/deliveries/",
    }[page]
    assert signed_in(client, getattr(cast, who)).get(url).status_code == status


def test_a_review_of_another_partnership_is_not_found(cast, client) -> None:  # type: ignore[no-untyped-def]
    theirs = review_schedule(
        access=f.access(cast.outsider, cast.outsider_partnership), scheduled_for=timezone.now() + dt.timedelta(days=2)
    )
    url = f"/p/{cast.partnership.pk}/reviews/{theirs.pk}/"
    assert signed_in(client, cast.vendor_admin).get(url).status_code == 404


@pytest.mark.parametrize("who", ["vendor_viewer", "partner_viewer"])
def test_a_viewer_cannot_record_move_or_skip_a_review(cast, review, client, who) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(client, getattr(cast, who))
    page = c.get(detail_url(review)).content.decode()
    assert "Record this review" not in page
    today = timezone.localdate().isoformat()
    assert c.post(detail_url(review) + "hold", {"held_on": today}).status_code == 403
    assert c.post(detail_url(review) + "move", {"scheduled_for": "2030-01-01T10:00"}).status_code == 403
    assert c.post(detail_url(review) + "skip").status_code == 403
    review.refresh_from_db()
    assert (review.status, review.version) == ("scheduled", 1)


def test_an_outsider_cannot_record_a_review(cast, review, client) -> None:  # type: ignore[no-untyped-def]
    response = signed_in(client, cast.outsider).post(
        detail_url(review) + "hold", {"held_on": timezone.localdate().isoformat()}
    )
    assert response.status_code == 404


# --- Agenda -------------------------------------------------------------------------------------


def plan_with_trouble(cast):  # type: ignore[no-untyped-def]
    vendor, partner = cast.access("vendor_editor"), cast.access("partner_approver")
    objective = f.make_objective(vendor)
    today = timezone.localdate()
    behind = f.make_goal(
        vendor,
        objective,
        title="Joint pipeline",
        period_start=today - dt.timedelta(days=60),
        period_end=today + dt.timedelta(days=30),
        baseline=Decimal(0),
        target=Decimal(100),
    )
    f.agree(behind, cast.access("vendor_approver"), partner)
    goal_check_ins.check_in_create(access=partner, goal_id=behind.pk, value=10, confidence=2, measured_on=today)
    silent = f.make_goal(vendor, objective, title="Certified consultants")
    f.agree(silent, cast.access("vendor_approver"), partner)
    waiting = f.make_goal(vendor, objective, title="Marketing funds <b>plan</b>")
    goals.goal_propose(access=vendor, goal_id=waiting.pk)
    waiting.refresh_from_db()
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=waiting.pk, revision=waiting.revision)
    goal_commitments.commitment_create(
        access=vendor, goal_id=silent.pk, side="vendor", text="Send the demo kit", due_date=today - dt.timedelta(days=5)
    )
    return behind, silent, waiting


def test_the_agenda_lists_goals_off_track_pending_approvals_overdue_commitments_and_health(
    cast, review, client
) -> None:  # type: ignore[no-untyped-def]
    plan_with_trouble(cast)
    page = signed_in(client, cast.partner_viewer).get(detail_url(review)).content.decode()
    assert (
        "Joint pipeline</strong>: 10% of the way with 67% of the period gone; partner side&#x27;s confidence is 2"
    ) in page
    assert "Certified consultants</strong>: no check-in yet" in page
    assert "Marketing funds &lt;b&gt;plan&lt;/b&gt;</strong>, revision 1:\n    waiting for the partner side" in page
    assert "Send the demo kit" in page and "overdue" in page.lower()
    assert "Alignment health <strong>" in page and "(no earlier review to compare with)" in page


def test_the_agenda_shows_the_health_trend_since_the_last_held_review(cast, review, client) -> None:  # type: ignore[no-untyped-def]
    from cadence.health import partnership_health
    from cadence.models import HealthSnapshot

    today = timezone.localdate()
    AlignmentReview.objects.create(
        partnership=cast.partnership,
        scheduled_for=timezone.now() - dt.timedelta(days=30),
        status="held",
        held_on=today - dt.timedelta(days=30),
        health_score=5,
    )
    for days_ago, score in [(45, 3), (20, 37), (10, 41)]:
        HealthSnapshot.objects.create(
            partnership=cast.partnership, day=today - dt.timedelta(days=days_ago), score=score
        )
    now = partnership_health(cast.partnership).score
    page = signed_in(client, cast.vendor_viewer).get(detail_url(review)).content.decode()
    words = f"Alignment health {now}:\n    up {now - 5}\n    since the review on"
    assert words in page and "when it was 5." in page
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert "37" in chart and "41" in chart and ">3<" not in chart  # only days since that review


@pytest.mark.parametrize("goals_count", [1, 4])
def test_the_review_page_runs_a_fixed_number_of_queries(
    cast, review, client, django_assert_num_queries, goals_count
) -> None:  # type: ignore[no-untyped-def]
    vendor = cast.access("vendor_editor")
    objective = f.make_objective(vendor)
    for _ in range(goals_count):
        g = f.make_goal(vendor, objective)
        f.agree(g, cast.access("vendor_approver"), cast.access("partner_approver"))
        goal_commitments.commitment_create(
            access=vendor,
            goal_id=g.pk,
            side="partner",
            text="Overdue thing",
            due_date=timezone.localdate() - dt.timedelta(days=1),
        )
        review_comments.review_comment_create(access=vendor, review_id=review.pk, body="On the agenda")
    c = signed_in(client, cast.vendor_editor)
    c.get(detail_url(review))  # warm the session
    with django_assert_num_queries(QUERIES_DETAIL):
        assert c.get(detail_url(review)).status_code == 200


QUERIES_DETAIL = 31  # the relationship pulse is two of them: its answers and its trend; health reads the
# latest check-ins and the confirmed figures (two-key actuals)


@pytest.mark.parametrize("reviews_count", [1, 5])
def test_the_review_list_runs_a_fixed_number_of_queries(cast, client, django_assert_num_queries, reviews_count) -> None:  # type: ignore[no-untyped-def]
    for n in range(reviews_count):
        AlignmentReview.objects.create(
            partnership=cast.partnership,
            title=f"Review {n}",
            status="held",
            scheduled_for=timezone.now() - dt.timedelta(days=30 * (n + 1)),
            held_on=timezone.localdate() - dt.timedelta(days=30 * (n + 1)),
        )
    c = signed_in(client, cast.vendor_editor)
    c.get(list_url(cast.partnership))
    with django_assert_num_queries(QUERIES_LIST):
        page = c.get(list_url(cast.partnership)).content.decode()
    assert page.count("Held on") == reviews_count


QUERIES_LIST = 6


# --- Recording, moving, skipping ------------------------------------------------------------


def test_recording_a_review_snapshots_goals_and_schedules_the_next(cast, review, client) -> None:  # type: ignore[no-untyped-def]
    plan_with_trouble(cast)
    c = signed_in(client, cast.partner_editor)
    response = c.post(
        detail_url(review) + "hold",
        {
            "held_on": timezone.localdate().isoformat(),
            "version": review.version,
            "attendees": [cast.vendor_editor.pk, cast.partner_editor.pk],
            "other_attendees": "Sam (guest)",
            "notes": "Pipeline is slow <script>",
            "decisions": "Run two more workshops",
        },
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.status == "held"
    assert set(review.attendees.values_list("email", flat=True)) == {
        cast.vendor_editor.email,
        cast.partner_editor.email,
    }
    assert {g["title"] for g in review.goal_snapshot} >= {"Joint pipeline", "Certified consultants"}
    assert AlignmentReview.objects.filter(partnership=cast.partnership, status="scheduled").count() == 1
    page = c.get(detail_url(review)).content.decode()
    assert "Pipeline is slow &lt;script&gt;" in page and "Run two more workshops" in page
    assert "Joint pipeline" in page  # the per-goal snapshot


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"held_on": "yesterday"}, 400, "Give the day the review was held"),
        ({"held_on": "2999-01-01"}, 400, "cannot be held in the future"),
        ({"attendees": ["abc"]}, 400, "Attendees must be members"),
        ({"notes": "x" * 20001}, 400, "too long"),
        ({"notes": "nul\x00byte"}, 400, "NUL"),
        ({"version": "7"}, 412, "changed by someone else"),
    ],
)
def test_bad_review_records_are_refused_with_a_clear_message_and_nothing_written(
    cast, review, client, data, status, message
) -> None:  # type: ignore[no-untyped-def]
    payload = {"held_on": timezone.localdate().isoformat(), "version": "1"} | data
    response = signed_in(client, cast.vendor_editor).post(detail_url(review) + "hold", payload)
    assert response.status_code == status
    assert message in response.content.decode()
    review.refresh_from_db()
    assert (review.status, review.version) == ("scheduled", 1)


def test_an_outsider_is_no_attendee(cast, review, client) -> None:  # type: ignore[no-untyped-def]
    response = signed_in(client, cast.vendor_editor).post(
        detail_url(review) + "hold", {"held_on": timezone.localdate().isoformat(), "attendees": [cast.outsider.pk]}
    )
    assert response.status_code == 400
    assert AlignmentReview.objects.get(pk=review.pk).status == "scheduled"


def test_moving_a_review_takes_local_time_in_the_partnership_zone(cast, review, client) -> None:  # type: ignore[no-untyped-def]
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(timezone="America/New_York")
    response = signed_in(client, cast.partner_editor).post(
        detail_url(review) + "move", {"scheduled_for": "2031-07-01T09:30", "version": "1"}
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.scheduled_for == dt.datetime(2031, 7, 1, 13, 30, tzinfo=dt.UTC)  # EDT, UTC-4


def held_on_default(client, user, review: AlignmentReview) -> str:  # type: ignore[no-untyped-def]
    page = signed_in(client, user).get(detail_url(review)).content.decode()
    found = re.search(r'<input type="date" id="held_on" name="held_on" value="([^"]*)"', page)
    assert found, "no Held on field"
    return found.group(1)


def test_held_on_defaults_to_the_day_of_a_review_recorded_late_in_the_partnership_zone(cast, client) -> None:  # type: ignore[no-untyped-def]
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(timezone="Pacific/Auckland")
    cast.partnership.refresh_from_db()
    # 10 February 22:00 UTC is 11 February 11:00 in Auckland (NZDT, UTC+13).
    with time_machine.travel(dt.datetime(2027, 2, 1, tzinfo=dt.UTC), tick=False):
        february = review_schedule(
            access=cast.access("vendor_admin"), scheduled_for=dt.datetime(2027, 2, 10, 22, tzinfo=dt.UTC)
        )
    with time_machine.travel(dt.datetime(2027, 4, 20, 3, tzinfo=dt.UTC), tick=False):
        assert held_on_default(client, cast.vendor_editor, february) == "2027-02-11"


@pytest.mark.parametrize(
    ("scheduled_for", "expected"),
    [
        # Later today (local) and in the future: recorded today.
        (dt.datetime(2027, 4, 20, 22, tzinfo=dt.UTC), "2027-04-21"),
        (dt.datetime(2027, 5, 3, 9, tzinfo=dt.UTC), "2027-04-21"),
        # Earlier today in Auckland, though yesterday in UTC: still today.
        (dt.datetime(2027, 4, 20, 13, tzinfo=dt.UTC), "2027-04-21"),
    ],
    ids=["later today", "in the future", "earlier today"],
)
def test_held_on_defaults_to_today_for_a_review_due_today_or_later(cast, client, scheduled_for, expected) -> None:  # type: ignore[no-untyped-def]
    type(cast.partnership).objects.filter(pk=cast.partnership.pk).update(timezone="Pacific/Auckland")
    cast.partnership.refresh_from_db()
    now = dt.datetime(2027, 4, 20, 15, tzinfo=dt.UTC)  # 21 April 03:00 in Auckland (NZST, UTC+12)
    with time_machine.travel(now, tick=False):
        review = review_schedule(access=cast.access("vendor_admin"), scheduled_for=scheduled_for)
        assert held_on_default(client, cast.vendor_editor, review) == expected


def test_skipping_a_review_schedules_the_following_occurrence(cast, review, client) -> None:  # type: ignore[no-untyped-def]
    assert signed_in(client, cast.vendor_editor).post(detail_url(review) + "skip").status_code == 302
    statuses = list(AlignmentReview.objects.filter(partnership=cast.partnership).values_list("status", flat=True))
    assert sorted(statuses) == ["scheduled", "skipped"]


# --- Delivery log and preferences ---------------------------------------------------------------


def test_the_delivery_log_shows_sent_failed_with_reason_and_retried(cast, review, client) -> None:  # type: ignore[no-untyped-def]
    common = {
        "kind": "review_upcoming",
        "subject_type": "review",
        "subject_id": str(review.pk),
        "partnership_id": cast.partnership.pk,
    }
    OutboxMessage.objects.create(
        **common,
        occurrence=review.scheduled_for,
        recipient=cast.partner_viewer,
        recipient_key=OutboxMessage.key_for(recipient_id=cast.partner_viewer.pk),
        status="sent",
        attempts=2,
        sent_at=timezone.now(),
    )
    OutboxMessage.objects.create(
        **common,
        occurrence=review.scheduled_for,
        recipient=cast.partner_editor,
        recipient_key=OutboxMessage.key_for(recipient_id=cast.partner_editor.pk),
        status="failed",
        attempts=1,
        last_error="SMTPRecipientsRefused: 550 <b>no</b>",
    )
    page = signed_in(client, cast.vendor_admin).get(f"/p/{cast.partnership.pk}/reviews/deliveries/").content.decode()
    assert "Sent (retried)" in page and "Paula Viewer" in page
    assert "SMTPRecipientsRefused: 550 &lt;b&gt;no&lt;/b&gt;" in page
    failed_only = client.get(f"/p/{cast.partnership.pk}/reviews/deliveries/?status=failed").content.decode()
    assert "Pete Editor" in failed_only and "Paula Viewer" not in failed_only


def test_reminder_preferences_mute_and_unmute_kinds(cast, client) -> None:  # type: ignore[no-untyped-def]
    c = signed_in(client, cast.partner_editor)
    page = c.get("/settings/reminders/").content.decode()
    assert page.count('type="checkbox"') == 7 and page.count("checked") == 7 + 1  # and the weekly digest
    kept = ["review_upcoming", "review_overdue", "approval_waiting"]
    response = c.post("/settings/reminders/", {"receive": kept}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Saved." in response.content.decode()
    assert "<html" not in response.content.decode()  # the partial for htmx
    cast.partner_editor.refresh_from_db()
    assert cast.partner_editor.muted_reminder_kinds == [
        "checkin_missing",
        "goal_negotiation",
        "pulse_unanswered",
        "weekly_digest",
    ]
    c.post("/settings/reminders/", {"receive": [*kept, "weekly_digest", "goal_negotiation", "bogus"]})
    cast.partner_editor.refresh_from_db()
    assert cast.partner_editor.muted_reminder_kinds == ["checkin_missing", "pulse_unanswered"]
    assert mail.outbox == []


def test_saving_reminder_preferences_keeps_kinds_muted_elsewhere(cast, client) -> None:  # type: ignore[no-untyped-def]
    cast.partner_editor.muted_reminder_kinds = ["goal_negotiation", "weekly_digest"]
    cast.partner_editor.save()
    signed_in(client, cast.partner_editor).post("/settings/reminders/", {"receive": ["weekly_digest"]})
    cast.partner_editor.refresh_from_db()
    assert cast.partner_editor.muted_reminder_kinds == [
        "approval_waiting",
        "checkin_missing",
        "goal_negotiation",
        "pulse_unanswered",
        "review_overdue",
        "review_upcoming",
    ]


def test_reminder_preferences_need_a_signed_in_person(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/settings/reminders/").status_code == 302


def test_the_list_shows_the_cadence_ahead_after_what_is_scheduled(db, client) -> None:  # type: ignore[no-untyped-def]
    import time_machine

    from cadence.reminders import run_sweeps

    start = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        admin = f.make_user()
        p = f.make_partnership(
            admin, timezone="America/New_York", review_cadence="quarterly", review_time=dt.time(10, 0)
        )
    with time_machine.travel(dt.datetime(2026, 12, 1, tzinfo=dt.UTC), tick=False):
        run_sweeps()
        page = signed_in(client, admin).get(list_url(p)).content.decode()
    scheduled, ahead = page.split("The cadence ahead")
    assert "Wed 10 Feb 2027, 10:00 America/New_York" in scheduled
    assert ahead.index("Mon 10 May 2027, 10:00") < ahead.index("Tue 10 Aug 2027") < ahead.index("Wed 10 Nov 2027")
    assert "10 Feb 2027" not in ahead


def test_an_editor_can_schedule_the_next_review_from_the_list_and_a_viewer_cannot(cast, client) -> None:  # type: ignore[no-untyped-def]
    assert signed_in(client, cast.partner_viewer).post(list_url(cast.partnership)).status_code == 403
    assert not AlignmentReview.objects.filter(partnership=cast.partnership).exists()
    response = signed_in(client, cast.partner_editor).post(list_url(cast.partnership))
    review = AlignmentReview.objects.get(partnership=cast.partnership)
    assert response.status_code == 302 and response["Location"] == detail_url(review)
    # The cadence's next occurrence, held on a working day (today's date decides whether it moves).
    assert review.occurrence is not None and review.scheduled_for > timezone.now()
    assert abs(review.scheduled_for - review.occurrence) <= dt.timedelta(days=1)
    assert review.scheduled_for.astimezone(zoneinfo.ZoneInfo(cast.partnership.timezone)).weekday() < 5
