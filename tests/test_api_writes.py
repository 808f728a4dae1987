"""Writing through the API: conditional writes (ETag / If-Match), idempotent POSTs, client-chosen
ids, paths with and without a trailing slash, and the goal workflow end to end."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine
from django.utils import timezone

from alignment.models import Objective
from api.idempotency import idempotency_keys_prune
from api.models import IdempotencyKey
from goals.models import Goal, GoalStatus
from tests import factories as f
from tests.api_support import ApiClient, World, if_match

TODAY = dt.date.today()


@pytest.fixture
def world(cast):
    return World(cast)


@pytest.fixture
def editor(cast):
    return ApiClient(cast.vendor_editor)


def goal_body(world, **extra):
    return {
        "objective": str(world.objective.pk),
        "title": "Joint webinar leads",
        "period_start": str(TODAY),
        "period_end": str(TODAY + dt.timedelta(days=90)),
        "baseline": "10",
        "target": "40",
        **extra,
    }


# --- ETag and If-Match --------------------------------------------------------------------------


def test_every_object_carries_its_version_as_a_strong_etag(world, editor):
    response = editor.get(f"goals/{world.draft.pk}")
    assert response["ETag"] == f'"{world.draft.version}"' == f'"{response.json()["version"]}"'
    assert editor.get(f"goals/{world.draft.pk}", headers={"If-None-Match": response["ETag"]}).status_code == 304


def test_a_change_without_if_match_is_refused_with_428(world, editor):
    response = editor.patch(f"goals/{world.draft.pk}", {"title": "Renamed"})
    assert response.status_code == 428
    assert response.json()["code"] == "precondition_required"
    assert Goal.objects.get(pk=world.draft.pk).title == world.draft.title
    assert editor.delete(f"goals/{world.draft.pk}").status_code == 428
    assert Goal.objects.filter(pk=world.draft.pk).exists()


def test_a_stale_change_gets_412_with_the_current_state_and_changes_nothing(world, editor, cast):
    first = editor.patch(f"goals/{world.draft.pk}", {"title": "First"}, headers=if_match(1))
    assert first.status_code == 200 and first["ETag"] == '"2"'
    other = ApiClient(cast.partner_editor)
    stale = other.patch(f"goals/{world.draft.pk}", {"title": "Second"}, headers=if_match(1))
    assert stale.status_code == 412
    body = stale.json()
    assert body["code"] == "stale_version" and body["current"]["title"] == "First"
    assert body["current"]["version"] == 2 and stale["ETag"] == '"2"'
    assert Goal.objects.get(pk=world.draft.pk).title == "First"


def test_the_version_may_come_in_the_body_instead_of_if_match(world, editor):
    ok = editor.patch(f"objectives/{world.objective.pk}", {"title": "Via body", "version": 1})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    assert editor.patch(f"objectives/{world.objective.pk}", {"title": "Again", "version": 1}).status_code == 412


def test_if_match_and_body_version_must_agree(world, editor):
    response = editor.patch(f"objectives/{world.objective.pk}", {"title": "X", "version": 2}, headers=if_match(1))
    assert response.status_code == 400 and "version" in response.json()["errors"]


def test_a_weak_or_wildcard_etag_does_not_count_as_a_precondition(world, editor):
    weak = editor.patch(f"objectives/{world.objective.pk}", {"title": "X"}, headers={"If-Match": 'W/"1"'})
    assert weak.status_code == 412
    star = editor.patch(f"objectives/{world.objective.pk}", {"title": "X"}, headers={"If-Match": "*"})
    assert star.status_code == 428
    garbage = editor.patch(f"objectives/{world.objective.pk}", {"title": "X"}, headers={"If-Match": "one"})
    assert garbage.status_code == 400
    assert Objective.objects.get(pk=world.objective.pk).version == 1


def test_put_replaces_and_needs_every_field(world, editor):
    partial = editor.put(f"comments/{world.comment.pk}", {}, headers=if_match(1))
    assert partial.status_code == 400 and partial.json()["errors"] == {"body": ["This field is required."]}
    full = editor.put(f"comments/{world.comment.pk}", {"body": "Rewritten"}, headers=if_match(1))
    assert full.status_code == 200 and full.json()["body"] == "Rewritten"


def test_delete_with_the_right_version_removes_the_object(world, editor):
    response = editor.delete(f"objectives/{world.spare_objective.pk}", headers=if_match(1))
    assert response.status_code == 204
    assert not Objective.objects.filter(pk=world.spare_objective.pk).exists()


# --- Paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_every_method_works_with_and_without_a_trailing_slash_and_never_redirects(world, editor, slash):
    created = editor.post(f"objectives{slash}", {"partnership": str(world.partnership.pk), "title": "Slash"})
    assert created.status_code == 201
    pk = created.json()["id"]
    assert editor.get(f"objectives{slash}").status_code == 200
    assert editor.get(f"objectives/{pk}{slash}").status_code == 200
    assert editor.patch(f"objectives/{pk}{slash}", {"title": "S"}, headers=if_match(1)).status_code == 200
    assert (
        editor.put(
            f"objectives/{pk}{slash}",
            {
                "title": "P",
                "description": "",
                "vendor_gain": "",
                "partner_gain": "",
                "vendor_drivers": [],
                "partner_drivers": [],
                "success_measure": "",
                "metric_name": "",
                "metric_unit": "",
                "baseline": None,
                "target": None,
                "baseline_date": None,
                "target_date": None,
                "status": "active",
                "position": 1,
            },
            headers=if_match(2),
        ).status_code
        == 200
    )
    assert editor.post(f"goals/{world.draft.pk}/propose{slash}").status_code == 200
    assert editor.get(f"partnerships/{world.partnership.pk}/plan{slash}").status_code == 200
    assert editor.get(f"changes{slash}").status_code == 200
    assert editor.delete(f"objectives/{pk}{slash}", headers=if_match(3)).status_code == 204


def test_unknown_api_paths_and_bad_ids_answer_a_json_404(editor, cast):
    for path in ("nothing-here", "goals/not-a-uuid", f"goals/{uuid.uuid4()}", "goals/1/propose"):
        response = editor.get(path) if "propose" not in path else editor.post(path)
        assert response.status_code == 404, path
        assert response.json()["status"] == 404


# --- Ids chosen by the client -------------------------------------------------------------------


def test_a_client_may_choose_the_id_of_what_it_creates(world, editor):
    goal_id, commitment_id = uuid.uuid4(), uuid.uuid4()
    body = goal_body(
        world, id=str(goal_id), commitments=[{"id": str(commitment_id), "side": "vendor", "text": "Fund the webinar"}]
    )
    response = editor.post("goals", body)
    assert response.status_code == 201 and response.json()["id"] == str(goal_id)
    assert response["Location"] == f"/api/v1/goals/{goal_id}"
    assert Goal.objects.get(pk=goal_id).commitments.get().pk == commitment_id
    again = editor.post("goals", body)
    assert again.status_code == 409 and again.json()["errors"] == {"id": ["Already used."]}
    assert again.json()["code"] == "id_taken"


# --- Idempotency-Key -----------------------------------------------------------------------------


def test_a_retried_post_returns_the_first_response_and_creates_nothing(world, editor):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = editor.post("goals", goal_body(world), headers=key)
    assert first.status_code == 201
    for _ in range(3):
        retry = editor.post("goals/", goal_body(world), headers=key)
        assert retry.status_code == 201 and retry.json() == first.json()
        assert retry["Idempotent-Replayed"] == "true" and retry["ETag"] == first["ETag"]
    assert Goal.objects.filter(title="Joint webinar leads").count() == 1


def test_the_same_key_with_a_different_body_is_refused(world, editor):
    key = {"Idempotency-Key": "order-42"}
    assert editor.post("goals", goal_body(world), headers=key).status_code == 201
    response = editor.post("goals", goal_body(world, title="Something else"), headers=key)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert not Goal.objects.filter(title="Something else").exists()


def test_keys_belong_to_one_person(world, editor, cast):
    key = {"Idempotency-Key": "shared-key"}
    assert editor.post("goals", goal_body(world), headers=key).status_code == 201
    assert ApiClient(cast.vendor_approver).post("goals", goal_body(world), headers=key).status_code == 201
    assert Goal.objects.filter(title="Joint webinar leads").count() == 2


def test_a_refused_request_keeps_no_key_so_the_corrected_retry_runs(world, editor):
    key = {"Idempotency-Key": "fix-and-retry"}
    refused = editor.post("goals", goal_body(world, target="10"), headers=key)  # target equals the baseline
    assert refused.status_code == 400
    assert not IdempotencyKey.objects.exists()
    corrected = editor.post("goals", goal_body(world), headers=key)
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected
    assert IdempotencyKey.objects.get().status_code == 201


def test_keys_are_kept_a_day_and_then_pruned(world, editor):
    editor.post("goals", goal_body(world), headers={"Idempotency-Key": "old"})
    now = timezone.now()
    assert idempotency_keys_prune(now=now + dt.timedelta(hours=24)) == 0
    with time_machine.travel(now + dt.timedelta(hours=47), tick=False):
        assert editor.post("goals", goal_body(world), headers={"Idempotency-Key": "old"})["Idempotent-Replayed"]
    assert idempotency_keys_prune(now=now + dt.timedelta(hours=49)) == 1
    assert Goal.objects.filter(title="Joint webinar leads").count() == 1


def test_a_malformed_idempotency_key_is_a_400(world, editor):
    response = editor.post("goals", goal_body(world), headers={"Idempotency-Key": "x" * 201})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]
    assert not Goal.objects.filter(title="Joint webinar leads").exists()


# --- The workflow through the API -----------------------------------------------------------------


def test_a_goal_is_proposed_approved_by_both_sides_and_checked_in(world, cast):
    editor, vendor, partner = (
        ApiClient(cast.vendor_editor),
        ApiClient(cast.vendor_approver),
        ApiClient(cast.partner_approver),
    )
    created = editor.post(
        "goals",
        goal_body(
            world,
            commitments=[
                {"side": "vendor", "text": "Run the webinar", "owner": str(cast.vendor_editor.public_id)},
                {"side": "partner", "text": "Invite 200 customers"},
            ],
        ),
    ).json()
    goal = created["id"]
    proposed = editor.post(f"goals/{goal}/propose", {}, headers=if_match(created["version"]))
    assert proposed.status_code == 200 and proposed.json()["status"] == "proposed"
    first = vendor.post(f"goals/{goal}/approve", {"revision": 1}).json()
    assert first["approval"]["side"] == "vendor" and first["goal"]["status"] == "proposed"
    second = partner.post(f"goals/{goal}/approve", {"revision": 1}).json()
    assert second["goal"]["status"] == GoalStatus.AGREED
    check_in = editor.post("check-ins", {"goal": goal, "value": "25", "confidence": 4})
    assert check_in.status_code == 201 and check_in.json()["side"] == "vendor"


def test_a_rule_violation_names_the_rule(world, cast):
    editor = ApiClient(cast.vendor_editor)
    goal = editor.post("goals", goal_body(world)).json()  # no commitments
    editor.post(f"goals/{goal['id']}/propose")
    response = ApiClient(cast.vendor_approver).post(f"goals/{goal['id']}/approve", {"revision": 1})
    assert response.status_code == 409
    assert response.json()["code"] == "goal.commitment_missing"
    assert "no quotas" in response.json()["detail"]


def test_a_commitment_owner_must_be_on_that_side(world, editor, cast):
    response = editor.post(
        "commitments",
        {"goal": str(world.draft.pk), "side": "vendor", "text": "X", "owner": str(cast.partner_editor.public_id)},
    )
    assert response.status_code == 400 and "owner" in response.json()["errors"]
    unknown = editor.post(
        "commitments", {"goal": str(world.draft.pk), "side": "vendor", "text": "X", "owner": str(uuid.uuid4())}
    )
    assert unknown.status_code == 400 and "owner" in unknown.json()["errors"]


def test_a_partnership_is_started_by_a_vendor_admin(cast):
    admin = ApiClient(cast.vendor_admin)
    response = admin.post(
        "partnerships",
        {"partner_name": "Contoso Consulting", "partner_type": "consulting", "vendor_drivers": ["licence revenue"]},
    )
    assert response.status_code == 201
    assert response.json()["partner"]["name"] == "Contoso Consulting"
    nobody = ApiClient(f.make_user())
    assert nobody.post("partnerships", {"partner_name": "X"}).status_code == 403


def test_attendees_of_a_held_review_are_members_and_strangers_stay_anonymous(world, editor, cast):
    stranger = str(cast.outsider.public_id)
    refused = editor.post(f"reviews/{world.review.pk}/hold", {"held_on": str(TODAY), "attendees": [stranger]})
    assert refused.status_code == 400 and cast.outsider.email not in refused.content.decode()
    held = editor.post(
        f"reviews/{world.review.pk}/hold",
        {
            "held_on": str(TODAY),
            "attendees": [str(cast.vendor_editor.public_id), str(cast.partner_approver.public_id)],
            "decisions": "Double the webinar budget",
            "schedule_next": False,
        },
    )
    assert held.status_code == 200
    assert set(held.json()["attendees"]) == {str(cast.vendor_editor.public_id), str(cast.partner_approver.public_id)}
    assert held.json()["status"] == "held" and held.json()["goal_snapshot"]


def test_busy_clients_are_throttled(world, editor, settings):
    settings.API_THROTTLE_RATES = {"user": "3/minute"}
    with time_machine.travel(dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.UTC), tick=False) as clock:
        statuses = [editor.get("goals").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = editor.get("goals")
        assert limited.json()["code"] == "throttled" and 1 <= int(limited["Retry-After"]) <= 60
        clock.shift(61)
        assert editor.get("goals").status_code == 200, "a new window"


def test_a_method_a_resource_does_not_have_is_a_405_naming_the_allowed_ones(world, editor):
    response = editor.delete(f"visions/{world.vision.pk}", headers=if_match(1))
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    assert "PATCH" in response["Allow"] and "DELETE" not in response["Allow"]
