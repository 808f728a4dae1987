"""Working on the joint plan in place: every step goes through the services, answers with the
refreshed fragment, and rule or input errors come back on the form that was sent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from alignment.models import ChangeEvent, Objective, Vision
from goals import services as goals
from goals.models import CheckIn, Comment, Commitment, Goal, GoalStatus
from tests import factories as f


@pytest.fixture
def goal(cast):
    editor = cast.access("vendor_editor")
    return f.make_goal(editor, f.make_objective(editor, title="Grow the joint pipeline"), title="Pipeline Q4")


def url(cast, path: str) -> str:
    return f"/p/{cast.partnership.pk}/{path}"


def goal_terms(goal: Goal, **changes) -> dict:
    data = {
        "version": goal.version,
        "title": goal.title,
        "description": goal.description,
        "period_start": goal.period_start.isoformat(),
        "period_end": goal.period_end.isoformat(),
        "metric_name": goal.metric_name,
        "metric_unit": goal.metric_unit,
        "baseline": str(goal.baseline),
        "target": str(goal.target),
        "direction": goal.direction,
    }
    return data | changes


def test_the_plan_page_shows_vision_objectives_goals_by_period_approvals_commitments_and_history(client, cast, goal):
    client.force_login(cast.partner_approver)
    html = client.get(url(cast, "")).content.decode()
    for text in (
        "Shared vision",
        "Grow the joint pipeline",
        "For the vendor",
        "More licence revenue",
        "Pipeline Q4",
        "Not proposed yet",
        "History",
        "added the goal",
        f'id="goal-{goal.pk}"',
        f'id="goals-of-{goal.objective_id}"',
        f"{goal.period_start.day} {goal.period_start:%b %Y}",  # dates as people write them: "1 Jul 2026"
        "Getting started",  # no goal agreed by both sides yet: no score to show
        f'hx-get="/p/{cast.partnership.pk}/goals/{goal.pk}/details/"',
    ):
        assert text in html, text
    # The commitments of both sides are in the card's details, loaded when it is opened.
    details = client.get(url(cast, f"goals/{goal.pk}/details/")).content.decode()
    for text in ("Fund two joint workshops", "Certify three consultants", "No check-in yet", "No comment yet"):
        assert text in details, text


def test_the_plan_page_leads_to_the_review_queue_reviews_health_and_exports(client, cast):
    client.force_login(cast.partner_viewer)
    html = client.get(url(cast, "")).content.decode()
    for path in ("review/", "reviews/", "health/", "settings/", "print/"):
        assert f'href="/p/{cast.partnership.pk}/{path}' in html, path
    assert f'href="/invite/manage/{cast.partnership.pk}/"' not in html  # a viewer invites nobody
    printed = client.get(url(cast, "print/")).content.decode()
    for path in ("export/goals.csv", "export/check-ins.csv"):
        assert f'href="/p/{cast.partnership.pk}/{path}' in printed, path
    client.force_login(cast.vendor_admin)
    assert f'href="/invite/manage/{cast.partnership.pk}/"' in client.get(url(cast, "")).content.decode()


def test_editing_a_goal_in_place_saves_with_the_version_and_answers_with_the_card(client, cast, goal):
    client.force_login(cast.vendor_editor)
    form = client.get(url(cast, f"goals/{goal.pk}/edit/")).content.decode()
    assert f'name="version" value="{goal.version}"' in form and "data-editing" in form
    assert 'name="baseline" value="100"' in form  # not 100.0000
    response = client.post(url(cast, f"goals/{goal.pk}/edit/"), goal_terms(goal, target="250"))
    assert response.status_code == 200
    assert '<strong class="goal-target">250</strong>' in response.content.decode()
    assert Goal.objects.get(pk=goal.pk).target == Decimal("250")


def test_a_save_against_a_newer_version_shows_both_versions_and_keeps_the_typed_values(client, cast, goal):
    stale = goal_terms(goal, target="275", description="Our reasoning")
    goals.goal_update(access=cast.access("partner_approver"), goal_id=goal.pk, target="300")
    client.force_login(cast.vendor_editor)
    response = client.post(url(cast, f"goals/{goal.pk}/edit/"), stale)
    html = response.content.decode()
    assert response.status_code == 409
    # The conflict names who saved meanwhile (the change log knows).
    assert "Pat Partner saved a change" in html and "Keep mine" in html and "Take theirs" in html
    assert "<td data-theirs>300</td><td data-mine>275</td>" in html
    assert 'value="275' in html and "Our reasoning" in html
    current = Goal.objects.get(pk=goal.pk)
    assert f'name="version" value="{current.version}"' in html  # "keep mine" resubmits against it
    assert current.target == Decimal("300")


def test_an_invalid_edit_is_a_422_with_the_field_error_and_changes_nothing(client, cast, goal):
    # 422: the form comes back with its errors and htmx swaps it in place (alignment.web.FORM_ERROR).
    client.force_login(cast.vendor_editor)
    response = client.post(url(cast, f"goals/{goal.pk}/edit/"), goal_terms(goal, target="50"))
    assert response.status_code == 422
    assert "Does not match baseline and target." in response.content.decode()
    response = client.post(url(cast, f"goals/{goal.pk}/edit/"), goal_terms(goal, baseline="a lot", version="x"))
    assert response.status_code == 422
    assert Goal.objects.get(pk=goal.pk).version == goal.version


def test_propose_and_approve_from_both_sides_agrees_the_goal(client, cast, goal):
    client.force_login(cast.vendor_editor)
    response = client.post(url(cast, f"goals/{goal.pk}/propose/"), {"version": goal.version})
    assert response.status_code == 200 and "Approve revision 1" not in response.content.decode()
    for approver in (cast.vendor_approver, cast.partner_approver):
        client.force_login(approver)
        response = client.post(url(cast, f"goals/{goal.pk}/approve/"), {"revision": 1})
        assert response.status_code == 200
    assert Goal.objects.get(pk=goal.pk).status == GoalStatus.AGREED
    assert "Agreed" in response.content.decode()


def test_a_rule_violation_is_explained_and_nothing_changes(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), commitments=False)
    goals.goal_propose(access=editor, goal_id=goal.pk)
    client.force_login(cast.partner_approver)
    response = client.post(url(cast, f"goals/{goal.pk}/approve/"), {"revision": 1}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "no commitment yet" in response.content.decode()
    assert not goal.approvals.exists()


def test_request_changes_sends_the_goal_back_with_the_comment(client, cast, goal):
    goals.goal_propose(access=cast.access("vendor_editor"), goal_id=goal.pk)
    client.force_login(cast.partner_editor)
    empty = client.post(url(cast, f"goals/{goal.pk}/request-changes/"), {"comment": "  "})
    assert empty.status_code == 422
    response = client.post(url(cast, f"goals/{goal.pk}/request-changes/"), {"comment": "Target too high"})
    assert response.status_code == 200 and response["HX-Retarget"] == f"#goal-{goal.pk}"
    assert Goal.objects.get(pk=goal.pk).status == GoalStatus.CHANGES_REQUESTED
    assert Comment.objects.get(goal=goal).kind == Comment.Kind.CHANGE_REQUEST


def test_amending_an_agreed_goal_keeps_the_agreed_terms_visible(client, cast, goal):
    goal = f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    client.force_login(cast.vendor_editor)
    response = client.post(url(cast, f"goals/{goal.pk}/edit/"), goal_terms(goal, target="260"))
    html = response.content.decode()
    assert "Amendment: draft" in html and "In force until the amendment is agreed (revision 1): target 200" in html
    assert Goal.objects.get(pk=goal.pk).agreed_revision == 1


def test_commitments_are_added_edited_and_marked_done_by_their_side(client, cast, goal):
    client.force_login(cast.partner_editor)
    # Sent from the card's open details: the card comes back open, with the new commitment.
    response = client.post(
        url(cast, f"goals/{goal.pk}/commitments/new/"),
        {"side": "partner", "text": "Run two webinars", "owner": str(cast.partner_editor.pk), "due_date": "2026-12-15"},
        HTTP_X_DETAILS_OPEN="true",
    )
    assert response.status_code == 200 and "Run two webinars" in response.content.decode()
    created = Commitment.objects.get(text="Run two webinars")
    assert created.owner == cast.partner_editor
    response = client.post(
        url(cast, f"goals/{goal.pk}/commitments/{created.pk}/edit/"),
        {"version": created.version, "side": "partner", "text": "Run three webinars", "owner": "", "due_date": ""},
    )
    assert response.status_code == 200
    created.refresh_from_db()
    assert created.text == "Run three webinars" and created.owner is None
    goal = f.agree(Goal.objects.get(pk=goal.pk), cast.access("vendor_approver"), cast.access("partner_approver"))
    created.refresh_from_db()  # approving made it a commitment its side approved: a new version
    response = client.post(
        url(cast, f"goals/{goal.pk}/commitments/{created.pk}/done/"), {"version": created.version, "done": "1"}
    )
    assert response.status_code == 200
    assert Commitment.objects.get(pk=created.pk).done
    vendor_commitment = goal.commitments.get(side="vendor")
    refused = client.post(
        url(cast, f"goals/{goal.pk}/commitments/{vendor_commitment.pk}/done/"),
        {"version": vendor_commitment.version, "done": "1"},
    )
    assert refused.status_code == 403


def test_an_owner_from_the_wrong_side_is_a_form_error(client, cast, goal):
    client.force_login(cast.partner_editor)
    response = client.post(
        url(cast, f"goals/{goal.pk}/commitments/new/"),
        {"side": "partner", "text": "Webinars", "owner": str(cast.vendor_editor.pk)},
    )
    assert response.status_code == 422
    assert "Not a member of the partner side." in response.content.decode()


def test_check_in_shows_progress_and_both_sides_confidence(client, cast, goal):
    goal = f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    client.force_login(cast.vendor_editor)
    today = dt.date.today().isoformat()
    response = client.post(
        url(cast, f"goals/{goal.pk}/check-in/"), {"value": "150", "measured_on": today, "confidence": "4", "note": ""}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'max="100" value="50"' in html and "50% · latest 150" in html
    client.force_login(cast.partner_editor)
    html = client.post(
        url(cast, f"goals/{goal.pk}/check-in/"), {"value": "160", "measured_on": today, "confidence": "2"}
    ).content.decode()
    assert "Confidence gap: the sides differ by 2 points." in html
    assert CheckIn.objects.filter(goal=goal).count() == 2


def test_check_in_on_a_draft_goal_is_refused_with_the_rule(client, cast, goal):
    client.force_login(cast.vendor_editor)
    response = client.post(
        url(cast, f"goals/{goal.pk}/check-in/"),
        {"value": "150", "measured_on": dt.date.today().isoformat(), "confidence": "4"},
    )
    assert response.status_code == 409
    assert "Check-ins are recorded on agreed goals" in response.content.decode()


def test_vision_edit_in_place_and_endorsement_by_both_sides(client, cast):
    client.force_login(cast.vendor_editor)
    vision = Vision.objects.get(partnership=cast.partnership)
    response = client.post(
        url(cast, "vision/edit/"),
        {
            "version": vision.version,
            "why_together": "Customers need both",
            "what_we_hope": "Grow together",
            "how_we_work": "Monthly reviews",
            "horizon": "2028-12-31",
        },
    )
    assert response.status_code == 200 and "Customers need both" in response.content.decode()
    for approver in (cast.vendor_approver, cast.partner_approver):
        client.force_login(approver)
        response = client.post(url(cast, "vision/endorse/"), {"revision": 2})
        assert response.status_code == 200
    assert "Endorsed by both sides." in response.content.decode()


def test_objectives_are_added_and_edited_in_place(client, cast):
    client.force_login(cast.partner_editor)
    form = client.get(url(cast, "objectives/new/")).content.decode()
    assert 'value="services revenue"' in form and 'value="licence revenue"' in form  # each side's drivers
    response = client.post(
        url(cast, "objectives/new/"),
        {
            "title": "Win mid-market accounts",
            "vendor_gain": "New logos",
            "partner_gain": "Implementation work",
            "status": "active",
            "partner_drivers": ["utilisation"],
        },
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#objectives"
    html = response.content.decode()
    assert "Win mid-market accounts" in html and 'hx-swap-oob="true"' in html
    objective = Objective.objects.get(title="Win mid-market accounts")
    assert objective.partner_drivers == ["utilisation"] and objective.vendor_drivers == []
    assert '<ul class="drivers" aria-label="Partner business drivers"><li>utilisation</li></ul>' in html
    unknown = client.post(
        url(cast, "objectives/new/"), {"title": "X", "status": "active", "partner_drivers": ["world domination"]}
    )
    assert unknown.status_code == 422 and "not one of the available choices" in unknown.content.decode()
    response = client.post(
        url(cast, f"objectives/{objective.pk}/edit/"),
        {
            "version": objective.version,
            "title": "Win mid-market accounts in DACH",
            "vendor_gain": "New logos",
            "partner_gain": "Implementation work",
            "status": "active",
        },
    )
    assert response.status_code == 200 and "in DACH" in response.content.decode()


def test_derive_shows_suggestions_on_a_chart_and_creates_them_as_drafts(client, cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(
        editor, baseline=Decimal("100"), target=Decimal("500"), target_date=dt.date.today() + dt.timedelta(days=365)
    )
    client.force_login(cast.vendor_editor)
    page = client.get(url(cast, f"objectives/{objective.pk}/derive/"), {"length": "quarter", "count": "3"})
    html = page.content.decode()
    assert page.status_code == 200 and '<svg class="chart"' in html and "<polyline" in html
    assert html.count('name="form-') >= 3 * 6
    data = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "0"}
    rows = [("2027-01-01", "2027-03-31", "200"), ("2027-04-01", "2027-06-30", "300")]
    for i, (start, end, target) in enumerate(rows):
        data |= {
            f"form-{i}-include": "on",
            f"form-{i}-title": f"Step {i + 1}",
            f"form-{i}-period_start": start,
            f"form-{i}-period_end": end,
            f"form-{i}-baseline": "100",
            f"form-{i}-target": target,
        }
    data["form-1-include"] = ""
    response = client.post(url(cast, f"objectives/{objective.pk}/derive/"), data)
    assert response.status_code == 200, response.content[:1000]
    created = Goal.objects.get(objective=objective)
    assert created.title == "Step 1" and created.status == GoalStatus.DRAFT and created.target == 200
    assert created.commitments.filter(placeholder=True).count() == 2


def test_derive_with_a_bad_row_is_a_400_and_creates_nothing(client, cast):
    objective = f.make_objective(cast.access("vendor_editor"))
    client.force_login(cast.vendor_editor)
    response = client.post(
        url(cast, f"objectives/{objective.pk}/derive/"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "0",
            "form-0-include": "on",
            "form-0-title": "x",
            "form-0-period_start": "2027-03-01",
            "form-0-period_end": "2027-01-01",
            "form-0-baseline": "1",
            "form-0-target": "nope",
        },
    )
    assert response.status_code == 400
    assert not Goal.objects.filter(objective=objective).exists()


def test_history_shows_who_changed_what_with_before_and_after(client, cast, goal):
    goals.goal_update(access=cast.access("partner_editor"), goal_id=goal.pk, target="275")
    client.force_login(cast.vendor_viewer)
    html = client.get(url(cast, "fragment/history/")).content.decode()
    assert "<strong>Pete Editor</strong> edited the terms of “Pipeline Q4”" in html
    assert '<th scope="row">Target</th><td><del>200 EUR k</del></td><td><ins>275 EUR k</ins></td>' in html


def test_goal_detail_shows_the_negotiation_thread(client, cast, goal):
    editor, partner = cast.access("vendor_editor"), cast.access("partner_approver")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_request_changes(access=partner, goal_id=goal.pk, comment="Lower the target please")
    goals.goal_update(access=editor, goal_id=goal.pk, target="180")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_approve(access=partner, goal_id=goal.pk, revision=2)
    client.force_login(cast.vendor_viewer)
    html = client.get(url(cast, f"goals/{goal.pk}/")).content.decode()
    for text in (
        "Revision 1",
        "Revision 2",
        "requested changes to",
        "Lower the target please",
        "target: <del>200</del> → <ins>180</ins>",
        "approved revision 2 for the partner side",
    ):
        assert text in html, text


def test_live_updates_list_the_changed_fragments_after_the_cursor(client, cast, goal):
    client.force_login(cast.partner_approver)
    first = client.post(url(cast, "live/"), {"after": "0.0", "editing": f"goal-{goal.pk}"}).json()
    goals.goal_update(access=cast.access("vendor_editor"), goal_id=goal.pk, target="250")
    update = client.post(url(cast, "live/"), {"after": first["cursor"]}).json()
    [event] = update["events"]
    assert f"goal-{goal.pk}" in event["fragments"] and "history" in event["fragments"]
    assert event["announce"] == "Ed Editor edited the terms of “Pipeline Q4” (target)"
    again = client.post(url(cast, "live/"), {"after": update["cursor"]}).json()
    assert again["events"] == [] and again["cursor"] == update["cursor"]


def test_own_changes_refresh_the_page_but_are_not_announced(client, cast, goal):
    client.force_login(cast.vendor_editor)
    first = client.post(url(cast, "live/"), {"after": "0.0"}).json()
    goals.goal_update(access=cast.access("vendor_editor"), goal_id=goal.pk, target="250")
    [event] = client.post(url(cast, "live/"), {"after": first["cursor"]}).json()["events"]
    assert event["announce"] == "" and f"goal-{goal.pk}" in event["fragments"]


def test_presence_shows_who_else_is_here_and_what_they_edit(client, cast, goal):
    client.force_login(cast.partner_approver)
    client.post(url(cast, "live/"), {"after": "0.0", "editing": f"goal-{goal.pk}"})
    client.force_login(cast.vendor_editor)
    presence = client.post(url(cast, "live/"), {"after": "0.0", "editing": "<img src=x>"}).json()["presence"]
    assert [(p["name"], p["side"], p["editing"]) for p in presence] == [("Pat Partner", "partner", f"goal-{goal.pk}")]
    client.force_login(cast.partner_approver)
    presence = client.post(url(cast, "live/"), {"after": "0.0"}).json()["presence"]
    assert [(p["name"], p["editing"]) for p in presence] == [("Ed Editor", "")]  # the odd value was dropped


def test_each_change_event_names_a_fragment_of_the_page(cast, goal):
    from plans.live import fragments_for

    kinds = {e.object_type: fragments_for(e) for e in ChangeEvent.objects.filter(partnership=cast.partnership)}
    assert f"goal-{goal.pk}" in kinds["commitment"]
    assert f"goals-of-{goal.objective_id}" in kinds["goal"]
    assert "objectives" in kinds["objective"] and "vision" in kinds["vision"]


def test_an_approver_closes_an_agreed_goal_with_an_outcome_and_a_note(client, cast, goal):
    goal = f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    client.force_login(cast.vendor_editor)
    assert client.get(url(cast, f"goals/{goal.pk}/close/")).status_code == 403
    client.force_login(cast.partner_approver)
    early = client.post(url(cast, f"goals/{goal.pk}/close/"), {"outcome": "achieved", "version": goal.version})
    assert early.status_code == 409 and "a goal is marked achieved at or after its end" in early.content.decode()
    no_note = client.post(url(cast, f"goals/{goal.pk}/close/"), {"outcome": "dropped", "version": goal.version})
    assert no_note.status_code == 422 and "A note is required." in no_note.content.decode()
    response = client.post(
        url(cast, f"goals/{goal.pk}/close/"), {"outcome": "dropped", "note": "Market moved", "version": goal.version}
    )
    assert response.status_code == 200 and "Closing note: Market moved" in response.content.decode()
    assert Goal.objects.get(pk=goal.pk).status == GoalStatus.DROPPED


def test_presence_expires_when_the_heartbeats_stop(client, cast, goal):
    with time_machine.travel("2026-11-27 09:00:00+00:00", tick=False) as clock:
        client.force_login(cast.partner_approver)
        client.post(url(cast, "live/"), {"after": "0.0"})
        client.force_login(cast.vendor_editor)
        assert [p["name"] for p in client.post(url(cast, "live/"), {"after": "0.0"}).json()["presence"]] == [
            "Pat Partner"
        ]
        clock.shift(11)  # the partner closed the page: no heartbeat for longer than the TTL
        assert client.post(url(cast, "live/"), {"after": "0.0"}).json()["presence"] == []
