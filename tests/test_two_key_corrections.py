"""Two-key actuals in health, and corrections after the close.

Health counts only figures the other side confirmed (or the sides settled) for the freshness of
check-ins and says how many wait; both paths of health (``load_facts`` and the incremental
``HealthState``) and the stored dashboard numbers agree at every step. A closed goal's figure is
changed or deleted only as a correction, recorded with the value before and after and the reason
(services, the API, and the "Correct" form on the goal page)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from alignment.models import ChangeEvent
from cadence import health
from cadence.models import PartnershipAttention
from core.errors import RuleViolation
from goals import check_ins as goal_check_ins
from goals import services as goals
from goals.models import CheckIn, Goal, GoalStatus
from plans.history import history_page
from tests import factories as f
from tests.api_support import ApiClient, if_match

pytestmark = pytest.mark.django_db

AGREED = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)
LATER = AGREED + dt.timedelta(days=60)  # the goal has had no check-in for 60 days: half fresh
TITLE = "Pipeline this quarter"


@pytest.fixture
def stale(cast):  # type: ignore[no-untyped-def]
    """A goal agreed on 1 Sep 2026 without a check-in since; the clock stands on 31 Oct 2026."""
    with time_machine.travel(AGREED, tick=False) as traveller:
        editor = cast.access("vendor_editor")
        made = f.make_goal(editor, f.make_objective(editor), title=TITLE)
        goal = f.agree(made, cast.access("vendor_approver"), cast.access("partner_approver"))
        traveller.move_to(LATER)
        yield goal


def vendor_figure(cast: Any, goal: Goal, value: str = "150", days: int = 0) -> CheckIn:
    return goal_check_ins.check_in_create(
        access=cast.access("vendor_editor"),
        goal_id=goal.pk,
        value=value,
        measured_on=timezone.localdate() - dt.timedelta(days=days),
    )


class BothPaths:
    """The health of one plan through ``load_facts`` and through the state patched goal by goal,
    which must be equal after every step."""

    def __init__(self, pid: Any) -> None:
        self.pid = pid
        self.state = health.load_state(pid, timezone.now())

    def freshness(self, goal: Goal) -> health.Component:
        now = timezone.now()
        patched = health.patch_state(self.state, self.pid, now, goals={goal.pk})
        assert patched is not None
        self.state = patched
        whole = health.health_for([self.pid], now)[self.pid]
        assert health.state_report(self.state, now) == whole
        return next(c for c in whole.components if c.key == "freshness")


WAITS = "1 figure waits for the other side's confirmation and does not count yet (“Pipeline this quarter”)."
FRESH = "Every agreed goal had a confirmed check-in in the last 30 days."


def test_a_figure_counts_for_freshness_once_the_other_side_confirms_it(cast, stale):
    paths = BothPaths(cast.partnership.pk)
    before = paths.freshness(stale)
    assert before.score == pytest.approx(0.5)

    ci = vendor_figure(cast, stale)
    entered = paths.freshness(stale)
    assert entered.score == pytest.approx(0.5), "an unconfirmed figure does not make the goal fresh"
    assert entered.explanation.endswith(WAITS)
    assert "has had no confirmed check-in since it was agreed 8 weeks ago" in entered.explanation

    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=ci.pk)
    confirmed = paths.freshness(stale)
    assert (confirmed.score, confirmed.explanation) == (1.0, FRESH)


def test_a_disputed_figure_does_not_count_until_the_sides_settle_it(cast, stale):
    paths = BothPaths(cast.partnership.pk)
    ci = vendor_figure(cast, stale)
    goal_check_ins.check_in_dispute(
        access=cast.access("partner_editor"), check_in_id=ci.pk, value="120", note="Two deals slipped"
    )
    disputed = paths.freshness(stale)
    assert disputed.score == pytest.approx(0.5)
    assert "wait" not in disputed.explanation  # a disputed figure waits for a settlement, not a confirmation

    goal_check_ins.check_in_settle(access=cast.access("vendor_editor"), check_in_id=ci.pk, value="120")
    settled = paths.freshness(stale)
    assert (settled.score, settled.explanation) == (1.0, FRESH)


def test_a_newer_unconfirmed_figure_waits_beside_an_older_confirmed_one(cast, stale):
    paths = BothPaths(cast.partnership.pk)
    older = vendor_figure(cast, stale, value="130", days=10)
    goal_check_ins.check_in_confirm(access=cast.access("partner_approver"), check_in_id=older.pk)
    vendor_figure(cast, stale, value="150")
    both = paths.freshness(stale)
    assert (both.score, both.explanation) == (1.0, f"{FRESH} {WAITS}")
    # A correction makes a confirmed figure unconfirmed again: it waits and stops counting.
    goal_check_ins.check_in_update(access=cast.access("vendor_editor"), check_in_id=older.pk, value="131")
    corrected = paths.freshness(stale)
    assert corrected.score == pytest.approx(0.5)
    assert corrected.explanation.endswith(
        "2 figures wait for the other side's confirmation and do not count yet (“Pipeline this quarter”)."
    )


def test_the_confidence_gap_reads_each_sides_confidence_as_entered(cast, stale):
    goal_check_ins.check_in_create(access=cast.access("vendor_editor"), goal_id=stale.pk, value="150", confidence=5)
    goal_check_ins.check_in_create(access=cast.access("partner_editor"), goal_id=stale.pk, value="150", confidence=1)
    report = health.partnership_health(cast.partnership)
    gap = next(c for c in report.components if c.key == "confidence")
    assert gap.score == 0.0 and "(4 points)" in gap.explanation


def test_confirming_a_figure_changes_the_stored_health_score(cast, stale, django_capture_on_commit_callbacks):
    pid = cast.partnership.pk
    with django_capture_on_commit_callbacks(execute=True):
        ci = vendor_figure(cast, stale)
    entered = PartnershipAttention.objects.get(pk=pid).health
    assert entered == health.health_for([pid], timezone.now())[pid].score
    with django_capture_on_commit_callbacks(execute=True):
        goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=ci.pk)
    confirmed = PartnershipAttention.objects.get(pk=pid).health
    assert confirmed == health.health_for([pid], timezone.now())[pid].score
    assert confirmed == entered + 5  # freshness: from 5 of 10 points to 10


# --- Corrections after the close: the services and the API ------------------------------------


@pytest.fixture
def closed(cast):  # type: ignore[no-untyped-def]
    """An agreed goal with a figure of the vendor side, the partner's confirmation, then closed."""
    editor = cast.access("vendor_editor")
    made = f.make_goal(editor, f.make_objective(editor), title=TITLE)
    goal = f.agree(made, cast.access("vendor_approver"), cast.access("partner_approver"))
    ci = vendor_figure(cast, goal)
    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=ci.pk)
    goals.goal_close(access=cast.access("vendor_approver"), goal_id=goal.pk, outcome=GoalStatus.DROPPED, note="Stopped")
    return CheckIn.objects.get(pk=ci.pk)


def history_item(cast: Any, event: ChangeEvent) -> Any:
    return next(i for i in history_page(cast.access("partner_viewer")).items if i.event.pk == event.pk)


def test_a_closed_goals_figure_is_deleted_only_as_a_correction_with_its_reason_in_history(cast, closed):
    editor = cast.access("vendor_editor")
    with pytest.raises(RuleViolation) as refused:
        goal_check_ins.check_in_delete(access=editor, check_in_id=closed.pk)
    assert refused.value.code == "check_in.goal_closed"
    assert CheckIn.objects.filter(pk=closed.pk).exists()

    goal_check_ins.check_in_delete(access=editor, check_in_id=closed.pk, correction=True, reason="Entered twice")
    assert not CheckIn.objects.filter(pk=closed.pk).exists()
    event = ChangeEvent.objects.get(object_id=closed.pk, action="delete")
    assert "after the close" in event.summary and event.before["correction_reason"] == "Entered twice"
    item = history_item(cast, event)
    assert item.sentence == "deleted the figure 150 EUR k of “Pipeline this quarter” after the goal closed"
    assert (item.actor, item.quote) == ("Ed Editor", "Entered twice")


def test_an_open_goals_figure_is_deleted_as_before(cast, stale):
    ci = vendor_figure(cast, stale)
    goal_check_ins.check_in_delete(access=cast.access("vendor_editor"), check_in_id=ci.pk)
    event = ChangeEvent.objects.get(object_id=ci.pk, action="delete")
    assert history_item(cast, event).sentence == "deleted a check-in on “Pipeline this quarter”"


def test_the_api_deletes_a_closed_goals_figure_only_with_correction(cast, closed):
    vendor = ApiClient(cast.vendor_editor)
    url = f"check-ins/{closed.pk}"
    refused = vendor.delete(url, headers=if_match(closed.version))
    assert refused.status_code == 409 and refused.json()["code"] == "check_in.goal_closed"
    bad = vendor.delete(f"{url}?correction=maybe", headers=if_match(closed.version))
    assert bad.status_code == 400 and "correction" in bad.json()["errors"]
    unknown = vendor.delete(f"{url}?corection=true", headers=if_match(closed.version))
    assert unknown.status_code == 400
    other = ApiClient(cast.partner_editor).delete(f"{url}?correction=true", headers=if_match(closed.version))
    assert other.status_code == 403
    assert CheckIn.objects.filter(pk=closed.pk).exists()

    done = vendor.delete(f"{url}?correction=true&reason=Entered%20twice", headers=if_match(closed.version))
    assert done.status_code == 204
    assert not CheckIn.objects.filter(pk=closed.pk).exists()
    event = ChangeEvent.objects.get(object_id=closed.pk, action="delete")
    assert event.before["correction_reason"] == "Entered twice"
    events, since = [], None
    while True:  # the change feed to its end: the tombstone as usual, without the reason
        page = vendor.get("changes", **({"since": since} if since else {})).json()
        events += page["results"]
        since = page["cursor"]
        if not page["has_more"]:
            break
    tombstone = next(e for e in events if e["id"] == str(closed.pk) and e["action"] == "delete")
    assert "correction_reason" not in str(tombstone)


def test_the_api_correction_records_its_reason(cast, closed):
    vendor = ApiClient(cast.vendor_editor)
    done = vendor.patch(
        f"check-ins/{closed.pk}",
        {"value": "140", "correction": True, "reason": "The CRM export counted one deal twice"},
        headers=if_match(closed.version),
    )
    assert done.status_code == 200 and done.json()["review"] == "unconfirmed"
    assert "correction_reason" not in done.json()
    event = ChangeEvent.objects.filter(object_id=closed.pk, action="update").latest("seq")
    item = history_item(cast, event)
    assert "corrected the figure of “Pipeline this quarter” after the goal closed, from 150" in item.sentence
    assert item.quote == "The CRM export counted one deal twice"
    assert all(row.label != "Correction reason" for row in item.changes)


def test_the_schema_documents_the_correction_of_a_delete(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    delete = schema["paths"]["/api/v1/check-ins/{id}/"]["delete"]
    params = {p["name"]: p for p in delete["parameters"]}
    assert params["correction"]["in"] == "query" and params["correction"]["schema"]["type"] == "boolean"
    assert "reason" in params
    assert "409" in delete["responses"]
    goal_delete = schema["paths"]["/api/v1/goals/{id}/"]["delete"]
    assert "correction" not in {p["name"] for p in goal_delete["parameters"]}


# --- The "Correct" form on the goal page ---------------------------------------------------------


def goal_url(cast: Any, ci: CheckIn) -> str:
    return f"/p/{cast.partnership.pk}/goals/{ci.goal_id}/"


def test_the_side_that_entered_a_figure_sees_correct_on_a_closed_goals_page(cast, closed, client):
    url = goal_url(cast, closed)
    action = f"check-ins/{closed.pk}/correct/"
    client.force_login(cast.vendor_editor)
    assert action in client.get(url).content.decode()
    for other in (cast.partner_editor, cast.vendor_viewer):
        client.force_login(other)
        assert action not in client.get(url).content.decode()


def test_an_open_goal_offers_no_correction(cast, stale, client):
    ci = vendor_figure(cast, stale)
    client.force_login(cast.vendor_editor)
    assert f"check-ins/{ci.pk}/correct/" not in client.get(goal_url(cast, ci)).content.decode()
    form = client.get(goal_url(cast, ci) + f"check-ins/{ci.pk}/correct/", headers={"HX-Request": "true"})
    assert form.status_code == 409


def test_the_correct_form_shows_the_figure_and_saves_a_correction_with_its_reason(cast, closed, client):
    url = goal_url(cast, closed) + f"check-ins/{closed.pk}/correct/"
    client.force_login(cast.vendor_editor)
    form = client.get(url, headers={"HX-Request": "true"})
    assert form.status_code == 200
    text = form.content.decode()
    assert 'name="value"' in text and 'value="150"' in text and 'name="reason"' in text
    assert 'name="measured_on"' in text and "the partner side confirms the corrected figure again" in text
    assert "s figure of " in text  # which figure is corrected: the side's figure of its day, with its value

    saved = client.post(
        url,
        {"version": closed.version, "value": "140", "measured_on": closed.measured_on.isoformat(), "reason": "Typo"},
        headers={"HX-Request": "true", "X-Details-Open": "true"},
    )
    assert saved.status_code == 200 and saved["HX-Retarget"] == f"#goal-{closed.goal_id}"
    ci = CheckIn.objects.get(pk=closed.pk)
    assert (ci.value, ci.review) == (Decimal("140"), "unconfirmed")
    event = ChangeEvent.objects.filter(object_id=closed.pk, action="update").latest("seq")
    item = history_item(cast, event)
    assert item.actor == "Ed Editor" and item.quote == "Typo"
    assert "after the goal closed, from 150 EUR k to 140 EUR k" in item.sentence
    history = client.get(f"/p/{cast.partnership.pk}/").content.decode()  # the plan page's history
    assert "after the goal closed, from 150 EUR k to 140 EUR k" in history and "Typo" in history


def test_a_wrong_correction_shows_the_form_again_with_what_was_typed(cast, closed, client):
    url = goal_url(cast, closed) + f"check-ins/{closed.pk}/correct/"
    client.force_login(cast.vendor_editor)
    missing = client.post(
        url,
        {"version": closed.version, "value": "lots", "measured_on": closed.measured_on.isoformat(), "reason": ""},
        headers={"HX-Request": "true"},
    )
    assert missing.status_code == 422
    text = missing.content.decode()
    assert 'value="lots"' in text and "This field is required." in text
    future = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    later = client.post(url, {"version": closed.version, "value": "140", "measured_on": future, "reason": "Wrong day"})
    assert later.status_code == 422
    text = later.content.decode()
    assert "Must not be in the future." in text and "Wrong day" in text and f'value="{future}"' in text
    stale = client.post(
        url,
        {"version": closed.version - 1, "value": "141", "measured_on": closed.measured_on.isoformat(), "reason": "X"},
    )
    assert stale.status_code == 409 and 'value="141"' in stale.content.decode()
    ci = CheckIn.objects.get(pk=closed.pk)
    assert (ci.value, ci.version) == (Decimal("150"), closed.version)


@pytest.mark.parametrize(("who", "status"), [("partner_editor", 403), ("vendor_viewer", 403), ("outsider", 404)])
def test_only_the_editors_of_the_side_that_entered_a_figure_correct_it(cast, closed, client, who, status):
    url = goal_url(cast, closed) + f"check-ins/{closed.pk}/correct/"
    client.force_login(getattr(cast, who))
    assert client.get(url, headers={"HX-Request": "true"}).status_code == status
    posted = client.post(
        url,
        {"version": closed.version, "value": "1", "measured_on": closed.measured_on.isoformat(), "reason": "Mine"},
        headers={"HX-Request": "true"},
    )
    assert posted.status_code == status
    assert CheckIn.objects.get(pk=closed.pk).value == Decimal("150")
