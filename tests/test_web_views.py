"""Who may see and change what on the browser pages: outsiders get 404, viewers cannot edit (403),
CSRF is enforced, and user text is always escaped."""

from __future__ import annotations

import pytest
from django.test import Client

from alignment.models import Objective, Vision
from goals.models import Goal
from tests import factories as f


@pytest.fixture
def plan(cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    goal = f.make_goal(editor, objective)
    commitment = goal.commitments.first()
    return {
        "p": cast.partnership.pk,
        "o": objective.pk,
        "g": goal.pk,
        "c": commitment.pk,
        "goal": goal,
        "objective": objective,
    }


PAGES = [
    "/p/{p}/",
    "/p/{p}/fragment/vision/",
    "/p/{p}/fragment/history/",
    "/p/{p}/fragment/goal-{g}/",
    "/p/{p}/fragment/goals-of-{o}/",
    "/p/{p}/fragment/objective-{o}/",
    "/p/{p}/fragment/objectives/",
    "/p/{p}/fragment/plan-header/",
    "/p/{p}/goals/{g}/",
    "/p/{p}/goals/{g}/card/",
    "/p/{p}/goals/{g}/details/",
    "/p/{p}/objectives/{o}/goals/closed/",
]
EDIT_FORMS = [
    "/p/{p}/vision/edit/",
    "/p/{p}/objectives/new/",
    "/p/{p}/objectives/{o}/edit/",
    "/p/{p}/objectives/{o}/goals/new/",
    "/p/{p}/objectives/{o}/derive/",
    "/p/{p}/goals/{g}/edit/",
    "/p/{p}/goals/{g}/commitments/new/",
    "/p/{p}/goals/{g}/commitments/{c}/edit/",
    "/p/{p}/goals/{g}/request-changes/",
    "/p/{p}/goals/{g}/check-in/",
    "/p/{p}/goals/{g}/close/",
]
ACTIONS = [
    "/p/{p}/goals/{g}/propose/",
    "/p/{p}/goals/{g}/withdraw/",
    "/p/{p}/goals/{g}/approve/",
    "/p/{p}/goals/{g}/discard-amendment/",
    "/p/{p}/goals/{g}/commitments/{c}/done/",
    "/p/{p}/vision/endorse/",
]


def login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", PAGES + EDIT_FORMS + ["/p/{p}/goals/{g}/comment/"])
def test_outsiders_get_404_for_every_page(client, cast, plan, url):
    login(client, cast.outsider)
    assert client.get(url.format(**plan)).status_code == 404


@pytest.mark.parametrize("url", EDIT_FORMS + ACTIONS + ["/p/{p}/live/", "/p/{p}/goals/{g}/comment/"])
def test_outsiders_get_404_when_posting(client, cast, plan, url):
    login(client, cast.outsider)
    assert client.post(url.format(**plan), {"version": 1, "revision": 1, "after": "0.0"}).status_code == 404
    assert Goal.objects.get(pk=plan["g"]).version == plan["goal"].version


@pytest.mark.parametrize("url", PAGES)
def test_viewers_of_both_sides_see_every_page(client, cast, plan, url):
    for viewer in (cast.vendor_viewer, cast.partner_viewer):
        login(client, viewer)
        assert client.get(url.format(**plan)).status_code == 200


@pytest.mark.parametrize("url", EDIT_FORMS)
def test_viewers_cannot_open_edit_forms(client, cast, plan, url):
    login(client, cast.vendor_viewer)
    assert client.get(url.format(**plan)).status_code == 403


@pytest.mark.parametrize("url", EDIT_FORMS + ACTIONS)
def test_viewers_cannot_change_anything(client, cast, plan, url):
    login(client, cast.partner_viewer)
    before = Goal.objects.get(pk=plan["g"]).version, Vision.objects.get(partnership_id=plan["p"]).version
    response = client.post(
        url.format(**plan),
        {
            "version": 1,
            "revision": 1,
            "title": "Viewer edit",
            "text": "x",
            "side": "partner",
            "comment": "x",
            "value": "1",
            "measured_on": "2026-11-01",
            "confidence": "3",
            "why_together": "x",
            "period_start": "2026-10-01",
            "period_end": "2026-12-31",
            "metric_name": "m",
            "baseline": "1",
            "target": "2",
            "direction": "increase",
            "status": "active",
            "form-TOTAL_FORMS": "0",
            "form-INITIAL_FORMS": "0",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 403
    assert "may not" in response.content.decode() or "Only" in response.content.decode()
    assert (Goal.objects.get(pk=plan["g"]).version, Vision.objects.get(partnership_id=plan["p"]).version) == before
    assert Objective.objects.filter(partnership_id=plan["p"]).count() == 1


def test_viewers_may_comment(client, cast, plan):
    login(client, cast.partner_viewer)
    response = client.post(
        f"/p/{plan['p']}/goals/{plan['g']}/comment/", {"body": "Looks realistic to us."}, HTTP_X_DETAILS_OPEN="true"
    )
    assert response.status_code == 200
    assert "Looks realistic to us." in response.content.decode()


def test_a_refusal_in_place_is_shown_beside_the_control_that_caused_it(client, cast, plan):
    """A refused step of a goal comes back in that goal's card, next to its buttons (issue 12)."""
    login(client, cast.vendor_viewer)
    response = client.post(f"/p/{plan['p']}/goals/{plan['g']}/propose/", {"version": 1}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "HX-Retarget" not in response
    page = response.content.decode()
    assert f'id="goal-{plan["g"]}"' in page and 'class="refusal error" role="alert"' in page


def test_a_refusal_that_belongs_to_no_card_is_shown_in_the_status_area(client, cast, plan):
    login(client, cast.vendor_viewer)
    response = client.post(f"/p/{plan['p']}/vision/endorse/", {"revision": 1}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#flash"


def test_posts_without_a_csrf_token_are_refused(cast, plan):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.vendor_editor)
    url = f"/p/{plan['p']}/vision/edit/"
    data = {"version": 1, "why_together": "Because", "what_we_hope": "", "how_we_work": ""}
    assert client.post(url, data).status_code == 403
    assert Vision.objects.get(partnership_id=plan["p"]).why_together == ""
    client.get(f"/p/{plan['p']}/")
    token = client.cookies["csrftoken"].value
    assert client.post(url, data, HTTP_X_CSRFTOKEN=token).status_code == 200
    assert Vision.objects.get(partnership_id=plan["p"]).why_together == "Because"


def test_sign_up_and_sign_in_need_the_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post(
            "/accounts/signup/",
            {"organisation": "A", "full_name": "B", "email": "a@b.test", "password": "a-long-and-unusual-pass"},
        ).status_code
        == 403
    )
    assert client.post("/accounts/login/", {"username": "a@b.test", "password": "x"}).status_code == 403


SCRIPT = '<script>alert("x")</script>'


def test_user_text_is_escaped_on_the_plan_page_the_goal_page_and_the_dashboard(client, cast):
    editor = cast.access("vendor_editor")
    services_objective = f.make_objective(editor, title=f"Objective {SCRIPT}", vendor_gain=SCRIPT)
    goal = f.make_goal(editor, services_objective, title=f"Goal {SCRIPT}")
    from alignment import services
    from goals.comments import comment_create

    services.vision_update(access=editor, why_together=SCRIPT)
    comment_create(access=editor, goal_id=goal.pk, body=SCRIPT)
    cast.vendor_editor.full_name = f"Ed {SCRIPT}"
    cast.vendor_editor.save()
    login(client, cast.partner_approver)
    for url in (f"/p/{cast.partnership.pk}/", f"/p/{cast.partnership.pk}/goals/{goal.pk}/", "/"):
        html = client.get(url).content.decode()
        assert SCRIPT not in html, url
    html = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    live = client.post(f"/p/{cast.partnership.pk}/live/", {"after": "0.0"})
    assert live["Content-Type"] == "application/json"


def test_a_partnership_cannot_be_reached_through_another_ones_address(client, cast, plan):
    """Objects of one partnership under the address of another are not found."""
    other = f.make_partnership(cast.vendor_admin, name="Second")
    login(client, cast.vendor_admin)
    assert client.get(f"/p/{other.pk}/goals/{plan['g']}/").status_code == 404
    assert client.get(f"/p/{other.pk}/objectives/{plan['o']}/edit/").status_code == 404
    assert client.get(f"/p/{other.pk}/fragment/goal-{plan['g']}/").content.count(b"hidden") == 1


def test_a_malformed_fragment_name_or_cursor_is_a_clear_4xx(client, cast, plan):
    login(client, cast.vendor_editor)
    assert client.get(f"/p/{plan['p']}/fragment/nonsense/").status_code == 404
    response = client.post(f"/p/{plan['p']}/live/", {"after": "yesterday"})
    assert response.status_code == 400 and "cursor" in response.json()["error"]


def test_in_place_requests_for_a_missing_item_get_a_404_message_not_a_page(client, cast, plan):
    login(client, cast.vendor_editor)
    response = client.get(f"/p/{plan['p']}/goals/{plan['o']}/edit/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and response["HX-Retarget"] == "#flash"
    assert "No such goal." in response.content.decode()
    login(client, cast.outsider)
    response = client.get(f"/p/{plan['p']}/goals/{plan['g']}/edit/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and "No such partnership." in response.content.decode()
