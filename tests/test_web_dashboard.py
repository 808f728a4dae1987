"""The dashboard: every visible partnership with health, trend, next review, goals waiting for the
person's side and overdue commitments; filtered, sorted and paginated. Starting a partnership."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from alignment import services
from alignment.models import Partnership
from cadence.models import HealthSnapshot
from goals import commitments as goal_commitments
from goals import services as goals
from tests import factories as f


def rows(response) -> list[str]:
    return [r["partnership"].name for r in response.context["rows"]]


def test_only_visible_partnerships_are_listed(client, cast):
    client.force_login(cast.partner_viewer)
    response = client.get("/")
    assert rows(response) == ["Acme × Northwind"]
    assert "Other × Elsewhere" not in response.content.decode()


def test_goals_proposed_by_the_other_side_wait_for_us_until_we_approve(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), title="Pipeline Q4")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    client.force_login(cast.partner_approver)
    [row] = client.get("/").context["rows"]
    assert [(g["title"], g["why"]) for g in row["waiting"]] == [("Pipeline Q4", "to approve")]
    # Proposed by our own side, but not approved by it yet: the goal is agreed only when both sides
    # approved this revision, so it waits for our approval too (goals.rules.waits_for).
    client.force_login(cast.vendor_approver)
    assert [g["title"] for g in client.get("/").context["rows"][0]["waiting"]] == ["Pipeline Q4"]
    goals.goal_approve(access=cast.access("partner_approver"), goal_id=goal.pk, revision=1)
    client.force_login(cast.partner_approver)
    assert client.get("/").context["rows"][0]["waiting"] == []
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=goal.pk, revision=1)
    client.force_login(cast.vendor_approver)
    assert client.get("/").context["rows"][0]["waiting"] == []


def test_changes_requested_on_our_proposal_wait_for_us(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), title="Pipeline Q4")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_request_changes(access=cast.access("partner_editor"), goal_id=goal.pk, comment="Too high")
    client.force_login(cast.vendor_editor)
    response = client.get("/")
    assert [(g["title"], g["why"]) for g in response.context["rows"][0]["waiting"]] == [
        ("Pipeline Q4", "changes requested")
    ]
    assert "changes requested" in response.content.decode()


def test_overdue_commitments_are_counted_for_each_side(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.agree(
        f.make_goal(editor, f.make_objective(editor)), cast.access("vendor_approver"), cast.access("partner_approver")
    )
    past = timezone.localdate() - dt.timedelta(days=3)
    for c in goal.commitments.all():
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=past)
    client.force_login(cast.partner_editor)
    row = client.get("/").context["rows"][0]
    assert (row["overdue_ours"], row["overdue_theirs"]) == (1, 1)


def test_health_trend_and_next_review_are_shown(client, cast):
    p = cast.partnership
    for days, score in ((14, 40), (7, 50), (0, 62)):
        HealthSnapshot.objects.create(partnership=p, day=timezone.localdate() - dt.timedelta(days=days), score=score)
    when = timezone.now() + dt.timedelta(days=9)
    services.review_schedule(access=cast.access("vendor_editor"), scheduled_for=when)
    client.force_login(cast.vendor_editor)
    response = client.get("/")
    row = response.context["rows"][0]
    assert row["trend"] == [40, 50, 62] and row["trend_delta"] == 22
    assert row["next_review"] == when
    html = response.content.decode()
    assert "Health trend over 3 snapshots: 40 to 62" in html and "▲ +22" in html


def test_search_status_filter_sorting_and_pagination(client, cast):
    admin = cast.vendor_admin
    for i in range(22):
        f.make_partnership(admin, name=f"Zeta {i:02d}", status="paused" if i % 2 else "active")
    client.force_login(admin)
    assert len(rows(client.get("/", {"q": "zeta", "sort": "name"}))) == 20
    second = client.get("/", {"q": "zeta", "sort": "name", "page": 2})
    assert rows(second) == ["Zeta 20", "Zeta 21"]
    assert 'href="?q=zeta&amp;sort=name&amp;page=1"' in second.content.decode()
    paused = rows(client.get("/", {"status": "paused", "q": "zeta", "sort": "name"}))
    assert len(paused) == 11 and all(int(name[-2:]) % 2 for name in paused)
    assert rows(client.get("/", {"sort": "review"}))  # no review anywhere: still sorted by name
    assert client.get("/", {"sort": "nonsense", "page": "x"}).status_code == 200


def test_only_goals_waiting_filter(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    goals.goal_propose(access=editor, goal_id=goal.pk)
    f.make_partnership(cast.vendor_admin, name="Quiet one")
    client.force_login(cast.vendor_admin)
    assert sorted(rows(client.get("/"))) == ["Acme × Northwind", "Quiet one"]
    client.force_login(cast.partner_approver)
    assert rows(client.get("/", {"waiting": "on"})) == ["Acme × Northwind"]


def test_starting_a_partnership_from_the_dashboard(client, cast):
    client.force_login(cast.vendor_admin)
    response = client.post(
        "/partnerships/new/",
        {"partner_name": "Globex", "partner_type": "consulting", "vendor": str(cast.partnership.vendor_id), "name": ""},
    )
    p = Partnership.objects.get(partner__name="Globex")
    assert response.status_code == 302 and response["Location"] == f"/p/{p.pk}/"
    assert p.partner_type == "consulting" and p.vendor_id == cast.partnership.vendor_id


def test_starting_a_partnership_needs_a_partner_name_and_an_own_organisation(client, cast):
    client.force_login(cast.vendor_admin)
    response = client.post(
        "/partnerships/new/",
        {"partner_name": "", "partner_type": "consulting", "vendor": str(cast.partnership.vendor_id)},
    )
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    response = client.post(
        "/partnerships/new/",
        {"partner_name": "Globex", "partner_type": "consulting", "vendor": str(cast.outsider_partnership.vendor_id)},
    )
    assert response.status_code == 400
    assert not Partnership.objects.filter(partner__name="Globex").exists()
    client.force_login(f.make_user("loner@nowhere.test"))
    assert client.get("/partnerships/new/").status_code == 404
