"""The sync contract of issue 17: what a write did, complete tombstones, cursors and error codes a
client can branch on, scoped and service tokens, rate-limit headers, and a schema generators love."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from openapi_spec_validator import validate

from accounts.models import ApiToken
from alignment import services as plan
from api.feed import decode_cursor
from goals import comments as goal_comments
from goals import services as goal_services
from goals.models import Commitment
from tests import factories as f
from tests.api_support import ApiClient, World, if_match
from tests.test_api_feed import follow


@pytest.fixture
def world(cast):
    return World(cast)


def bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


# --- What a write did: who drafted a commitment, whether its side approved, the goal's new state ------


def test_a_commitment_says_who_drafted_it_and_whether_its_side_approved_it(cast, world):
    partner = ApiClient(cast.partner_editor)
    goal = world.proposed
    created = partner.post("commitments", {"goal": str(goal.pk), "side": "vendor", "text": "Vendor pays"})
    assert created.status_code == 201
    body = created.json()
    assert body["drafted_by"] == str(cast.partner_editor.public_id) and body["drafted_by_side"] == "partner"
    assert body["own_side_approved"] is False
    # The goal's answer headers say what the write did to it: a new revision of the proposed terms.
    goal.refresh_from_db()
    assert created["Link"] == f'</api/v1/goals/{goal.pk}>; rel="up"'
    assert created["Goal-Revision"] == str(goal.revision) == "2" and created["Goal-ETag"] == f'"{goal.version}"'
    # The vendor approves the new revision: its commitments, the one the partner drafted included, are approved.
    goal_services.goal_propose(access=cast.access("vendor_editor"), goal_id=goal.pk)
    goal.refresh_from_db()
    vendor = ApiClient(cast.vendor_approver)
    approved = vendor.post(f"goals/{goal.pk}/approve", {"revision": goal.revision})
    assert approved.status_code == 201
    after = vendor.get(f"commitments/{body['id']}").json()
    assert after["own_side_approved"] is True and after["version"] > body["version"]
    partner_side = Commitment.objects.get(goal=goal, side="partner")
    assert partner.get(f"commitments/{partner_side.pk}").json()["own_side_approved"] is False
    # The feed carries the change of the flag (the replica would otherwise keep "not approved").
    events, _ = follow(vendor, partnership=str(cast.partnership.pk), limit=1000)
    flags = [e["data"]["own_side_approved"] for e in events if e["type"] == "commitment" and e["id"] == body["id"]]
    assert flags[-1] is True


def test_deleting_a_commitment_answers_with_the_goals_new_state(cast, world):
    editor = ApiClient(cast.vendor_editor)
    commitment = world.agreed.commitments.get(side="vendor")
    response = editor.delete(f"commitments/{commitment.pk}", headers=if_match(commitment.version))
    assert response.status_code == 204
    world.agreed.refresh_from_db()
    assert response["Goal-ETag"] == f'"{world.agreed.version}"' and world.agreed.amendment == "draft"


# --- Tombstones and events for everything /plan holds --------------------------------------------


def test_a_vision_edit_tombstones_the_endorsements_it_voids(cast, world):
    vendor = cast.access("vendor_approver")
    endorsement = plan.vision_endorse(access=vendor, revision=world.vision.revision)
    client = ApiClient(cast.vendor_editor)
    _, cursor = follow(client)
    plan.vision_update(access=cast.access("vendor_editor"), why_together="A new reason")
    events, _ = follow(client, cursor)
    assert [(e["type"], e["action"], e["id"]) for e in events] == [
        ("vision", "update", str(world.vision.pk)),
        ("endorsement", "delete", str(endorsement.pk)),
    ]
    assert client.get(f"partnerships/{cast.partnership.pk}/plan").json()["endorsements"] == []


def test_deleting_a_draft_tombstones_its_comments(cast, world):
    client = ApiClient(cast.vendor_editor)
    _, cursor = follow(client)
    client.delete(f"goals/{world.draft.pk}", headers=if_match(world.draft.version))
    events, _ = follow(client, cursor)
    deleted = {(e["type"], e["id"]) for e in events if e["action"] == "delete"}
    assert ("comment", str(world.comment.pk)) in deleted and ("goal", str(world.draft.pk)) in deleted


def test_an_amendment_puts_the_agreed_revision_in_the_feed_and_settling_it_takes_it_out(cast, world):
    client = ApiClient(cast.vendor_editor)
    _, cursor = follow(client)
    goal_services.goal_update(access=cast.access("vendor_editor"), goal_id=world.agreed.pk, target="300")
    plan_doc = client.get(f"partnerships/{cast.partnership.pk}/plan").json()
    [in_force] = plan_doc["agreed_revisions"]
    events, cursor = follow(client, cursor)
    [opened] = [e for e in events if e["type"] == "agreed-revision"]
    assert opened["action"] == "create" and opened["data"] == in_force and opened["version"] is None
    assert in_force["terms"]["target"] == "200.0000" and in_force["goal"] == str(world.agreed.pk)
    goal_services.goal_discard_amendment(access=cast.access("vendor_editor"), goal_id=world.agreed.pk)
    events, _ = follow(client, cursor)
    assert [(e["action"], e["id"]) for e in events if e["type"] == "agreed-revision"] == [("delete", in_force["id"])]


# --- Cursors and error codes ---------------------------------------------------------------------


def cursor_of(txid, seq):
    return base64.urlsafe_b64encode(f"{txid}.{seq}".encode()).decode().rstrip("=")


def test_a_cursor_this_server_never_issued_is_refused(cast, world):
    client = ApiClient(cast.vendor_editor)
    events, cursor = follow(client)
    assert client.get("changes", since=cursor).status_code == 200
    txid, seq = decode_cursor(events[-1]["cursor"])
    for future in (cursor_of(txid, seq + 1000), cursor_of(0, 99_999_999), cursor_of(2**40, 1)):
        response = client.get("changes", since=future)
        assert response.status_code == 410, future
        problem = response.json()
        assert problem["code"] == "cursor_unknown" and "/plan" in problem["detail"]
    assert client.get("changes", since="MC45OTk5OQ").json()["code"] == "cursor_unknown"  # the issue's example
    assert client.get("changes", since="not a cursor!").status_code == 400


def test_each_cause_of_a_refusal_has_its_own_code(cast, world):
    # A role that may not: permission_denied.
    viewer = ApiClient(cast.vendor_viewer)
    denied = viewer.patch(f"goals/{world.draft.pk}", {"title": "No"}, headers=if_match(world.draft.version))
    assert (denied.status_code, denied.json()["code"]) == (403, "permission_denied")
    # A browser session without its CSRF token: csrf_failed.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.vendor_editor)
    csrf = browser.post(
        "/api/v1/comments", {"goal": str(world.draft.pk), "body": "Hi"}, content_type="application/json"
    )
    assert (csrf.status_code, csrf.json()["code"]) == (403, "csrf_failed")
    # An id that is taken: id_taken (409).
    editor = ApiClient(cast.vendor_editor)
    taken = editor.post("comments", {"id": str(world.comment.pk), "goal": str(world.draft.pk), "body": "Again"})
    assert (taken.status_code, taken.json()["code"]) == (409, "id_taken")
    # A stale version: 412 stale_version; a stale revision: 412 goal.stale_revision, both with `current`.
    stale = editor.patch(f"goals/{world.draft.pk}", {"title": "Old"}, headers=if_match(world.draft.version + 5))
    assert (stale.status_code, stale.json()["code"]) == (412, "stale_version")
    approver = ApiClient(cast.vendor_approver)
    revision = approver.post(f"goals/{world.proposed.pk}/approve", {"revision": world.proposed.revision + 1})
    problem = revision.json()
    assert (revision.status_code, problem["code"]) == (412, "goal.stale_revision")
    assert problem["current"]["id"] == str(world.proposed.pk) and problem["current"]["revision"] == 1
    assert revision["ETag"] == f'"{problem["current"]["version"]}"'
    endorse = approver.post(f"visions/{world.vision.pk}/endorse", {"revision": 99})
    assert (endorse.status_code, endorse.json()["code"]) == (412, "vision.stale_revision")


# --- Rate limits ---------------------------------------------------------------------------------


def test_every_answer_says_where_the_caller_stands_with_the_rate_limit(cast, world, settings):
    client = ApiClient(cast.vendor_editor)
    ok = client.get(f"goals/{world.draft.pk}")
    assert ok["RateLimit-Policy"] == '"user";q=1200;w=60'
    assert ok["RateLimit"].startswith('"user";r=') and int(ok["X-RateLimit-Limit"]) == 1200
    remaining = int(ok["X-RateLimit-Remaining"])
    again = client.get(f"goals/{world.draft.pk}", headers={"If-None-Match": ok["ETag"]})
    assert again.status_code == 304 and int(again["X-RateLimit-Remaining"]) == remaining - 1
    missing = client.get(f"goals/{uuid.uuid4()}")
    assert missing.status_code == 404 and "RateLimit" in missing
    anonymous = Client().get("/api/v1/me")
    assert anonymous.status_code == 401 and anonymous["RateLimit-Policy"] == '"anon";q=120;w=60'
    settings.API_THROTTLE_RATES = {"user": "3/minute"}
    limited = ApiClient(cast.partner_viewer)
    answers = [limited.get("me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1]["X-RateLimit-Remaining"] == "0" and int(answers[-1]["Retry-After"]) >= 1
    assert answers[-1].json()["code"] == "throttled"


# --- Scoped and service tokens -------------------------------------------------------------------


def test_a_read_only_token_reads_and_is_refused_every_write(cast, world):
    _token, raw = ApiToken.issue(user=cast.vendor_editor, name="report", read_only=True)
    client = ApiClient()
    client.headers = bearer(raw)
    assert client.get(f"partnerships/{cast.partnership.pk}/plan").json()["access"]["can_edit"] is False
    refused = client.post("comments", {"goal": str(world.draft.pk), "body": "No"})
    assert (refused.status_code, refused.json()["code"]) == (403, "token_read_only")
    assert client.patch(f"goals/{world.draft.pk}", {"title": "x"}, headers=if_match(1)).status_code == 403


def test_a_token_for_one_partnership_sees_nothing_else(cast, world):
    admin = cast.outsider  # admin of two partnerships: the cast's other one and a new one
    second = f.make_partnership(admin, name="Second")
    token_response = Client().post(
        "/api/v1/auth/token",
        {"email": admin.email, "password": f.PASSWORD, "name": "one", "partnerships": [str(second.pk)]},
        content_type="application/json",
    )
    assert token_response.status_code == 201 and token_response.json()["partnerships"] == [str(second.pk)]
    client = ApiClient()
    client.headers = bearer(token_response.json()["token"])
    outside = cast.outsider_partnership.pk
    assert client.get(f"partnerships/{outside}").status_code == 404
    assert client.get(f"partnerships/{outside}/plan").status_code == 404
    assert client.get("changes", partnership=str(outside)).status_code == 404
    assert [p["id"] for p in client.get("partnerships").json()["results"]] == [str(second.pk)]
    events, _ = follow(client)
    assert {e["partnership"] for e in events} == {str(second.pk)}
    started = client.post("partnerships", {"partner_name": "New"})
    assert (started.status_code, started.json()["code"]) == (403, "token_scope")
    # A partnership that is not yours cannot be put in a token.
    refused = Client().post(
        "/api/v1/auth/token",
        {"email": admin.email, "password": f.PASSWORD, "partnerships": [str(cast.partnership.pk)]},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "partnerships" in refused.json()["errors"]


def test_an_expired_token_is_no_token(cast):
    _token, raw = ApiToken.issue(
        user=cast.vendor_editor, name="short", expires_at=timezone.now() + dt.timedelta(days=1)
    )
    client = ApiClient()
    client.headers = bearer(raw)
    assert client.get("me").status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        assert client.get("me").status_code == 401


def test_a_service_token_outlives_the_person_who_made_it_and_never_approves(cast, world):
    org = cast.partnership.vendor
    creator = cast.vendor_admin
    token, raw = ApiToken.issue_service(organisation=org, name="CRM sync", created_by=creator)
    creator.is_active = False
    creator.save()
    client = ApiClient()
    client.headers = bearer(raw)
    document = client.get(f"partnerships/{cast.partnership.pk}/plan")
    assert document.status_code == 200
    assert document.json()["access"] == {
        "side": "vendor",
        "role": "editor",
        "can_edit": True,
        "can_approve": False,
        "can_manage": False,
    }
    comment = client.post("comments", {"goal": str(world.draft.pk), "body": "From the CRM"})
    assert comment.status_code == 201 and comment.json()["side"] == "vendor"
    refused = client.post(f"goals/{world.proposed.pk}/approve", {"revision": world.proposed.revision})
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert client.get(f"partnerships/{cast.outsider_partnership.pk}").status_code == 404
    events, _ = follow(client, partnership=str(cast.partnership.pk))
    assert events[-1]["actor"]["name"] == "CRM sync (service)"
    assert token.user.email.endswith("@service.partnerplan.invalid") and not token.user.has_usable_password()


def test_an_admin_makes_and_revokes_service_tokens_in_the_settings(client, cast):
    client.force_login(cast.vendor_admin)
    org = cast.partnership.vendor
    page = client.get("/settings/").content.decode()
    assert f"A service token of {org.name}" in page
    created = client.post(
        "/settings/tokens/", {"name": "ERP", "owner": str(org.pk), "read_only": "on", "expires_in_days": "90"}
    )
    assert created.status_code == 201
    token = ApiToken.objects.get(name="ERP")
    assert token.organisation == org and token.read_only and token.expires_at is not None
    assert token.created_by == cast.vendor_admin and token.user != cast.vendor_admin
    assert "service token of" in created.content.decode()
    # Another admin of the organisation sees and revokes it; an editor does not see it.
    other_admin = f.make_user()
    org.memberships.create(user=other_admin, role="admin")
    client.force_login(other_admin)
    assert "ERP" in client.get("/settings/").content.decode()
    client.post(f"/settings/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
    client.force_login(cast.vendor_editor)
    page = client.get("/settings/").content.decode()
    assert "service token of" not in page and "A service token of" not in page


# --- Lists and the schema ------------------------------------------------------------------------


def test_a_list_page_gives_the_next_cursor_as_a_field(cast, world):
    client = ApiClient(cast.vendor_editor)
    for n in range(3):
        goal_comments.comment_create(access=cast.access("vendor_editor"), goal_id=world.draft.pk, body=f"c{n}")
    first = client.get("comments", limit=2).json()
    assert first["next_cursor"] and first["next_cursor"] in first["next"]
    second = client.get("comments", limit=2, cursor=first["next_cursor"]).json()
    assert {c["id"] for c in second["results"]}.isdisjoint({c["id"] for c in first["results"]})


def test_the_schema_is_valid_typed_and_readable_for_generators(db):
    doc = Client().get("/api/schema/", {"format": "json"}).json()
    validate(doc)  # openapi-spec-validator, strict OpenAPI 3.0
    assert doc["servers"] == [{"url": "http://testserver", "description": doc["servers"][0]["description"]}]
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert {"goals_approve", "goals_list", "goals_retrieve", "partnerships_plan", "changes_list"} <= ids
    assert not [i for i in ids if i.startswith("v1_") or i.endswith("_approve_create")]
    goal = doc["paths"]["/api/v1/goals/{id}/"]["get"]
    assert "If-None-Match" in {p["name"] for p in goal["parameters"]}
    assert "304" in goal["responses"] and "ETag" in goal["responses"]["200"]["headers"]
    assert "ETag" in doc["paths"]["/api/v1/partnerships/{id}/plan/"]["get"]["responses"]["200"]["headers"]
    change = doc["components"]["schemas"]["Change"]
    assert change["discriminator"]["propertyName"] == "type"
    assert change["discriminator"]["mapping"]["agreed-revision"].endswith("/AgreedRevisionChange")
    goal_change = doc["components"]["schemas"]["GoalChange"]["properties"]["data"]
    assert "Goal" in str(goal_change)
    stale = doc["paths"]["/api/v1/goals/{id}/"]["patch"]["responses"]["412"]["content"]
    assert stale["application/problem+json"]["schema"]["$ref"].endswith("/StaleGoalProblem")
    page = doc["components"]["schemas"]["GoalPage"]["properties"]
    assert "next_cursor" in page


def test_the_plan_page_shows_who_drafted_a_commitment_and_whether_its_side_approved(client, cast, world):
    ApiClient(cast.partner_editor).post(
        "commitments", {"goal": str(world.proposed.pk), "side": "vendor", "text": "Vendor pays the venue"}
    )
    client.force_login(cast.vendor_viewer)
    html = client.get(f"/p/{cast.partnership.pk}/goals/{world.proposed.pk}/details/").content.decode()
    drafted = html[html.index("Vendor pays the venue") :]
    assert "drafted by Pete Editor (partner side)" in drafted[:800]
    assert "not yet approved by the vendor side" in drafted[:800]
