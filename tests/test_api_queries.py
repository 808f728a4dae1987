"""Every list and detail endpoint, and the whole plan, run a fixed number of SQL queries however
much the plan holds: measured on a small plan, then asserted on one several times larger."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alignment import economics, invitations
from alignment import services as plan
from api import plan_updates
from api.renderers import JSONRenderer
from api.resources import ALL, list_queryset
from api.views.resources import LISTED_AS_ROWS
from cadence import pulse
from cadence import services as review_services
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import services as goal_services
from tests import factories as f
from tests.api_support import ApiClient, World


def grow(cast, world, n, figures=True):
    """Add n of everything to the partnership (each side's private figures too, unless ``figures`` is false)."""
    start = world.grown = getattr(world, "grown", 0)
    world.grown += n
    editor, admin = cast.access("vendor_editor"), cast.access("vendor_admin")
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    for i in range(start, start + n):
        objective = f.make_objective(editor)
        goal = f.agree(f.make_goal(editor, objective), vendor, partner)
        goal_check_ins.check_in_create(access=editor, goal_id=goal.pk, value="150", confidence=4)
        goal_check_ins.check_in_create(access=cast.access("partner_editor"), goal_id=goal.pk, value="140", confidence=2)
        goal_comments.comment_create(access=editor, goal_id=goal.pk, body="On track")
        goal_commitments.commitment_create(
            access=editor,
            goal_id=goal.pk,
            side="vendor",
            text="Owned work",
            owner=cast.vendor_editor.pk,
            due_date=dt.date(2026, 12, 1),
        )
        goal_services.goal_update(access=editor, goal_id=goal.pk, target="250")  # a pending amendment
        review = plan.review_schedule(access=editor, scheduled_for=dt.datetime(2026, 1, 1 + i, 10, tzinfo=dt.UTC))
        # A pulse at the review, of each side in turn (``/plan`` shows those of held reviews). One
        # answer: growing by 6 stays within ``plan_updates.MAX_EVENTS`` changes, so the kept document
        # is updated (or given up) as on the small plan, not dropped for too many changes.
        pulse.pulse_answer(
            access=cast.access("partner_approver" if i % 2 else "vendor_editor"),
            review_id=review.pk,
            answers=dict.fromkeys(pulse.QUESTIONS, 2 + i % 3),
            note=f"Pulse {i}",
        )
        review_services.review_hold(
            access=editor,
            review_id=review.pk,
            held_on=dt.date(2026, 1, 1 + i),
            attendees=[cast.vendor_editor, cast.partner_approver],
            schedule_next=False,
        )
        invitations.invitation_create(access=admin, email=f"person{i}@vendor.test", side="vendor", role="viewer")
        # Each side's economics: a driver of each side, private and shared figures, a link to the objective.
        for side_access in (vendor, partner) if figures else ():
            driver = economics.driver_add(access=side_access, name=f"driver {i}", unit="EUR k")
            economics.objective_link_driver(access=editor, objective_id=objective.pk, driver_id=driver.pk)
            for quarter, visibility in ((1, "private"), (2, "shared")):
                figure = economics.figure_record(
                    access=side_access,
                    driver_id=driver.pk,
                    period_start=dt.date(2026, 3 * quarter - 2, 1),
                    period_end=dt.date(2026, 3 * quarter, 28),
                    value=str(100 + i),
                    visibility=visibility,
                )
                world.driver, world.figure = getattr(world, "driver", driver), getattr(world, "figure", figure)


def endpoints(world):
    p = world.partnership.pk
    return [
        ("me", {}),
        ("auth/tokens", {}),
        ("partnerships", {}),
        (f"partnerships/{p}", {}),
        (f"partnerships/{p}/plan", {}),
        ("visions", {}),
        (f"visions/{world.vision.pk}", {}),
        ("objectives", {"partnership": str(p)}),
        (f"objectives/{world.objective.pk}", {}),
        ("goals", {}),
        ("goals", {"partnership": str(p), "status": "agreed", "period": "2026-Q4"}),
        ("goals", {"objective": str(world.objective.pk)}),
        (f"goals/{world.agreed.pk}", {}),
        ("commitments", {}),
        ("commitments", {"goal": str(world.draft.pk)}),
        (f"commitments/{world.commitment.pk}", {}),
        ("check-ins", {}),
        (f"check-ins/{world.check_in.pk}", {}),
        ("comments", {}),
        (f"comments/{world.comment.pk}", {}),
        ("reviews", {}),
        (f"reviews/{world.review.pk}", {}),
        ("invitations", {}),
        (f"invitations/{world.invitation.pk}", {}),
        ("drivers", {}),
        ("drivers", {"partnership": str(p), "side": "partner"}),
        (f"drivers/{world.driver.pk}", {}),
        ("driver-figures", {}),
        ("driver-figures", {"partnership": str(p), "driver": str(world.driver.pk)}),
        (f"driver-figures/{world.figure.pk}", {}),
        ("changes", {"limit": 200}),
        ("changes", {"partnership": str(p), "limit": 200}),
    ]


def queries(client, path, params):
    """The queries of one read, its body read too (a feed page with more after it is built while it
    is sent, as a client reads it: ``api.views.changes.StreamedPage``)."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, **params)
        body = response.content
    assert response.status_code == 200, (path, body[:300])
    return len(ctx), response


@pytest.mark.parametrize("who", ["vendor_editor", "vendor_admin"])
def test_every_read_runs_a_fixed_number_of_queries(cast, who, django_assert_num_queries):
    world = World(cast)
    grow(cast, world, 1)
    client = ApiClient(getattr(cast, who))
    client.get("me")  # the token's first use is recorded once
    small = {}
    for path, params in endpoints(world):
        small[(path, str(params))], _ = queries(client, path, params)
    grow(cast, world, 6)
    for path, params in endpoints(world):
        with django_assert_num_queries(small[(path, str(params))]):
            response = client.get(path, **params)
            assert response.status_code == 200 and response.content  # a streamed feed page is built as it is read
    plan_doc = client.get(f"partnerships/{world.partnership.pk}/plan").json()
    assert len(plan_doc["goals"]) >= 10 and len(plan_doc["agreed_revisions"]) == 7
    assert len(plan_doc["check_ins"]) >= 14 and len(plan_doc["reviews"]) >= 7
    assert len(plan_doc["pulse"]) == 7 and len(plan_doc["balance"]["quarters"]) == 4


def test_the_plan_document_is_built_once_per_change_and_shared_by_members(cast):
    world = World(cast)
    grow(cast, world, 2, figures=False)  # with a private figure, each side has its own document
    path = f"partnerships/{world.partnership.pk}/plan"
    vendor, partner = ApiClient(cast.vendor_editor), ApiClient(cast.partner_viewer)
    vendor.get("me"), partner.get("me")  # first token use recorded
    built, first = queries(vendor, path, {})
    reused, second = queries(partner, path, {})
    assert reused < built / 2, "the second member gets the cached document"
    first_doc, second_doc = first.json(), second.json()
    assert first_doc.pop("access")["side"] == "vendor" and second_doc.pop("access")["role"] == "viewer"
    assert first_doc == second_doc
    goal_services.goal_update(access=cast.access("vendor_editor"), goal_id=world.draft.pk, title="Renamed draft")
    rebuilt, third = queries(partner, path, {})
    assert rebuilt < built, "updated for the one goal that changed (api.plan_updates), not built again"
    assert "Renamed draft" in {g["title"] for g in third.json()["goals"]}


def test_the_plan_answers_not_modified_until_the_plan_changes(cast):
    """A client that kept the plan sends its ETag back and gets 304 without a body until something
    in the plan changes; the tag is per caller (their access is part of the document)."""
    world = World(cast)
    path = f"partnerships/{world.partnership.pk}/plan"
    vendor, partner = ApiClient(cast.vendor_editor), ApiClient(cast.partner_viewer)
    first = vendor.get(path)
    tag = first["ETag"]
    assert first.status_code == 200 and tag.startswith('"plan-') and "no-cache" in first["Cache-Control"]
    assert first.json()["access"] == {
        "side": "vendor",
        "role": "editor",
        "can_edit": True,
        "can_approve": False,
        "can_manage": False,
    }

    again = vendor.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    assert vendor.get(path, headers={"If-None-Match": f'"other", W/{tag}'}).status_code == 304

    theirs = partner.get(path, headers={"If-None-Match": tag})
    assert theirs.status_code == 200 and theirs["ETag"] != tag, "another member's access differs"
    assert theirs.json()["access"]["side"] == "partner"

    goal_services.goal_update(access=cast.access("vendor_editor"), goal_id=world.draft.pk, title="Renamed again")
    changed = vendor.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed["ETag"] != tag
    assert "Renamed again" in {g["title"] for g in changed.json()["goals"]}


def test_not_modified_is_answered_from_the_tag_without_reading_the_document(cast, monkeypatch):
    """Another process made the document: a client asking with its tag gets 304 from the digest cached
    beside it, and the document itself (some 3 MB for a plan of 500 goals) is not read from the cache.
    Without a tag the document is read, once: this process keeps it for the plan's generation. After
    a change the old tag gets the new document."""
    world = World(cast)
    path = f"partnerships/{world.partnership.pk}/plan"
    vendor = ApiClient(cast.vendor_editor)
    tag = vendor.get(path)["ETag"]
    plan_updates.forget()  # this process no longer has it: as in any other web process
    read: list[str] = []
    cache_get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *a, **k: read.append(key) or cache_get(key, *a, **k))

    again = vendor.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again["ETag"] == tag
    assert any(key.endswith(":digest") for key in read)
    assert not [key for key in read if key.startswith("plan-document-json") and not key.endswith(":digest")]

    read.clear()
    whole = vendor.get(path)
    assert whole.status_code == 200 and whole["ETag"] == tag and whole.json()["goals"]
    assert [key for key in read if key.startswith("plan-document-json")], "read from the shared cache"
    read.clear()
    kept = vendor.get(path)
    assert kept.content == whole.content and kept["ETag"] == tag
    assert not [key for key in read if key.startswith("plan-document-json")], "this process kept what it read"

    goal_services.goal_update(access=cast.access("vendor_editor"), goal_id=world.draft.pk, title="Renamed once more")
    changed = vendor.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed["ETag"] != tag
    assert "Renamed once more" in {g["title"] for g in changed.json()["goals"]}


def test_the_cached_plan_is_the_document_the_serializers_build(cast, settings):
    """The cached bytes with the caller's access spliced in parse to exactly what the plan's
    serializers give without any cache."""
    world = World(cast)
    grow(cast, world, 1)
    path = f"partnerships/{world.partnership.pk}/plan"
    client = ApiClient(cast.vendor_admin)
    cached_once, cached_twice = client.get(path).json(), client.get(path).json()
    settings.HEALTH_CACHE_SECONDS = 0
    uncached = client.get(path).json()
    assert cached_once == cached_twice == uncached
    assert uncached["access"]["can_manage"] is True and uncached["goals"] and uncached["cursor"]


@pytest.mark.parametrize("who", ["vendor_editor", "partner_approver"])
def test_each_list_read_as_rows_answers_what_its_serializer_writes(cast, who):
    """The lists read as ``/plan`` reads its rows (no model instances, no serializer) answer byte for
    byte what the output serializer writes of the same objects, in the same order and pages."""
    world = World(cast)
    grow(cast, world, 2)
    user = getattr(cast, who)
    client = ApiClient(user)
    for name in LISTED_AS_ROWS:
        resource = next(r for r in ALL if r.name == name)
        objects = list(list_queryset(resource, user, {}).order_by("created_at", "id"))
        expected = JSONRenderer().render(resource.out(objects, many=True).data)
        answer = client.get(name, limit=200)
        assert answer.status_code == 200, answer.content[:300]
        assert objects and answer.json()["next_cursor"] is None, name
        results = answer.content[answer.content.index(b'"results":') + len(b'"results":') : -1]
        assert results == expected, name
        # Page by page, following each page's cursor: the same objects, each once.
        paged, cursor = [], None
        while True:
            page = client.get(name, limit=3, **({"cursor": cursor} if cursor else {})).json()
            paged += page["results"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [o["id"] for o in paged] == [str(o.pk) for o in objects], name
