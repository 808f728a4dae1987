"""One representation per object type: the feed's ``data`` is exactly what the REST resource and
``/plan`` show (same keys, numbers, times and references), and every object that has a version
carries it on its events, tombstones included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.fields import Field

from alignment import economics, review_comments
from alignment import services as plan
from alignment.models import Partnership
from api.representation import PROJECTIONS, SERIALIZERS, VERSIONED, decimal_text, utc_text
from api.serializers import Out
from cadence import services as review_services
from core.models import json_value
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals import services as goal_services
from tests import factories as f
from tests.api_support import ApiClient, World, if_match
from tests.test_api_feed import follow

PLAN_LISTS = {
    "endorsements": "endorsement",
    "members": "member",
    "objectives": "objective",
    "goals": "goal",
    "agreed_revisions": "agreed-revision",
    "approvals": "approval",
    "commitments": "commitment",
    "check_ins": "check-in",
    "comments": "comment",
    "reviews": "review",
    "drivers": "driver",
    "driver_figures": "driver-figure",
}
RESOURCES = {
    "partnership": "partnerships",
    "vision": "visions",
    "objective": "objectives",
    "goal": "goals",
    "commitment": "commitments",
    "check-in": "check-ins",
    "comment": "comments",
    "review": "reviews",
    "review-comment": "review-comments",
    "invitation": "invitations",
    "driver": "drivers",
    "driver-figure": "driver-figures",
}


def latest_states(events):
    """The last event of each object, by (type, id)."""
    states = {}
    for e in events:
        states[(e["type"], e["id"])] = e
    return states


def busy_plan(cast):
    """A plan with every type in many states, and values whose formats are easy to get wrong."""
    world = World(cast, extra_goals=1)
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    plan.vision_endorse(access=vendor, revision=world.vision.revision)
    plan.partnership_update(
        access=cast.access("vendor_admin"),
        margin_percent=Decimal("12.5"),
        review_time=dt.time(9, 30),
        economic_notes="Notes",
    )
    goal_services.goal_update(access=editor, goal_id=world.agreed.pk, target=Decimal("250"))  # an amendment
    goal_check_ins.check_in_create(access=editor, goal_id=world.agreed.pk, value=Decimal("-0"), confidence=2)
    goal_check_ins.check_in_create(access=editor, goal_id=world.agreed.pk, value="8", confidence=2)
    goal_commitments.commitment_create(
        access=cast.access("partner_editor"),
        goal_id=world.draft.pk,
        side="vendor",
        text="Vendor pays",
        due_date=dt.date(2026, 12, 1),
    )
    review = plan.review_schedule(
        access=editor, scheduled_for=dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    )
    review_services.review_hold(
        access=editor,
        review_id=review.pk,
        held_on=dt.date(2026, 5, 4),
        attendees=[cast.partner_approver, cast.vendor_editor],
        schedule_next=False,
    )
    plan.review_update(access=editor, review_id=review.pk, notes="Follow-up")
    review_comments.review_comment_create(access=partner, review_id=review.pk, body="Good meeting")
    f.add_member(cast.partnership, f.make_user(), "partner", "viewer")  # not recorded: the plan has it anyway
    goal_services.goal_approve(access=partner, goal_id=world.proposed.pk, revision=world.proposed.revision)
    driver = economics.driver_add(access=vendor, name="net retention", unit="%")
    economics.figure_record(
        access=vendor,
        driver_id=driver.pk,
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 3, 31),
        value=Decimal("101.5"),
        note="Private",
    )
    economics.figure_record(
        access=vendor,
        driver_id=driver.pk,
        period_start=dt.date(2026, 4, 1),
        period_end=dt.date(2026, 6, 30),
        value="103",
        visibility="shared",
    )
    return world


def test_the_feed_shows_each_object_as_its_resource_and_the_plan_show_it(cast):
    world = busy_plan(cast)
    client = ApiClient(cast.vendor_admin)
    events, _ = follow(client, partnership=str(world.partnership.pk), limit=1000)
    states = latest_states(events)
    compared = set()
    for (kind, pk), event in states.items():
        if event["action"] == "delete":
            continue
        if kind in RESOURCES:
            response = client.get(f"{RESOURCES[kind]}/{pk}")
            assert response.status_code == 200, (kind, pk)
            assert event["data"] == response.json(), kind
            assert event["version"] == response.json()["version"] == int(response["ETag"].strip('"'))
            compared.add(kind)
    document = client.get(f"partnerships/{world.partnership.pk}/plan").json()
    for key, kind in PLAN_LISTS.items():
        for item in document[key]:
            event = states.get((kind, item["id"]))
            if event is None:
                assert kind == "member"  # added without a service (factories) in this test
                continue
            assert event["data"] == item, (kind, item["id"])
            compared.add(kind)
    assert states[("vision", document["vision"]["id"])]["data"] == document["vision"]
    assert states[("partnership", document["partnership"]["id"])]["data"] == document["partnership"]
    assert compared >= set(SERIALIZERS) - {"invitation"} | {"invitation"}


def test_numbers_and_times_have_one_format_everywhere(cast):
    world = busy_plan(cast)
    client = ApiClient(cast.vendor_editor)
    events, _ = follow(client, partnership=str(world.partnership.pk), limit=1000)
    check_ins = [e["data"] for e in events if e["type"] == "check-in" and e["action"] == "create"]
    assert {c["value"] for c in check_ins} >= {"0.0000", "8.0000", "120.0000"}
    partnership = [e["data"] for e in events if e["type"] == "partnership"][-1]
    assert partnership["margin_percent"] == "12.50" and partnership["review_time"] == "09:30:00"
    assert partnership["vendor"] == {"id": str(world.partnership.vendor_id), "name": world.partnership.vendor.name}
    reviews = [e["data"] for e in events if e["type"] == "review" and e["data"]["scheduled_for"].startswith("2026-05")]
    assert reviews[0]["scheduled_for"] == "2026-05-04T08:00:00Z"  # given at +02:00, shown in UTC
    for e in events:
        assert e["at"].endswith("Z")
        for key in ("created_at", "updated_at"):
            if e["data"] and e["data"].get(key):
                assert e["data"][key].endswith("Z"), (e["type"], key)
    agreed = next(e["data"] for e in events if e["type"] == "agreed-revision")
    assert agreed["terms"]["baseline"] == "100.0000" and agreed["terms"]["target"] == "200.0000"


def test_every_versioned_object_carries_its_version_tombstones_too(cast):
    world = World(cast)
    client = ApiClient(cast.vendor_editor)
    _, cursor = follow(client)
    comment = client.post("comments", {"goal": str(world.draft.pk), "body": "Soon gone"}).json()
    client.patch(f"comments/{comment['id']}", {"body": "Edited"}, headers=if_match(1))
    client.delete(f"comments/{comment['id']}", headers=if_match(2))
    events, _ = follow(client, cursor)
    assert [(e["type"], e["action"], e["version"]) for e in events] == [
        ("comment", "create", 1),
        ("comment", "update", 2),
        ("comment", "delete", 2),
    ]
    assert {
        "partnership",
        "vision",
        "objective",
        "goal",
        "commitment",
        "check-in",
        "comment",
        "review",
        "review-comment",
        "invitation",
        "driver",
        "driver-figure",
    } == VERSIONED
    assert set(PROJECTIONS) - VERSIONED == {"endorsement", "member", "approval", "agreed-revision"}


def test_partnership_organisations_are_named(cast):
    client = ApiClient(cast.vendor_admin)
    p = Partnership.objects.get(pk=cast.partnership.pk)
    events, _ = follow(client, partnership=str(p.pk))
    created = next(e for e in events if e["type"] == "partnership")
    assert created["data"]["partner"] == {"id": str(p.partner_id), "name": p.partner.name}
    member = next(e for e in events if e["type"] == "member")
    assert member["data"] == {
        "id": member["id"],
        "user": str(cast.vendor_admin.public_id),
        "email": "admin@vendor.test",
        "name": "Vera Vendor",
        "side": "vendor",
        "role": "approver",
    }


@given(
    st.decimals(
        min_value=Decimal("-99999999999999.9999"),
        max_value=Decimal("99999999999999.9999"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    )
)
@settings(max_examples=300, deadline=None, database=None, derandomize=True)
def test_a_recorded_decimal_is_written_as_the_column_gives_it_back(number):
    """What the change log recorded (``json_value`` of the value a service held) becomes what DRF writes
    for the value the database gives back (which has the column's places and no negative zero)."""
    field = serializers.DecimalField(max_digits=18, decimal_places=4)
    stored = abs(number) if number.is_zero() else number
    assert decimal_text(json_value(number), field) == field.to_representation(stored.quantize(Decimal("0.0001")))


@given(st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30))])))
@settings(max_examples=200, deadline=None, database=None, derandomize=True)
def test_a_recorded_time_is_written_in_utc_with_z_as_drf_does(moment):
    field = serializers.DateTimeField()
    assert utc_text(json_value(moment)) == field.to_representation(moment.astimezone(dt.UTC))


def test_each_output_serializer_gets_fields_of_its_own_as_drf_builds_them():
    """``Out`` works the fields out once per class: each instance still gets its own copies, bound
    to it and read-only, equal to the fields DRF builds from the model."""
    for out in {*SERIALIZERS.values(), *Out.__subclasses__()}:
        if not (isinstance(out, type) and issubclass(out, Out)):
            continue
        first, second = out(), out()
        built = serializers.ModelSerializer.get_fields(first)
        assert {n: repr(field) for n, field in first.fields.items()} == {n: repr(f) for n, f in built.items()}, out
        for name, field in first.fields.items():
            assert field is not second.fields[name], (out, name)
            assert field.parent is first and second.fields[name].parent is second
            assert field.read_only, (out, name)
            # A field holding others (a nested serializer, a many-to-many's relation) is copied
            # whole: what it holds is its own too, bound to it, never shared with another instance.
            for attribute, inner in vars(field).items():
                if isinstance(inner, Field) and attribute != "parent":
                    assert inner is not vars(second.fields[name])[attribute], (out, name, attribute)
                    assert inner.parent is field, (out, name, attribute)
    assert any(
        isinstance(inner, Field)
        for out in Out.__subclasses__()
        for f in out().fields.values()
        for inner in vars(f).values()
    ), "some output field holds another (the check above ran)"
