"""``manage.py seed_demo``: a realistic demo built through the services, on SQLite and PostgreSQL,
idempotent, with volume options for benchmarks that produce exactly what was asked for."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import Organisation, User
from alignment.access import resolve
from alignment.economics import figures_visible_to
from alignment.models import (
    AlignmentReview,
    ChangeEvent,
    Driver,
    DriverFigure,
    Objective,
    Partnership,
    PartnershipMember,
    Side,
    VisionEndorsement,
)
from cadence.health import partnership_health
from cadence.models import PulseAnswer
from core.errors import InvalidInput
from goals.models import Approval, CheckIn, Comment, Commitment, Goal, GoalRevision
from plans import demo
from plans.demo import showcase

EVERY_STATE = {
    "draft",
    "proposed",
    "changes_requested",
    "agreed",
    "agreed with pending amendment",
    "achieved",
    "missed",
    "dropped",
    "withdrawn",
}


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def state_of(goal: Goal) -> str:
    return "agreed with pending amendment" if goal.has_pending_amendment else str(goal.status)


def plan_counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "organisations": Organisation.objects.count(),
        "partnerships": Partnership.objects.count(),
        "goals": Goal.objects.count(),
        "check_ins": CheckIn.objects.count(),
        "events": ChangeEvent.objects.count(),
        "reviews": AlignmentReview.objects.count(),
        "figures": DriverFigure.objects.count(),
    }


def assert_agreed_goals_are_sound(goals: list[Goal]) -> None:
    """What the workflow guarantees for every goal that both sides agreed."""
    agreed = [g for g in goals if g.agreed_revision is not None]
    assert agreed
    approvals = {(a.goal_id, a.revision, a.side) for a in Approval.objects.filter(goal__in=agreed)}
    real_sides = Counter()
    for c in Commitment.objects.filter(goal__in=agreed, placeholder=False):
        real_sides[(c.goal_id, c.side)] += 1
    revisions = set(GoalRevision.objects.filter(goal__in=agreed).values_list("goal_id", "number"))
    for g in agreed:
        assert (g.pk, g.agreed_revision, Side.VENDOR) in approvals, g.title
        assert (g.pk, g.agreed_revision, Side.PARTNER) in approvals, g.title
        assert real_sides[(g.pk, Side.VENDOR)] and real_sides[(g.pk, Side.PARTNER)], g.title
        assert (g.pk, g.agreed_revision) in revisions, g.title


def check_economics(*partnerships: Partnership) -> None:
    """Each side's drivers with a figure for each of the last four quarters, some private to the
    side and some shared, and objectives linked to drivers of both sides."""
    for p in partnerships:
        for side in Side.values:
            drivers = list(Driver.objects.filter(partnership=p, side=side).annotate(n=Count("figures")))
            assert len(drivers) >= 3, (p.name, side)
            assert all(d.unit and d.n == 4 for d in drivers), (p.name, side)
            figures = DriverFigure.objects.filter(driver__partnership=p, driver__side=side)
            assert set(figures.values_list("visibility", flat=True)) == {"private", "shared"}, (p.name, side)
            assert len(set(figures.values_list("period_start", flat=True))) == 4
            assert figures.latest("period_end").period_end < timezone.localdate()
        # The names on the partnership are the drivers' names.
        assert p.vendor_drivers == list(
            Driver.objects.filter(partnership=p, side="vendor").order_by("order").values_list("name", flat=True)
        )
        # Every objective moves drivers of both sides.
        for objective in p.objectives.all():
            assert set(objective.drivers.values_list("side", flat=True)) == {"vendor", "partner"}, objective.title
        # Each side sees its own figures and the other side's shared ones, never its private ones.
        for member in p.members.filter(role="approver"):
            access = resolve(member.user, p.pk)
            seen = set(figures_visible_to(access).values_list("driver__side", "visibility"))
            other = Side.other(access.side)
            assert seen == {(access.side, "private"), (access.side, "shared"), (other, "shared")}
        # Recorded through the service: a private figure's change event is served to its side only.
        for figure in DriverFigure.objects.filter(driver__partnership=p).select_related("driver"):
            event = ChangeEvent.objects.get(object_type="driverfigure", object_id=figure.pk, action="create")
            assert event.side_only == (figure.driver.side if figure.visibility == "private" else None)
    # A believable trend: the shared headline numbers grew over the year.
    arr = list(
        DriverFigure.objects.filter(driver__partnership=partnerships[0], driver__name="partner-sourced ARR")
        .order_by("period_start")
        .values_list("value", flat=True)
    )
    assert len(arr) == 4 and arr[0] < arr[-1]


def check_two_key_actuals(*partnerships: Partnership) -> None:
    """Most figures confirmed by the side that did not enter them, one disputed (both numbers and
    a note), one settled, the recent ones still unconfirmed."""
    check_ins = list(CheckIn.objects.filter(goal__partnership__in=partnerships))
    reviews = Counter(ci.review for ci in check_ins)
    assert reviews["confirmed"] > len(check_ins) / 2
    assert reviews["disputed"] == 1
    assert reviews["unconfirmed"] >= 1
    settled = ChangeEvent.objects.filter(
        partnership_id__in=[p.pk for p in partnerships], summary__startswith="settled the disputed figure"
    )
    assert settled.count() == 1
    settled_id = settled.get().object_id
    sides = {
        (m.partnership_id, m.user_id): m.side for m in PartnershipMember.objects.filter(partnership__in=partnerships)
    }
    partnership_of = dict(Goal.objects.filter(partnership__in=partnerships).values_list("pk", "partnership_id"))
    for ci in check_ins:
        if ci.review == "unconfirmed":
            assert ci.measured_on > timezone.localdate() - dt.timedelta(days=showcase.UNREVIEWED_DAYS)
            assert ci.reviewed_by_id is None
        elif ci.pk != settled_id:  # settled by whichever side gave in
            assert sides[(partnership_of[ci.goal_id], ci.reviewed_by_id)] != ci.side
    disputed = next(ci for ci in check_ins if ci.review == "disputed")
    assert disputed.disputed_value is not None and disputed.disputed_value != disputed.value
    assert disputed.dispute_note
    settled_check_in = CheckIn.objects.get(pk=settled_id)
    assert settled_check_in.review == "confirmed" and settled_check_in.disputed_value is None
    disputes = ChangeEvent.objects.filter(object_id=settled_check_in.pk, summary__startswith="disputed the figure")
    assert disputes.count() == 1


def run_showcase_checks(client) -> None:  # type: ignore[no-untyped-def]
    output = seed()

    northwind = Partnership.objects.get(pk=demo.NORTHWIND_ID)
    brightline = Partnership.objects.get(pk=demo.BRIGHTLINE_ID)
    assert northwind.partner_type == Partnership.PartnerType.CONSULTING
    assert brightline.partner_type == Partnership.PartnerType.RESELLER
    assert northwind.vendor == brightline.vendor
    assert northwind.vendor.name == demo.VENDOR_NAME
    for p in (northwind, brightline):
        assert p.vendor_drivers and p.partner_drivers
        sides_roles = set(p.members.values_list("side", "role"))
        assert {("vendor", "approver"), ("partner", "approver"), ("partner", "viewer")} <= sides_roles
        assert 2 <= p.objectives.count() <= 4
        assert all(o.is_measurable for o in p.objectives.all())

    goals = list(Goal.objects.filter(partnership__in=[northwind, brightline]))
    assert {state_of(g) for g in goals} == EVERY_STATE
    assert_agreed_goals_are_sound(goals)

    # The vision: endorsed by both sides in one partnership, by the vendor only in the other.
    endorsed = {
        p.pk: set(
            VisionEndorsement.objects.filter(vision__partnership=p, revision=p.vision.revision).values_list(
                "side", flat=True
            )
        )
        for p in (northwind, brightline)
    }
    assert endorsed == {northwind.pk: {"vendor", "partner"}, brightline.pk: {"vendor"}}

    # Check-ins from both sides, spread over several months, with confidences.
    check_ins = CheckIn.objects.filter(goal__partnership=northwind)
    assert set(check_ins.values_list("side", flat=True)) == {"vendor", "partner"}
    months = {(d.year, d.month) for d in check_ins.values_list("measured_on", flat=True)}
    assert len(months) >= 3
    assert len(set(check_ins.values_list("confidence", flat=True))) >= 2
    assert Comment.objects.filter(goal__partnership=northwind, kind="comment").exists()
    assert Comment.objects.filter(kind="change_request").exists()

    check_economics(northwind, brightline)
    check_two_key_actuals(northwind, brightline)

    # Reviews: past ones held with notes, and an upcoming one scheduled.
    for p in (northwind, brightline):
        held = p.reviews.filter(status=AlignmentReview.Status.HELD)
        assert held.count() >= 2
        assert all(r.notes and r.decisions and r.held_on for r in held)
        assert p.reviews.filter(status=AlignmentReview.Status.SCHEDULED).exists()
        # A past review shows the plan as it was on its day: the oldest holds goals, and no value
        # measured after it nor a goal written after it.
        oldest = held.order_by("held_on").first()
        assert oldest is not None and oldest.held_on < timezone.localdate() - dt.timedelta(days=20)
        assert oldest.goal_snapshot
        values_then = {
            (ci.goal_id, str(ci.value))
            for ci in CheckIn.objects.filter(goal__partnership=p, measured_on__lte=oldest.held_on)
        }
        for row in oldest.goal_snapshot:
            goal = Goal.objects.get(pk=row["goal"])
            assert goal.created_at.date() <= oldest.held_on, row["title"]
            if row["latest_value"] is not None:
                assert (goal.pk, row["latest_value"]) in values_then, row["title"]
        assert any(row["latest_value"] is not None for row in oldest.goal_snapshot)
        assert len(oldest.goal_snapshot) < p.goals.count()
        assert CheckIn.objects.filter(goal__partnership=p, measured_on__gt=oldest.held_on).exists()
        # Every held review has its relationship pulse from both sides, with the partner's note.
        for review in held:
            answers = PulseAnswer.objects.filter(review=review)
            assert set(answers.values_list("side", flat=True)) == {"vendor", "partner"}
            assert answers.exclude(note="").filter(side="partner").exists()

    # Built through the services: every plan object has its create event.
    created = set(ChangeEvent.objects.filter(action="create").values_list("object_type", "object_id"))
    for g in goals:
        assert ("goal", g.pk) in created
    for ci in CheckIn.objects.all():
        assert ("checkin", ci.pk) in created
    assert partnership_health(northwind).score > 50

    # Every printed login works with the printed password.
    assert demo.DEMO_PASSWORD in output
    for login in demo.showcase_logins():
        assert login.email in output
        assert client.login(email=login.email, password=demo.DEMO_PASSWORD), login.email
        client.logout()
    # The people see their own partnership, never the other one.
    priya = User.objects.get(email="priya.nair@northwind-consulting.example")
    assert resolve(priya, northwind.pk).side == Side.PARTNER
    with pytest.raises(Exception, match="No such partnership"):
        resolve(priya, brightline.pk)


@pytest.mark.django_db
def test_seed_demo_builds_a_realistic_demo_with_goals_in_every_state(client):
    run_showcase_checks(client)


@pytest.mark.postgres
@pytest.mark.django_db
def test_seed_demo_builds_the_same_demo_on_postgresql(client):
    assert connection.vendor == "postgresql"
    run_showcase_checks(client)
    assert not ChangeEvent.objects.filter(txid=0).exists()


@pytest.mark.django_db
def test_running_seed_demo_twice_duplicates_nothing_and_prints_the_logins_again():
    seed()
    before = plan_counts()

    output = seed()

    assert plan_counts() == before
    assert "exists already" in output
    assert "admin@acme-cloud.example" in output and demo.DEMO_PASSWORD in output


@pytest.mark.django_db
def test_seed_demo_reset_rebuilds_the_demo_and_leaves_other_workspaces_alone():
    call_command(
        "create_workspace",
        "--name",
        "Real Customer",
        "--email",
        "owner@real.example",
        "--password",
        "a-real-password-2026",
        stdout=StringIO(),
    )
    seed("--partnerships", "2", "--goals", "6", "--check-ins", "8")
    before = plan_counts()

    output = seed("--reset")

    assert "Removed the previous demo (4 partnerships)" in output
    assert Partnership.objects.count() == 2  # the showcase again, without the volume
    assert plan_counts()["goals"] == before["goals"] - 6
    assert User.objects.filter(email="owner@real.example").exists()
    assert Organisation.objects.filter(name="Real Customer").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("partnerships", "goals", "check_ins"), [(3, 20, 45), (4, 9, 0), (1, 1, 7)])
def test_volume_options_produce_exactly_the_requested_counts(partnerships, goals, check_ins):
    output = seed("--partnerships", str(partnerships), "--goals", str(goals), "--check-ins", str(check_ins))

    volume = Partnership.objects.exclude(pk__in=demo.SHOWCASE_IDS)
    assert volume.count() == partnerships
    assert Goal.objects.filter(partnership__in=volume).count() == goals
    assert CheckIn.objects.filter(goal__partnership__in=volume).count() == check_ins
    assert f"Built {partnerships} volume partnerships with {goals} goals and {check_ins} check-ins" in output
    # Goals are spread evenly, objectives are about one per ten goals.
    per_partnership = sorted(volume.annotate(n=Count("goals")).values_list("n", flat=True))
    assert per_partnership[-1] - per_partnership[0] <= 1
    for p in volume.annotate(n=Count("goals"), o=Count("objectives", distinct=True)):
        assert p.o == max(1, -(-p.n // 10))


@pytest.mark.django_db
def test_volume_data_holds_the_workflow_rules_and_has_one_create_event_per_object(client):
    seed("--partnerships", "3", "--goals", "40", "--check-ins", "100")
    volume = Partnership.objects.exclude(pk__in=demo.SHOWCASE_IDS)
    goals = list(Goal.objects.filter(partnership__in=volume))

    assert {state_of(g) for g in goals} == EVERY_STATE
    assert_agreed_goals_are_sound(goals)
    checked_in_states = {"agreed", "achieved", "missed", "dropped"}
    assert (
        set(CheckIn.objects.filter(goal__partnership__in=volume).values_list("goal__status", flat=True))
        <= checked_in_states
    )
    for g in goals:
        if g.has_pending_amendment:
            assert g.revision == g.agreed_revision + 1
            assert GoalRevision.objects.filter(goal=g, number=g.agreed_revision).exists()
        if g.status in ("achieved", "missed"):
            assert g.period_end < g.closed_at.date()

    events = ChangeEvent.objects.filter(partnership_id__in=volume.values("pk"))
    assert not events.exclude(action="create").exists()
    per_object = Counter(events.values_list("object_type", "object_id"))
    assert set(per_object.values()) == {1}
    expected = {
        "partnership": 3,
        "goal": 40,
        "checkin": 100,
        "objective": Objective.objects.filter(partnership__in=volume).count(),
        "commitment": Commitment.objects.filter(goal__partnership__in=volume).count(),
        "approval": Approval.objects.filter(goal__partnership__in=volume).count(),
    }
    by_type = Counter(t for t, _ in per_object)
    assert {k: by_type[k] for k in expected} == expected

    # The partners' approvers and the volume manager can sign in and see their partnerships.
    assert client.login(email=demo.volume_partner_email(0), password=demo.DEMO_PASSWORD)
    partner = User.objects.get(email=demo.volume_partner_email(0))
    access = resolve(partner, demo.volume_partnership_id(0))
    assert (access.side, access.role) == ("partner", "approver")
    manager = User.objects.get(email=demo.VOLUME_MANAGER_EMAIL)
    assert all(resolve(manager, p.pk).side == "vendor" for p in volume)


@pytest.mark.django_db
def test_volume_seed_is_not_duplicated_and_only_missing_partnerships_are_added():
    seed("--partnerships", "2", "--goals-per-partnership", "5", "--check-ins", "10")
    before = plan_counts()

    output = seed("--partnerships", "2", "--goals-per-partnership", "5", "--check-ins", "10")
    assert plan_counts() == before
    assert "The 2 volume partnerships exist already" in output

    seed("--partnerships", "3", "--goals-per-partnership", "5", "--check-ins", "10")
    assert Partnership.objects.exclude(pk__in=demo.SHOWCASE_IDS).count() == 3
    assert Goal.objects.filter(partnership_id=demo.volume_partnership_id(2)).count() == 5


@pytest.mark.django_db
def test_goals_per_partnership_allows_fifty_objectives_on_one_partnership():
    seed("--partnerships", "1", "--goals-per-partnership", "500", "--check-ins", "0")

    p = Partnership.objects.get(pk=demo.volume_partnership_id(0))
    assert p.goals.count() == 500
    assert p.objectives.count() == 50


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partnerships", "-1"], "zero or more"),
        (["--partnerships", "0", "--goals", "5"], "at least one partnership"),
        (["--goals", "4", "--goals-per-partnership", "2"], "not both"),
        (["--partnerships", "2", "--goals", "0", "--check-ins", "5"], "agreed goals"),
        (["--partnerships", "1", "--goals-per-partnership", "100000"], "At most"),
        (["--partnerships", "many"], "invalid int"),
    ],
)
def test_bad_volume_options_are_refused_before_anything_is_written(args, message):
    with pytest.raises(CommandError, match=message):
        seed(*args)
    assert not Partnership.objects.exists()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_demo_vendor_admin_sees_every_demo_partnership():
    seed("--partnerships", "2", "--goals", "2", "--check-ins", "1")
    admin = User.objects.get(email=demo.ADMIN_EMAIL)

    for p in Partnership.objects.all():
        assert resolve(admin, p.pk).is_org_admin
    assert Partnership.objects.filter(~Q(vendor__name=demo.VENDOR_NAME)).count() == 0


@pytest.mark.django_db
def test_a_seed_that_fails_half_way_leaves_nothing_behind(monkeypatch):
    def broken(*args, **kwargs):
        raise InvalidInput("Brightline could not be built.")

    monkeypatch.setattr(showcase, "_brightline", broken)

    with pytest.raises(CommandError, match="Brightline could not be built"):
        seed()
    assert plan_counts() == dict.fromkeys(plan_counts(), 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_seeds_at_the_same_time_build_one_demo():
    outputs: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            outputs.append(seed("--partnerships", "2", "--goals", "10", "--check-ins", "12"))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Partnership.objects.count() == 4
    assert Goal.objects.exclude(partnership_id__in=demo.SHOWCASE_IDS).count() == 10
    assert User.objects.filter(email=demo.ADMIN_EMAIL).count() == 1
    assert sum("exists already" in out for out in outputs) >= 1


@pytest.mark.django_db
@pytest.mark.parametrize("day", ["2027-01-01", "2027-03-31", "2028-02-29", "2027-07-15"])
def test_the_showcase_builds_on_any_day_of_the_year(day):
    with time_machine.travel(dt.datetime.fromisoformat(f"{day}T18:30:00+00:00"), tick=False):
        seed()
        goals = list(Goal.objects.all())
        assert {state_of(g) for g in goals} == EVERY_STATE
        assert_agreed_goals_are_sound(goals)
        assert not CheckIn.objects.filter(measured_on__gt=dt.date.fromisoformat(day)).exists()
        assert AlignmentReview.objects.filter(status="scheduled", scheduled_for__gt=dt.datetime.now(dt.UTC)).exists()
