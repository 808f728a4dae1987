"""Deriving interim goals from a mutual objective: a straight trajectory from the baseline to the
long-term target, cut into periods, created as drafts both sides must still fill in and agree."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from itertools import pairwise

import pytest
import time_machine

from alignment.models import Objective, Side
from core.errors import InvalidInput, NotAllowed, RuleViolation
from goals import commitments as goal_commitments
from goals import services as goals
from goals.derive import MAX_PERIODS, Suggestion, goals_derive, periods_until, suggest_interim_goals
from goals.models import Approval, Commitment, Goal, GoalStatus
from tests import factories as f

pytestmark = pytest.mark.django_db  # suggestions look up the goals an objective already has

D = Decimal
JAN_1 = dt.date(2027, 1, 1)


@contextmanager
def refused(code: str) -> Iterator[pytest.ExceptionInfo[RuleViolation]]:
    with pytest.raises(RuleViolation) as exc:
        yield exc
    assert exc.value.code == code, f"refused as {exc.value.code}: {exc.value.message}"


def objective(**fields) -> Objective:
    """An unsaved objective: suggesting goals reads it and saves nothing."""
    fields = {
        "title": "Grow pipeline",
        "metric_name": "Qualified pipeline",
        "baseline_date": JAN_1,
        "target_date": dt.date(2027, 12, 31),
    } | fields
    return Objective(**fields)


def steps(suggestions: list[Suggestion]) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(f"{s.period_start:%m-%d}", f"{s.period_end:%m-%d}", s.baseline, s.target) for s in suggestions]


def quarter(year: int, q: int) -> tuple[dt.date, dt.date]:
    start = dt.date(year, 3 * q - 2, 1)
    end = dt.date(year, 3 * q + 1, 1) - dt.timedelta(days=1) if q < 4 else dt.date(year, 12, 31)
    return start, end


# --- The trajectory ---------------------------------------------------------------------------


def test_an_increasing_metric_climbs_quarter_by_quarter_to_the_target():
    suggestions = suggest_interim_goals(objective(baseline=D(100), target=D(500)), today=JAN_1)
    # 400 to gain over 364 days: each quarter's target is where the straight line is at its end.
    assert steps(suggestions) == [
        ("01-01", "03-31", D(100), D(198)),
        ("04-01", "06-30", D(198), D(298)),
        ("07-01", "09-30", D(298), D(399)),
        ("10-01", "12-31", D(399), D(500)),
    ]
    assert suggestions[0].title == "Qualified pipeline: 198 by 31 Mar 2027"


def test_a_decreasing_metric_falls_to_the_target_at_the_precision_of_its_numbers():
    suggestions = suggest_interim_goals(
        objective(metric_name="Churn", metric_unit="%", baseline=D("12.5"), target=D(4)), today=JAN_1
    )
    assert [s.target for s in suggestions] == [D("10.4"), D("8.3"), D("6.1"), D("4")]
    assert [s.baseline for s in suggestions] == [D("12.5"), D("10.4"), D("8.3"), D("6.1")]
    assert suggestions[-1].title == "Churn: 4 % by 31 Dec 2027"


def test_each_period_starts_where_the_previous_one_ends():
    suggestions = suggest_interim_goals(objective(baseline=D(3), target=D(17)), length="month", count=12, today=JAN_1)
    assert all(a.target == b.baseline for a, b in pairwise(suggestions))
    assert suggestions[0].baseline == D(3)
    assert suggestions[-1].target == D(17)


def test_uneven_periods_get_targets_in_proportion_to_their_length():
    periods = [
        (JAN_1, dt.date(2027, 1, 31)),
        (dt.date(2027, 2, 1), dt.date(2027, 6, 30)),
        (dt.date(2027, 7, 1), dt.date(2028, 3, 31)),
    ]
    suggestions = suggest_interim_goals(objective(baseline=D(0), target=D(1000)), periods=periods, today=JAN_1)
    # 30 of 364 days, then 180 of 364 days, then past the target date: the target itself.
    assert steps(suggestions) == [
        ("01-01", "01-31", D(0), D(82)),
        ("02-01", "06-30", D(82), D(495)),
        ("07-01", "03-31", D(495), D(1000)),
    ]


def test_periods_are_taken_in_date_order_whatever_order_they_are_given_in():
    periods = [quarter(2027, 2), quarter(2027, 1)]
    suggestions = suggest_interim_goals(objective(baseline=D(100), target=D(500)), periods=periods, today=JAN_1)
    assert [s.period_start for s in suggestions] == [dt.date(2027, 1, 1), dt.date(2027, 4, 1)]


def test_without_a_baseline_date_the_line_starts_today_in_the_period_containing_today():
    today = dt.date(2026, 11, 27)
    suggestions = suggest_interim_goals(
        objective(baseline=D(100), target=D(500), baseline_date=None, target_date=dt.date(2027, 6, 30)),
        today=today,
        count=4,
    )
    # Four quarters asked for; the last one starts after the target date and is left out.
    assert steps(suggestions) == [
        ("10-01", "12-31", D(100), D(163)),
        ("01-01", "03-31", D(163), D(331)),
        ("04-01", "06-30", D(331), D(500)),
    ]


def test_a_small_way_to_go_still_gives_every_period_a_step():
    suggestions = suggest_interim_goals(objective(baseline=D(100), target=D(102)), today=JAN_1)
    assert all(s.target != s.baseline for s in suggestions), steps(suggestions)
    assert suggestions[-1].target == D(102)
    assert all(a.target < b.target for a, b in pairwise(suggestions))


# --- How many periods by default --------------------------------------------------------------


def test_by_default_the_periods_reach_the_objectives_target_date():
    # Ten quarters away: the default used to stop at four, 8/10 of the way from the baseline.
    far = objective(baseline=D(0), target=D(1000), target_date=dt.date(2029, 6, 30))
    suggestions = suggest_interim_goals(far, today=JAN_1)
    assert len(suggestions) == 10
    assert (suggestions[0].period_start, suggestions[-1].period_end) == (JAN_1, dt.date(2029, 6, 30))
    assert suggestions[-1].target == D(1000)
    assert all(a.target < b.target for a, b in pairwise(suggestions))


def test_a_target_date_inside_a_period_ends_the_periods_with_that_one():
    mid = objective(baseline=D(10), target=D(40), target_date=dt.date(2028, 2, 15))
    suggestions = suggest_interim_goals(mid, length="half", today=dt.date(2027, 3, 10))
    assert [(s.period_start, s.period_end) for s in suggestions] == [
        (dt.date(2027, 1, 1), dt.date(2027, 6, 30)),
        (dt.date(2027, 7, 1), dt.date(2027, 12, 31)),
        (dt.date(2028, 1, 1), dt.date(2028, 6, 30)),
    ]
    assert suggestions[-1].target == D(40)


@pytest.mark.parametrize(
    ("length", "target_date", "expected"),
    [
        ("quarter", dt.date(2027, 3, 31), 1),
        ("quarter", dt.date(2027, 4, 1), 2),
        ("quarter", dt.date(2029, 6, 30), 10),
        ("month", dt.date(2027, 12, 31), 12),
        ("year", dt.date(2030, 1, 1), 4),
        ("quarter", dt.date(2026, 6, 30), 1),  # already passed: deriving refuses it
        ("month", dt.date(2031, 1, 1), MAX_PERIODS),
        ("quarter", dt.date(2040, 1, 1), MAX_PERIODS),
    ],
)
def test_periods_until_counts_calendar_periods_up_to_the_target_date(length, target_date, expected):
    assert periods_until(target_date, length, JAN_1) == expected


def test_a_target_date_beyond_the_maximum_is_approached_as_far_as_the_maximum_goes():
    distant = objective(baseline=D(0), target=D(480), target_date=dt.date(2030, 12, 31))
    suggestions = suggest_interim_goals(distant, length="month", today=JAN_1)
    assert len(suggestions) == MAX_PERIODS
    assert suggestions[-1].period_end == dt.date(2028, 12, 31)
    assert D(0) < suggestions[-1].target < D(480)


def test_an_explicit_count_is_taken_as_given():
    far = objective(baseline=D(0), target=D(1000), target_date=dt.date(2029, 6, 30))
    assert len(suggest_interim_goals(far, count=2, today=JAN_1)) == 2


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing",
    [
        {"target": None},
        {"target_date": None},
        {"baseline": None},
    ],
    ids=["no target", "no target date", "no baseline"],
)
def test_an_objective_without_a_numeric_target_cannot_be_derived(missing):
    with refused("objective.not_measurable") as exc:
        suggest_interim_goals(objective(**({"baseline": D(1), "target": D(2)} | missing)), today=JAN_1)
    assert "Grow pipeline" in exc.value.message
    assert "target" in exc.value.message


def test_an_objective_already_at_its_target_has_no_trajectory():
    with refused("objective.no_trajectory"):
        suggest_interim_goals(objective(baseline=D(5), target=D(5)), today=JAN_1)


def test_periods_after_the_target_date_are_refused():
    with refused("objective.target_date_passed"):
        suggest_interim_goals(objective(baseline=D(1), target=D(2)), periods=[quarter(2028, 1)], today=JAN_1)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"periods": [quarter(2027, 1), (dt.date(2027, 3, 1), dt.date(2027, 5, 31))]}, "periods"),
        ({"periods": [(dt.date(2027, 3, 31), dt.date(2027, 1, 1))]}, "periods"),
        ({"length": "fortnight"}, "length"),
        ({"count": 0}, "count"),
        ({"count": MAX_PERIODS + 1}, "count"),
    ],
    ids=["overlapping", "backwards", "unknown length", "no periods", "too many periods"],
)
def test_bad_period_options_are_invalid_input(options, field):
    with pytest.raises(InvalidInput) as exc:
        suggest_interim_goals(objective(baseline=D(1), target=D(2)), today=JAN_1, **options)
    assert field in exc.value.fields


# --- Creating the derived goals ---------------------------------------------------------------


@pytest.fixture
def editor(cast):
    return cast.access("vendor_editor")


@pytest.fixture
def measurable(editor):
    return f.make_objective(
        editor, baseline=D(100), target=D(500), baseline_date=JAN_1, target_date=dt.date(2027, 12, 31)
    )


def derive(access, obj, **options):
    return goals_derive(access=access, objective_id=obj.pk, **({"today": JAN_1} | options))


def test_derived_goals_are_drafts_with_a_placeholder_commitment_per_side(editor, measurable):
    created = derive(editor, measurable)

    assert len(created) == 4
    for goal in created:
        goal.refresh_from_db()
        assert (goal.status, goal.revision, goal.agreed_revision) == (GoalStatus.DRAFT, 1, None)
        assert (goal.direction, goal.metric_name, goal.metric_unit) == ("increase", "Qualified pipeline", "EUR k")
        slots = list(Commitment.objects.filter(goal=goal).values_list("side", "placeholder"))
        assert sorted(slots) == [(Side.PARTNER, True), (Side.VENDOR, True)]
    assert [g.target for g in created] == [D(198), D(298), D(399), D(500)]
    assert not Approval.objects.exists()


def test_a_decreasing_objective_derives_goals_that_decrease(editor):
    churn = f.make_objective(
        editor,
        metric_name="Churn",
        metric_unit="%",
        baseline=D(12),
        target=D(4),
        baseline_date=JAN_1,
        target_date=dt.date(2027, 12, 31),
    )
    created = derive(editor, churn, count=2)
    assert [(g.direction, g.baseline, g.target) for g in created] == [
        ("decrease", D(12), D(10)),
        ("decrease", D(10), D(8)),
    ]


def test_a_derived_goal_cannot_be_agreed_until_both_sides_commit_for_real(cast, editor, measurable):
    goal = derive(editor, measurable, count=1)[0]
    goals.goal_propose(access=editor, goal_id=goal.pk)
    with refused("goal.commitment_missing") as exc:
        goals.goal_approve(access=cast.access("vendor_approver"), goal_id=goal.pk, revision=1)
    assert "vendor side has no commitment" in exc.value.message

    for side, who, text in [
        (Side.VENDOR, "vendor_editor", "Run two pipeline workshops"),
        (Side.PARTNER, "partner_editor", "Assign a pre-sales lead"),
    ]:
        slot = Commitment.objects.get(goal=goal, side=side)
        goal_commitments.commitment_update(access=cast.access(who), commitment_id=slot.pk, text=text)
    assert not Commitment.objects.filter(goal=goal, placeholder=True).exists()

    # Writing the empty slots completed the proposed revision rather than changing it: both approve it.
    for who in ("vendor_approver", "partner_approver"):
        goals.goal_approve(access=cast.access(who), goal_id=goal.pk, revision=1)
    goal = Goal.objects.get(pk=goal.pk)
    assert (goal.status, goal.agreed_revision) == (GoalStatus.AGREED, 1)


def test_re_deriving_never_duplicates_a_goal(editor, measurable):
    first = derive(editor, measurable)
    again = derive(editor, measurable)
    assert len(first) == 4
    assert again == []
    assert Goal.objects.filter(objective=measurable).count() == 4


def test_re_deriving_never_overwrites_a_goal_both_sides_worked_on(cast, editor, measurable):
    q1 = derive(editor, measurable, count=1)[0]
    goals.goal_update(access=editor, goal_id=q1.pk, target=D(250), title="Our own Q1 goal")
    version = Goal.objects.get(pk=q1.pk).version

    created = derive(editor, measurable)

    assert [g.period_start for g in created] == [dt.date(2027, 4, 1), dt.date(2027, 7, 1), dt.date(2027, 10, 1)]
    q1 = Goal.objects.get(pk=q1.pk)
    assert (q1.title, q1.target, q1.version) == ("Our own Q1 goal", D(250), version)


def test_a_period_covered_by_a_goal_written_by_hand_is_left_alone(editor, measurable):
    own = f.make_goal(editor, measurable, period_start=dt.date(2027, 5, 1), period_end=dt.date(2027, 5, 31))

    suggestions = suggest_interim_goals(measurable, today=JAN_1)
    assert [s.existing_goal for s in suggestions] == [None, own, None, None]
    assert [s.is_new for s in suggestions] == [True, False, True, True]

    created = derive(editor, measurable)
    assert [g.period_start.month for g in created] == [1, 7, 10]


def test_a_withdrawn_goal_does_not_block_its_period(editor, measurable):
    q1 = derive(editor, measurable, count=1)[0]
    goals.goal_withdraw(access=editor, goal_id=q1.pk)
    again = derive(editor, measurable, count=1)
    assert len(again) == 1 and again[0].pk != q1.pk


def test_chosen_suggestions_are_created_as_edited(editor, measurable):
    chosen = suggest_interim_goals(measurable, today=JAN_1, count=1)
    chosen[0].target = D(220)
    created = goals_derive(access=editor, objective_id=measurable.pk, suggestions=chosen)
    assert [(g.target, g.status) for g in created] == [(D(220), GoalStatus.DRAFT)]


def test_chosen_suggestions_for_an_unmeasurable_objective_are_refused(editor):
    vague = f.make_objective(editor, baseline=None, target=None, metric_name="", target_date=None)
    made_up = [Suggestion(JAN_1, dt.date(2027, 3, 31), D(1), D(2), "Made up")]
    with refused("objective.not_measurable"):
        goals_derive(access=editor, objective_id=vague.pk, suggestions=made_up)
    assert not Goal.objects.exists()


def test_deriving_from_an_unmeasurable_objective_creates_nothing(editor):
    vague = f.make_objective(editor, baseline=None, target=None, metric_name="", target_date=None)
    with refused("objective.not_measurable"):
        derive(editor, vague)
    assert not Goal.objects.exists()


def test_viewers_cannot_derive(cast, measurable):
    with pytest.raises(NotAllowed):
        derive(cast.access("partner_viewer"), measurable)
    assert not Goal.objects.exists()


def test_an_objective_of_another_partnership_cannot_be_derived_from(cast, measurable):
    outsider = f.access(cast.outsider, cast.outsider_partnership)
    with pytest.raises(InvalidInput):
        derive(outsider, measurable)
    assert not Goal.objects.exists()


def test_an_objective_with_a_short_way_to_go_derives_a_goal_for_every_period(editor):
    nps = f.make_objective(
        editor,
        metric_name="NPS",
        metric_unit="",
        baseline=D(40),
        target=D(42),
        baseline_date=JAN_1,
        target_date=dt.date(2027, 12, 31),
    )
    created = derive(editor, nps)
    assert [g.target for g in created] == [D("40.5"), D("41.0"), D("41.5"), D("42")]


# --- The Derive form --------------------------------------------------------------------------


def derive_page(client, cast, objective, **params):
    client.force_login(cast.vendor_editor)
    return client.get(f"/p/{cast.partnership.pk}/objectives/{objective.pk}/derive/", params)


def suggested_ends(html: str) -> list[str]:
    return re.findall(r'name="form-\d+-period_end" value="([\d-]+)"', html)


@time_machine.travel(dt.datetime(2027, 1, 1, 9, tzinfo=dt.UTC), tick=False)
def test_the_derive_form_suggests_periods_up_to_the_target_date_by_default(client, cast, editor):
    far = f.make_objective(editor, baseline=D(0), target=D(1000), baseline_date=JAN_1, target_date=dt.date(2029, 6, 30))
    html = derive_page(client, cast, far).content.decode()
    ends = suggested_ends(html)
    assert len(ends) == 10 and ends[-1] == "2029-06-30"
    assert re.search(r'name="form-9-target" value="1000(\.0*)?"', html)
    # The count is left empty: it means "up to the target date" whatever period length is chosen.
    assert re.search(r'<input type="number" name="count"[^>]*placeholder="up to the target date"', html)
    assert 'name="count" value=' not in html

    months = suggested_ends(derive_page(client, cast, far, length="month", count="").content.decode())
    assert len(months) == MAX_PERIODS and months[-1] == "2028-12-31"
    assert len(suggested_ends(derive_page(client, cast, far, length="year", count="").content.decode())) == 3
    assert len(suggested_ends(derive_page(client, cast, far, length="quarter", count="2").content.decode())) == 2


@time_machine.travel(dt.datetime(2027, 1, 1, 9, tzinfo=dt.UTC), tick=False)
def test_all_suggested_periods_up_to_the_maximum_can_be_created_from_the_form(client, cast, editor):
    far = f.make_objective(editor, baseline=D(0), target=D(24), baseline_date=JAN_1, target_date=dt.date(2028, 12, 31))
    data = {"form-TOTAL_FORMS": str(MAX_PERIODS), "form-INITIAL_FORMS": "0"}
    for i, s in enumerate(suggest_interim_goals(far, length="month", today=JAN_1)):
        data |= {
            f"form-{i}-include": "on",
            f"form-{i}-title": s.title,
            f"form-{i}-period_start": s.period_start.isoformat(),
            f"form-{i}-period_end": s.period_end.isoformat(),
            f"form-{i}-baseline": str(s.baseline),
            f"form-{i}-target": str(s.target),
        }
    client.force_login(cast.vendor_editor)
    response = client.post(f"/p/{cast.partnership.pk}/objectives/{far.pk}/derive/", data)
    assert response.status_code == 200, response.content[:500]
    assert Goal.objects.filter(objective=far).count() == MAX_PERIODS
    assert Goal.objects.filter(objective=far).order_by("period_end").last().target == D(24)  # type: ignore[union-attr]
