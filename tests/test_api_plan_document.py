"""``/plan`` is built from rows (``api.plan_document``); ``PlanOut`` and its serializers stay the
reference. These tests render both for plans holding every kind of object and value the document
shows, and want the same bytes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from alignment import services as plan
from alignment.models import AlignmentReview, Objective, Partnership
from api.plan_document import shared_document
from api.renderers import JSONRenderer
from api.views.plan import PlanOut, plan_document, shared_plan
from cadence import pulse
from cadence import services as review_services
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals import services as goal_services
from goals.models import CheckIn, Comment, Commitment, Goal
from tests import factories as f
from tests.api_support import ApiClient, World

# Every digit numeric(18, 4) holds (SQLite keeps decimals as doubles, good for 15 digits).
WIDE, LONG = (
    ("-99999999999999.9999", "12345678901234.5678")
    if connection.vendor == "postgresql"
    else ("-99999999999.9999", "12345678901.5678")
)
ODD_TEXT = 'Zürich → 東京 🚀 «quoted» "escaped" back\\slash\ttab\nline \u2028sep\u2029para \x7f end'


def by_serializers(access) -> bytes:  # type: ignore[no-untyped-def]
    """The shared part of the document as ``PlanOut`` renders it (what ``/plan`` served before)."""
    return JSONRenderer().render({k: v for k, v in PlanOut(plan_document(access)).data.items() if k != "access"})


def rich_plan(cast) -> World:  # type: ignore[no-untyped-def]
    """A plan with every object ``/plan`` shows, in every state, and values that are easy to get wrong."""
    world = World(cast, extra_goals=2)
    editor, vendor, partner = (
        cast.access("vendor_editor"),
        cast.access("vendor_approver"),
        cast.access("partner_approver"),
    )
    vision = world.vision
    plan.vision_endorse(access=vendor, revision=vision.revision)
    plan.vision_endorse(access=partner, revision=vision.revision)
    # Goals: a pending amendment, a change request, a closed one, a withdrawn one.
    amended = f.agree(f.make_goal(editor, world.objective, title=ODD_TEXT[:120]), vendor, partner)
    goal_services.goal_update(access=editor, goal_id=amended.pk, target="987654321.1234")
    requested = f.make_goal(editor, world.objective)
    goal_services.goal_propose(access=editor, goal_id=requested.pk)
    goal_services.goal_request_changes(access=partner, goal_id=requested.pk, comment="Lower the target, please ✓")
    closed = f.agree(f.make_goal(editor, world.objective), vendor, partner)
    goal_services.goal_close(
        access=vendor,
        goal_id=closed.pk,
        outcome="achieved",
        note=ODD_TEXT,
        today=dt.date.today() + dt.timedelta(days=90),
    )
    withdrawn = f.make_goal(editor, world.spare_objective)
    goal_services.goal_withdraw(access=vendor, goal_id=withdrawn.pk, note="Not this quarter")
    goal_check_ins.check_in_create(
        access=cast.access("partner_editor"), goal_id=world.agreed.pk, value="-0.0001", confidence=1, note=ODD_TEXT
    )
    goal_check_ins.check_in_create(access=editor, goal_id=world.agreed.pk, value=LONG, confidence=5)
    goal_commitments.commitment_create(access=editor, goal_id=world.agreed.pk, side="partner", text="Nobody owns this")
    goal_commitments.commitment_create(
        access=editor,
        goal_id=world.agreed.pk,
        side="vendor",
        text=ODD_TEXT,
        owner=cast.vendor_editor.pk,
        due_date=dt.date(2026, 12, 31),
    )
    # Values no service writes but the columns hold: many digits, nulls, a finished commitment, people gone.
    Goal.objects.filter(pk=world.draft.pk).update(
        baseline=Decimal(WIDE), metric_unit="€", description=ODD_TEXT, created_by=None
    )
    Objective.objects.filter(pk=world.spare_objective.pk).update(
        baseline=None, target=Decimal("0.0001"), vendor_drivers=["Zuverlässigkeit", "渠道"], partner_drivers=[]
    )
    Commitment.objects.filter(goal=world.agreed, side="partner").update(
        done=True, done_at=dt.datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=dt.UTC)
    )
    CheckIn.objects.filter(pk=world.check_in.pk).update(author=None, measured_on=dt.date(2026, 2, 28))
    Comment.objects.filter(pk=world.comment.pk).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    # Reviews: one held with attendees, a snapshot and a pulse, one skipped, one scheduled.
    held = plan.review_schedule(
        access=editor, scheduled_for=dt.datetime(2026, 1, 5, 9, 15, tzinfo=dt.UTC), title="Q1 review ✓"
    )
    answer_pulse(cast, held, "vendor_editor", 5, ODD_TEXT)
    answer_pulse(cast, held, "partner_approver", 2, "Leads arrive late")
    answer_pulse(cast, held, "partner_viewer", 3, "")
    review_services.review_hold(
        access=editor,
        review_id=held.pk,
        held_on=dt.date(2026, 1, 5),
        notes=ODD_TEXT,
        decisions="Keep going",
        attendees=[cast.vendor_editor, cast.partner_approver, cast.vendor_admin],
        other_attendees="Their CFO",
        schedule_next=False,
    )
    AlignmentReview.objects.filter(pk=held.pk).update(
        goal_snapshot=[
            {"goal": str(world.agreed.pk), "progress": 0.25, "value": "120", "on_track": True, "note": None}
        ],
        health_score=72,
    )
    skipped = plan.review_schedule(access=editor, scheduled_for=dt.datetime(2026, 4, 5, 9, tzinfo=dt.UTC))
    plan.review_skip(access=editor, review_id=skipped.pk)
    # A review held yesterday, whose pulse still takes answers; the scheduled one's is nobody's business yet.
    recent = plan.review_schedule(access=editor, scheduled_for=timezone.now() - dt.timedelta(days=1), title="Recent")
    answer_pulse(cast, recent, "partner_editor", 4, "Better")
    review_services.review_hold(
        access=editor,
        review_id=recent.pk,
        held_on=timezone.localdate() - dt.timedelta(days=1),
        attendees=[cast.vendor_editor],
        schedule_next=False,
    )
    answer_pulse(cast, world.review, "partner_editor", 1, "NOT-HELD-YET")
    # A member with no full name is shown by first and last name, one with neither by e-mail.
    named = f.make_user("named@partner.test", first_name="Nia", last_name="Ndlovu")
    f.add_member(cast.partnership, named, "partner", "viewer")
    f.add_member(cast.partnership, f.make_user("anon@partner.test"), "partner", "viewer")
    return world


def answer_pulse(cast, review, who: str, score: int, note: str) -> None:  # type: ignore[no-untyped-def]
    """``who`` answers the pulse of ``review``: ``score`` to trust, one point more (at most 5) to the rest."""
    answers = dict.fromkeys(pulse.QUESTIONS, min(score + 1, 5)) | {"trust": score}
    pulse.pulse_answer(access=cast.access(who), review_id=review.pk, answers=answers, note=note)


@pytest.mark.django_db
def test_the_plan_built_from_rows_is_byte_for_byte_the_serializers_document(cast):
    world = rich_plan(cast)
    access = cast.access("vendor_admin")
    built = shared_plan(access)
    assert built == by_serializers(access)
    document = orjson.loads(built)
    # It held what it should, so the comparison covered it.
    assert {r["number"] for r in document["agreed_revisions"]} == {1}
    assert {g["negotiation_state"] for g in document["goals"]} >= {"", "draft", "changes_requested", "proposed"}
    held = next(r for r in document["reviews"] if r["status"] == "held")
    assert len(held["attendees"]) == 3 and held["goal_snapshot"][0]["progress"] == 0.25
    assert {r["status"] for r in document["reviews"]} >= {"held", "skipped", "scheduled"}
    assert len(document["endorsements"]) == 2 and document["vision"]["id"] == str(world.vision.pk)
    assert {"Nia Ndlovu", "anon@partner.test", "Ed Editor"} <= {m["name"] for m in document["members"]}
    assert WIDE in {g["baseline"] for g in document["goals"]}
    assert [len(p["notes"]) for p in document["pulse"]] == [2, 1]
    assert document["pulse"][0]["questions"][0]["flagged"] and len(document["balance"]["quarters"]) == 4
    assert {"-0.0001", LONG} <= {c["value"] for c in document["check_ins"]}
    assert None in {c["author"] for c in document["check_ins"]}
    assert "2026-03-01T12:30:00.123456Z" in {c["done_at"] for c in document["commitments"]}
    assert "\\u2028" in built.decode() and "\u2028" not in built.decode()


def test_the_terms_in_force_name_commitment_owners_by_public_id(cast):
    """A revision's commitments are a stored snapshot holding the owner's internal user id; the
    document names people by public id, as everywhere else in the API."""
    world = World(cast)
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, world.objective, title="Owned commitments")
    goal_commitments.commitment_create(
        access=editor,
        goal_id=goal.pk,
        side="vendor",
        text="Run the webinars",
        owner=cast.vendor_editor.pk,
        due_date=dt.date(2026, 12, 1),
    )
    f.agree(goal, cast.access("vendor_approver"), cast.access("partner_approver"))
    goal_services.goal_update(access=editor, goal_id=goal.pk, target="300")  # the agreed terms stay in force
    for built in (shared_plan(cast.access("vendor_admin")), by_serializers(cast.access("vendor_admin"))):
        [revision] = [r for r in orjson.loads(built)["agreed_revisions"] if r["goal"] == str(goal.pk)]
        owners = {c["text"]: c["owner"] for c in revision["commitments"]}
        assert owners["Run the webinars"] == str(cast.vendor_editor.public_id)
        assert not any(isinstance(o, int) for o in owners.values())


@pytest.mark.django_db
def test_an_ended_partnership_with_economics_is_the_same_document(cast):
    rich_plan(cast)
    Partnership.objects.filter(pk=cast.partnership.pk).update(
        status="ended",
        margin_percent=Decimal("12.50"),
        referral_fee_percent=None,
        economic_notes=ODD_TEXT,
        review_time=dt.time(8, 30),
        reminder_offsets_days=[14, 1],
    )
    access = cast.access("partner_viewer")
    assert shared_plan(access) == by_serializers(access)
    assert orjson.loads(shared_plan(access))["partnership"]["status"] == "ended"


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["review snapshot", "objective drivers"])
def test_numbers_orjson_would_write_otherwise_go_through_the_standard_encoder(cast, where):
    """A stored float below 1e-4 is ``1e-05`` to Python and ``0.00001`` to orjson, an integer past 64
    bits is refused by orjson: such a document is written by the standard encoder, the same bytes."""
    world = rich_plan(cast)
    if where == "review snapshot":
        AlignmentReview.objects.filter(partnership=cast.partnership, status="held").update(
            goal_snapshot=[{"progress": 0.00001, "big": 2**70}]
        )
        odd = [b"1e-05", str(2**70).encode()]
    else:
        Objective.objects.filter(pk=world.objective.pk).update(vendor_drivers=[1e-7, 2.5])
        odd = [b"1e-07"]
    access = cast.access("vendor_editor")
    _document, exact = shared_document(access)
    assert not exact
    built = shared_plan(access)
    assert built == by_serializers(access)
    assert all(number in built for number in odd)


@pytest.mark.django_db
def test_an_empty_plan_is_the_same_document(cast):
    access = cast.access("vendor_viewer")
    assert shared_plan(access) == by_serializers(access)
    assert orjson.loads(shared_plan(access))["goals"] == []


@pytest.mark.django_db
def test_under_another_time_zone_the_serializers_build_the_plan(cast):
    """DRF writes datetimes in the current time zone; rows are read in UTC."""
    rich_plan(cast)
    access = cast.access("vendor_editor")
    with timezone.override("Europe/Berlin"):
        built = shared_plan(access)
        assert built == by_serializers(access)
    assert b"+01:00" in built or b"+02:00" in built


@pytest.mark.django_db
def test_building_the_plan_from_rows_runs_no_more_queries_than_the_serializers(cast, settings):
    settings.HEALTH_CACHE_SECONDS = 0
    rich_plan(cast)
    access = cast.access("vendor_editor")
    with CaptureQueriesContext(connection) as rows:
        shared_plan(access)
    with CaptureQueriesContext(connection) as serializers:
        by_serializers(access)
    assert len(rows) <= len(serializers)
    assert not any('accounts_user"."password' in q["sql"] for q in rows.captured_queries), "people by public id only"


@pytest.mark.django_db
def test_the_plan_over_http_is_the_serializers_document_with_the_callers_access(cast):
    rich_plan(cast)
    client = ApiClient(cast.partner_approver)
    response = client.get(f"partnerships/{cast.partnership.pk}/plan")
    assert response.status_code == 200
    expected = by_serializers(cast.access("partner_approver"))
    assert response.content.endswith(expected[1:])
    assert orjson.loads(response.content)["access"] == {
        "side": "partner",
        "role": "approver",
        "can_edit": True,
        "can_approve": True,
        "can_manage": False,
    }
    assert User.objects.filter(email="anon@partner.test").exists()


@pytest.mark.django_db
def test_the_plans_balance_and_pulse_are_what_their_endpoints_show_either_side(cast):
    """The same for both sides: the balance as ``/balance`` answers, the pulse of each held review as
    ``/reviews/{id}/pulse`` shows it to anyone once the review is held; a review not held yet is left out."""
    world = rich_plan(cast)
    path = f"partnerships/{cast.partnership.pk}"
    held = AlignmentReview.objects.filter(partnership=cast.partnership, status="held").order_by("held_on")
    documents = []
    for who in ("vendor_viewer", "partner_viewer"):
        client = ApiClient(getattr(cast, who))
        document = client.get(f"{path}/plan").json()
        documents.append(document)
        assert document["balance"] == client.get(f"{path}/balance").json()
        assert [p["review"] for p in document["pulse"]] == [str(r.pk) for r in held]
        for entry in document["pulse"]:
            shown = client.get(f"reviews/{entry['review']}/pulse").json()
            assert shown["hidden_side"] is None
            assert entry == {"review": shown["review"], "held_on": entry["held_on"]} | {
                key: shown[key] for key in ("counts", "overall", "questions", "notes")
            }
    assert documents[0]["balance"] == documents[1]["balance"] and documents[0]["pulse"] == documents[1]["pulse"]
    assert str(world.review.pk) not in {p["review"] for p in documents[0]["pulse"]}
    assert "NOT-HELD-YET" not in orjson.dumps(documents).decode()
