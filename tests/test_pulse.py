"""The relationship pulse at each review (``cadence.pulse``): each person answers five questions
from 1 to 5 once per review and may change them while the pulse is open; the results are read side
by side with the gap, the other side hidden until one has answered or the review is held; the
trend per side; the unanswered pulse reminded exactly once per person and review."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import ReminderKind
from accounts.services import mute
from alignment.models import AlignmentReview, ChangeEvent, Partnership, Side
from alignment.services import review_schedule, review_skip
from cadence import pulse, reminders
from cadence.models import PulseAnswer
from cadence.services import review_hold
from core import outbox
from core.errors import InvalidInput, NotFound, RuleViolation, StaleVersion
from core.models import MailKind, OutboxMessage
from tests import factories as f
from tests.api_support import ApiClient

UTC = dt.UTC
MEMBERS = 7  # the cast's partnership: four vendor people, three partner people


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def scores(trust: int, fairness: int, value: int, responsiveness: int, ease: int) -> dict[str, int]:
    return {"trust": trust, "fairness": fairness, "value": value, "responsiveness": responsiveness, "ease": ease}


def scheduled(cast: Any, when: dt.datetime) -> AlignmentReview:
    with time_machine.travel(when - dt.timedelta(days=30), tick=False):
        return review_schedule(access=cast.access("vendor_admin"), scheduled_for=when)


def hold(cast: Any, review: AlignmentReview) -> AlignmentReview:
    with time_machine.travel(review.scheduled_for + dt.timedelta(hours=2), tick=False):
        return review_hold(
            access=cast.access("vendor_admin"),
            review_id=review.pk,
            held_on=review.scheduled_for.date(),
            schedule_next=False,
        )


def answer(cast: Any, who: str, review: AlignmentReview, values: dict[str, int], note: str = "", **kw: Any) -> Any:
    with time_machine.travel(review.scheduled_for + dt.timedelta(hours=3), tick=False):
        return pulse.pulse_answer(access=cast.access(who), review_id=review.pk, answers=values, note=note, **kw)


@pytest.fixture
def review(cast) -> AlignmentReview:  # type: ignore[no-untyped-def]
    return scheduled(cast, utc(2027, 7, 1, 8))


# --- Answering ----------------------------------------------------------------------------------


def test_answering_stores_one_row_with_the_persons_side_and_one_change_event_for_that_side(cast, review) -> None:
    given = answer(cast, "partner_editor", review, scores(4, 3, 5, 2, 4), note="Slow answers on quotes")
    row = PulseAnswer.objects.get()
    assert (row.pk, row.side, row.respondent_id, row.scores(), row.note, row.version) == (
        given.pk,
        Side.PARTNER,
        cast.partner_editor.pk,
        [4, 3, 5, 2, 4],
        "Slow answers on quotes",
        1,
    )
    events = list(ChangeEvent.objects.filter(object_type="pulseanswer"))
    assert [(e.action, e.side_only) for e in events] == [("create", Side.PARTNER)]


def test_changing_ones_answers_bumps_the_version_and_records_one_change_and_the_same_answers_record_none(
    cast, review
) -> None:
    first = answer(cast, "vendor_viewer", review, scores(3, 3, 3, 3, 3))
    changed = answer(cast, "vendor_viewer", review, scores(3, 4, 3, 3, 3), expected_version=first.version)
    again = answer(cast, "vendor_viewer", review, scores(3, 4, 3, 3, 3))
    assert PulseAnswer.objects.count() == 1
    assert (changed.pk, changed.version, changed.fairness, again.version) == (first.pk, 2, 4, 2)
    events = list(ChangeEvent.objects.filter(object_type="pulseanswer").order_by("seq"))
    assert [(e.action, e.side_only) for e in events] == [("create", Side.VENDOR), ("update", Side.VENDOR)]
    assert (events[1].before["fairness"], events[1].after["fairness"]) == (3, 4)


def test_a_change_against_an_older_version_is_refused(cast, review) -> None:
    answer(cast, "vendor_editor", review, scores(3, 3, 3, 3, 3))
    answer(cast, "vendor_editor", review, scores(4, 3, 3, 3, 3))
    with pytest.raises(StaleVersion):
        answer(cast, "vendor_editor", review, scores(5, 5, 5, 5, 5), expected_version=1)
    assert PulseAnswer.objects.get().trust == 4


@pytest.mark.parametrize(
    ("values", "bad"),
    [
        ({"trust": 3, "fairness": 3, "value": 3, "responsiveness": 3}, ["ease"]),
        (scores(0, 3, 3, 3, 3), ["trust"]),
        (scores(3, 6, 3, 3, 3), ["fairness"]),
        ({**scores(3, 3, 3, 3, 3), "value": "many"}, ["value"]),
        ({**scores(3, 3, 3, 3, 3), "value": 2.5}, ["value"]),
        ({**scores(3, 3, 3, 3, 3), "ease": True}, ["ease"]),
        ({**scores(3, 3, 3, 3, 3), "loyalty": 5}, ["loyalty"]),
        ({}, ["ease", "fairness", "responsiveness", "trust", "value"]),
    ],
)
def test_bad_answers_are_refused_naming_each_bad_field(cast, review, values: dict[str, Any], bad: list[str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        answer(cast, "partner_approver", review, values)
    assert refused.value.status == 400
    assert sorted(refused.value.fields) == bad
    assert not PulseAnswer.objects.exists()


def test_a_note_too_long_or_with_a_nul_character_is_refused(cast, review) -> None:
    with pytest.raises(InvalidInput) as too_long:
        answer(cast, "partner_approver", review, scores(3, 3, 3, 3, 3), note="x" * 2001)
    assert list(too_long.value.fields) == ["note"]
    with pytest.raises(InvalidInput):
        answer(cast, "partner_approver", review, scores(3, 3, 3, 3, 3), note="a\x00b")
    assert not PulseAnswer.objects.exists()


def test_the_database_refuses_a_score_out_of_range_and_a_second_answer_of_one_person(cast, review) -> None:
    base = {"review": review, "respondent": cast.vendor_editor, "side": Side.VENDOR, **scores(3, 3, 3, 3, 3)}
    for question in PulseAnswer.QUESTIONS:
        for wrong in (0, 6):
            with pytest.raises(IntegrityError), transaction.atomic():
                PulseAnswer.objects.create(**(base | {question: wrong}))
    with pytest.raises(IntegrityError), transaction.atomic():
        PulseAnswer.objects.create(**(base | {"side": "both"}))
    PulseAnswer.objects.create(**base)
    with pytest.raises(IntegrityError), transaction.atomic():
        PulseAnswer.objects.create(**base)


def test_the_pulse_takes_answers_until_its_days_after_the_review_was_held_and_never_for_a_skipped_one(
    cast, review, settings
) -> None:
    settings.PULSE_ANSWER_DAYS = 14
    hold(cast, review)
    with time_machine.travel(utc(2027, 7, 15, 23), tick=False):  # the 14th day after 1 July
        pulse.pulse_answer(access=cast.access("partner_viewer"), review_id=review.pk, answers=scores(4, 4, 4, 4, 4))
    with time_machine.travel(utc(2027, 7, 16, 1), tick=False), pytest.raises(RuleViolation) as closed:
        pulse.pulse_answer(access=cast.access("partner_editor"), review_id=review.pk, answers=scores(4, 4, 4, 4, 4))
    assert (closed.value.code, closed.value.status) == ("pulse.closed", 409)

    skipped = scheduled(cast, utc(2027, 8, 1, 8))
    with time_machine.travel(utc(2027, 7, 20), tick=False):
        review_skip(access=cast.access("vendor_admin"), review_id=skipped.pk)
        with pytest.raises(RuleViolation):
            pulse.pulse_answer(access=cast.access("vendor_admin"), review_id=skipped.pk, answers=scores(4, 4, 4, 4, 4))
    assert list(PulseAnswer.objects.values_list("respondent_id", flat=True)) == [cast.partner_viewer.pk]


def test_a_review_of_another_partnership_is_not_found(cast, review) -> None:
    theirs = f.access(cast.outsider, cast.outsider_partnership)
    with pytest.raises(NotFound):
        pulse.pulse_answer(access=theirs, review_id=review.pk, answers=scores(1, 1, 1, 1, 1))
    assert not PulseAnswer.objects.exists()


# --- Reading: side by side, hidden, trend -------------------------------------------------------


def test_results_side_by_side_with_means_counts_gaps_and_the_flag_from_one_and_a_half_points(cast, review) -> None:
    answer(cast, "vendor_admin", review, scores(5, 4, 5, 4, 3))
    answer(cast, "vendor_editor", review, scores(4, 4, 4, 4, 3))
    answer(cast, "vendor_viewer", review, scores(5, 4, 3, 4, 3))
    answer(cast, "partner_approver", review, scores(3, 2, 4, 4, 2), note="Leads arrive late")
    answer(cast, "partner_editor", review, scores(3, 3, 4, 3, 1))
    results = pulse.pulse_results(cast.access("partner_viewer"), hold(cast, review))
    assert results.counts == {Side.VENDOR: 3, Side.PARTNER: 2}
    assert results.hidden_side is None
    got = {q.question: (q.means[Side.VENDOR], q.means[Side.PARTNER], q.gap, q.flagged) for q in results.questions}
    assert got == {
        "trust": (4.67, 3.0, -1.67, True),  # 14/3 against 3
        "fairness": (4.0, 2.5, -1.5, True),  # exactly one and a half points: flagged
        "value": (4.0, 4.0, 0.0, False),
        "responsiveness": (4.0, 3.5, -0.5, False),
        "ease": (3.0, 1.5, -1.5, True),
    }
    assert results.overall == {Side.VENDOR: 3.93, Side.PARTNER: 2.9}  # 59/15 and 29/10
    # For a partner reader their own side comes first and the vendor rates trust higher.
    trust = results.rows()[0]
    assert (trust["own"], trust["other"], trust["distance"], trust["higher"]) == (3.0, 4.67, 1.67, "other")
    assert [(n.side, n.author, n.text) for n in results.notes] == [(Side.PARTNER, "Pat Partner", "Leads arrive late")]


def test_the_other_sides_numbers_and_notes_are_hidden_until_one_answered_or_the_review_is_held(cast, review) -> None:
    answer(cast, "vendor_editor", review, scores(5, 5, 5, 5, 5), note="Great quarter")
    answer(cast, "partner_editor", review, scores(2, 2, 2, 2, 2), note="Too slow")

    before = pulse.pulse_results(cast.access("partner_approver"), review)  # has not answered
    assert before.hidden_side == Side.VENDOR
    assert before.counts == {Side.VENDOR: 1, Side.PARTNER: 1}  # how many answered is shown
    assert {q.means[Side.VENDOR] for q in before.questions} == {None}
    assert {q.means[Side.PARTNER] for q in before.questions} == {2.0}  # their own side is shown
    assert {q.gap for q in before.questions} == {None}
    assert [n.text for n in before.notes] == ["Too slow"]

    answered = pulse.pulse_results(cast.access("partner_editor"), review)
    assert answered.hidden_side is None
    assert {q.means[Side.VENDOR] for q in answered.questions} == {5.0}
    assert sorted(n.text for n in answered.notes) == ["Great quarter", "Too slow"]

    held = pulse.pulse_results(cast.access("partner_approver"), hold(cast, review))
    assert held.hidden_side is None
    assert {q.gap for q in held.questions} == {-3.0}


def test_the_trend_is_each_sides_overall_mean_at_the_last_held_reviews_oldest_first(cast) -> None:
    months = [utc(2027, m, 1, 8) for m in (1, 2, 3, 4)]
    reviews = [scheduled(cast, when) for when in months]
    answer(cast, "vendor_admin", reviews[0], scores(5, 5, 5, 5, 5))
    answer(cast, "partner_approver", reviews[0], scores(1, 2, 3, 4, 5))
    answer(cast, "vendor_admin", reviews[1], scores(4, 4, 4, 4, 4))
    answer(cast, "vendor_editor", reviews[1], scores(3, 3, 3, 3, 2))
    answer(cast, "partner_approver", reviews[2], scores(2, 2, 2, 2, 2))
    answer(cast, "partner_approver", reviews[3], scores(5, 5, 5, 5, 5))  # not held: not in the trend
    for r in reviews[:3]:
        hold(cast, r)
    points = pulse.pulse_trend(cast.partnership)
    assert [(p.held_on, p.means[Side.VENDOR], p.means[Side.PARTNER], p.counts) for p in points] == [
        (dt.date(2027, 1, 1), 5.0, 3.0, {Side.VENDOR: 1, Side.PARTNER: 1}),
        (dt.date(2027, 2, 1), 3.4, None, {Side.VENDOR: 2, Side.PARTNER: 0}),  # 34/10
        (dt.date(2027, 3, 1), None, 2.0, {Side.VENDOR: 0, Side.PARTNER: 1}),
    ]
    assert [p.held_on for p in pulse.pulse_trend(cast.partnership, size=2)] == [
        dt.date(2027, 2, 1),
        dt.date(2027, 3, 1),
    ]
    lines = pulse.trend_lines(points, width=120, height=32)
    assert lines == {Side.VENDOR: "0.0,0.0 60.0,12.8", Side.PARTNER: "0.0,16.0 120.0,24.0"}


# --- The unanswered pulse: reminded once --------------------------------------------------------


def pulse_rows() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(kind=MailKind.PULSE_UNANSWERED).select_related("recipient"))


def sweep(now: dt.datetime, capture: Any) -> list[Any]:
    with time_machine.travel(now, tick=False), capture(execute=True):
        return reminders.sweep_pulse_unanswered(now)


def test_each_member_who_has_not_answered_is_reminded_exactly_once_after_the_review_was_held(
    cast, review, settings, django_capture_on_commit_callbacks
) -> None:
    settings.REMINDER_PULSE_AFTER_HOURS = 48
    answer(cast, "partner_approver", review, scores(4, 4, 4, 4, 4))
    hold(cast, review)
    mute(cast.vendor_viewer, [ReminderKind.PULSE_UNANSWERED])
    assert sweep(utc(2027, 7, 2, 23), django_capture_on_commit_callbacks) == []  # not due yet
    first = sweep(utc(2027, 7, 3, 1), django_capture_on_commit_callbacks)
    assert len(first) == MEMBERS - 2  # not who answered, not who muted the kind
    assert sweep(utc(2027, 7, 3, 1), django_capture_on_commit_callbacks) == []  # run twice: nothing new
    assert sweep(utc(2027, 7, 5), django_capture_on_commit_callbacks) == []
    rows = pulse_rows()
    assert sorted(r.recipient.email for r in rows) == sorted(
        {
            "admin@vendor.test",
            "editor@vendor.test",
            "approver@vendor.test",
            "editor@partner.test",
            "viewer@partner.test",
        }
    )
    assert {(r.subject_type, r.subject_id, r.occurrence, r.status) for r in rows} == {
        ("review", str(review.pk), review.scheduled_for, OutboxMessage.Status.SENT)
    }
    sent = [m for m in mail.outbox if "pulse" in m.subject]
    assert len(sent) == MEMBERS - 2
    assert all("List-Unsubscribe" in m.extra_headers for m in sent)
    assert f"/reviews/{review.pk}/#pulse-h" in sent[0].body


def test_nobody_is_reminded_once_everyone_answered_or_after_the_pulse_closed(
    cast, settings, django_capture_on_commit_callbacks
) -> None:
    settings.PULSE_ANSWER_DAYS = 14
    everyone = scheduled(cast, utc(2027, 7, 1, 8))
    for who in (
        "vendor_admin",
        "vendor_editor",
        "vendor_approver",
        "vendor_viewer",
        "partner_approver",
        "partner_editor",
        "partner_viewer",
    ):
        answer(cast, who, everyone, scores(3, 3, 3, 3, 3))
    hold(cast, everyone)
    late = hold(cast, scheduled(cast, utc(2027, 5, 3, 8)))
    assert sweep(utc(2027, 7, 4), django_capture_on_commit_callbacks) == []  # the May one closed on 17 May
    assert pulse_rows() == []
    assert late.status == AlignmentReview.Status.HELD


def test_a_reminder_queued_before_the_person_answered_is_not_sent(
    cast, review, settings, django_capture_on_commit_callbacks
) -> None:
    hold(cast, review)
    with time_machine.travel(utc(2027, 7, 3, 1), tick=False):
        queued = reminders.sweep_pulse_unanswered(utc(2027, 7, 3, 1))  # queued, the tasks not run yet
    assert len(queued) == MEMBERS
    answer(cast, "partner_editor", review, scores(3, 3, 3, 3, 3))
    row = OutboxMessage.objects.get(kind=MailKind.PULSE_UNANSWERED, recipient=cast.partner_editor)
    with time_machine.travel(utc(2027, 7, 3, 2), tick=False):
        assert outbox.deliver(row.pk).status == "skipped"
    assert mail.outbox == []


def test_the_inactive_partnership_gets_no_pulse_reminder(cast, review, django_capture_on_commit_callbacks) -> None:
    hold(cast, review)
    Partnership.objects.filter(pk=cast.partnership.pk).update(status=Partnership.Status.ENDED)
    assert sweep(utc(2027, 7, 3, 1), django_capture_on_commit_callbacks) == []


# --- The review page ----------------------------------------------------------------------------


def page(review: AlignmentReview) -> str:
    return f"/p/{review.partnership_id}/reviews/{review.pk}/"


def test_the_review_page_offers_the_form_and_takes_answers(client, cast, review) -> None:
    with time_machine.travel(utc(2027, 6, 20), tick=False):
        client.force_login(cast.partner_editor)
        html = client.get(page(review)).content.decode()
        assert 'id="pulse-h"' in html
        assert html.count('type="radio"') == 25
        assert "Both sides can read your note" in html
        sent = client.post(page(review) + "pulse", scores(4, 3, 4, 5, 2) | {"note": "Good calls"})
        assert (sent.status_code, sent["Location"]) == (302, page(review) + "#pulse-h")
        again = client.get(page(review)).content.decode()
    assert PulseAnswer.objects.get().scores() == [4, 3, 4, 5, 2]
    assert "Change your answers" in again
    assert 'value="4" checked' in again


def test_bad_answers_on_the_page_are_a_400_with_the_message_and_outsiders_get_404(client, cast, review) -> None:
    with time_machine.travel(utc(2027, 6, 20), tick=False):
        client.force_login(cast.partner_editor)
        bad = client.post(page(review) + "pulse", {"trust": "9", "fairness": "3"})
        assert bad.status_code == 400
        assert "Answer each of the five questions" in bad.content.decode()
        client.force_login(cast.outsider)
        assert client.post(page(review) + "pulse", scores(3, 3, 3, 3, 3)).status_code == 404
        assert client.get(page(review)).status_code == 404
    assert not PulseAnswer.objects.exists()


def test_the_page_shows_the_other_side_hidden_then_the_gap_in_the_readers_words(client, cast, review) -> None:
    answer(cast, "vendor_editor", review, scores(5, 5, 5, 5, 5))
    answer(cast, "partner_editor", review, scores(2, 2, 2, 2, 2))
    with time_machine.travel(utc(2027, 6, 20), tick=False):
        client.force_login(cast.partner_approver)
        hidden = client.get(page(review)).content.decode()
    assert "numbers and notes are shown once you have answered" in hidden
    assert hidden.count(">hidden<") == 5
    hold(cast, review)
    with time_machine.travel(utc(2027, 7, 2), tick=False):
        client.force_login(cast.partner_approver)
        shown = client.get(page(review)).content.decode()
    assert "the other side rates it higher" in shown
    assert "the sides see this differently" in shown


def test_the_review_page_runs_the_same_queries_whatever_the_number_of_reviews_and_answers(client, cast) -> None:
    def grow(start: int, n: int) -> AlignmentReview:
        last = None
        for i in range(n):
            r = scheduled(cast, utc(2027, 1, 1, 8) + dt.timedelta(days=10 * (start + i)))
            answer(cast, "vendor_editor", r, scores(4, 4, 4, 4, 4), note="fine")
            answer(cast, "partner_editor", r, scores(2, 3, 2, 3, 2), note="slow")
            last = hold(cast, r)
        assert last is not None
        return last

    def count(r: AlignmentReview) -> int:
        with time_machine.travel(utc(2027, 12, 1), tick=False):
            client.force_login(cast.partner_approver)
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(page(r)).status_code == 200
        return len(ctx.captured_queries)

    small = count(grow(0, 1))
    for who in ("vendor_admin", "vendor_approver", "partner_viewer"):
        answer(cast, who, scheduled(cast, utc(2027, 11, 1, 8)), scores(3, 3, 3, 3, 3))
    large = count(grow(1, 8))
    assert small == large


# --- The API --------------------------------------------------------------------------------------


def test_the_api_answers_the_pulse_with_the_same_hiding_rule_and_takes_ones_own_answers(cast, review) -> None:
    answer(cast, "vendor_editor", review, scores(5, 5, 5, 5, 5), note="Great quarter")
    with time_machine.travel(utc(2027, 6, 20), tick=False):
        partner = ApiClient(cast.partner_approver)
        before = partner.get(f"reviews/{review.pk}/pulse").json()
        assert (before["hidden_side"], before["counts"], before["yours"], before["notes"]) == (
            Side.VENDOR,
            {"vendor": 1, "partner": 0},
            None,
            [],
        )
        assert {q["means"]["vendor"] for q in before["questions"]} == {None}

        bad = partner.put(f"reviews/{review.pk}/pulse", scores(0, 3, 3, 3, 3))
        assert bad.status_code == 400
        assert "trust" in bad.content.decode()
        unknown = partner.put(f"reviews/{review.pk}/pulse", scores(3, 3, 3, 3, 3) | {"mood": 3})
        assert unknown.status_code == 400

        given = partner.put(f"reviews/{review.pk}/pulse", scores(3, 2, 4, 3, 3) | {"note": "Slow quotes"})
        assert given.status_code == 200, given.content
        after = given.json()
        assert after["hidden_side"] is None
        assert after["yours"]["version"] == 1
        fairness = next(q for q in after["questions"] if q["question"] == "fairness")
        assert (fairness["means"], fairness["gap"], fairness["flagged"]) == (
            {"vendor": 5.0, "partner": 2.0},
            -3.0,
            True,
        )
        stale = partner.put(f"reviews/{review.pk}/pulse", scores(3, 3, 3, 3, 3) | {"version": 0})
        assert stale.status_code == 400  # not a version at all
        changed = partner.put(f"reviews/{review.pk}/pulse", scores(3, 3, 3, 3, 3) | {"version": 1})
        assert changed.json()["yours"]["version"] == 2
        older = partner.put(f"reviews/{review.pk}/pulse", scores(4, 4, 4, 4, 4) | {"version": 1})
        assert older.status_code == 412
        assert ApiClient(cast.outsider).get(f"reviews/{review.pk}/pulse").status_code == 404
    assert PulseAnswer.objects.get(respondent=cast.partner_approver).scores() == [3, 3, 3, 3, 3]


def test_pulse_answers_reach_the_change_feed_of_the_answering_side_only(cast, review) -> None:
    answer(cast, "partner_editor", review, scores(2, 2, 2, 2, 2))
    own = ApiClient(cast.partner_approver).get("changes", limit=1000).json()["results"]
    other = ApiClient(cast.vendor_editor).get("changes", limit=1000).json()["results"]
    assert [e["action"] for e in own if e["type"] == "pulse-answer"] == ["create"]
    assert [e for e in other if e["type"] == "pulse-answer"] == []


# --- CSV export and print view --------------------------------------------------------------------


def test_the_pulse_csv_and_the_print_view_show_held_reviews_side_by_side(client, cast, review) -> None:
    answer(cast, "vendor_editor", review, scores(5, 4, 4, 4, 4))
    answer(cast, "partner_editor", review, scores(3, 2, 4, 4, 4))
    hold(cast, review)
    open_one = scheduled(cast, utc(2027, 8, 1, 8))
    answer(cast, "vendor_editor", open_one, scores(1, 1, 1, 1, 1))  # not held: not exported
    with time_machine.travel(utc(2027, 7, 2), tick=False):
        client.force_login(cast.partner_viewer)
        response = client.get(f"/p/{cast.partnership.pk}/export/pulse.csv")
        printed = client.get(f"/p/{cast.partnership.pk}/print/").content.decode()
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Review id,Held on,Question,Vendor mean")
    assert lines[1:] == [
        f"{review.pk},2027-07-01,trust,5.0,1,3.0,1,-2.0,yes",
        f"{review.pk},2027-07-01,fairness,4.0,1,2.0,1,-2.0,yes",
        f"{review.pk},2027-07-01,value,4.0,1,4.0,1,0.0,no",
        f"{review.pk},2027-07-01,responsiveness,4.0,1,4.0,1,0.0,no",
        f"{review.pk},2027-07-01,ease,4.0,1,4.0,1,0.0,no",
    ]
    assert "Relationship pulse" in printed
    assert printed.count("the sides see this differently") == 2
