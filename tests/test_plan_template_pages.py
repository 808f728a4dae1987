"""The pages of plan templates: starting a plan from one (with its preview), saving a plan as one,
cloning a plan's structure, an organisation's templates; who may, bad input, and queries that do
not grow with the size of the template or the plan."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import OrganisationMembership
from alignment.models import Objective, Partnership, Side
from goals.models import Goal
from plans import template_library as library
from plans import templates_service as templates
from plans.models import PlanTemplate
from tests import factories as f


def new_plan(cast):  # type: ignore[no-untyped-def]
    return f.make_partnership(cast.vendor_admin, vendor_drivers=[], partner_drivers=[])


def queries(client, method: str, url: str, data=None, status: int = 200) -> int:  # type: ignore[no-untyped-def]
    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, data or {})
    assert response.status_code == status, response.content[:800]
    return len(ctx.captured_queries)


# --- Start from a template ------------------------------------------------------------------------


def test_the_start_page_previews_what_the_template_creates_and_applies_it(client, cast):
    p = new_plan(cast)
    client.force_login(cast.vendor_admin)
    page = client.get(f"/p/{p.pk}/templates/?template=consulting")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Build a certified practice on our platform" in text
    assert "Which customer problem can neither of us solve alone" in text
    assert "Create these drafts" in text
    assert not Objective.objects.filter(partnership=p).exists()  # a GET changes nothing

    response = client.post(f"/p/{p.pk}/templates/", {"template": "consulting"})
    assert response.status_code == 302 and response["Location"] == f"/p/{p.pk}/"
    assert Objective.objects.filter(partnership=p).count() == len(library.SHIPPED["consulting"].structure["objectives"])
    # The plan shows the vision's prompts where its texts are empty, and offers no template any more.
    plan_page = client.get(f"/p/{p.pk}/").content.decode()
    assert "To answer:" in plan_page and "Which customer problem" in plan_page
    assert "Save as template" in plan_page
    # Applying again adds nothing and says so.
    count = Goal.objects.filter(partnership=p).count()
    again = client.post(f"/p/{p.pk}/templates/", {"template": "consulting"}, follow=True)
    assert "nothing was added" in again.content.decode()
    assert Goal.objects.filter(partnership=p).count() == count


def test_the_vision_form_shows_the_prompts_as_placeholders_only(client, cast):
    p = new_plan(cast)
    templates.template_apply(access=f.access(cast.vendor_admin, p), template=templates.shipped("reseller"))
    client.force_login(cast.vendor_admin)
    form = client.get(f"/p/{p.pk}/vision/edit/", headers={"HX-Request": "true"}).content.decode()
    assert 'placeholder="Which of your customers should buy our product' in form


def test_bad_template_input_is_a_clear_4xx(client, cast):
    p = new_plan(cast)
    client.force_login(cast.vendor_admin)
    response = client.post(f"/p/{p.pk}/templates/", {"template": "no-such-template"})
    assert response.status_code == 400
    assert "No such template" in response.content.decode()
    written = f.access(cast.vendor_editor, cast.partnership)
    f.make_objective(written)
    refused = client.post(f"/p/{cast.partnership.pk}/templates/", {"template": "consulting"})
    assert refused.status_code == 409
    assert "objectives of its own" in refused.content.decode()


def test_outsiders_get_404_and_viewers_403(client, cast):
    p = cast.partnership
    client.force_login(cast.outsider)
    for url in (f"/p/{p.pk}/templates/", f"/p/{p.pk}/templates/save/", f"/p/{p.pk}/templates/clone/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/p/{p.pk}/templates/", {"template": "consulting"}).status_code == 404
    assert client.get(f"/settings/organisations/{p.vendor_id}/templates/").status_code == 404
    client.force_login(cast.partner_viewer)
    assert client.post(f"/p/{p.pk}/templates/", {"template": "consulting"}).status_code == 403
    assert client.get(f"/p/{p.pk}/templates/clone/").status_code == 403
    assert not Objective.objects.filter(partnership=p).exists()


# --- New partnership --------------------------------------------------------------------------------


def test_a_new_partnership_can_start_from_the_template_of_its_kind(client, cast):
    client.force_login(cast.vendor_admin)
    form = client.get("/partnerships/new/").content.decode()
    assert "Start the plan from a template" in form
    response = client.post(
        "/partnerships/new/",
        {
            "partner_name": "Fabrikam Managed IT",
            "partner_type": "technology",
            "vendor": str(cast.partnership.vendor_id),
            "template": templates.FOR_PARTNER_TYPE,
        },
    )
    assert response.status_code == 302
    p = Partnership.objects.get(partner__name="Fabrikam Managed IT")
    titles = set(Objective.objects.filter(partnership=p).values_list("title", flat=True))
    assert "Grow co-sell revenue in joint accounts" in titles


def test_a_new_partnership_without_a_template_starts_empty_and_a_bad_choice_is_refused(client, cast):
    client.force_login(cast.vendor_admin)
    data = {"partner_name": "Plain Partner", "partner_type": "reseller", "vendor": str(cast.partnership.vendor_id)}
    assert client.post("/partnerships/new/", data).status_code == 302
    assert not Objective.objects.filter(partnership__partner__name="Plain Partner").exists()
    refused = client.post("/partnerships/new/", data | {"partner_name": "Other", "template": "not-a-template"})
    assert refused.status_code == 400
    assert not Partnership.objects.filter(partner__name="Other").exists()


# --- Save and clone ---------------------------------------------------------------------------------


def test_save_as_template_from_a_plan(client, cast):
    editor = f.access(cast.vendor_approver, cast.partnership)
    f.make_objective(editor, title="Joint pipeline in the Nordics")
    OrganisationMembership.objects.create(organisation_id=cast.partnership.vendor_id, user=cast.vendor_approver)
    client.force_login(cast.vendor_approver)
    page = client.get(f"/p/{cast.partnership.pk}/templates/save/")
    assert page.status_code == 200 and "Joint pipeline in the Nordics" in page.content.decode()
    response = client.post(f"/p/{cast.partnership.pk}/templates/save/", {"name": "Nordic playbook"})
    assert response.status_code == 302
    row = PlanTemplate.objects.get(name="Nordic playbook")
    assert row.structure["objectives"][0]["title"] == "Joint pipeline in the Nordics"
    duplicate = client.post(f"/p/{cast.partnership.pk}/templates/save/", {"name": "Nordic playbook"})
    assert duplicate.status_code == 400 and "already used" in duplicate.content.decode().lower()
    assert client.post(f"/p/{cast.partnership.pk}/templates/save/", {"name": ""}).status_code == 400


def test_clone_structure_to_an_empty_plan(client, cast):
    source = f.access(cast.vendor_admin, cast.partnership)
    f.make_objective(source, title="Certify the practice")
    target = new_plan(cast)
    written = new_plan(cast)
    f.make_objective(f.access(cast.vendor_admin, written), title="Its own")
    client.force_login(cast.vendor_admin)
    page = client.get(f"/p/{cast.partnership.pk}/templates/clone/").content.decode()
    assert str(target.pk) in page and str(written.pk) not in page
    refused = client.post(f"/p/{cast.partnership.pk}/templates/clone/", {"target": str(written.pk)})
    assert refused.status_code == 400
    response = client.post(f"/p/{cast.partnership.pk}/templates/clone/", {"target": str(target.pk)})
    assert response.status_code == 302 and response["Location"] == f"/p/{target.pk}/"
    assert list(Objective.objects.filter(partnership=target).values_list("title", flat=True)) == [
        "Certify the practice"
    ]


def test_cloning_again_says_that_nothing_was_copied(client, cast):
    f.make_objective(f.access(cast.vendor_admin, cast.partnership), title="Certify the practice")
    target = new_plan(cast)
    client.force_login(cast.vendor_admin)
    url = f"/p/{cast.partnership.pk}/templates/clone/"
    first = client.post(url, {"target": str(target.pk)})
    goals = Goal.objects.filter(partnership=target).count()
    assert goals > 1  # the objective's trajectory, one draft goal per period
    assert [str(m) for m in get_messages(first.wsgi_request)] == [
        f"1 objective and {goals} draft goals copied from {cast.partnership.name}."
    ]
    again = client.post(url, {"target": str(target.pk)})  # the back button, then the same form once more
    assert again.status_code == 302 and again["Location"] == f"/p/{target.pk}/"
    assert [str(m) for m in get_messages(again.wsgi_request)][-1] == (
        f"Everything this structure holds is in {target.name} already; nothing was copied."
    )
    assert Objective.objects.filter(partnership=target).count() == 1
    assert Goal.objects.filter(partnership=target).count() == goals


# --- An organisation's templates -------------------------------------------------------------------


def test_admins_customise_edit_and_delete_templates_in_the_browser(client, cast):
    org = cast.partnership.vendor_id
    client.force_login(cast.vendor_admin)
    listing = client.get(f"/settings/organisations/{org}/templates/").content.decode()
    assert "Managed service provider" in listing and "Customise" in listing
    response = client.post(f"/settings/organisations/{org}/templates/customise/msp/")
    row = PlanTemplate.objects.get(organisation_id=org, based_on="msp")
    assert response.status_code == 302 and str(row.pk) in response["Location"]
    edit_url = f"/settings/organisations/{org}/templates/{row.pk}/"
    form = client.get(edit_url)
    assert form.status_code == 200 and "Grow seats under management" in form.content.decode()
    data = {k: v for k, v in form.context["form"].initial.items() if v is not None}
    data |= {"objectives": str(len(row.structure["objectives"])), "name": "Our MSP plan", "o0_title": "Seats, seats"}
    data |= {"o3_title": "Cut onboarding time", "o3_metric_name": "Onboarding days", "o3_metric_unit": "days"}
    saved = client.post(edit_url, data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    row.refresh_from_db()
    assert row.name == "Our MSP plan" and row.version == 2
    assert row.structure["objectives"][0]["title"] == "Seats, seats"
    assert row.structure["objectives"][-1]["key"] == "cut-onboarding-time"
    # A driver an objective names must exist: a clear error on the form, nothing saved.
    bad = client.post(edit_url, data | {"version": "2", "o0_partner_drivers": "no such driver"})
    assert bad.status_code == 400 and "no such driver" in bad.content.decode()
    stale = client.post(edit_url, data | {"version": "1"})
    assert stale.status_code == 409
    assert client.post(f"{edit_url}delete/").status_code == 302
    assert not PlanTemplate.objects.filter(pk=row.pk).exists()


def test_members_see_the_list_and_may_not_change_templates(client, cast):
    org = cast.partnership.vendor_id
    row = templates.template_customise(user=cast.vendor_admin, organisation_id=org, key="referral")
    OrganisationMembership.objects.create(organisation_id=org, user=cast.vendor_editor)
    client.force_login(cast.vendor_editor)
    assert client.get(f"/settings/organisations/{org}/templates/").status_code == 200
    assert client.post(f"/settings/organisations/{org}/templates/customise/msp/").status_code == 403
    assert client.get(f"/settings/organisations/{org}/templates/{row.pk}/").status_code == 403
    assert client.post(f"/settings/organisations/{org}/templates/{row.pk}/delete/").status_code == 403
    client.force_login(cast.outsider)
    assert client.get(f"/settings/organisations/{org}/templates/{row.pk}/").status_code == 404


# --- Queries --------------------------------------------------------------------------------------


def big_template(cast, objectives: int) -> PlanTemplate:  # type: ignore[no-untyped-def]
    structure = library.resolved(library.SHIPPED["consulting"].structure)
    items = []
    for i in range(objectives):
        item = copy.deepcopy(structure["objectives"][i % len(structure["objectives"])])
        item["key"] = f"objective-{i}"
        items.append(item)
    structure["objectives"] = items
    return PlanTemplate.objects.create(
        organisation_id=cast.partnership.vendor_id,
        name=f"Big {objectives}",
        structure=library.clean_structure(structure),
        lineage=f"org:big-{objectives}",
    )


def test_template_pages_run_a_constant_number_of_queries_whatever_the_template_size(client, cast):
    p = new_plan(cast)
    org = cast.partnership.vendor_id
    small, large = big_template(cast, 2), big_template(cast, 12)
    client.force_login(cast.vendor_admin)
    start = [queries(client, "get", f"/p/{p.pk}/templates/?template={t.pk}") for t in (small, large)]
    assert start[0] == start[1]
    edit = [queries(client, "get", f"/settings/organisations/{org}/templates/{t.pk}/") for t in (small, large)]
    assert edit[0] == edit[1]
    listing_small = queries(client, "get", f"/settings/organisations/{org}/templates/")
    for i in range(5):
        big_template(cast, 3 + i)
    assert queries(client, "get", f"/settings/organisations/{org}/templates/") == listing_small


def test_save_and_clone_pages_run_a_constant_number_of_queries_whatever_the_plan_size(client, cast):
    editor = f.access(cast.vendor_admin, cast.partnership)
    client.force_login(cast.vendor_admin)
    new_plan(cast)
    f.make_objective(editor)
    urls = (f"/p/{cast.partnership.pk}/templates/save/", f"/p/{cast.partnership.pk}/templates/clone/")
    before = [queries(client, "get", url) for url in urls]
    for _ in range(4):
        objective = f.make_objective(editor, target_date=dt.date.today() + dt.timedelta(days=400))
        f.make_goal(editor, objective)
    for _ in range(3):
        new_plan(cast)
    assert [queries(client, "get", url) for url in urls] == before


@pytest.mark.parametrize("side", [Side.VENDOR, Side.PARTNER])
def test_each_side_saves_into_its_own_organisation(client, cast, side):
    who = cast.vendor_admin if side == Side.VENDOR else cast.partner_approver
    p = cast.partnership
    org = p.vendor if side == Side.VENDOR else p.partner
    OrganisationMembership.objects.get_or_create(organisation=org, user=who)
    client.force_login(who)
    assert client.post(f"/p/{p.pk}/templates/save/", {"name": f"From the {side} side"}).status_code == 302
    assert PlanTemplate.objects.get(name=f"From the {side} side").organisation_id == org.pk


# --- No stacking ----------------------------------------------------------------------------------


def test_a_plan_filled_from_one_template_refuses_another_on_its_page(client, cast):
    p = new_plan(cast)
    templates.template_apply(access=f.access(cast.vendor_admin, p), template=templates.shipped("consulting"))
    client.force_login(cast.vendor_admin)
    preview = client.get(f"/p/{p.pk}/templates/?template=reseller").content.decode()
    assert "was started from “Consulting house”" in preview and "Create these drafts" not in preview
    count = Objective.objects.filter(partnership=p).count()
    refused = client.post(f"/p/{p.pk}/templates/", {"template": "reseller"})
    assert refused.status_code == 409
    assert "a template of another origin" in refused.content.decode()
    assert Objective.objects.filter(partnership=p).count() == count
    # The same lineage still applies (and adds nothing twice).
    again = client.post(f"/p/{p.pk}/templates/", {"template": "consulting"}, follow=True)
    assert "nothing was added" in again.content.decode()


def test_the_clone_page_offers_empty_plans_and_plans_of_the_same_lineage_only(client, cast):
    source = f.access(cast.vendor_admin, cast.partnership)
    templates.template_apply(access=source, template=templates.shipped("consulting"), only=["utilisation"])
    same, other, empty = new_plan(cast), new_plan(cast), new_plan(cast)
    templates.template_apply(access=f.access(cast.vendor_admin, same), template=templates.shipped("consulting"))
    templates.template_apply(access=f.access(cast.vendor_admin, other), template=templates.shipped("msp"))
    client.force_login(cast.vendor_admin)
    page = client.get(f"/p/{cast.partnership.pk}/templates/clone/").content.decode()
    assert str(same.pk) in page and str(empty.pk) in page and str(other.pk) not in page
    refused = client.post(f"/p/{cast.partnership.pk}/templates/clone/", {"target": str(other.pk)})
    assert refused.status_code == 400  # not a choice
    assert client.post(f"/p/{cast.partnership.pk}/templates/clone/", {"target": str(same.pk)}).status_code == 302
