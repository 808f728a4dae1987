"""Plan templates through the API: list, apply, save from a plan, clone; nothing twice, structure
only, outsiders 404, bad input a clear 4xx, and a constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import OrganisationMembership
from alignment.models import Objective
from goals.models import Commitment, Goal
from plans import template_library as library
from plans import templates_service as templates
from plans.models import PlanTemplate
from tests import factories as f
from tests.api_support import ApiClient


def new_plan(cast):  # type: ignore[no-untyped-def]
    return f.make_partnership(cast.vendor_admin, vendor_drivers=[], partner_drivers=[])


def test_list_shows_shipped_and_own_templates_only(cast):
    own = templates.template_customise(user=cast.vendor_admin, organisation_id=cast.partnership.vendor_id, key="msp")
    theirs = templates.template_customise(
        user=cast.outsider, organisation_id=cast.outsider_partnership.vendor_id, key="msp"
    )
    body = ApiClient(cast.vendor_admin).get("templates").json()
    ids = [t["id"] for t in body["results"]]
    assert ids[: len(library.SHIPPED)] == list(library.SHIPPED)
    assert str(own.pk) in ids and str(theirs.pk) not in ids
    consulting = next(t for t in body["results"] if t["id"] == "consulting")
    assert consulting["kind"] == "shipped" and consulting["partner_type"] == "consulting"
    assert len(consulting["structure"]["objectives"]) == 5
    only_msp = ApiClient(cast.vendor_admin).get("templates", partner_type="msp").json()["results"]
    assert {t["partner_type"] for t in only_msp} == {"msp"} and len(only_msp) == 2
    assert ApiClient(cast.vendor_admin).get("templates", partner_type="plumber").status_code == 400


@pytest.mark.parametrize("key", list(library.SHIPPED))
def test_applying_through_the_api_twice_creates_nothing_twice(cast, key):
    p = new_plan(cast)
    client = ApiClient(cast.vendor_admin)
    first = client.post(f"partnerships/{p.pk}/apply-template", {"template": key})
    assert first.status_code == 200, first.json()
    body = first.json()
    assert len(body["objectives"]) == Objective.objects.filter(partnership=p).count()
    assert len(body["goals"]) == Goal.objects.filter(partnership=p).count()
    second = client.post(f"partnerships/{p.pk}/apply-template", {"template": key})
    assert second.status_code == 200
    assert second.json()["objectives"] == second.json()["goals"] == second.json()["drivers"] == []
    assert sorted(second.json()["skipped"]) == sorted(o["key"] for o in library.SHIPPED[key].structure["objectives"])
    assert len(body["objectives"]) == Objective.objects.filter(partnership=p).count()


def test_an_idempotency_key_replays_the_first_answer(cast):
    p = new_plan(cast)
    client = ApiClient(cast.vendor_admin)
    headers = {"Idempotency-Key": "apply-once-1"}
    first = client.post(f"partnerships/{p.pk}/apply-template", {"template": "referral"}, headers=headers)
    again = client.post(f"partnerships/{p.pk}/apply-template", {"template": "referral"}, headers=headers)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "template"),
        ({"template": "no-such"}, "template"),
        ({"template": 12}, "template"),
        ({"template": "consulting", "extra": True}, "extra"),
        ({"template": "x" * 61}, "template"),
    ],
)
def test_bad_input_to_apply_is_a_clear_400(cast, body, field):
    p = new_plan(cast)
    response = ApiClient(cast.vendor_admin).post(f"partnerships/{p.pk}/apply-template", body)
    assert response.status_code == 400, response.json()
    problem = response.json()
    assert problem["detail"] and field in str(problem)
    assert not Objective.objects.filter(partnership=p).exists()


def test_a_written_plan_is_a_409_and_outsiders_get_404(cast):
    f.make_objective(cast.access("vendor_editor"))
    response = ApiClient(cast.vendor_editor).post(
        f"partnerships/{cast.partnership.pk}/apply-template", {"template": "msp"}
    )
    assert response.status_code == 409 and response.json()["code"] == "template.plan_not_empty"
    outsider = ApiClient(cast.outsider)
    for path in ("apply-template", "save-template", "clone-structure"):
        assert outsider.post(f"partnerships/{cast.partnership.pk}/{path}", {"template": "msp"}).status_code == 404
    assert outsider.post("partnerships/not-a-uuid/apply-template", {"template": "msp"}).status_code == 404


def test_save_and_clone_carry_structure_only(cast):
    editor = cast.access("vendor_admin")
    objective = f.make_objective(editor, title="Certified practice")
    f.agree(f.make_goal(editor, objective), cast.access("vendor_approver"), cast.access("partner_approver"))
    client = ApiClient(cast.vendor_admin)
    saved = client.post(f"partnerships/{cast.partnership.pk}/save-template", {"name": "Practice plan"})
    assert saved.status_code == 201, saved.json()
    assert saved.json()["kind"] == "organisation" and saved.json()["name"] == "Practice plan"
    assert "Fund two joint workshops" not in str(saved.json())
    assert client.post(f"partnerships/{cast.partnership.pk}/save-template", {"name": ""}).status_code == 400
    assert (
        client.post(f"partnerships/{cast.partnership.pk}/save-template", {"name": "Practice plan"}).status_code == 400
    )

    target = new_plan(cast)
    cloned = client.post(f"partnerships/{cast.partnership.pk}/clone-structure", {"target": str(target.pk)})
    assert cloned.status_code == 200 and cloned.json()["partnership"] == str(target.pk)
    assert not Commitment.objects.filter(goal__partnership=target).exists()
    assert Objective.objects.get(partnership=target).title == "Certified practice"
    again = client.post(f"partnerships/{cast.partnership.pk}/clone-structure", {"target": str(target.pk)})
    assert again.status_code == 200 and again.json()["objectives"] == []
    assert client.post(f"partnerships/{cast.partnership.pk}/clone-structure", {"target": "nope"}).status_code == 400
    outsiders = client.post(
        f"partnerships/{cast.partnership.pk}/clone-structure", {"target": str(cast.outsider_partnership.pk)}
    )
    assert outsiders.status_code == 404


def test_saving_needs_membership_of_the_sides_organisation(cast):
    response = ApiClient(cast.partner_approver).post(
        f"partnerships/{cast.partnership.pk}/save-template", {"name": "Ours"}
    )
    assert response.status_code == 403
    OrganisationMembership.objects.create(organisation=cast.partnership.partner, user=cast.partner_approver)
    ok = ApiClient(cast.partner_approver).post(f"partnerships/{cast.partnership.pk}/save-template", {"name": "Ours"})
    assert ok.status_code == 201
    assert PlanTemplate.objects.get(name="Ours").organisation_id == cast.partnership.partner_id


def test_listing_and_applying_run_a_constant_number_of_queries(cast):
    client = ApiClient(cast.vendor_admin)

    def count(method: str, path: str, data=None) -> int:  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as ctx:
            response = client.request(method, path, data)
        assert response.status_code in (200, 201), response.content[:500]
        return len(ctx.captured_queries)

    count("get", "templates")  # the token's first use is recorded once
    listing = count("get", "templates")
    for key in ("msp", "referral", "consulting", "reseller"):
        templates.template_customise(user=cast.vendor_admin, organisation_id=cast.partnership.vendor_id, key=key)
    assert count("get", "templates") == listing
    # Re-applying (nothing new) costs the same for a template of 3 or of 5 objectives.
    small, large = new_plan(cast), new_plan(cast)
    client.post(f"partnerships/{small.pk}/apply-template", {"template": "referral"})
    client.post(f"partnerships/{large.pk}/apply-template", {"template": "consulting"})
    assert count("post", f"partnerships/{small.pk}/apply-template", {"template": "referral"}) == count(
        "post", f"partnerships/{large.pk}/apply-template", {"template": "consulting"}
    )


# --- No stacking ----------------------------------------------------------------------------------


def test_a_template_of_another_lineage_or_a_clone_onto_a_filled_plan_is_a_409(cast):
    p = new_plan(cast)
    client = ApiClient(cast.vendor_admin)
    assert client.post(f"partnerships/{p.pk}/apply-template", {"template": "consulting"}).status_code == 200
    count = Objective.objects.filter(partnership=p).count()
    refused = client.post(f"partnerships/{p.pk}/apply-template", {"template": "reseller"})
    assert refused.status_code == 409, refused.json()
    assert refused.json()["code"] == "template.plan_not_empty" and "Consulting house" in refused.json()["detail"]
    f.make_objective(cast.access("vendor_admin"), title="Hand-written")
    cloned = client.post(f"partnerships/{cast.partnership.pk}/clone-structure", {"target": str(p.pk)})
    assert cloned.status_code == 409 and cloned.json()["code"] == "template.plan_not_empty"
    assert Objective.objects.filter(partnership=p).count() == count
    consulting = client.get("templates/consulting").json()
    assert consulting["lineage"] == "consulting"


# --- One template: read, change, delete -------------------------------------------------------------


def own_template(cast, key: str = "msp") -> PlanTemplate:  # type: ignore[no-untyped-def]
    return templates.template_customise(user=cast.vendor_admin, organisation_id=cast.partnership.vendor_id, key=key)


def test_read_a_shipped_or_own_template_with_its_etag(cast):
    own = own_template(cast)
    client = ApiClient(cast.vendor_admin)
    shipped = client.get("templates/consulting")
    assert shipped.status_code == 200 and shipped["ETag"] == '"1"'
    assert shipped.json()["kind"] == "shipped" and len(shipped.json()["structure"]["objectives"]) == 5
    mine = client.get(f"templates/{own.pk}/")
    assert mine.status_code == 200 and mine.json()["lineage"] == "msp" and mine.json()["kind"] == "organisation"
    assert client.get(f"templates/{own.pk}", headers={"If-None-Match": '"1"'}).status_code == 304
    outsider = ApiClient(cast.outsider)
    for ref in (own.pk, "no-such-template", "00000000-0000-0000-0000-000000000000"):
        response = outsider.get(f"templates/{ref}")
        assert response.status_code == 404 and response.json()["code"] == "not_found", ref


def test_an_admin_changes_a_template_with_if_match(cast):
    own = own_template(cast)
    client = ApiClient(cast.vendor_admin)
    structure = client.get(f"templates/{own.pk}").json()["structure"]
    objectives = [*structure["objectives"][:2], {"title": "Cut onboarding time", "metric_name": "Onboarding days"}]
    response = client.patch(
        f"templates/{own.pk}",
        {"name": "Our MSP plan", "partner_type": "reseller", "structure": {"objectives": objectives}},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert response["ETag"] == '"2"' and body["version"] == 2 and body["name"] == "Our MSP plan"
    assert body["partner_type"] == "reseller" and body["lineage"] == "msp"
    assert [o["key"] for o in body["structure"]["objectives"]][-1] == "cut-onboarding-time"
    assert body["structure"]["drivers"] == structure["drivers"]  # the parts not sent are kept
    own.refresh_from_db()
    assert own.version == 2 and len(own.structure["objectives"]) == 3
    # The version in the body does as well as If-Match.
    by_body = client.patch(f"templates/{own.pk}", {"version": 2, "structure": {"vision_prompts": {"how_we_work": ""}}})
    assert by_body.status_code == 200 and by_body.json()["structure"]["vision_prompts"]["how_we_work"] == ""


def test_a_stale_or_missing_version_is_412_or_428(cast):
    own = own_template(cast)
    client = ApiClient(cast.vendor_admin)
    assert client.patch(f"templates/{own.pk}", {"name": "Renamed"}, headers={"If-Match": '"1"'}).status_code == 200
    stale = client.patch(f"templates/{own.pk}", {"name": "Late"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale["ETag"] == '"2"'
    assert stale.json()["code"] == "stale_version" and stale.json()["current"]["name"] == "Renamed"
    assert client.patch(f"templates/{own.pk}", {"name": "No version"}).status_code == 428
    assert client.delete(f"templates/{own.pk}").status_code == 428
    assert client.delete(f"templates/{own.pk}", headers={"If-Match": '"1"'}).status_code == 412
    own.refresh_from_db()
    assert own.name == "Renamed"
    assert client.delete(f"templates/{own.pk}", headers={"If-Match": '"2"'}).status_code == 204
    assert not PlanTemplate.objects.filter(pk=own.pk).exists()
    assert client.get(f"templates/{own.pk}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"partner_type": "plumber"}, "partner_type"),
        ({"structure": "lots"}, "structure"),
        ({"structure": None}, "structure"),
        ({"structure": {"objectives": [{"title": ""}]}}, "structure"),
        ({"structure": {"objectives": [{"title": "A", "key": "Not A Key"}]}}, "structure"),
        ({"structure": {"objectives": [{"title": "A", "partner_drivers": ["nobody's"]}]}}, "structure"),
        (
            {"structure": {"objectives": [{"title": "A", "metric_name": "M", "trajectory": {"baseline": "1"}}]}},
            "structure",
        ),
        ({"structure": {"drivers": [{"side": "both", "name": "x", "unit": ""}]}}, "structure"),
        ({"structure": {"extra": []}}, "structure"),
        ({"owner": "me"}, "owner"),
        ({"version": "one"}, "version"),
    ],
)
def test_bad_changes_are_a_clear_400_and_change_nothing(cast, body, field):
    own = own_template(cast)
    response = ApiClient(cast.vendor_admin).patch(f"templates/{own.pk}", body, headers={"If-Match": '"1"'})
    assert response.status_code == 400, response.content[:500]
    assert field in response.json()["errors"], response.json()
    fresh = PlanTemplate.objects.get(pk=own.pk)
    assert fresh.version == 1 and fresh.structure == own.structure and fresh.name == own.name


def test_a_change_to_a_name_the_organisation_uses_is_a_400(cast):
    first, second = own_template(cast, "msp"), own_template(cast, "referral")
    response = ApiClient(cast.vendor_admin).patch(
        f"templates/{second.pk}", {"name": first.name}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 400 and response.json()["errors"]["name"] == ["Already used."]


@pytest.mark.parametrize(
    ("who", "template", "expected", "code"),
    [
        ("vendor_admin", "shipped", 403, "template.shipped_read_only"),
        ("vendor_editor", "own", 403, "permission_denied"),  # a member, no admin
        ("vendor_editor", "shipped", 403, "template.shipped_read_only"),
        ("outsider", "own", 404, "not_found"),
        ("partner_approver", "own", 404, "not_found"),  # in the plan, not in the organisation
    ],
)
def test_who_may_change_and_delete_a_template(cast, who, template, expected, code):
    own = own_template(cast)
    OrganisationMembership.objects.create(organisation_id=cast.partnership.vendor_id, user=cast.vendor_editor)
    ref = "consulting" if template == "shipped" else str(own.pk)
    client = ApiClient(getattr(cast, who))
    patched = client.patch(f"templates/{ref}", {"name": "Mine now"}, headers={"If-Match": '"1"'})
    deleted = client.delete(f"templates/{ref}", headers={"If-Match": '"1"'})
    for response in (patched, deleted):
        assert response.status_code == expected and response.json()["code"] == code, response.json()
    own.refresh_from_db()
    assert own.version == 1


def test_an_admin_customises_a_shipped_template_through_the_api(cast):
    org = cast.partnership.vendor_id
    client = ApiClient(cast.vendor_admin)
    created = client.post("templates/referral/customise", {"organisation": str(org)})
    assert created.status_code == 201, created.json()
    assert created.json()["lineage"] == "referral" and created["Location"].endswith(created.json()["id"])
    named = client.post("templates/referral/customise", {"organisation": str(org), "name": "Referrals, our way"})
    assert named.status_code == 201 and named.json()["name"] == "Referrals, our way"
    assert client.post(f"templates/{created.json()['id']}/customise", {"organisation": str(org)}).status_code == 404
    assert client.post("templates/referral/customise", {"organisation": "nope"}).status_code == 400
    OrganisationMembership.objects.create(organisation_id=org, user=cast.vendor_editor)
    member = ApiClient(cast.vendor_editor).post("templates/referral/customise", {"organisation": str(org)})
    assert member.status_code == 403
    outsider = ApiClient(cast.outsider).post("templates/referral/customise", {"organisation": str(org)})
    assert outsider.status_code == 404


def test_reading_a_template_runs_a_constant_number_of_queries(cast):
    client = ApiClient(cast.vendor_admin)
    small = own_template(cast, "referral")  # 3 objectives
    large = own_template(cast, "consulting")  # 5 objectives

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    count("templates/consulting")  # the token's first use is recorded once
    assert count(f"templates/{small.pk}") == count(f"templates/{large.pk}")
    listing = count("templates")
    for key in ("msp", "reseller", "technology"):
        own_template(cast, key)
    assert count("templates") == listing
