"""Bad input to a service is refused with a clear InvalidInput naming the field (never a crash that
would become a 500), and nothing is written."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from accounts import services as accounts_services
from alignment import services as plan
from alignment.models import ChangeEvent, Objective, Side
from cadence import services as review_services
from core.errors import InvalidInput, NotFound
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import derive
from goals import services as goals
from goals.models import CheckIn, Comment, Commitment, Goal
from tests import factories as f


@pytest.fixture
def p(cast):
    class P:
        editor = cast.access("vendor_editor")
        approver = cast.access("vendor_approver")
        admin = cast.access("vendor_admin")
        objective = f.make_objective(cast.access("vendor_editor"))

    P.goal = f.make_goal(P.editor, P.objective)
    P.agreed = f.agree(f.make_goal(P.editor, P.objective), P.approver, cast.access("partner_approver"))
    P.review = plan.review_schedule(access=P.editor)
    P.comment = goal_comments.comment_create(access=P.editor, goal_id=P.goal.pk, body="Hello")
    return P


def state() -> tuple:
    """Everything a service could have written."""
    return (
        ChangeEvent.objects.count(),
        sorted(Goal.objects.values_list("id", "version")),
        sorted(Commitment.objects.values_list("id", "version")),
        sorted(Objective.objects.values_list("id", "version")),
        CheckIn.objects.count(),
        Comment.objects.count(),
    )


NUL = "half\x00way"
# (case, call, the field the error names)
BAD = [
    ("NUL in a goal title", lambda p: goals.goal_update(access=p.editor, goal_id=p.goal.pk, title=NUL), "title"),
    ("NUL in a comment", lambda p: goal_comments.comment_create(access=p.editor, goal_id=p.goal.pk, body=NUL), "body"),
    ("NUL in a withdrawal note", lambda p: goals.goal_withdraw(access=p.editor, goal_id=p.goal.pk, note=NUL), "note"),
    (
        "NUL in a business driver",
        lambda p: plan.partnership_update(access=p.admin, vendor_drivers=[NUL]),
        "vendor_drivers",
    ),
    (
        "NUL in a commitment",
        lambda p: goal_commitments.commitment_create(access=p.editor, goal_id=p.goal.pk, side=Side.VENDOR, text=NUL),
        "text",
    ),
    ("NUL in the vision", lambda p: plan.vision_update(access=p.editor, why_together=NUL), "why_together"),
    (
        "a number as a commitment",
        lambda p: goal_commitments.commitment_create(access=p.editor, goal_id=p.goal.pk, side=Side.VENDOR, text=5),
        "text",
    ),
    ("no withdrawal note at all", None, None),  # allowed: see test below
    ("a list as a target", lambda p: goals.goal_update(access=p.editor, goal_id=p.goal.pk, target=[1]), "target"),
    ("NaN as a target", lambda p: goals.goal_update(access=p.editor, goal_id=p.goal.pk, target="NaN"), "target"),
    ("a target too large", lambda p: goals.goal_update(access=p.editor, goal_id=p.goal.pk, target=D("1e30")), "target"),
    (
        "a dict as a date",
        lambda p: goals.goal_update(access=p.editor, goal_id=p.goal.pk, period_end={"y": 1}),
        "period_end",
    ),
    (
        "30 February",
        lambda p: goal_commitments.commitment_create(
            access=p.editor, goal_id=p.goal.pk, side=Side.VENDOR, text="x", due_date="2027-02-30"
        ),
        "due_date",
    ),
    ("a title too long", lambda p: goals.goal_update(access=p.editor, goal_id=p.goal.pk, title="x" * 201), "title"),
    (
        "a withdrawal note too long",
        lambda p: goals.goal_withdraw(access=p.editor, goal_id=p.goal.pk, note="x" * 5001),
        "close_note",
    ),
    (
        "words as a version",
        lambda p: goals.goal_update(access=p.editor, goal_id=p.goal.pk, expected_version="abc", title="x"),
        "expected_version",
    ),
    (
        "words as a revision",
        lambda p: goals.goal_approve(access=p.approver, goal_id=p.agreed.pk, revision="x"),
        "revision",
    ),
    ("words as a vision revision", lambda p: plan.vision_endorse(access=p.approver, revision="two"), "revision"),
    ("a malformed client id", lambda p: f.make_goal(p.editor, p.objective, id="not-a-uuid"), "id"),
    ("a used client id", lambda p: f.make_goal(p.editor, p.objective, id=p.goal.pk), "id"),
    (
        "an unknown commitment key",
        lambda p: goals.goal_create(
            access=p.editor,
            objective_id=p.objective.pk,
            title="x",
            baseline=1,
            target=2,
            period_start=dt.date(2026, 10, 1),
            period_end=dt.date(2026, 12, 31),
            commitments=[{"side": Side.VENDOR, "text": "x", "done": True}],
        ),
        "commitments",
    ),
    (
        "a malformed objective id",
        lambda p: goals.goal_create(
            access=p.editor,
            objective_id="nope",
            title="x",
            baseline=1,
            target=2,
            period_start=dt.date(2026, 10, 1),
            period_end=dt.date(2026, 12, 31),
        ),
        "objective",
    ),
    (
        "words as a confidence",
        lambda p: goal_check_ins.check_in_create(access=p.editor, goal_id=p.agreed.pk, value=1, confidence="high"),
        "confidence",
    ),
    (
        "a confidence of 6",
        lambda p: goal_check_ins.check_in_create(access=p.editor, goal_id=p.agreed.pk, value=1, confidence=6),
        "confidence",
    ),
    (
        "a check-in in the future",
        lambda p: goal_check_ins.check_in_create(
            access=p.editor, goal_id=p.agreed.pk, value=1, measured_on=dt.date.today() + dt.timedelta(days=9)
        ),
        "measured_on",
    ),
    (
        "words as a review time",
        lambda p: plan.review_schedule(access=p.editor, scheduled_for="tomorrow"),
        "scheduled_for",
    ),
    (
        "a review time without zone",
        lambda p: plan.review_schedule(access=p.editor, scheduled_for=dt.datetime(2027, 1, 5, 10)),
        "scheduled_for",
    ),
    (
        "words as a held date",
        lambda p: review_services.review_hold(access=p.editor, review_id=p.review.pk, held_on="soon"),
        "held_on",
    ),
    (
        "an unknown role",
        lambda p: plan.member_add(access=p.admin, user=f.make_user(), side=Side.VENDOR, role="boss"),
        "role",
    ),
    ("an unknown time zone", lambda p: plan.partnership_update(access=p.admin, timezone="Mars/Olympus"), "timezone"),
    ("a margin in words", lambda p: plan.partnership_update(access=p.admin, margin_percent="lots"), "margin_percent"),
    (
        "words as a period count",
        lambda p: derive.goals_derive(access=p.editor, objective_id=p.objective.pk, count="four"),
        "count",
    ),
    (
        "periods that are not dates",
        lambda p: derive.goals_derive(access=p.editor, objective_id=p.objective.pk, periods=[("a", "b")]),
        "periods",
    ),
    (
        "periods that are not pairs",
        lambda p: derive.goals_derive(access=p.editor, objective_id=p.objective.pk, periods=[dt.date(2027, 1, 1)]),
        "periods",
    ),
    (
        "an unknown derive option",
        lambda p: derive.goals_derive(access=p.editor, objective_id=p.objective.pk, size=3),
        "size",
    ),
    (
        "a sign-up without a password",
        lambda p: accounts_services.workspace_create(name="X", email="x@x.test", password=None),
        "password",
    ),
    (
        "a comment too long",
        lambda p: goal_comments.comment_update(access=p.editor, comment_id=p.comment.pk, body="x" * 10001),
        "body",
    ),
    (
        "notes too long",
        lambda p: plan.review_update(access=p.editor, review_id=p.review.pk, notes="x" * 20001),
        "notes",
    ),
    (
        "NUL in an organisation name",
        lambda p: accounts_services.workspace_create(name=NUL, email="x@x.test", password="correct-horse-battery-9"),
        "name",
    ),
]
BAD = [b for b in BAD if b[1] is not None]
D = Decimal


@pytest.mark.parametrize(("call", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(p, call, field):
    before = state()
    with pytest.raises(InvalidInput) as exc:
        call(p)
    assert field in exc.value.fields, (exc.value.message, exc.value.fields)
    assert exc.value.status == 400
    assert state() == before


def test_a_withdrawal_needs_no_note(p):
    assert goals.goal_withdraw(access=p.editor, goal_id=p.goal.pk, note=None).close_note == ""


@pytest.mark.parametrize("goal_id", ["not-a-uuid", 42, None, uuid.uuid4()])
def test_a_malformed_or_unknown_id_is_not_found(p, goal_id):
    with pytest.raises(NotFound):
        goals.goal_update(access=p.editor, goal_id=goal_id, title="x")
    with pytest.raises(NotFound):
        goal_check_ins.check_in_delete(access=p.editor, check_in_id=goal_id)


def test_dates_and_numbers_may_be_given_as_text(p):
    goal = goals.goal_update(access=p.editor, goal_id=p.goal.pk, period_end="2027-01-15", target="250.5")
    assert (goal.period_end, goal.target) == (dt.date(2027, 1, 15), D("250.5"))
    review = plan.review_schedule(access=p.editor, scheduled_for="2027-01-05T10:00:00+01:00")
    assert review.scheduled_for == dt.datetime(2027, 1, 5, 9, tzinfo=dt.UTC)
    created = derive.goals_derive(access=p.editor, objective_id=p.objective.pk, periods=[("2027-07-01", "2027-09-30")])
    assert [g.period_start for g in created] == [dt.date(2027, 7, 1)]


def test_revisions_and_versions_may_be_given_as_digits(p):
    goals.goal_propose(access=p.editor, goal_id=p.goal.pk, expected_version=str(Goal.objects.get(pk=p.goal.pk).version))
    approval = goals.goal_approve(access=p.approver, goal_id=p.goal.pk, revision="1")
    assert approval.revision == 1


def test_too_many_or_too_long_business_drivers_are_refused_not_cut(cast):
    from alignment.services import partnership_update
    from core.errors import InvalidInput

    admin = cast.access("vendor_admin")
    for drivers in ([f"driver {i}" for i in range(21)], ["x" * 121]):
        with pytest.raises(InvalidInput) as refused:
            partnership_update(access=admin, vendor_drivers=drivers)
        assert "vendor_drivers" in refused.value.fields
    cast.partnership.refresh_from_db()
    assert cast.partnership.vendor_drivers == ["licence revenue", "active users"]
