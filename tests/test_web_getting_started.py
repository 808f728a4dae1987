"""A first plan in ten minutes: the "started" rule of health, the getting-started checklist of a new
plan (each step ticked by what the plan holds), and empty states that say what to do next."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from alignment import invitations as inv
from alignment import services as plan
from alignment.models import Partnership, Side
from cadence.health import PlanFacts, compute, has_started, partnership_health
from tests import factories as f


def test_a_plan_has_started_once_both_sides_agreed_a_goal(cast):
    assert has_started(PlanFacts(agreed_a_goal=True)) and not has_started(PlanFacts())
    report = compute(PlanFacts(), timezone.now())
    assert not report.started and report.score > 0  # the score is still computed and explained
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    assert not partnership_health(cast.partnership).started
    f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    assert partnership_health(cast.partnership).started


def test_a_new_plan_says_getting_started_instead_of_a_red_score_everywhere(client, cast):
    client.force_login(cast.vendor_admin)
    p = cast.partnership.pk
    for url in (f"/p/{p}/", f"/p/{p}/fragment/plan-header/", f"/p/{p}/health/", "/"):
        html = client.get(url).content.decode()
        assert "Getting started" in html, url
        assert "health-poor" not in html, url


def test_starting_a_partnership_leads_to_the_checklist(client, cast):
    client.force_login(cast.vendor_admin)
    response = client.post(
        "/partnerships/new/",
        {"partner_name": "Globex", "partner_type": "consulting", "name": "", "vendor": str(cast.partnership.vendor_id)},
        follow=True,
    )
    html = response.content.decode()
    assert "Four steps to your first joint plan" in html
    assert 'aria-labelledby="checklist-heading"' in html and "0 of 4 steps done" in html
    for step in ("Write the shared vision", "Add a mutual objective", "Derive this quarter", "Invite Globex"):
        assert step in html, step
    p = Partnership.objects.get(partner__name="Globex")
    assert f'hx-get="/p/{p.pk}/vision/edit/"' in html and f'href="/invite/manage/{p.pk}/"' in html


def test_each_step_is_ticked_by_what_the_plan_holds(client, cast):
    editor = cast.access("vendor_admin")
    client.force_login(cast.vendor_admin)
    header = f"/p/{cast.partnership.pk}/fragment/plan-header/"
    assert "2 of 4 steps done" not in client.get(header).content.decode()
    # The cast's partner people are members already: that step is done.
    assert "1 of 4 steps done" in client.get(header).content.decode()
    plan.vision_update(access=editor, why_together="Why", what_we_hope="What", how_we_work="How")
    assert "2 of 4 steps done" in client.get(header).content.decode()
    objective = f.make_objective(editor, title="Certified practice")
    html = client.get(header).content.decode()
    assert "3 of 4 steps done" in html and "Derive goals from “Certified practice”" in html
    f.make_goal(editor, objective)
    html = client.get(header).content.decode()
    assert "4 of 4 steps done" in html and "Dismiss the checklist" in html


def test_inviting_the_partner_ticks_the_last_step(client, db):
    admin = f.make_user("admin@vendor.test")
    p = f.make_partnership(admin)
    client.force_login(admin)
    header = f"/p/{p.pk}/fragment/plan-header/"
    assert "0 of 4 steps done" in client.get(header).content.decode()
    inv.invitation_create(access=f.access(admin, p), email="pat@partner.test", side=Side.PARTNER, role="approver")
    assert "1 of 4 steps done" in client.get(header).content.decode()


def test_the_checklist_is_dismissed_only_once_complete(client, cast):
    editor = cast.access("vendor_admin")
    client.force_login(cast.vendor_admin)
    url = f"/p/{cast.partnership.pk}/getting-started/dismiss/"
    header = f"/p/{cast.partnership.pk}/fragment/plan-header/"
    client.post(url)
    assert "Getting started</h2>" in client.get(header).content.decode()  # steps left: it stays
    plan.vision_update(access=editor, why_together="Why", what_we_hope="What", how_we_work="How")
    f.make_goal(editor, f.make_objective(editor))
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Getting started</h2>" not in response.content.decode()
    assert "Getting started</h2>" not in client.get(header).content.decode()
    client.force_login(cast.vendor_editor)  # dismissed for that person only
    assert "Getting started</h2>" in client.get(header).content.decode()


def test_the_checklist_is_for_the_people_who_write_the_plan_until_it_starts(client, cast):
    client.force_login(cast.partner_viewer)
    html = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert "Getting started</h2>" not in html and "Getting started" in html  # the badge, not the steps
    editor = cast.access("vendor_editor")
    f.agree(
        f.make_goal(editor, f.make_objective(editor)), cast.access("vendor_approver"), cast.access("partner_approver")
    )
    client.force_login(cast.vendor_admin)
    html = client.get(f"/p/{cast.partnership.pk}/").content.decode()
    assert "Getting started" not in html and "Alignment health <strong>" in html


def test_empty_states_say_what_to_do_next(client, cast):
    client.force_login(cast.vendor_editor)
    p = cast.partnership.pk
    plan_page = client.get(f"/p/{p}/").content.decode()
    assert "No objectives yet" in plan_page and "Add the first objective" in plan_page
    reviews = client.get(f"/p/{p}/reviews/").content.decode()
    assert "No review is scheduled" in reviews and "Schedule the next review" in reviews
    assert "No review has been held yet" in reviews
    dashboard = client.get("/").content.decode()
    assert "Nothing waits for you" in dashboard
    loner = f.make_user()
    f.make_org("Fresh", loner)
    client.force_login(loner)
    html = client.get("/").content.decode()
    assert "Start your first partnership" in html and 'href="/partnerships/new/"' in html


def test_a_review_without_goals_reads_in_plain_words(client, cast):
    editor = cast.access("vendor_editor")
    plan.review_schedule(access=editor, scheduled_for=timezone.now() + dt.timedelta(days=3))
    client.force_login(cast.vendor_editor)
    html = client.get(f"/p/{cast.partnership.pk}/reviews/").content.decode()
    assert "Reminders go out 7 days and 1 day before." in html
