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
