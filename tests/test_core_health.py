"""Alignment health: each component on hand-built facts, the same facts gathered from a real plan
with time frozen, and a fixed number of queries however many partnerships are scored."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alignment import services as plan
from alignment.models import Side
from cadence import services as review_services
from cadence.health import WEIGHTS, HealthReport, PlanFacts, compute, health_for, partnership_health
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals.models import Commitment
from tests import factories as f

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def part(report: HealthReport, key: str):
    return next(c for c in report.components if c.key == key)


def goal(title: str = "Pipeline Q4", status: str = "agreed", objective=None, agreed_days_ago: int = 10) -> dict:
    return {
        "id": uuid.uuid4(),
        "objective_id": objective or uuid.uuid4(),
        "status": status,
        "title": title,
        "agreed_at": NOW - dt.timedelta(days=agreed_days_ago) if status == "agreed" else None,
        "period_start": dt.date(2026, 10, 1),
    }


def commitment(
    g: dict,
    side: str,
    *,
    text: str = "Do the work",
    placeholder: bool = False,
    due: dt.date | None = None,
    done: bool = False,
) -> dict:
    return {"goal_id": g["id"], "side": side, "text": text, "placeholder": placeholder, "due_date": due, "done": done}


def both_committed(g: dict) -> list[dict]:
    return [commitment(g, Side.VENDOR), commitment(g, Side.PARTNER)]


def check_in(days_ago: int, confidence: int = 3) -> dict:
    return {"measured_on": TODAY - dt.timedelta(days=days_ago), "confidence": confidence}


def confirmed(days_ago: int | None, waiting: int = 0) -> dict:
    """A side's figures of a goal: its latest confirmed one ``days_ago`` (None: none yet), and how
    many wait for the other side's confirmation (``goals.queries.confirmed_figures``)."""
    day = TODAY - dt.timedelta(days=days_ago) if days_ago is not None else None
    return {"confirmed_on": day, "waiting": waiting}


def review(status: str, days_from_now: float) -> dict:
    return {"status": status, "scheduled_for": NOW + dt.timedelta(days=days_from_now)}


def test_weights_add_up_to_one_hundred():
    assert sum(WEIGHTS.values()) == 100


def test_an_empty_plan_scores_only_for_having_nothing_overdue_or_one_sided():
    report = compute(PlanFacts(), NOW)
    assert [(c.key, c.score) for c in report.components] == [
        ("vision", 0),
        ("coverage", 0),
        ("agreement", 0),
        ("balance", 0),
        ("timeliness", 1),
        ("reviews", 0),
        ("freshness", 0),
        ("confidence", 0),
        ("flows", 1),
    ]
    assert report.score == WEIGHTS["timeliness"] + WEIGHTS["flows"]
    assert part(report, "vision").explanation == "The vision is not written yet."


# --- One component at a time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sides", "has_text", "score", "explanation"),
    [
        ({Side.VENDOR, Side.PARTNER}, True, 1.0, "Both sides endorsed the current vision."),
        ({Side.VENDOR}, True, 0.5, "Only the vendor side endorsed the current vision; the partner side has not."),
        ({Side.PARTNER}, True, 0.5, "Only the partner side endorsed the current vision; the vendor side has not."),
        (set(), True, 0.0, "Neither side has endorsed the current vision."),
        (set(), False, 0.0, "The vision is not written yet."),
    ],
)
def test_vision(sides, has_text, score, explanation):
    c = part(compute(PlanFacts(endorsed_sides=sides, has_vision_text=has_text), NOW), "vision")
    assert (c.score, c.explanation, c.points) == (score, explanation, 15 * score)


def test_coverage_names_the_objectives_without_an_agreed_goal():
    pipeline, certs, events = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    facts = PlanFacts(
        active_objectives={pipeline: "Pipeline", certs: "Certified consultants", events: "Joint events"},
        current_goals=[goal(objective=pipeline), goal(status="proposed", objective=certs)],
    )
    c = part(compute(facts, NOW), "coverage")
    assert c.score == pytest.approx(1 / 3)
    assert c.explanation == (
        "2 objectives without an agreed goal this period: “Certified consultants”, “Joint events”."
    )


def test_explanations_speak_of_one_thing_in_the_singular():
    pipeline = uuid.uuid4()
    g = goal(objective=pipeline)
    facts = PlanFacts(active_objectives={pipeline: "Pipeline"}, current_goals=[g], commitments=both_committed(g))
    report = compute(facts, NOW)
    assert part(report, "coverage").explanation == "The objective has an agreed goal this period."
    assert part(report, "agreement").explanation == "The goal of this period is agreed."
    two = [goal(objective=pipeline), goal(objective=pipeline)]
    assert (
        part(
            compute(PlanFacts(active_objectives={pipeline: "Pipeline"}, current_goals=two), NOW), "agreement"
        ).explanation
        == "All 2 goals of this period are agreed."
    )


def test_agreement_counts_goals_still_in_negotiation_but_not_withdrawn_ones():
    facts = PlanFacts(
        current_goals=[
            goal(),
            goal(status="proposed"),
            goal(status="draft"),
            goal(status="withdrawn"),
            goal(status="dropped"),
        ]
    )
    c = part(compute(facts, NOW), "agreement")
    assert c.score == pytest.approx(1 / 3)
    assert c.explanation == "1 of 3 goals of this period agreed; 2 still in negotiation."


def test_balance_says_which_side_lacks_commitments_on_how_many_goals():
    a, b, c_ = goal("A"), goal("B", status="proposed"), goal("C", status="draft")
    facts = PlanFacts(
        current_goals=[a, b, c_],
        commitments=[
            *both_committed(a),
            commitment(b, Side.VENDOR),
            commitment(c_, Side.VENDOR),
            commitment(c_, Side.PARTNER, text="What will the partner do?", placeholder=True),
        ],
    )
    c = part(compute(facts, NOW), "balance")
    assert c.score == pytest.approx(1 / 3)
    assert c.explanation == "Partner has no commitment on 2 goals."


def test_balance_is_full_when_both_sides_committed_everywhere():
    a = goal()
    c = part(compute(PlanFacts(current_goals=[a], commitments=both_committed(a)), NOW), "balance")
    assert (c.score, c.explanation) == (1.0, "Both sides committed on every open goal.")


def test_timeliness_counts_overdue_commitments_per_side():
    a = goal()
    past = TODAY - dt.timedelta(days=3)
    facts = PlanFacts(
        current_goals=[a],
        commitments=[
            commitment(a, Side.VENDOR, due=past, done=True),
            commitment(a, Side.VENDOR, due=past),
            commitment(a, Side.PARTNER, due=past),
            commitment(a, Side.PARTNER, due=past),
            commitment(a, Side.PARTNER, due=TODAY + dt.timedelta(days=3)),  # not due yet
            commitment(a, Side.PARTNER),  # no due date
        ],
    )
    c = part(compute(facts, NOW), "timeliness")
    assert c.score == pytest.approx(0.25)
    assert c.explanation == "3 commitments overdue (vendor 1, partner 2)."


def test_timeliness_ignores_commitments_of_goals_not_in_force():
    """Commitments can be marked done only on agreed goals, so past due dates of a draft or of a
    closed goal are no broken promise that anyone could still keep."""
    draft, withdrawn, dropped = goal(status="draft"), goal(status="withdrawn"), goal(status="dropped")
    past = TODAY - dt.timedelta(days=3)
    facts = PlanFacts(
        current_goals=[draft, withdrawn, dropped],
        commitments=[commitment(g, Side.VENDOR, due=past) for g in (draft, withdrawn, dropped)],
    )
    c = part(compute(facts, NOW), "timeliness")
    assert (c.score, c.explanation) == (1.0, "No commitment was due yet.")


@pytest.mark.parametrize(
    ("reviews", "score", "explanation"),
    [
        ([], 0.0, "No alignment review is scheduled."),
        ([review("scheduled", 10)], 1.0, "The first review is scheduled for 7 Dec 2026."),
        ([review("held", -30), review("scheduled", 60)], 1.0, "The last review (28 Oct 2026) was held."),
        ([review("held", -100), review("scheduled", -5)], 1.0, "The last review is 5 days overdue (due 22 Nov 2026)."),
        (
            [review("held", -100), review("scheduled", -20)],
            pytest.approx(1 - 13 / 53),
            "The last review is 20 days overdue (due 7 Nov 2026).",
        ),
        ([review("scheduled", -61)], 0.0, "The last review is 61 days overdue (due 27 Sep 2026)."),
        ([review("held", -30), review("skipped", -2)], 1.0, "The last review (28 Oct 2026) was held."),
    ],
    ids=["none", "first upcoming", "held", "within grace", "overdue", "long overdue", "skipped ignored"],
)
def test_reviews(reviews, score, explanation):
    c = part(compute(PlanFacts(reviews=reviews), NOW), "reviews")
    assert (c.score, c.explanation) == (score, explanation)


def test_freshness_decays_from_thirty_to_ninety_days_without_a_check_in():
    fresh, stale, dead = goal("Fresh"), goal("Stale"), goal("Dead")
    facts = PlanFacts(
        current_goals=[fresh, stale, dead],
        confirmed_figures={
            (fresh["id"], Side.VENDOR): confirmed(3),
            (stale["id"], Side.VENDOR): confirmed(60),
            (stale["id"], Side.PARTNER): confirmed(45),
            (dead["id"], Side.PARTNER): confirmed(120),
        },
    )
    c = part(compute(facts, NOW), "freshness")
    assert c.score == pytest.approx((1 + 0.75 + 0) / 3)  # "Stale": 45 days, a quarter of the way to 90
    assert c.explanation == (
        "2 agreed goals without a recent confirmed check-in; “Dead” has had no confirmed check-in for 17 weeks."
    )


def test_only_confirmed_figures_make_check_ins_fresh_and_the_waiting_ones_are_counted():
    waits, half = goal("Waits", agreed_days_ago=50), goal("Half")
    facts = PlanFacts(
        current_goals=[waits, half],
        # Today's figures of "Waits" wait for the other side; its confidences count as entered.
        latest_check_ins={(waits["id"], Side.VENDOR): check_in(0), (half["id"], Side.PARTNER): check_in(1)},
        confirmed_figures={
            (waits["id"], Side.VENDOR): confirmed(None, waiting=2),
            (half["id"], Side.PARTNER): confirmed(10, waiting=1),
        },
    )
    c = part(compute(facts, NOW), "freshness")
    assert c.score == pytest.approx((1 - 20 / 60 + 1) / 2)  # "Waits" counts from its agreement 50 days ago
    assert c.explanation == (
        "1 agreed goal without a recent confirmed check-in; “Waits” has had no confirmed check-in since it was "
        "agreed 7 weeks ago. 3 figures wait for the other side's confirmation and do not count yet "
        "(“Waits”, “Half”)."
    )
    one = PlanFacts(current_goals=[half], confirmed_figures={(half["id"], Side.PARTNER): confirmed(10, waiting=1)})
    assert part(compute(one, NOW), "freshness").explanation == (
        "Every agreed goal had a confirmed check-in in the last 30 days. 1 figure waits for the other side's "
        "confirmation and does not count yet (“Half”)."
    )


def test_freshness_counts_from_agreement_when_nobody_checked_in():
    quiet = goal("Quiet", agreed_days_ago=50)
    c = part(compute(PlanFacts(current_goals=[quiet]), NOW), "freshness")
    assert c.score == pytest.approx(1 - 20 / 60)
    assert (
        c.explanation == "1 agreed goal without a recent confirmed check-in; “Quiet” has had no confirmed check-in "
        "since it was agreed 7 weeks ago."
    )


def test_freshness_is_full_with_recent_check_ins():
    a = goal()
    c = part(
        compute(PlanFacts(current_goals=[a], confirmed_figures={(a["id"], Side.PARTNER): confirmed(30)}), NOW),
        "freshness",
    )
    assert (c.score, c.explanation) == (1.0, "Every agreed goal had a confirmed check-in in the last 30 days.")


def test_confidence_gap_names_the_widest_gap():
    a, b, c_ = goal("Pipeline"), goal("Certifications"), goal("Only one side")
    facts = PlanFacts(
        current_goals=[a, b, c_],
        latest_check_ins={
            (a["id"], Side.VENDOR): check_in(1, 5),
            (a["id"], Side.PARTNER): check_in(2, 2),
            (b["id"], Side.VENDOR): check_in(1, 4),
            (b["id"], Side.PARTNER): check_in(2, 3),
            (c_["id"], Side.VENDOR): check_in(1, 1),
        },
    )
    c = part(compute(facts, NOW), "confidence")
    assert c.score == pytest.approx(1 - 2 / 4)
    assert c.explanation == "Average confidence gap 2.0 of 4; widest on “Pipeline” (3 points)."


def test_equal_confidence_on_both_sides_scores_full():
    a = goal()
    facts = PlanFacts(
        current_goals=[a],
        latest_check_ins={(a["id"], Side.VENDOR): check_in(1, 4), (a["id"], Side.PARTNER): check_in(1, 4)},
    )
    c = part(compute(facts, NOW), "confidence")
    assert (c.score, c.explanation) == (1.0, "Both sides are equally confident on 1 goal.")


def test_the_score_is_the_sum_of_the_components_points():
    a = goal()
    facts = PlanFacts(
        endorsed_sides={Side.VENDOR},
        has_vision_text=True,
        active_objectives={a["objective_id"]: "X"},
        current_goals=[a],
        commitments=both_committed(a),
        reviews=[review("scheduled", 3)],
        latest_check_ins={(a["id"], Side.VENDOR): check_in(1, 5), (a["id"], Side.PARTNER): check_in(1, 1)},
        confirmed_figures={(a["id"], Side.VENDOR): confirmed(1), (a["id"], Side.PARTNER): confirmed(1)},
    )
    report = compute(facts, NOW)
    # vision 7.5 + coverage 15 + agreement 15 + balance 5 + timeliness 5 + reviews 15 + freshness 10 + conf 0
    # + flows 10 (nothing to balance yet)
    assert report.score == round(7.5 + 15 + 15 + 5 + 5 + 15 + 10 + 0 + 10)
    assert report.as_json()[0] == {
        "key": "vision",
        "label": "Shared vision endorsed",
        "weight": 15,
        "score": 0.5,
        "explanation": report.components[0].explanation,
        "points": 7.5,
    }


# --- From the database, with time frozen ------------------------------------------------------


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def healthy(cast, frozen):
    """A plan in good shape on 27 Nov 2026: endorsed vision, one objective covered by an agreed goal
    with commitments from both sides, a review held last week, check-ins from both sides today, each
    confirmed by the other side."""
    editor, vendor, partner = (
        cast.access("vendor_editor"),
        cast.access("vendor_approver"),
        cast.access("partner_approver"),
    )
    vision = plan.vision_update(access=editor, why_together="a", what_we_hope="b", how_we_work="c")
    for side in (vendor, partner):
        plan.vision_endorse(access=side, revision=vision.revision)
    objective = f.make_objective(editor, title="Joint pipeline")
    g = f.make_goal(
        editor, objective, title="Pipeline Q4", period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 12, 31)
    )
    for c in Commitment.objects.filter(goal=g):
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=dt.date(2026, 12, 15))
    g = f.agree(g, vendor, partner)
    ours = goal_check_ins.check_in_create(
        access=editor, goal_id=g.pk, value=Decimal(150), measured_on=TODAY, confidence=4
    )
    theirs = goal_check_ins.check_in_create(
        access=cast.access("partner_editor"), goal_id=g.pk, value=Decimal(150), measured_on=TODAY, confidence=4
    )
    goal_check_ins.check_in_confirm(access=cast.access("partner_editor"), check_in_id=ours.pk)
    goal_check_ins.check_in_confirm(access=editor, check_in_id=theirs.pk)
    held = plan.review_schedule(access=editor, scheduled_for=NOW - dt.timedelta(days=7))
    review_services.review_hold(
        access=editor, review_id=held.pk, held_on=TODAY - dt.timedelta(days=7), schedule_next=False
    )
    plan.review_schedule(access=editor, scheduled_for=NOW + dt.timedelta(days=83))
    return cast.partnership, g


def test_a_well_kept_plan_scores_full_marks(healthy):
    p, _ = healthy
    report = partnership_health(p)
    assert {c.key: c.score for c in report.components} == dict.fromkeys(WEIGHTS, 1.0)
    assert report.score == 100


def test_health_decays_as_the_plan_goes_stale(healthy, frozen):
    p, _ = healthy
    frozen.move_to(NOW + dt.timedelta(days=45))  # 11 Jan 2027: the quarter's goal is past its period

    report = partnership_health(p)

    # The Q4 goal's period is over, so nothing covers the objective in the new quarter.
    assert part(report, "coverage").explanation == "1 objective without an agreed goal this period: “Joint pipeline”."
    assert part(report, "agreement").explanation == "No goals for the current period."


def test_freshness_and_reviews_explain_what_went_stale(healthy, frozen):
    p, _ = healthy
    frozen.move_to(NOW + dt.timedelta(days=33))  # 30 Dec 2026: still in the goal's period

    report = partnership_health(p, now=NOW + dt.timedelta(days=33))

    fresh = part(report, "freshness")
    assert fresh.explanation == (
        "1 agreed goal without a recent confirmed check-in; “Pipeline Q4” has had no confirmed check-in for 4 weeks."
    )
    assert fresh.score == pytest.approx(1 - 3 / 60)
    assert part(report, "reviews").explanation == "The last review (20 Nov 2026) was held."
    timeliness = part(report, "timeliness")
    assert timeliness.explanation == "2 commitments overdue (vendor 1, partner 1)."
    assert timeliness.score == 0


def test_a_commitment_marked_done_is_no_longer_overdue(cast, healthy, frozen):
    p, g = healthy
    frozen.move_to(NOW + dt.timedelta(days=33))
    done = Commitment.objects.get(goal=g, side=Side.PARTNER)
    goal_commitments.commitment_update(access=cast.access("partner_editor"), commitment_id=done.pk, done=True)
    timeliness = part(partnership_health(p), "timeliness")
    assert (timeliness.score, timeliness.explanation) == (0.5, "1 commitment overdue (vendor 1, partner 0).")


def test_a_missed_review_is_counted_in_days_overdue(cast, healthy, frozen):
    p, _ = healthy
    frozen.move_to(NOW + dt.timedelta(days=83 + 19))  # the upcoming review passed 19 days ago, not held
    reviews = part(partnership_health(p), "reviews")
    assert reviews.explanation == "The last review is 19 days overdue (due 18 Feb 2027)."
    assert reviews.score == pytest.approx(1 - 12 / 53)


def test_an_edit_of_the_vision_costs_its_endorsement(cast, healthy):
    p, _ = healthy
    plan.vision_update(access=cast.access("partner_editor"), how_we_work="Differently")
    vision = part(partnership_health(p), "vision")
    assert (vision.score, vision.explanation) == (0, "Neither side has endorsed the current vision.")


def test_a_goal_without_a_partner_commitment_shows_in_balance(cast, healthy):
    p, _ = healthy
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor, title="Certifications")
    for n in (1, 2):
        lone = f.make_goal(
            editor,
            objective,
            commitments=False,
            title=f"Certify {n}",
            period_start=dt.date(2026, 11, 1),
            period_end=dt.date(2026, 12, 31),
        )
        goal_commitments.commitment_create(access=editor, goal_id=lone.pk, side=Side.VENDOR, text="Pay for exams")
    balance = part(partnership_health(p), "balance")
    assert balance.explanation == "Partner has no commitment on 2 goals."
    assert balance.score == pytest.approx(1 / 3)


# --- Many partnerships at once ----------------------------------------------------------------


def _grow(cast, n: int) -> list:
    """``n`` partnerships of the cast's vendor, each with an agreed goal, check-ins and a review."""
    ps = []
    for i in range(n):
        p = f.make_partnership(cast.vendor_admin, name=f"Acme × Partner {i}")
        admin = f.access(cast.vendor_admin, p)
        partner = f.make_user()
        f.add_member(p, partner, Side.PARTNER, "approver")
        g = f.agree(f.make_goal(admin, f.make_objective(admin)), admin, f.access(partner, p))
        goal_check_ins.check_in_create(access=admin, goal_id=g.pk, value=120, measured_on=dt.date.today())
        plan.review_schedule(access=admin)
        ps.append(p)
    return ps


def test_health_for_many_partnerships_runs_a_fixed_number_of_queries(cast, frozen):
    one = _grow(cast, 1)
    ten = one + _grow(cast, 9)

    with CaptureQueriesContext(connection) as for_one:
        reports_one = health_for(one)
    with CaptureQueriesContext(connection) as for_ten:
        reports_ten = health_for(ten)

    # 8 (the latest check-ins, and the confirmed figures: two-key actuals), and 3 for the give/get balance
    # of the quarter (cadence.balance)
    assert len(for_one) == len(for_ten) == 11
    assert len(reports_ten) == 10
    assert reports_one[one[0].pk].score == reports_ten[one[0].pk].score
    assert all(part(r, "freshness").score == 1.0 for r in reports_ten.values())


# --- The cache behind dashboards --------------------------------------------------------------


@pytest.fixture
def two_plans(cast):
    editor = cast.access("vendor_editor")
    f.make_goal(editor, f.make_objective(editor))
    other = f.make_partnership(cast.vendor_admin, name="Acme × Second partner")
    return cast.partnership, other


def test_cached_health_is_reused_until_the_plan_changes(two_plans, cast, django_assert_num_queries):
    from cadence.health import cached_health_for

    first, second = two_plans
    before = cached_health_for([first, second], NOW)
    with django_assert_num_queries(0):
        again = cached_health_for([first, second], NOW)
    assert {pid: r.score for pid, r in again.items()} == {pid: r.score for pid, r in before.items()}
    plan.vision_update(
        access=cast.access("vendor_editor"),
        why_together="Grow together",
        what_we_hope="Twice the pipeline",
        how_we_work="Monthly reviews",
    )
    plan.vision_endorse(access=cast.access("vendor_approver"), revision=2)
    with CaptureQueriesContext(connection) as queries:
        after = cached_health_for([first, second], NOW)
    assert queries.captured_queries, "the changed plan is computed again"
    assert after[first.pk].score > before[first.pk].score
    assert part(after[first.pk], "vision").explanation.startswith("Only the vendor side endorsed")
    assert after[second.pk].score == before[second.pk].score


def test_cached_health_follows_the_clock_by_the_hour(two_plans):
    from cadence.health import cached_health_for

    first, _ = two_plans
    cached_health_for([first], NOW)
    with CaptureQueriesContext(connection) as queries:
        cached_health_for([first], NOW + dt.timedelta(hours=1))
    assert queries.captured_queries, "a new hour computes again (reviews fall overdue, check-ins go stale)"


def test_cached_health_matches_a_fresh_computation(two_plans):
    from cadence.health import cached_health_for

    first, second = two_plans
    cached = cached_health_for([first, second], NOW)
    fresh = health_for([first, second], NOW)
    assert {pid: r.as_json() for pid, r in cached.items()} == {pid: r.as_json() for pid, r in fresh.items()}
