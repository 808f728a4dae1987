"""The digest: at the first sweep at or after 08:00 in each person's own time zone, weekly on
Mondays or daily on working days, exactly once per person and period across DST changes, sweeps
run twice or missed, and changes of time zone or frequency; and what it says."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import Counter
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import DigestFrequency, User
from alignment.models import Side
from alignment.services import review_schedule
from cadence import digest
from cadence.services import review_hold
from core.models import OutboxMessage
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import services as goals
from goals.models import ActionLink, Goal, GoalStatus
from tests import factories as f

UTC = dt.UTC
BERLIN, NEW_YORK, SYDNEY = "Europe/Berlin", "America/New_York", "Australia/Sydney"
SWEEP_EVERY = dt.timedelta(minutes=15)
SWEEP_OFFSET = dt.timedelta(minutes=7)  # sweeps at :07, :22, :37, :52: the first one after 08:00 is 08:07


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def rows() -> Any:
    return OutboxMessage.objects.filter(kind="weekly_digest")


def sent_at(person: User) -> list[dt.datetime]:
    """When the sweeps queued this person's digests (the moment the sweep ran), in order."""
    return sorted(rows().filter(recipient=person).values_list("created_at", flat=True))


@pytest.fixture
def people(cast):  # type: ignore[no-untyped-def]
    """A weekly and a daily person in each of the three zones, members of the cast's partnership."""
    made = {}
    for zone in (BERLIN, NEW_YORK, SYDNEY):
        for frequency in DigestFrequency.values:
            person = f.make_user(timezone=zone, digest_frequency=frequency)
            f.add_member(cast.partnership, person, Side.PARTNER, "viewer")
            made[(zone, frequency)] = person
    return made


def sweep_between(start: dt.datetime, end: dt.datetime) -> int:
    """Run the digest sweep every 15 minutes (at :07, :22, …) from ``start`` to ``end``."""
    now, runs = start + SWEEP_OFFSET, 0
    while now < end:
        digest.sweep_digest(now)
        now += SWEEP_EVERY
        runs += 1
    return runs


def local_eight(day: dt.date, zone: str) -> dt.datetime:
    """08:07 local on ``day`` (the first sweep after 08:00), in UTC: computed with zoneinfo alone."""
    return dt.datetime.combine(day, dt.time(8, 7), tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(UTC)


# Each DST change of 2027 (always a Sunday), and the UTC times of the weekly digest of the Monday
# before and the Monday after, at 08:07 local.
CHANGES = [
    (BERLIN, dt.date(2027, 3, 28), [utc(2027, 3, 22, 7, 7), utc(2027, 3, 29, 6, 7)]),  # CET → CEST
    (BERLIN, dt.date(2027, 10, 31), [utc(2027, 10, 25, 6, 7), utc(2027, 11, 1, 7, 7)]),  # CEST → CET
    (NEW_YORK, dt.date(2027, 3, 14), [utc(2027, 3, 8, 13, 7), utc(2027, 3, 15, 12, 7)]),  # EST → EDT
    (NEW_YORK, dt.date(2027, 11, 7), [utc(2027, 11, 1, 12, 7), utc(2027, 11, 8, 13, 7)]),  # EDT → EST
    (SYDNEY, dt.date(2027, 4, 4), [utc(2027, 3, 28, 21, 7), utc(2027, 4, 4, 22, 7)]),  # AEDT → AEST
    (SYDNEY, dt.date(2027, 10, 3), [utc(2027, 9, 26, 22, 7), utc(2027, 10, 3, 21, 7)]),  # AEST → AEDT
]


@pytest.mark.parametrize(("zone", "change", "weekly_utc"), CHANGES, ids=[f"{z}-{d}" for z, d, _ in CHANGES])
def test_each_person_gets_one_digest_per_period_at_the_first_sweep_after_eight_local_across_dst(
    people, zone: str, change: dt.date, weekly_utc: list[dt.datetime]
) -> None:
    start = dt.datetime.combine(change - dt.timedelta(days=7), dt.time(0), tzinfo=UTC)
    end = start + dt.timedelta(days=10)
    sweep_between(start, end)

    assert sent_at(people[(zone, DigestFrequency.WEEKLY)]) == weekly_utc
    for (other_zone, frequency), person in people.items():
        local_days = {
            (start + dt.timedelta(hours=h)).astimezone(zoneinfo.ZoneInfo(other_zone)).date() for h in range(240)
        }
        wanted = sorted(
            local_eight(day, other_zone)
            for day in local_days
            if (day.weekday() == 0 if frequency == DigestFrequency.WEEKLY else day.weekday() < 5)
            and start + SWEEP_OFFSET <= local_eight(day, other_zone) < end
        )
        assert sent_at(person) == wanted, (other_zone, frequency)
        # One per local period, keyed by the local date.
        keys = list(rows().filter(recipient=person).values_list("occurrence", flat=True))
        assert Counter(keys).most_common(1)[0][1] == 1
        assert all(k.time() == dt.time(0) and k.tzinfo is not None for k in keys)
        if frequency == DigestFrequency.DAILY:
            assert all(k.weekday() < 5 for k in keys)  # no weekend dailies


def test_the_daily_digest_of_the_dst_week_in_sydney_goes_out_on_each_working_day_only(people) -> None:
    sweep_between(utc(2027, 3, 28), utc(2027, 4, 10))  # AEDT until Sunday 4 April, AEST after
    assert sent_at(people[(SYDNEY, DigestFrequency.DAILY)]) == [
        utc(2027, 3, 28, 21, 7),  # Monday 29 March, 08:07 AEDT
        utc(2027, 3, 29, 21, 7),
        utc(2027, 3, 30, 21, 7),
        utc(2027, 3, 31, 21, 7),
        utc(2027, 4, 1, 21, 7),  # Friday 2 April
        utc(2027, 4, 4, 22, 7),  # Monday 5 April, 08:07 AEST
        utc(2027, 4, 5, 22, 7),
        utc(2027, 4, 6, 22, 7),
        utc(2027, 4, 7, 22, 7),
        utc(2027, 4, 8, 22, 7),  # Friday 9 April
    ]


def test_a_sweep_run_twice_or_at_any_frequency_queues_one_digest(people) -> None:
    berlin = people[(BERLIN, DigestFrequency.WEEKLY)]
    for now in (utc(2027, 7, 5, 6, 0), utc(2027, 7, 5, 6, 0), utc(2027, 7, 5, 6, 1), utc(2027, 7, 5, 9)):
        digest.sweep_digest(now)
    assert sent_at(berlin) == [utc(2027, 7, 5, 6, 0)]  # 08:00 CEST exactly
    digest.sweep_digest(utc(2027, 7, 5, 5, 59))  # a sweep that runs late with an old clock: nothing new
    assert rows().filter(recipient=berlin).count() == 1


def test_a_missed_morning_still_sends_later_that_local_day_but_never_the_next_day(people) -> None:
    berlin = people[(BERLIN, DigestFrequency.WEEKLY)]
    new_york = people[(NEW_YORK, DigestFrequency.WEEKLY)]
    sydney_daily = people[(SYDNEY, DigestFrequency.DAILY)]
    digest.sweep_digest(utc(2027, 7, 5, 21, 30))  # the worker was down all day: the first sweep since Sunday
    assert sent_at(berlin) == [utc(2027, 7, 5, 21, 30)]  # 23:30 in Berlin: still Monday
    assert sent_at(new_york) == [utc(2027, 7, 5, 21, 30)]  # 17:30 in New York
    assert sent_at(sydney_daily) == []  # 07:30 on Tuesday in Sydney: Monday's was missed, Tuesday's not due yet
    digest.sweep_digest(utc(2027, 7, 13, 4, 30))  # down all of Monday 12 July in New York (00:30 on Tuesday)
    assert sent_at(new_york) == [utc(2027, 7, 5, 21, 30)]
    assert sent_at(berlin) == [utc(2027, 7, 5, 21, 30)]
    assert sent_at(sydney_daily) == [utc(2027, 7, 13, 4, 30)]  # Tuesday 13 July, 14:30 in Sydney


def test_a_change_of_time_zone_or_frequency_on_the_day_sends_no_second_digest(people) -> None:
    berlin = people[(BERLIN, DigestFrequency.WEEKLY)]
    sydney = people[(SYDNEY, DigestFrequency.WEEKLY)]
    daily = people[(NEW_YORK, DigestFrequency.DAILY)]
    sweep_between(utc(2027, 7, 4, 12), utc(2027, 7, 5, 9))  # Sydney's and Berlin's Monday mornings
    assert sent_at(sydney) == [utc(2027, 7, 4, 22, 7)] and sent_at(berlin) == [utc(2027, 7, 5, 6, 7)]
    # Both move to New York, where Monday 08:00 is still to come; the New York person goes weekly.
    User.objects.filter(pk__in=[berlin.pk, sydney.pk]).update(timezone=NEW_YORK)
    sweep_between(utc(2027, 7, 5, 9), utc(2027, 7, 5, 13))
    assert sent_at(daily) == [utc(2027, 7, 5, 12, 7)]
    User.objects.filter(pk=daily.pk).update(digest_frequency=DigestFrequency.WEEKLY)
    sweep_between(utc(2027, 7, 5, 13), utc(2027, 7, 12, 0))
    assert sent_at(sydney) == [utc(2027, 7, 4, 22, 7)]
    assert sent_at(berlin) == [utc(2027, 7, 5, 6, 7)]
    assert sent_at(daily) == [utc(2027, 7, 5, 12, 7)]  # weekly now: its Monday was sent, no dailies
    sweep_between(utc(2027, 7, 12, 0), utc(2027, 7, 12, 13))
    assert sent_at(berlin)[-1] == sent_at(sydney)[-1] == sent_at(daily)[-1] == utc(2027, 7, 12, 12, 7)


def test_weekly_to_daily_mid_week_starts_with_the_first_daily_period_not_sent(people) -> None:
    person = people[(BERLIN, DigestFrequency.WEEKLY)]
    sweep_between(utc(2027, 7, 5), utc(2027, 7, 6, 12))
    User.objects.filter(pk=person.pk).update(digest_frequency=DigestFrequency.DAILY)
    sweep_between(utc(2027, 7, 6, 12), utc(2027, 7, 8, 0))
    # Monday's weekly, then Tuesday's daily (a period not sent yet: its changes count from Monday
    # 08:00, where the weekly one stopped) at the first sweep after the change, then Wednesday's.
    assert sent_at(person) == [utc(2027, 7, 5, 6, 7), utc(2027, 7, 6, 12, 7), utc(2027, 7, 7, 6, 7)]


def test_muted_digests_and_inactive_people_get_none_and_the_hour_is_a_setting(people, settings) -> None:
    muted = people[(BERLIN, DigestFrequency.WEEKLY)]
    muted.muted_reminder_kinds = ["weekly_digest"]
    muted.save()
    User.objects.filter(pk=people[(BERLIN, DigestFrequency.DAILY)].pk).update(is_active=False)
    settings.REMINDER_DIGEST_HOUR_LOCAL = 7
    sweep_between(utc(2027, 7, 5, 4), utc(2027, 7, 5, 8))
    assert sent_at(muted) == [] and sent_at(people[(BERLIN, DigestFrequency.DAILY)]) == []
    assert set(rows().filter(recipient__timezone="UTC").values_list("created_at", flat=True)) == {
        utc(2027, 7, 5, 7, 7)  # the cast's people live in UTC: 07:07 is the first sweep after 07:00
    }


def test_the_sweep_runs_a_fixed_number_of_queries_whatever_the_number_of_people(cast, monkeypatch) -> None:
    from core import outbox

    monkeypatch.setattr(outbox.send_outbox_message, "enqueue_on_commit", lambda ids: None)

    def queries(now: dt.datetime) -> int:
        with CaptureQueriesContext(connection) as ctx:
            digest.sweep_digest(now)
        return len(ctx.captured_queries)

    for zone in (BERLIN, NEW_YORK):
        f.add_member(cast.partnership, f.make_user(timezone=zone), Side.PARTNER, "viewer")
    small = queries(utc(2027, 7, 5, 14))
    for n in range(20):
        person = f.make_user(timezone=(BERLIN, NEW_YORK)[n % 2], digest_frequency=DigestFrequency.values[n % 2])
        f.add_member(cast.partnership, person, Side.VENDOR, "viewer")
    assert queries(utc(2027, 7, 12, 14)) == small
    assert rows().filter(occurrence=utc(2027, 7, 12)).count() > rows().filter(occurrence=utc(2027, 7, 5)).count()


# --- What it says ------------------------------------------------------------------------------


def at(moment: dt.datetime, action: Any) -> Any:
    with time_machine.travel(moment, tick=False):
        return action()


def goal_with(cast, title: str, *, partner_commits: bool = True, **extra: Any) -> Goal:  # type: ignore[no-untyped-def]
    vendor = cast.access("vendor_editor")
    commitments = [{"side": "vendor", "text": f"Vendor work on {title}", "owner": cast.vendor_approver.pk}]
    if partner_commits:
        commitments.append(
            {
                "side": "partner",
                "text": f"Partner work on {title}",
                "owner": cast.partner_approver.pk,
                "due_date": extra.pop("partner_due", None),
            }
        )
    extra.setdefault("period_start", dt.date(2027, 6, 1))
    extra.setdefault("period_end", dt.date(2027, 9, 30))
    return goals.goal_create(
        access=vendor,
        objective_id=f.make_objective(vendor).pk,
        title=title,
        metric_name="Deals",
        baseline=0,
        target=10,
        commitments=commitments,
        **extra,
    )


@pytest.fixture
def week(cast):  # type: ignore[no-untyped-def]
    """A week of a plan, up to Monday 5 July 2027: the partner approver lives in Sydney, the vendor
    approver in Berlin."""
    User.objects.filter(pk=cast.partner_approver.pk).update(timezone=SYDNEY)
    User.objects.filter(pk=cast.vendor_approver.pk).update(timezone=BERLIN)
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    editor, partner_editor = cast.access("vendor_editor"), cast.access("partner_editor")

    # Agreed in May, before this period: its partner commitment is overdue, and no check-in yet.
    old = at(utc(2027, 5, 3, 9), lambda: goal_with(cast, "Old pipeline", partner_due=dt.date(2027, 6, 30)))
    at(utc(2027, 5, 3, 10), lambda: f.agree(old, vendor, partner))
    # This week: agreed, checked in and commented on.
    agreed = at(utc(2027, 6, 29, 9), lambda: goal_with(cast, "Joint webinars", partner_due=dt.date(2027, 7, 9)))
    at(utc(2027, 6, 29, 10), lambda: f.agree(agreed, vendor, partner))
    at(
        utc(2027, 6, 30, 9),
        lambda: goal_check_ins.check_in_create(
            access=partner_editor, goal_id=agreed.pk, value=3, confidence=4, measured_on=dt.date(2027, 6, 30)
        ),
    )
    at(utc(2027, 6, 30, 10), lambda: goal_comments.comment_create(access=editor, goal_id=agreed.pk, body="Nice start"))
    # Waiting: one for both sides, one for the partner's commitment, one sent back to the vendor.
    both = at(utc(2027, 7, 1, 9), lambda: goal_with(cast, "Certified consultants"))
    at(utc(2027, 7, 1, 9), lambda: goals.goal_propose(access=editor, goal_id=both.pk))
    uncommitted = at(utc(2027, 7, 1, 10), lambda: goal_with(cast, "Referral deals", partner_commits=False))
    at(utc(2027, 7, 1, 10), lambda: goals.goal_propose(access=editor, goal_id=uncommitted.pk))
    sent_back = at(utc(2027, 7, 2, 9), lambda: goal_with(cast, "Marketplace listing"))
    at(utc(2027, 7, 2, 9), lambda: goals.goal_propose(access=editor, goal_id=sent_back.pk))
    at(
        utc(2027, 7, 2, 11),
        lambda: goals.goal_request_changes(access=partner_editor, goal_id=sent_back.pk, comment="Target 4, please"),
    )
    # A review held on Friday, and the next one on Thursday 8 July.
    review = at(utc(2027, 6, 1), lambda: review_schedule(access=editor, scheduled_for=utc(2027, 7, 2, 8)))
    at(utc(2027, 7, 2, 12), lambda: review_hold(access=editor, review_id=review.pk, held_on=dt.date(2027, 7, 2)))
    at(utc(2027, 6, 1), lambda: review_schedule(access=editor, scheduled_for=utc(2027, 7, 8, 8)))
    return {"old": old, "agreed": agreed, "both": both, "uncommitted": uncommitted, "sent_back": sent_back}


@pytest.fixture
def send(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    def run(now: dt.datetime) -> None:
        with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
            digest.sweep_digest(now)

    return run


def digest_to(person: User) -> Any:
    """The latest digest this person got."""
    return [m for m in mail.outbox if m.to == [person.email]][-1]


LINK = re.compile(r"http://testserver(/a/[A-Za-z0-9_\-]+/)")


def test_the_partner_approvers_digest_says_what_waits_changed_and_is_due_in_their_zone(cast, week, send, client):
    send(utc(2027, 7, 4, 22, 5))  # Monday 5 July, 08:05 in Sydney
    message = digest_to(cast.partner_approver)
    body = message.body
    assert message.subject == "Your week in Partnerplan"
    assert "== Acme × Northwind ==" in body
    # Waiting for the partner side, with the links the partner approver may use.
    assert "Certified consultants (revision 1, to approve)" in body
    assert "Referral deals (revision 1, to approve)" in body
    assert "Marketplace listing" not in body.split("What changed:")[0]  # sent back: the vendor's turn
    labels = re.findall(r"^    (Approve this revision|Add our commitment and approve|Request changes): ", body, re.M)
    assert labels == ["Approve this revision", "Request changes", "Add our commitment and approve", "Request changes"]
    # What changed since Monday 28 June, 08:00 in Sydney.
    assert "changes are those since Monday 28 June, 08:00" in body and "Australia/Sydney" in body
    assert (
        "What changed: 4 goals proposed, 1 goal agreed by both sides, 1 goal sent back with changes requested, "
        "1 check-in recorded, 1 comment, 1 review held" in body
    )
    assert "Ed Editor recorded a review as held (Fri 2 Jul, 22:00)" in body  # 12:00 UTC in Sydney
    assert "Pete Editor sent “Marketplace listing” back with changes requested (Fri 2 Jul, 21:00)" in body
    # Due: the overdue and the coming commitment, the check-in of the old goal, the review on Thursday.
    assert "Your commitment “Partner work on Old pipeline” (goal “Old pipeline”) was due Wed 30 Jun: overdue" in body
    assert "Your commitment “Partner work on Joint webinars” (goal “Joint webinars”) is due Fri 9 Jul" in body
    assert "A check-in on “Old pipeline” was due Thu 1 Jul: overdue" in body  # 30 days after its period began
    assert "The next review: Thursday 8 July, 18:00" in body  # 08:00 UTC in Sydney
    assert "Old pipeline" not in body.split("What changed:")[1].split("Due this week:")[0]  # agreed in May
    assert "Certified consultants" in message.alternatives[0][0]
    # The links work, as the partner approver, without signing in.
    paths = LINK.findall(body)
    assert len(paths) == 4 and ActionLink.objects.filter(user=cast.partner_approver).count() == 4
    assert client.post(paths[0], follow=True).status_code == 200
    assert ActionLink.objects.get(user=cast.partner_approver, action="approve").used_at is not None
    response = client.post(paths[2], {"text": "Introduce two customers a quarter", "due_date": "2027-09-30"})
    assert response.status_code == 302
    week["uncommitted"].refresh_from_db()
    assert week["uncommitted"].negotiation_state == "proposed"  # approved by the partner; the vendor's turn


def test_the_vendor_approvers_digest_names_the_vendor_sides_turns(cast, week, send) -> None:
    send(utc(2027, 7, 5, 6, 5))  # 08:05 in Berlin
    body = digest_to(cast.vendor_approver).body
    assert "Certified consultants (revision 1, to approve)" in body
    assert "Referral deals (revision 1, to approve)" in body  # the vendor may approve subject to the partner
    assert "Marketplace listing (revision 1, changes requested: revise and propose again)" in body
    labels = re.findall(r"^    (Approve this revision|Add our commitment and approve|Request changes): ", body, re.M)
    assert labels == ["Approve this revision", "Request changes", "Approve this revision", "Request changes"]
    assert "changes are those since Monday 28 June, 08:00" in body and "Europe/Berlin" in body
    assert "Ed Editor recorded a review as held (Fri 2 Jul, 14:00)" in body  # 12:00 UTC in Berlin
    assert "Your commitment “Vendor work on Joint webinars”" not in body  # no due date: nothing is due
    assert "The next review: Thursday 8 July, 10:00" in body  # 08:00 UTC in Berlin (CEST)
    assert "A check-in on “Old pipeline” was due Thu 1 Jul: overdue" in body  # they own its vendor commitment
    assert "Your commitment" not in body  # the vendor approver's commitments have no due dates


def test_a_viewer_gets_no_links_and_a_person_with_nothing_to_say_gets_no_digest(cast, week, send) -> None:
    send(utc(2027, 7, 5, 8, 5))  # 08:05 UTC: the cast's other people
    body = digest_to(cast.partner_viewer).body
    assert "Certified consultants (revision 1, to approve)" in body
    assert not LINK.findall(body) and "Each action link" not in body
    assert not [m for m in mail.outbox if m.to == [cast.outsider.email]]  # nothing in their partnership
    assert rows().filter(recipient=cast.outsider, status="skipped").exists()


def test_the_daily_digest_says_your_day_and_counts_since_the_previous_working_day(cast, week, send) -> None:
    User.objects.filter(pk=cast.partner_editor.pk).update(digest_frequency=DigestFrequency.DAILY)
    send(utc(2027, 7, 5, 8, 5))
    message = digest_to(cast.partner_editor)
    assert message.subject == "Your day in Partnerplan"
    assert "changes are those since Friday 2 July, 08:00" in message.body
    assert "What changed: 1 goal proposed, 1 goal sent back with changes requested, 1 review held" in message.body
    assert "Due by your next digest:" not in message.body  # they own no commitment; the review is on Thursday
    assert "Next review: Thursday 8 July 2027, 08:00" in message.body
    # The partner approver, daily in Sydney: what is due by Tuesday's digest, not Friday's commitment.
    User.objects.filter(pk=cast.partner_approver.pk).update(digest_frequency=DigestFrequency.DAILY)
    send(utc(2027, 7, 5, 22, 5))  # Tuesday 6 July, 08:05 in Sydney
    body = digest_to(cast.partner_approver).body
    assert "changes are those since Monday 5 July, 08:00" in body
    due = body.split("Due by your next digest:")[1]
    assert "“Partner work on Old pipeline” (goal “Old pipeline”) was due Wed 30 Jun: overdue" in due
    assert "A check-in on “Old pipeline” was due Thu 1 Jul: overdue" in due
    assert "Joint webinars" not in due  # due on Friday


def test_the_digest_runs_a_fixed_number_of_queries_whatever_the_number_of_partnerships_and_goals(cast, week) -> None:
    person = User.objects.get(pk=cast.partner_approver.pk)
    now = utc(2027, 7, 4, 22, 5)

    def queries() -> tuple[int, int]:
        with time_machine.travel(now, tick=False), CaptureQueriesContext(connection) as ctx:
            found = digest.digest_rows(person, now, digest.current_period(person, now))
        return len(ctx.captured_queries), sum(len(r["waiting"]) for r in found)

    # Among the most recent changes at both sizes: a comment, whose goal is looked up by its id.
    editor = cast.access("vendor_editor")
    at(utc(2027, 7, 3, 9), lambda: goal_comments.comment_create(access=editor, goal_id=week["both"].pk, body="!"))
    small, waiting = queries()
    for _ in range(3):
        admin = f.make_user()
        other = f.make_partnership(admin)
        f.add_member(other, person, Side.PARTNER, "approver")
        vendor = f.access(admin, other)
        for _ in range(2):
            goal = at(utc(2027, 7, 1, 9), lambda: f.make_goal(vendor, f.make_objective(vendor)))  # noqa: B023
            at(utc(2027, 7, 1, 9), lambda: goals.goal_propose(access=vendor, goal_id=goal.pk))  # noqa: B023
            at(utc(2027, 7, 1, 10), lambda: goal_comments.comment_create(access=vendor, goal_id=goal.pk, body="?"))  # noqa: B023
    large, more = queries()
    assert more == waiting + 6
    assert large == small


def test_a_goal_agreed_in_the_period_is_not_waiting_any_more(cast, week, send) -> None:
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    both = week["both"]
    at(utc(2027, 7, 3, 9), lambda: goals.goal_approve(access=vendor, goal_id=both.pk, revision=both.revision))
    at(utc(2027, 7, 3, 10), lambda: goals.goal_approve(access=partner, goal_id=both.pk, revision=both.revision))
    assert Goal.objects.get(pk=both.pk).status == GoalStatus.AGREED
    send(utc(2027, 7, 5, 6, 5))
    body = digest_to(cast.vendor_approver).body
    assert "Certified consultants (revision" not in body
    assert "2 goals agreed by both sides" in body


# --- Choosing ----------------------------------------------------------------------------------


def test_the_reminders_page_offers_weekly_or_daily_beside_the_mute_boxes_and_saves_the_choice(cast, client) -> None:
    person = cast.partner_editor
    client.force_login(person)
    page = client.get("/settings/reminders/").content.decode()
    assert "<legend>Digest</legend>" in page
    assert re.search(r'<input type="radio" name="digest_frequency" value="weekly" checked>', page)
    kinds = ["review_upcoming", "weekly_digest"]
    saved = client.post("/settings/reminders/", {"receive": kinds, "digest_frequency": "daily"})
    assert saved.status_code == 200 and "Saved." in saved.content.decode()
    assert re.search(r'<input type="radio" name="digest_frequency" value="daily" checked>', saved.content.decode())
    person.refresh_from_db()
    assert person.digest_frequency == "daily" and "weekly_digest" not in person.muted_reminder_kinds
    # Left out (an older form): the frequency stays as it is.
    client.post("/settings/reminders/", {"receive": kinds})
    person.refresh_from_db()
    assert person.digest_frequency == "daily"


def test_an_unknown_frequency_is_refused_and_nothing_is_saved(cast, client) -> None:
    person = cast.partner_editor
    client.force_login(person)
    refused = client.post("/settings/reminders/", {"receive": [], "digest_frequency": "hourly"})
    assert refused.status_code == 400
    assert "Choose a weekly or a daily digest; nothing was saved." in refused.content.decode()
    person.refresh_from_db()
    assert (person.digest_frequency, person.muted_reminder_kinds) == ("weekly", [])


def test_the_settings_page_saves_the_digest_frequency_with_the_mute_boxes(cast, client) -> None:
    person = cast.vendor_viewer
    client.force_login(person)
    page = client.get("/settings/").content.decode()
    assert re.search(r'<input type="radio" name="digest_frequency" value="weekly"[^>]*checked', page)
    ticked = dict.fromkeys(("weekly_digest", "review_upcoming"), "on")
    assert client.post("/settings/notifications/", ticked | {"digest_frequency": "daily"}).status_code == 302
    person.refresh_from_db()
    assert person.digest_frequency == "daily" and "weekly_digest" not in person.muted_reminder_kinds
    refused = client.post("/settings/notifications/", {"digest_frequency": "monthly"})
    assert refused.status_code == 400 and "monthly" in refused.content.decode()
    person.refresh_from_db()
    assert person.digest_frequency == "daily" and "weekly_digest" not in person.muted_reminder_kinds
