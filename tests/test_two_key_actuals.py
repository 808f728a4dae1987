"""Two-key actuals: the side that did not enter a figure confirms it, or disputes it with its own
number and a note; a disputed figure keeps both numbers until the sides settle on one; health and
progress never count a disputed figure; a closed goal's figure changes only as a recorded
correction. The same rules through the plan page, the API, e-mail action links, the digest and
chat channels."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from alignment.models import ChangeEvent, Side
from cadence import digest
from cadence.health import load_facts
from core import outbox
from core.errors import InvalidInput, NotAllowed, RuleViolation
from core.models import MailKind, OutboxMessage
from goals import actions
from goals import check_ins as goal_check_ins
from goals import services as goals
from goals.cards import goal_cards
from goals.charts import goal_progress
from goals.models import ActionLink, CheckIn, CheckInReview, Goal, GoalStatus
from goals.queries import latest_check_ins
from plans import chat
from plans.history import history_page
from plans.models import ChatChannel
from tests import factories as f
from tests.api_support import ApiClient

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()


@pytest.fixture
def goal(cast) -> Goal:  # type: ignore[no-untyped-def]
    editor = cast.access("vendor_editor")
    made = f.make_goal(editor, f.make_objective(editor), title="Pipeline this quarter")
    return f.agree(made, cast.access("vendor_approver"), cast.access("partner_approver"))


def vendor_figure(cast, goal, value="150", days=0, note="From the CRM") -> CheckIn:  # type: ignore[no-untyped-def]
    return goal_check_ins.check_in_create(
        access=cast.access("vendor_editor"),
        goal_id=goal.pk,
        value=value,
        note=note,
        measured_on=TODAY - dt.timedelta(days=days),
    )


def reload(ci: CheckIn) -> CheckIn:
    return CheckIn.objects.get(pk=ci.pk)


# --- The services -------------------------------------------------------------------------------


def test_a_new_figure_is_unconfirmed_and_the_other_side_confirms_it(cast, goal):
    ci = vendor_figure(cast, goal)
    assert ci.review == CheckInReview.UNCONFIRMED
    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=ci.pk, expected_version=1)
    ci = reload(ci)
    assert ci.review == CheckInReview.CONFIRMED
    assert ci.reviewed_by == cast.partner_editor and ci.reviewed_at is not None
    assert ci.version == 2
    event = ChangeEvent.objects.filter(object_id=ci.pk, action="update").get()
    assert event.before["review"] == "unconfirmed" and event.after["review"] == "confirmed"
    assert event.actor == cast.partner_editor


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("vendor_approver", "check_in.own_side"),  # the side that entered it
        ("vendor_editor", "check_in.own_side"),
        ("partner_viewer", "permission_denied"),  # viewers read only
    ],
)
def test_only_the_other_sides_editors_and_approvers_confirm_or_dispute(cast, goal, who, code):
    ci = vendor_figure(cast, goal)
    with pytest.raises(NotAllowed) as refused:
        goal_check_ins.check_in_confirm(access=cast.access(who), check_in_id=ci.pk)
    assert refused.value.code == code
    with pytest.raises(NotAllowed):
        goal_check_ins.check_in_dispute(access=cast.access(who), check_in_id=ci.pk, value="120", note="No")
    assert reload(ci).review == CheckInReview.UNCONFIRMED


def test_a_confirmed_figure_is_not_confirmed_or_disputed_again(cast, goal):
    ci = vendor_figure(cast, goal)
    partner = cast.access("partner_approver")
    goal_check_ins.check_in_confirm(access=partner, check_in_id=ci.pk)
    with pytest.raises(RuleViolation) as again:
        goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=ci.pk)
    assert again.value.code == "check_in.already_confirmed"
    with pytest.raises(RuleViolation):
        goal_check_ins.check_in_dispute(access=partner, check_in_id=ci.pk, value="120", note="Too high")


def test_a_dispute_needs_a_different_number_and_a_note(cast, goal):
    ci = vendor_figure(cast, goal)
    partner = cast.access("partner_editor")
    with pytest.raises(InvalidInput) as missing:
        goal_check_ins.check_in_dispute(access=partner, check_in_id=ci.pk, value="", note="  ")
    assert set(missing.value.fields) == {"value", "note"}
    with pytest.raises(InvalidInput) as bad:
        goal_check_ins.check_in_dispute(access=partner, check_in_id=ci.pk, value="lots", note="Too high")
    assert "value" in bad.value.fields
    with pytest.raises(InvalidInput) as same:
        goal_check_ins.check_in_dispute(access=partner, check_in_id=ci.pk, value="150.0", note="Hm")
    assert "value" in same.value.fields
    assert reload(ci).review == CheckInReview.UNCONFIRMED and reload(ci).version == 1

    goal_check_ins.check_in_dispute(access=partner, check_in_id=ci.pk, value="120", note="Two deals slipped")
    ci = reload(ci)
    assert (ci.review, ci.value, ci.disputed_value) == ("disputed", Decimal("150"), Decimal("120"))
    assert ci.dispute_note == "Two deals slipped" and ci.reviewed_by == cast.partner_editor
    with pytest.raises(RuleViolation) as twice:
        goal_check_ins.check_in_confirm(access=cast.access("partner_approver"), check_in_id=ci.pk)
    assert twice.value.code == "check_in.already_disputed"


def test_either_side_settles_on_one_of_the_two_numbers_and_the_dispute_stays_in_history(cast, goal):
    ci = vendor_figure(cast, goal)
    with pytest.raises(RuleViolation) as undisputed:
        goal_check_ins.check_in_settle(access=cast.access("vendor_editor"), check_in_id=ci.pk, value="150")
    assert undisputed.value.code == "check_in.not_disputed"
    goal_check_ins.check_in_dispute(
        access=cast.access("partner_editor"), check_in_id=ci.pk, value="120", note="Two deals slipped"
    )
    with pytest.raises(InvalidInput):
        goal_check_ins.check_in_settle(access=cast.access("vendor_editor"), check_in_id=ci.pk, value="135")
    with pytest.raises(NotAllowed):
        goal_check_ins.check_in_settle(access=cast.access("vendor_viewer"), check_in_id=ci.pk, value="120")

    goal_check_ins.check_in_settle(access=cast.access("vendor_editor"), check_in_id=ci.pk, value="120")
    ci = reload(ci)
    assert (ci.review, ci.value, ci.disputed_value, ci.dispute_note) == ("confirmed", Decimal("120"), None, "")
    assert ci.reviewed_by == cast.vendor_editor
    sentences = [item.sentence for item in history_page(cast.access("partner_viewer")).items]
    assert any("settled the disputed figure of “Pipeline this quarter” on 120" in s and "150" in s for s in sentences)
    assert any("disputed the figure 150" in s and "with 120" in s for s in sentences)
    disputed = next(i for i in history_page(cast.access("partner_viewer")).items if "disputed the figure" in i.sentence)
    assert disputed.quote == "Two deals slipped"


def test_editing_a_figure_makes_it_unconfirmed_again(cast, goal):
    ci = vendor_figure(cast, goal)
    goal_check_ins.check_in_dispute(
        access=cast.access("partner_editor"), check_in_id=ci.pk, value="120", note="Two deals slipped"
    )
    goal_check_ins.check_in_update(access=cast.access("vendor_editor"), check_in_id=ci.pk, value="125")
    ci = reload(ci)
    assert (ci.review, ci.value, ci.disputed_value, ci.reviewed_by) == ("unconfirmed", Decimal("125"), None, None)
    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=ci.pk)
    goal_check_ins.check_in_update(access=cast.access("vendor_editor"), check_in_id=ci.pk, note="Checked twice")
    assert reload(ci).review == CheckInReview.CONFIRMED  # the number did not change


def test_a_closed_goals_figure_changes_only_as_a_correction_recorded_in_history(cast, goal):
    ci = vendor_figure(cast, goal)
    goals.goal_close(access=cast.access("vendor_approver"), goal_id=goal.pk, outcome=GoalStatus.DROPPED, note="Done")
    editor = cast.access("vendor_editor")
    with pytest.raises(RuleViolation) as refused:
        goal_check_ins.check_in_update(access=editor, check_in_id=ci.pk, value="140")
    assert refused.value.code == "check_in.goal_closed"
    assert reload(ci).value == Decimal("150")

    goal_check_ins.check_in_update(access=editor, check_in_id=ci.pk, value="140", correction=True)
    assert (reload(ci).value, reload(ci).review) == (Decimal("140"), "unconfirmed")
    event = ChangeEvent.objects.filter(object_id=ci.pk, action="update").get()
    assert (Decimal(event.before["value"]), Decimal(event.after["value"])) == (150, 140)
    assert "after the close" in event.summary
    item = next(i for i in history_page(cast.access("partner_viewer")).items if i.event.pk == event.pk)
    assert "corrected the figure of “Pipeline this quarter” after the goal closed, from 150" in item.sentence
    assert "to 140" in item.sentence
    with pytest.raises(NotAllowed):  # the other side never corrects this side's figure
        goal_check_ins.check_in_update(
            access=cast.access("partner_editor"), check_in_id=ci.pk, value="1", correction=True
        )


# --- What counts --------------------------------------------------------------------------------


def test_health_and_progress_leave_a_disputed_figure_out_until_it_is_settled(cast, goal):
    older = vendor_figure(cast, goal, value="120", days=7)
    newer = vendor_figure(cast, goal, value="180", days=1)
    partner = cast.access("partner_editor")
    assert latest_check_ins([goal.pk])[(goal.pk, Side.VENDOR)].pk == newer.pk
    goal_check_ins.check_in_dispute(access=partner, check_in_id=newer.pk, value="160", note="Booked later")

    # The latest undisputed figure counts meanwhile, in health and on the card.
    assert latest_check_ins([goal.pk])[(goal.pk, Side.VENDOR)].pk == older.pk
    facts = load_facts([cast.partnership.pk], timezone.now())[cast.partnership.pk]
    assert facts.latest_check_ins[(goal.pk, Side.VENDOR)]["measured_on"] == older.measured_on
    card = goal_cards(cast.access("partner_viewer"), goal_ids=[goal.pk])[0]
    assert card.newest_check_in.pk == older.pk and card.progress_percent == 20
    assert card.goal.has_disputed_figure

    goal_check_ins.check_in_settle(access=partner, check_in_id=newer.pk, value="160")
    assert latest_check_ins([goal.pk])[(goal.pk, Side.VENDOR)].pk == newer.pk
    facts = load_facts([cast.partnership.pk], timezone.now())[cast.partnership.pk]
    assert facts.latest_check_ins[(goal.pk, Side.VENDOR)]["measured_on"] == newer.measured_on
    card = goal_cards(cast.access("partner_viewer"), goal_ids=[goal.pk])[0]
    assert card.progress_percent == 60 and not card.goal.has_disputed_figure


def test_a_goal_with_only_a_disputed_figure_has_no_fresh_check_in(cast, goal):
    ci = vendor_figure(cast, goal)
    goal_check_ins.check_in_dispute(access=cast.access("partner_editor"), check_in_id=ci.pk, value="1", note="No")
    facts = load_facts([cast.partnership.pk], timezone.now())[cast.partnership.pk]
    assert (goal.pk, Side.VENDOR) not in facts.latest_check_ins


def test_the_chart_draws_no_disputed_figure_and_marks_the_rest(cast, goal):
    vendor_figure(cast, goal, value="120", days=7)
    disputed = vendor_figure(cast, goal, value="180", days=1)
    goal_check_ins.check_in_dispute(
        access=cast.access("partner_editor"), check_in_id=disputed.pk, value="95", note="Not yet booked"
    )
    chart = goal_progress(goal, list(CheckIn.objects.filter(goal=goal)))
    vendor_points = next(s for s in chart.series if s.key == "vendor").points
    assert len(vendor_points) == 1 and "(unconfirmed)" in vendor_points[0].title
    values = [row[2] for row in chart.table_rows]
    assert "120 EUR k (unconfirmed)" in values[0] or "(unconfirmed)" in values[0]
    assert values[1].startswith("disputed: 180") and "vs 95" in values[1]
    assert chart.table_rows[1][3] == "–"  # a disputed figure makes no progress


# --- The plan page ------------------------------------------------------------------------------


def test_the_other_side_confirms_and_disputes_in_the_goal_card(cast, goal, client):
    ci = vendor_figure(cast, goal)
    base = f"/p/{cast.partnership.pk}/goals/{goal.pk}/"
    client.force_login(cast.vendor_editor)
    own = client.get(base).content.decode()
    assert "unconfirmed" in own and f"check-ins/{ci.pk}/confirm/" not in own  # not for its own side

    client.force_login(cast.partner_editor)
    page = client.get(base).content.decode()
    assert f"check-ins/{ci.pk}/confirm/" in page and f"check-ins/{ci.pk}/dispute/" in page
    form = client.get(base + f"check-ins/{ci.pk}/dispute/", headers={"HX-Request": "true"})
    assert form.status_code == 200 and "Your side&#x27;s number" in form.content.decode()
    missing = client.post(base + f"check-ins/{ci.pk}/dispute/", {"version": "1", "value": "120", "note": ""})
    assert missing.status_code == 422 and reload(ci).review == "unconfirmed"
    done = client.post(
        base + f"check-ins/{ci.pk}/dispute/",
        {"version": "1", "value": "120", "note": "Two deals slipped"},
        headers={"HX-Request": "true", "X-Details-Open": "true"},
    )
    assert done.status_code == 200
    text = done.content.decode()
    assert "disputed: 150 EUR k vs 120 EUR k" in text or "disputed: 150" in text
    assert "Settle on 150" in text and "Settle on 120" in text
    settled = client.post(
        base + f"check-ins/{ci.pk}/settle/",
        {"version": "2", "value": "120.0000"},
        headers={"HX-Request": "true", "X-Details-Open": "true"},
    )
    assert settled.status_code == 200 and reload(ci).value == Decimal("120")
    refused = client.post(base + f"check-ins/{ci.pk}/confirm/", {"version": "3"}, headers={"HX-Request": "true"})
    assert refused.status_code == 409 and "confirmed already" in refused.content.decode()


def test_the_check_ins_csv_says_each_figures_source_state_and_the_other_sides_number(cast, goal, client):
    confirmed = vendor_figure(cast, goal, value="150", days=2)
    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=confirmed.pk)
    disputed = vendor_figure(cast, goal, value="170", days=1)
    goal_check_ins.check_in_dispute(
        access=cast.access("partner_editor"), check_in_id=disputed.pk, value="160", note="One deal slipped"
    )
    vendor_figure(cast, goal, value="180")
    client.force_login(cast.partner_editor)
    response = client.get(f"/p/{cast.partnership.pk}/export/check-ins.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [(r["Value"], r["Source"], r["State"], r["Other side's figure"], r["Dispute note"]) for r in rows] == [
        ("150", "web", "confirmed", "", ""),
        ("170", "web", "disputed", "160", "One deal slipped"),
        ("180", "web", "unconfirmed", "", ""),
    ]


def test_outsiders_get_404_for_a_figure(cast, goal, client):
    ci = vendor_figure(cast, goal)
    client.force_login(cast.outsider)
    base = f"/p/{cast.partnership.pk}/goals/{goal.pk}/"
    assert client.post(base + f"check-ins/{ci.pk}/confirm/", {"version": "1"}).status_code == 404
    assert reload(ci).review == "unconfirmed"


# --- The API ------------------------------------------------------------------------------------


def test_the_api_shows_the_review_state_and_confirms_disputes_and_settles(cast, goal):
    ci = vendor_figure(cast, goal)
    partner = ApiClient(cast.partner_editor)
    shown = partner.get(f"check-ins/{ci.pk}").json()
    assert shown["review"] == "unconfirmed" and shown["reviewed_by"] is None and shown["disputed_value"] is None

    own = ApiClient(cast.vendor_editor).post(f"check-ins/{ci.pk}/confirm", {})
    assert own.status_code == 403
    missing = partner.post(f"check-ins/{ci.pk}/dispute", {"value": "120"})
    assert missing.status_code == 400 and "note" in json.dumps(missing.json())
    disputed = partner.post(f"check-ins/{ci.pk}/dispute", {"value": "120", "note": "Two deals slipped"})
    assert disputed.status_code == 200, disputed.content
    body = disputed.json()
    assert (body["review"], body["disputed_value"], body["dispute_note"]) == (
        "disputed",
        "120.0000",
        "Two deals slipped",
    )
    assert body["reviewed_by"] == str(cast.partner_editor.public_id)
    assert disputed["ETag"] == '"2"'

    stale = ApiClient(cast.vendor_editor).post(f"check-ins/{ci.pk}/settle", {"value": "120", "version": 1})
    assert stale.status_code == 412
    settled = ApiClient(cast.vendor_editor).post(f"check-ins/{ci.pk}/settle", {"value": "120", "version": 2})
    assert settled.status_code == 200 and settled.json()["value"] == "120.0000"
    assert settled.json()["review"] == "confirmed"
    again = partner.post(f"check-ins/{ci.pk}/settle", {"value": "120"})
    assert again.status_code == 409 and again.json()["code"] == "check_in.not_disputed"
    assert ApiClient(cast.outsider).post(f"check-ins/{ci.pk}/confirm", {}).status_code == 404


def test_the_api_corrects_a_closed_goals_figure_only_when_asked(cast, goal):
    ci = vendor_figure(cast, goal)
    goals.goal_close(access=cast.access("vendor_approver"), goal_id=goal.pk, outcome=GoalStatus.DROPPED, note="Stopped")
    vendor = ApiClient(cast.vendor_editor)
    refused = vendor.patch(f"check-ins/{ci.pk}", {"value": "140"}, headers={"If-Match": '"1"'})
    assert refused.status_code == 409 and refused.json()["code"] == "check_in.goal_closed"
    done = vendor.patch(f"check-ins/{ci.pk}", {"value": "140", "correction": True}, headers={"If-Match": '"1"'})
    assert done.status_code == 200 and done.json()["value"] == "140.0000"


def test_the_schema_describes_the_figure_actions(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    for action in ("confirm", "dispute", "settle"):
        assert f"/api/v1/check-ins/{{id}}/{action}/" in schema["paths"]
    dispute = schema["paths"]["/api/v1/check-ins/{id}/dispute/"]["post"]
    assert dispute["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("CheckInDisputeIn")


# --- Action links in e-mails --------------------------------------------------------------------


def figure_link(cast, ci) -> str:  # type: ignore[no-untyped-def]
    raw = actions.create_link(user=cast.partner_editor, action=ActionLink.Action.CONFIRM_FIGURE, check_in=ci)
    return f"/a/{raw}/"


def test_a_figure_link_shows_the_figure_changes_nothing_and_confirms_on_post(cast, goal, client):
    ci = vendor_figure(cast, goal)
    path = figure_link(cast, ci)
    events = ChangeEvent.objects.count()
    page = client.get(path)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Pipeline this quarter" in text and "150 EUR k" in text and "From the CRM" in text
    assert "Ed Editor" in text and "Confirm 150 EUR k" in text and "Dispute the figure" in text
    client.get(path)
    assert ChangeEvent.objects.count() == events and reload(ci).review == "unconfirmed"
    assert not ActionLink.objects.filter(used_at__isnull=False).exists()

    done = client.post(path, {"decision": "confirm"}, follow=True)
    assert done.redirect_chain[-1][0] == path + "done/"
    assert "You confirmed the figure 150 EUR k" in done.content.decode()
    ci = reload(ci)
    assert ci.review == "confirmed" and ci.reviewed_by == cast.partner_editor
    assert client.post(path, {"decision": "confirm"}).status_code == 410  # single use


def test_a_figure_link_disputes_with_a_number_and_a_note(cast, goal, client):
    ci = vendor_figure(cast, goal)
    path = figure_link(cast, ci)
    missing = client.post(path, {"decision": "dispute", "value": "120", "note": ""})
    assert missing.status_code == 400 and "Say why your side" in missing.content.decode()
    assert reload(ci).review == "unconfirmed"
    done = client.post(path, {"decision": "dispute", "value": "120", "note": "Two deals slipped"}, follow=True)
    assert "You disputed the figure 150 EUR k" in done.content.decode()
    ci = reload(ci)
    assert (ci.review, ci.disputed_value, ci.dispute_note) == ("disputed", Decimal("120"), "Two deals slipped")


def test_a_figure_link_is_refused_once_the_figure_changed_and_for_the_side_that_entered_it(cast, goal, client):
    ci = vendor_figure(cast, goal)
    path = figure_link(cast, ci)
    goal_check_ins.check_in_update(access=cast.access("vendor_editor"), check_in_id=ci.pk, value="151")
    stale = client.get(path)
    assert stale.status_code == 409 and "changed since the e-mail" in stale.content.decode()
    own = actions.create_link(user=cast.vendor_approver, action=ActionLink.Action.CONFIRM_FIGURE, check_in=reload(ci))
    assert client.get(f"/a/{own}/").status_code == 403


# --- The digest ---------------------------------------------------------------------------------


def test_the_digest_lists_figures_waiting_for_the_side_with_links_in_constant_queries(cast, goal):
    person = User.objects.get(pk=cast.partner_editor.pk)
    vendor_figure(cast, goal, value="150")
    confirmed = vendor_figure(cast, goal, value="140", days=3)
    goal_check_ins.check_in_confirm(access=cast.access("partner_approver"), check_in_id=confirmed.pk)
    goal_check_ins.check_in_create(access=cast.access("partner_editor"), goal_id=goal.pk, value="155")  # their own
    now = timezone.now()

    def rows():  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as ctx:
            found = digest.digest_rows(person, now, digest.current_period(person, now))
        return found, len(ctx.captured_queries)

    found, small = rows()
    figures = found[0]["figures_to_confirm"]
    assert [item["check_in"].value for item in figures] == [Decimal("150")]
    assert figures[0]["link"].url.startswith("http") and found[0]["news"]
    link = ActionLink.objects.get(check_in=figures[0]["check_in"], user=person)
    assert link.action == ActionLink.Action.CONFIRM_FIGURE and link.revision == 1

    for n in range(12):
        vendor_figure(cast, goal, value=str(200 + n), days=n % 5)
    editor = cast.access("vendor_editor")
    other = f.make_goal(editor, f.make_objective(editor), title="Second goal")
    other = f.agree(other, cast.access("vendor_approver"), cast.access("partner_approver"))
    vendor_figure(cast, other, value="7")
    found, large = rows()
    assert large == small
    assert len(found[0]["figures_to_confirm"]) == digest.FIGURES_SHOWN
    assert found[0]["figures_more"] == 14 - digest.FIGURES_SHOWN


def test_the_digest_email_offers_the_confirm_or_dispute_link(cast, goal):
    vendor_figure(cast, goal, value="150")
    person = User.objects.get(pk=cast.partner_editor.pk)
    now = timezone.now()
    period = digest.current_period(person, now)
    outbox.queue([outbox.Message(MailKind.WEEKLY_DIGEST, "user", str(person.pk), period.key, recipient_id=person.pk)])
    for row in OutboxMessage.objects.filter(status="pending"):
        outbox.deliver(row.pk)
    message = next(m for m in mail.outbox if m.to == [person.email])
    assert "Figures waiting for your side to confirm:" in message.body
    assert "“Pipeline this quarter”: 150 EUR k" in message.body
    assert re.search(r"Confirm or dispute a figure: http://testserver/a/[\w-]+/", message.body)


# --- Chat channels ------------------------------------------------------------------------------


def test_a_dispute_becomes_a_chat_message_naming_the_goal_both_numbers_and_who(cast, goal):
    txid, seq = chat.feed_end()
    channel = ChatChannel.objects.create(
        partnership=cast.partnership,
        side=Side.VENDOR,
        kind=ChatChannel.Kind.SLACK,
        name="#plan",
        url="https://hooks.slack.com/services/T0/B0/x",
        event_kinds=["figure.disputed"],
        after_txid=txid,
        after_seq=seq,
        owner=cast.vendor_admin,
    )
    ci = vendor_figure(cast, goal)
    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=vendor_figure(cast, goal).pk)
    goal_check_ins.check_in_dispute(
        access=cast.access("partner_editor"), check_in_id=ci.pk, value="120", note="Private reasoning"
    )
    assert chat.chat_sweep(send=False) == 1
    delivery = channel.deliveries.get()
    assert delivery.event_kind == "figure.disputed"
    text = json.loads(delivery.payload)["text"]
    assert "disputed the figure 150 EUR k of the goal “Pipeline this quarter” with 120 EUR k" in text
    assert "Pete Editor" in text and "partner side" in text
    assert "Private reasoning" not in text
    assert "figure.disputed" in chat.EVENT_KINDS
