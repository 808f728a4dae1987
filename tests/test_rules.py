"""The single homes of the rules every screen, e-mail, reminder and endpoint reports (``goals.rules``,
``alignment.reviews``): each rule on its own, and each database filter against its Python function
on the same data, built through the real services."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from alignment.models import AlignmentReview, Side
from alignment.reviews import REVIEW_LOOKBACK, next_review_filter, next_review_times, next_reviews
from alignment.services import review_schedule, review_skip
from cadence.services import review_hold
from core.errors import DomainError, NotAllowed, RuleViolation
from goals import commitments as goal_commitments
from goals import services as goals
from goals.models import Approval, Commitment, Goal, GoalStatus, RevisionState
from goals.rules import (
    approval_refusal,
    approved_sides_of,
    commitment_overdue,
    committed_sides,
    due_filter,
    edit_refusal,
    is_due,
    is_overdue,
    overdue_filter,
    waiting_filter,
    waiting_reason,
    waiting_sides,
    waits_for,
)
from tests import factories as f

VENDOR, PARTNER = Side.VENDOR, Side.PARTNER
PROPOSED, CHANGES_REQUESTED, DRAFT = RevisionState.PROPOSED, RevisionState.CHANGES_REQUESTED, RevisionState.DRAFT
NOW = dt.datetime(2027, 5, 10, 9, tzinfo=dt.UTC)
TODAY = NOW.date()
YESTERDAY, TOMORROW = TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen():  # type: ignore[no-untyped-def]
    """Every test runs at the same moment, whatever the wall clock says."""
    with time_machine.travel(NOW, tick=False):
        yield


class Plan:
    """The cast's partnership with one objective, and short verbs for the goal services."""

    def __init__(self, cast: Any) -> None:
        self.cast = cast
        self.objective = f.make_objective(cast.access("vendor_editor"))

    def access(self, who: str) -> Any:
        return self.cast.access(who)

    def goal(self, title: str, *, commitments: list[dict[str, Any]] | None = None) -> Goal:
        """A draft with a real commitment from each side unless ``commitments`` says otherwise."""
        a = self.access("vendor_editor")
        if commitments is None:
            return f.make_goal(a, self.objective, title=title)
        return goals.goal_create(
            access=a,
            objective_id=self.objective.pk,
            title=title,
            period_start=TODAY - dt.timedelta(days=30),
            period_end=TODAY + dt.timedelta(days=60),
            metric_name="Qualified pipeline",
            baseline=100,
            target=200,
            commitments=commitments,
        )

    def propose(self, goal: Goal, who: str = "vendor_editor") -> Goal:
        goals.goal_propose(access=self.access(who), goal_id=goal.pk)
        return fresh(goal)

    def approve(self, goal: Goal, who: str) -> Goal:
        goals.goal_approve(access=self.access(who), goal_id=goal.pk, revision=goal.revision)
        return fresh(goal)

    def request_changes(self, goal: Goal, who: str) -> Goal:
        goals.goal_request_changes(access=self.access(who), goal_id=goal.pk, comment="Lower the target, please")
        return fresh(goal)

    def edit(self, goal: Goal, who: str = "vendor_editor", **changes: Any) -> Goal:
        goals.goal_update(access=self.access(who), goal_id=goal.pk, **(changes or {"description": f"v{goal.revision}"}))
        return fresh(goal)

    def agree(self, goal: Goal) -> Goal:
        return f.agree(goal, self.access("vendor_approver"), self.access("partner_approver"))

    def withdraw(self, goal: Goal) -> Goal:
        goals.goal_withdraw(access=self.access("vendor_editor"), goal_id=goal.pk, note="No budget")
        return fresh(goal)

    def drop(self, goal: Goal) -> Goal:
        goals.goal_close(access=self.access("vendor_approver"), goal_id=goal.pk, outcome="dropped", note="Reorg")
        return fresh(goal)


@pytest.fixture
def plan(cast) -> Plan:  # type: ignore[no-untyped-def]
    return Plan(cast)


def fresh(goal: Goal) -> Goal:
    goal.refresh_from_db()
    return goal


def approved(goal: Goal) -> set[str]:
    """Who approved the goal's current revision, read straight from the approvals."""
    return set(Approval.objects.filter(goal=goal, revision=goal.revision).values_list("side", flat=True))


def waiting(goal: Goal) -> list[str]:
    """The sides ``waits_for`` says the goal waits for."""
    return [side for side in Side.values if waits_for(goal, side, approved(goal))]


def code(error: DomainError | None) -> str | None:
    return None if error is None else error.code


# --- Waits for a side: waiting_sides, waits_for, waiting_reason ------------------------------------


def test_a_proposal_waits_for_each_side_that_has_not_approved_it() -> None:
    assert waiting_sides(PROPOSED, VENDOR, []) == [VENDOR, PARTNER]
    assert waiting_sides(PROPOSED, VENDOR, [VENDOR]) == [PARTNER]
    assert waiting_sides(PROPOSED, VENDOR, [PARTNER]) == [VENDOR]
    assert waiting_sides(PROPOSED, PARTNER, {VENDOR, PARTNER}) == []


def test_a_fresh_proposal_waits_for_both_sides_and_an_approval_takes_that_side_off(plan) -> None:
    goal = plan.propose(plan.goal("Pipeline Q3"))
    assert waiting(goal) == [VENDOR, PARTNER]
    goal = plan.approve(goal, "vendor_approver")
    assert waiting(goal) == [PARTNER]


def test_a_proposal_still_waits_for_the_proposing_side_that_did_not_approve_it(plan) -> None:
    goal = plan.propose(plan.goal("Pipeline Q3"), "vendor_editor")
    goal = plan.approve(goal, "partner_approver")
    assert goal.status == GoalStatus.PROPOSED  # one approval agrees nothing
    assert waiting(goal) == [VENDOR]
    assert waits_for(goal, VENDOR, approved(goal)) and not waits_for(goal, PARTNER, approved(goal))


def test_changes_requested_wait_for_the_proposing_side_only() -> None:
    assert waiting_sides(CHANGES_REQUESTED, VENDOR, []) == [VENDOR]
    assert waiting_sides(CHANGES_REQUESTED, PARTNER, [PARTNER]) == [PARTNER]  # its approval changes nothing
    assert waiting_sides(CHANGES_REQUESTED, VENDOR, [VENDOR, PARTNER]) == [VENDOR]


def test_a_goal_sent_back_waits_for_the_side_that_proposed_it_whoever_approved(plan) -> None:
    goal = plan.propose(plan.goal("Pipeline Q3"), "partner_editor")
    goal = plan.approve(goal, "partner_approver")
    goal = plan.request_changes(goal, "vendor_editor")
    assert (goal.status, approved(goal)) == (GoalStatus.CHANGES_REQUESTED, {PARTNER})
    assert waiting(goal) == [PARTNER]


def test_drafts_agreed_and_closed_goals_wait_for_nobody(plan) -> None:
    assert waiting_sides(DRAFT, VENDOR, []) == []
    assert waiting_sides(RevisionState.NONE, VENDOR, []) == []
    draft = plan.goal("Draft")
    agreed = plan.agree(plan.goal("Agreed"))
    withdrawn = plan.withdraw(plan.propose(plan.goal("Withdrawn")))
    dropped = plan.drop(plan.agree(plan.goal("Dropped")))
    assert [g.status for g in (draft, agreed, withdrawn, dropped)] == ["draft", "agreed", "withdrawn", "dropped"]
    for goal in (draft, agreed, withdrawn, dropped):
        assert waiting(goal) == [], goal.title


def test_an_amendment_of_an_agreed_goal_is_waited_on_like_a_proposal(plan) -> None:
    goal = plan.edit(plan.agree(plan.goal("Amended")), target=300)
    assert (goal.status, goal.amendment, waiting(goal)) == (GoalStatus.AGREED, DRAFT, [])
    goal = plan.propose(goal, "partner_editor")
    assert (goal.status, goal.amendment, waiting(goal)) == (GoalStatus.AGREED, PROPOSED, [VENDOR, PARTNER])
    goal = plan.approve(goal, "vendor_approver")
    assert waiting(goal) == [PARTNER]  # the partner proposed it and has not approved it yet
    goal = plan.request_changes(goal, "vendor_editor")
    assert (goal.status, goal.amendment, waiting(goal)) == (GoalStatus.AGREED, CHANGES_REQUESTED, [PARTNER])


def test_the_waiting_reason_is_a_proposal_to_approve_or_changes_requested() -> None:
    assert waiting_reason(PROPOSED) == "to approve"
    assert waiting_reason(CHANGES_REQUESTED) == "changes requested"


def goals_in_every_negotiation_state(plan: Plan) -> dict[str, Goal]:
    """One goal per state of the negotiation, each reached through the services."""
    p = plan
    built = {
        "draft": p.goal("draft"),
        "proposed by vendor": p.propose(p.goal("proposed by vendor")),
        "proposed by partner": p.propose(p.goal("proposed by partner"), "partner_editor"),
        "proposed, proposer approved": p.approve(p.propose(p.goal("proposed, proposer approved")), "vendor_approver"),
        "proposed, other side approved": p.approve(
            p.propose(p.goal("proposed, other side approved")), "partner_approver"
        ),
        "changes requested of vendor": p.request_changes(p.propose(p.goal("cr of vendor")), "partner_editor"),
        "changes requested of partner": p.request_changes(
            p.approve(p.propose(p.goal("cr of partner"), "partner_editor"), "vendor_approver"), "vendor_editor"
        ),
        # Approved as revision 1, edited, proposed again as revision 2: the old approval no longer counts.
        "re-proposed after an edit": p.propose(
            p.edit(p.approve(p.propose(p.goal("re-proposed")), "partner_approver"), target=250)
        ),
        # Sent back, then proposed again unchanged by the other side: the revision and its approval stay.
        "re-proposed unchanged": p.propose(
            p.request_changes(p.approve(p.propose(p.goal("unchanged")), "vendor_approver"), "partner_editor"),
            "partner_editor",
        ),
        "agreed": p.agree(p.goal("agreed")),
        "amendment draft": p.edit(p.agree(p.goal("amendment draft")), target=300),
        "amendment proposed": p.propose(p.edit(p.agree(p.goal("amendment proposed")), target=300)),
        "amendment, one side approved": p.approve(
            p.propose(p.edit(p.agree(p.goal("amendment approved")), target=300), "partner_editor"), "partner_approver"
        ),
        "amendment sent back": p.request_changes(
            p.propose(p.edit(p.agree(p.goal("amendment sent back")), target=300)), "partner_editor"
        ),
        "withdrawn": p.withdraw(p.propose(p.goal("withdrawn"))),
        "dropped": p.drop(p.agree(p.goal("dropped"))),
    }
    # The outsider's plan has a proposal too; the filter must not mix it up with the cast's goals.
    outsider = f.access(plan.cast.outsider, plan.cast.outsider_partnership)
    theirs = f.make_goal(outsider, f.make_objective(outsider), commitments=False)
    goals.goal_propose(access=outsider, goal_id=theirs.pk)
    return built


def test_waiting_filter_selects_exactly_the_goals_waits_for_says_for_each_side(plan) -> None:
    built = goals_in_every_negotiation_state(plan)
    by_pk = {g.pk: name for name, g in built.items()}
    mine = Goal.objects.filter(partnership=plan.cast.partnership)
    assert set(mine.values_list("pk", flat=True)) == set(by_pk)
    selected = {
        side: {by_pk[pk] for pk in mine.filter(waiting_filter(side)).values_list("pk", flat=True)}
        for side in Side.values
    }
    said = {side: {name for name, g in built.items() if waits_for(fresh(g), side, approved(g))} for side in Side.values}
    assert selected == said
    # ... and the sets are the ones the rule describes, so agreeing is not agreeing on nothing.
    assert said[VENDOR] == {
        "proposed by vendor",
        "proposed by partner",
        "proposed, other side approved",
        "changes requested of vendor",
        "re-proposed after an edit",
        "amendment proposed",
        "amendment, one side approved",
        "amendment sent back",
    }
    assert said[PARTNER] == {
        "proposed by vendor",
        "proposed by partner",
        "proposed, proposer approved",
        "changes requested of partner",
        "re-proposed after an edit",
        "re-proposed unchanged",
        "amendment proposed",
    }


def test_approved_sides_of_counts_only_approvals_of_the_current_revision(plan) -> None:
    built = goals_in_every_negotiation_state(plan)
    found = approved_sides_of(g.pk for g in built.values())
    assert {g.pk: found.get(g.pk, set()) for g in built.values()} == {g.pk: approved(g) for g in built.values()}
    assert found.get(built["re-proposed after an edit"].pk, set()) == set()
    assert found[built["re-proposed unchanged"].pk] == {VENDOR}


# --- Overdue commitments: is_due, is_overdue, commitment_overdue, due_filter, overdue_filter ---------


def overdue(**overrides: Any) -> bool:
    facts = {"done": False, "placeholder": False, "due_date": YESTERDAY, "goal_status": GoalStatus.AGREED}
    return is_overdue(**(facts | overrides), today=TODAY)


def test_a_commitment_of_an_agreed_goal_is_overdue_the_day_after_its_due_date() -> None:
    assert overdue(due_date=YESTERDAY)
    assert overdue(due_date=TODAY - dt.timedelta(days=400))


def test_a_commitment_due_today_or_later_is_not_overdue_yet() -> None:
    assert not overdue(due_date=TODAY)
    assert not overdue(due_date=TOMORROW)
    assert not is_due(placeholder=False, due_date=TODAY, goal_status=GoalStatus.AGREED, today=TODAY)


def test_a_done_commitment_was_due_but_is_not_overdue() -> None:
    assert is_due(placeholder=False, due_date=YESTERDAY, goal_status=GoalStatus.AGREED, today=TODAY)
    assert not overdue(done=True)


def test_a_placeholder_or_a_commitment_without_a_due_date_is_never_due() -> None:
    assert not overdue(placeholder=True)
    assert not overdue(due_date=None)
    assert not is_due(placeholder=True, due_date=YESTERDAY, goal_status=GoalStatus.AGREED, today=TODAY)
    assert not is_due(placeholder=False, due_date=None, goal_status=GoalStatus.AGREED, today=TODAY)


@pytest.mark.parametrize("status", [s for s in GoalStatus.values if s != GoalStatus.AGREED])
def test_only_an_agreed_goal_has_due_or_overdue_commitments(status: str) -> None:
    assert not overdue(goal_status=status)
    assert not is_due(placeholder=False, due_date=YESTERDAY, goal_status=status, today=TODAY)


def commitments_on_every_kind_of_goal(plan: Plan) -> dict[str, Commitment]:
    """A vendor commitment per case, with the partner's real commitment beside it on every goal."""
    partner = {"side": PARTNER, "text": "Certify three consultants"}

    def goal_with(title: str, *extra: dict[str, Any], **mine: Any) -> Goal:
        mine = {"side": VENDOR, "text": f"Vendor work: {title}", **mine}
        return plan.goal(title, commitments=[mine, partner, *extra])

    def agreed_with(title: str, *extra: dict[str, Any], **mine: Any) -> Goal:
        return plan.agree(goal_with(title, *extra, **mine))

    def vendor_commitment(goal: Goal) -> Commitment:
        return goal.commitments.get(side=VENDOR, text__startswith="Vendor work")

    cases: dict[str, Goal] = {
        "agreed, due yesterday": agreed_with("due yesterday", due_date=YESTERDAY),
        "agreed, due long ago": agreed_with("due long ago", due_date=TODAY - dt.timedelta(days=90)),
        "agreed, due today": agreed_with("due today", due_date=TODAY),
        "agreed, due tomorrow": agreed_with("due tomorrow", due_date=TOMORROW),
        "agreed, no due date": agreed_with("no due date"),
        "agreed, done": agreed_with("done", due_date=YESTERDAY),
        "draft, due yesterday": goal_with("draft", due_date=YESTERDAY),
        "proposed, due yesterday": plan.propose(goal_with("proposed", due_date=YESTERDAY)),
        "withdrawn, due yesterday": plan.withdraw(plan.propose(goal_with("withdrawn", due_date=YESTERDAY))),
        "dropped, due yesterday": plan.drop(agreed_with("dropped", due_date=YESTERDAY)),
        "agreed with an amendment, due yesterday": plan.edit(agreed_with("amended", due_date=YESTERDAY), target=300),
    }
    found = {name: vendor_commitment(goal) for name, goal in cases.items()}
    done = found["agreed, done"]
    goal_commitments.commitment_update(access=plan.access("vendor_editor"), commitment_id=done.pk, done=True)
    # A placeholder slot beside the real commitments of an agreed goal (as derived goals have).
    slot = {"side": VENDOR, "text": "Vendor slot", "placeholder": True, "due_date": YESTERDAY}
    found["agreed, placeholder due yesterday"] = agreed_with("placeholder", slot).commitments.get(placeholder=True)
    return {name: Commitment.objects.select_related("goal").get(pk=c.pk) for name, c in found.items()}


def test_commitment_overdue_reads_the_commitment_and_its_goal(plan) -> None:
    found = commitments_on_every_kind_of_goal(plan)
    said = {name for name, c in found.items() if commitment_overdue(c, c.goal.status, TODAY)}
    assert said == {"agreed, due yesterday", "agreed, due long ago", "agreed with an amendment, due yesterday"}


def test_overdue_filter_and_due_filter_select_exactly_what_the_functions_say(plan) -> None:
    found = commitments_on_every_kind_of_goal(plan)
    names = {c.pk: name for name, c in found.items()}
    everything = Commitment.objects.filter(goal__partnership=plan.cast.partnership)
    for today in (YESTERDAY, TODAY, TOMORROW, TODAY + dt.timedelta(days=365)):
        in_db = {names.get(pk, pk) for pk in everything.filter(overdue_filter(today)).values_list("pk", flat=True)}
        in_python = {
            names.get(c.pk, c.pk)
            for c in everything.select_related("goal")
            if commitment_overdue(c, c.goal.status, today)
        }
        assert in_db == in_python, today
        due_in_db = set(everything.filter(due_filter(today)).values_list("pk", flat=True))
        due_in_python = {
            c.pk
            for c in everything.select_related("goal")
            if is_due(placeholder=c.placeholder, due_date=c.due_date, goal_status=c.goal.status, today=today)
        }
        assert due_in_db == due_in_python, today
    assert "agreed, done" in {
        names.get(pk) for pk in everything.filter(due_filter(TODAY)).values_list("pk", flat=True)
    }  # kept promises count for timeliness, they are just not overdue


# --- May approve: approval_refusal, and goal_approve raising exactly that -----------------------------


def only_vendor_commits(plan: Plan, title: str) -> Goal:
    return plan.goal(
        title,
        commitments=[
            {"side": VENDOR, "text": "Fund two joint workshops"},
            {"side": PARTNER, "text": "To be decided", "placeholder": True},
        ],
    )


# Each case: who tries to approve, the goal as the services left it, the revision they saw, the code.
APPROVAL_CASES: dict[str, tuple[str, Any, Any, str | None]] = {
    "an editor is not an approver": (
        "vendor_editor",
        lambda p: p.propose(p.goal("g")),
        None,
        NotAllowed.code,
    ),
    "a viewer is not an approver": ("partner_viewer", lambda p: p.propose(p.goal("g")), None, NotAllowed.code),
    "a withdrawn goal is closed": (
        "vendor_approver",
        lambda p: p.withdraw(p.propose(p.goal("g"))),
        None,
        "goal.closed",
    ),
    "a dropped goal is closed": ("partner_approver", lambda p: p.drop(p.agree(p.goal("g"))), None, "goal.closed"),
    "a draft is not proposed": ("vendor_approver", lambda p: p.goal("g"), None, "goal.not_proposed"),
    "an amendment draft is not proposed": (
        "vendor_approver",
        lambda p: p.edit(p.agree(p.goal("g")), target=300),
        None,
        "goal.not_proposed",
    ),
    "a goal sent back must be proposed again": (
        "vendor_approver",
        lambda p: p.request_changes(p.propose(p.goal("g")), "partner_editor"),
        None,
        "goal.changes_requested",
    ),
    "an amendment sent back must be proposed again": (
        "partner_approver",
        lambda p: p.request_changes(p.propose(p.edit(p.agree(p.goal("g")), target=300)), "partner_editor"),
        None,
        "goal.changes_requested",
    ),
    "an agreed goal without an amendment has nothing to approve": (
        "partner_approver",
        lambda p: p.agree(p.goal("g")),
        None,
        "goal.nothing_to_approve",
    ),
    "an approval of an older revision is stale": (
        "partner_approver",
        lambda p: p.propose(p.edit(p.propose(p.goal("g")), target=250)),
        1,
        "goal.stale_revision",
    ),
    "an approval of a revision not written yet is stale": (
        "partner_approver",
        lambda p: p.propose(p.goal("g")),
        2,
        "goal.stale_revision",
    ),
    "a side without a real commitment of its own may not approve": (
        "partner_approver",
        lambda p: p.propose(only_vendor_commits(p, "g")),
        None,
        "goal.commitment_missing",
    ),
    "a side approves a revision once": (
        "vendor_approver",
        lambda p: p.approve(p.propose(p.goal("g")), "vendor_approver"),
        None,
        "goal.already_approved",
    ),
    "another approver of the same side approves nothing new": (
        "vendor_admin",
        lambda p: p.approve(p.propose(p.goal("g")), "vendor_approver"),
        None,
        "goal.already_approved",
    ),
    "an approver may approve a proposal": ("partner_approver", lambda p: p.propose(p.goal("g")), None, None),
    "the proposing side may approve its own proposal": (
        "vendor_approver",
        lambda p: p.propose(p.goal("g")),
        None,
        None,
    ),
    "an approver may approve a proposed amendment": (
        "partner_approver",
        lambda p: p.propose(p.edit(p.agree(p.goal("g")), target=300)),
        None,
        None,
    ),
    "the second side completes an approval": (
        "partner_approver",
        lambda p: p.approve(p.propose(p.goal("g")), "vendor_approver"),
        None,
        None,
    ),
}


def approval_case(plan: Plan, name: str) -> tuple[Any, Goal, int, str | None]:
    """The case's access, goal and revision seen (None in the table: the goal's current one)."""
    who, build, revision, expected = APPROVAL_CASES[name]
    goal = build(plan)
    return plan.access(who), goal, revision or goal.revision, expected


def refusal_for(access: Any, goal: Goal, revision: int | None) -> DomainError | None:
    return approval_refusal(
        access,
        goal,
        approved_sides=approved(goal),
        committed=committed_sides(goal.commitments.all()),
        revision=revision,
    )


@pytest.mark.parametrize("case", list(APPROVAL_CASES))
def test_approval_refusal_names_the_rule_that_forbids_the_approval(plan, case: str) -> None:
    access, goal, revision, expected = approval_case(plan, case)
    refusal = refusal_for(access, goal, revision)
    assert code(refusal) == expected
    if expected == NotAllowed.code:
        assert type(refusal) is NotAllowed
    elif expected is not None:
        assert type(refusal) is RuleViolation


@pytest.mark.parametrize("case", list(APPROVAL_CASES))
def test_goal_approve_raises_exactly_what_approval_refusal_returns(plan, case: str) -> None:
    access, goal, revision, expected = approval_case(plan, case)
    refusal = refusal_for(access, goal, revision)
    assert code(refusal) == expected
    before = Approval.objects.filter(goal=goal).count()
    if refusal is None:
        approval = goals.goal_approve(access=access, goal_id=goal.pk, revision=revision)
        assert (approval.side, approval.revision) == (access.side, goal.revision)
        return
    with pytest.raises(DomainError) as raised:
        goals.goal_approve(access=access, goal_id=goal.pk, revision=revision)
    assert (type(raised.value), raised.value.code, raised.value.message) == (
        type(refusal),
        refusal.code,
        refusal.message,
    )
    assert Approval.objects.filter(goal=goal).count() == before


def test_a_placeholder_is_no_commitment_for_the_no_quota_rule(plan) -> None:
    goal = only_vendor_commits(plan, "Placeholder only")
    assert committed_sides(goal.commitments.all()) == {VENDOR}
    assert committed_sides(plan.goal("Both commit").commitments.all()) == {VENDOR, PARTNER}


def test_the_second_approval_agrees_the_goal_once_approval_refusal_allowed_it(plan) -> None:
    goal = plan.approve(plan.propose(plan.goal("Agreed at last")), "partner_approver")
    assert refusal_for(plan.access("vendor_approver"), goal, goal.revision) is None
    goal = plan.approve(goal, "vendor_approver")
    assert (goal.status, goal.agreed_revision) == (GoalStatus.AGREED, goal.revision)
    assert code(refusal_for(plan.access("vendor_approver"), goal, goal.revision)) == "goal.nothing_to_approve"


# --- Editable now: edit_refusal ---------------------------------------------------------------------


def test_a_viewer_may_not_edit_any_goal(plan) -> None:
    for goal in (plan.goal("Open"), plan.withdraw(plan.goal("Closed"))):
        refusal = edit_refusal(plan.access("partner_viewer"), goal)
        assert type(refusal) is NotAllowed, goal.title


def test_nobody_may_edit_a_closed_goal(plan) -> None:
    withdrawn = plan.withdraw(plan.propose(plan.goal("Withdrawn")))
    dropped = plan.drop(plan.agree(plan.goal("Dropped")))
    for who in ("vendor_editor", "partner_editor", "vendor_approver", "vendor_admin"):
        for goal in (withdrawn, dropped):
            assert code(edit_refusal(plan.access(who), goal)) == "goal.closed", (who, goal.title)


def test_an_editor_may_edit_an_open_goal_in_any_state_of_its_negotiation(plan) -> None:
    open_goals = [
        plan.goal("Draft"),
        plan.propose(plan.goal("Proposed")),
        plan.request_changes(plan.propose(plan.goal("Sent back")), "partner_editor"),
        plan.agree(plan.goal("Agreed")),
        plan.propose(plan.edit(plan.agree(plan.goal("Amendment")), target=300)),
    ]
    for who in ("vendor_editor", "partner_editor", "partner_approver"):
        for goal in open_goals:
            assert edit_refusal(plan.access(who), goal) is None, (who, goal.title)


def test_goal_update_refuses_with_what_edit_refusal_says(plan) -> None:
    open_goal, closed = plan.goal("Open"), plan.withdraw(plan.goal("Closed"))
    for who, goal in (("partner_viewer", open_goal), ("vendor_editor", closed)):
        refusal = edit_refusal(plan.access(who), goal)
        assert refusal is not None
        with pytest.raises(DomainError) as raised:
            goals.goal_update(access=plan.access(who), goal_id=goal.pk, title="Renamed")
        assert (type(raised.value), raised.value.code, raised.value.message) == (
            type(refusal),
            refusal.code,
            refusal.message,
        )
    assert plan.edit(open_goal, "partner_editor", title="Renamed").title == "Renamed"


# --- The next review: next_reviews, next_review_times, next_review_filter ---------------------------


def schedule(cast: Any, when: dt.datetime, partnership: Any = None) -> AlignmentReview:
    """A review scheduled through the service a month before its time."""
    a = cast.access("vendor_editor") if partnership is None else f.access(cast.outsider, partnership)
    with time_machine.travel(when - dt.timedelta(days=30), tick=False):
        return review_schedule(access=a, scheduled_for=when)


def hold(cast: Any, review: AlignmentReview) -> AlignmentReview:
    with time_machine.travel(review.scheduled_for + dt.timedelta(hours=2), tick=False):
        return review_hold(
            access=cast.access("vendor_editor"),
            review_id=review.pk,
            held_on=review.scheduled_for.date(),
            schedule_next=False,
        )


def skip(cast: Any, review: AlignmentReview) -> AlignmentReview:
    return review_skip(access=cast.access("vendor_editor"), review_id=review.pk)


def next_of(cast: Any, now: dt.datetime) -> AlignmentReview | None:
    return next_reviews([cast.partnership.pk], now).get(cast.partnership.pk)


def test_the_next_review_is_the_earliest_scheduled_one(cast) -> None:
    later = schedule(cast, NOW + dt.timedelta(days=40))
    sooner = schedule(cast, NOW + dt.timedelta(days=10))
    assert next_of(cast, NOW) == sooner
    assert next_review_times([cast.partnership.pk], NOW) == {cast.partnership.pk: sooner.scheduled_for}
    assert next_of(cast, sooner.scheduled_for + REVIEW_LOOKBACK + dt.timedelta(seconds=1)) == later


def test_a_review_whose_time_passed_less_than_the_lookback_ago_is_still_next(cast) -> None:
    overdue = schedule(cast, NOW - dt.timedelta(days=59))
    schedule(cast, NOW + dt.timedelta(days=7))
    assert next_of(cast, NOW) == overdue  # not recorded yet: still the next thing to hold
    assert next_of(cast, overdue.scheduled_for + REVIEW_LOOKBACK) == overdue  # the lookback's last moment


def test_a_review_older_than_the_lookback_is_not_next(cast) -> None:
    stale = schedule(cast, NOW - REVIEW_LOOKBACK - dt.timedelta(minutes=1))
    assert next_of(cast, NOW) is None
    assert next_review_times([cast.partnership.pk], NOW) == {}
    upcoming = schedule(cast, NOW + dt.timedelta(days=7))
    assert next_of(cast, NOW) == upcoming
    assert next_of(cast, stale.scheduled_for + dt.timedelta(days=1)) == stale


def test_held_and_skipped_reviews_are_never_next(cast) -> None:
    held = hold(cast, schedule(cast, NOW - dt.timedelta(days=3)))
    skipped = skip(cast, schedule(cast, NOW + dt.timedelta(days=2)))
    assert (held.status, skipped.status) == (AlignmentReview.Status.HELD, AlignmentReview.Status.SKIPPED)
    for now in (NOW - dt.timedelta(days=30), NOW, NOW + dt.timedelta(days=1)):
        assert next_of(cast, now) is None
        assert next_review_times([cast.partnership.pk], now) == {}
    scheduled = schedule(cast, NOW + dt.timedelta(days=20))
    assert next_of(cast, NOW) == scheduled


def test_next_reviews_and_next_review_times_agree_on_every_partnership_at_every_moment(cast) -> None:
    p, other = cast.partnership, cast.outsider_partnership
    empty = f.make_partnership(cast.vendor_admin, name="No reviews yet")
    reviews = [
        schedule(cast, NOW - dt.timedelta(days=90)),
        schedule(cast, NOW - dt.timedelta(days=20)),
        hold(cast, schedule(cast, NOW - dt.timedelta(days=10))),
        skip(cast, schedule(cast, NOW + dt.timedelta(days=5))),
        schedule(cast, NOW + dt.timedelta(days=15)),
        schedule(cast, NOW + dt.timedelta(days=15, hours=1), partnership=other),
        schedule(cast, NOW + dt.timedelta(days=100), partnership=other),
    ]
    ids = [p.pk, other.pk, empty.pk]
    moments = [NOW + dt.timedelta(days=d) for d in range(-120, 200, 5)]
    seen = set()
    for now in moments:
        objects = next_reviews(ids, now)
        times = next_review_times(ids, now)
        assert {pid: r.scheduled_for for pid, r in objects.items()} == times, now
        assert empty.pk not in times
        candidates = set(AlignmentReview.objects.filter(next_review_filter(now)).values_list("pk", flat=True))
        assert {r.pk for r in objects.values()} <= candidates
        for pid, review in objects.items():  # the earliest candidate of its partnership
            assert review.scheduled_for == min(
                r.scheduled_for for r in reviews if r.pk in candidates and r.partnership_id == pid
            )
        seen |= {r.pk for r in objects.values()}
    held, skipped = reviews[2], reviews[3]
    assert held.pk not in seen and skipped.pk not in seen
    assert seen == {r.pk for r in reviews} - {held.pk, skipped.pk}


def test_waiting_filter_agrees_with_waits_for_on_a_sent_back_goal_whose_proposer_is_unknown(cast):
    """Only data edited by hand (the admin) has no proposing side; the rule and its filter still agree."""
    a = cast.access("vendor_editor")
    goal = f.make_goal(a, f.make_objective(a))
    Goal.objects.filter(pk=goal.pk).update(status=GoalStatus.CHANGES_REQUESTED, proposed_by_side="")
    goal.refresh_from_db()
    for side in Side.values:
        assert Goal.objects.filter(waiting_filter(side), pk=goal.pk).exists() == waits_for(goal, side, []) is True
