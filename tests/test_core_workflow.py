"""The goal workflow: every allowed transition, and every forbidden one refused with the rule it breaks."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import connection

from alignment.access import resolve
from alignment.models import ChangeEvent, Side
from cadence import services as review_services
from core.errors import InvalidInput, NotAllowed, RuleViolation, StaleVersion
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals import services as goals
from goals.models import Approval, Commitment, Goal, GoalRevision, GoalStatus, RevisionState
from tests import factories as f


@pytest.fixture
def plan(cast):
    """The cast's accesses, an objective and a draft goal with one commitment from each side."""

    class Plan:
        editor = cast.access("vendor_editor")
        vendor = cast.access("vendor_approver")
        partner = cast.access("partner_approver")
        partner_editor = cast.access("partner_editor")
        viewer = cast.access("vendor_viewer")
        objective = f.make_objective(cast.access("vendor_editor"))

    Plan.goal = f.make_goal(Plan.editor, Plan.objective)
    return Plan


@contextmanager
def refused(code: str) -> Iterator[pytest.ExceptionInfo[RuleViolation]]:
    """Expect a RuleViolation that names the rule ``code``."""
    with pytest.raises(RuleViolation) as exc:
        yield exc
    assert exc.value.code == code, f"refused as {exc.value.code}: {exc.value.message}"


def reload(goal: Goal) -> Goal:
    return Goal.objects.get(pk=goal.pk)


def propose(plan, goal=None, by=None) -> Goal:
    goal = goal or plan.goal
    return goals.goal_propose(access=by or plan.editor, goal_id=goal.pk)


def agree(plan, goal=None) -> Goal:
    return f.agree(goal or plan.goal, plan.vendor, plan.partner)


def commitment_texts(goal: Goal) -> set[tuple[str, str]]:
    return set(Commitment.objects.filter(goal=goal).values_list("side", "text"))


# --- Allowed transitions ----------------------------------------------------------------------


def test_a_new_goal_is_a_draft_at_revision_one_with_nothing_agreed(plan):
    goal = reload(plan.goal)
    assert (goal.status, goal.revision, goal.agreed_revision, goal.negotiation_state) == ("draft", 1, None, "draft")


def test_a_draft_is_proposed_then_agreed_when_both_sides_approve_the_same_revision(plan):
    goal = propose(plan)
    assert goal.status == GoalStatus.PROPOSED
    assert goal.proposed_by_side == Side.VENDOR
    assert GoalRevision.objects.filter(goal=goal, number=1).exists()

    goals.goal_approve(access=plan.vendor, goal_id=goal.pk, revision=1)
    assert reload(goal).status == GoalStatus.PROPOSED  # one side is not enough

    goals.goal_approve(access=plan.partner, goal_id=goal.pk, revision=1)
    goal = reload(goal)
    assert goal.status == GoalStatus.AGREED
    assert goal.agreed_revision == 1
    assert goal.agreed_at is not None
    assert goal.negotiation_state == ""


def test_the_partner_side_may_propose_too(plan):
    goal = propose(plan, by=plan.partner_editor)
    assert goal.status == GoalStatus.PROPOSED
    assert goal.proposed_by_side == Side.PARTNER


def test_editing_a_draft_keeps_its_revision_open(plan):
    goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("250"))
    goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, title="Pipeline, revised")
    goal = reload(plan.goal)
    assert (goal.status, goal.revision, goal.target) == (GoalStatus.DRAFT, 1, Decimal("250"))


def test_requested_changes_lead_to_a_new_revision_that_both_sides_can_agree(plan):
    propose(plan)
    note = goals.goal_request_changes(access=plan.partner, goal_id=plan.goal.pk, comment="Aim for 300", revision=1)
    assert note.kind == "change_request"
    assert note.revision == 1
    assert reload(plan.goal).status == GoalStatus.CHANGES_REQUESTED

    goal = goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("300"))
    assert (goal.status, goal.revision) == (GoalStatus.DRAFT, 2)

    propose(plan)
    for side in (plan.vendor, plan.partner):
        goals.goal_approve(access=side, goal_id=goal.pk, revision=2)
    goal = reload(goal)
    assert (goal.status, goal.agreed_revision, goal.target) == (GoalStatus.AGREED, 2, Decimal("300"))
    assert GoalRevision.objects.get(goal=goal, number=1).terms["target"] == "200"
    assert GoalRevision.objects.get(goal=goal, number=2).terms["target"] == "300"


def test_an_edit_after_one_side_approved_makes_that_approval_not_count(plan):
    propose(plan)
    goals.goal_approve(access=plan.vendor, goal_id=plan.goal.pk, revision=1)

    goals.goal_update(access=plan.partner_editor, goal_id=plan.goal.pk, target=Decimal("220"))
    goal = propose(plan, by=plan.partner_editor)
    assert goal.revision == 2
    goals.goal_approve(access=plan.partner, goal_id=goal.pk, revision=2)

    goal = reload(goal)
    assert goal.status == GoalStatus.PROPOSED  # the vendor approved revision 1, not 2
    assert goal.agreed_revision is None
    goals.goal_approve(access=plan.vendor, goal_id=goal.pk, revision=2)
    assert reload(goal).status == GoalStatus.AGREED


def test_a_commitment_change_on_a_proposed_goal_is_a_new_revision(plan):
    propose(plan)
    goals.goal_approve(access=plan.vendor, goal_id=plan.goal.pk, revision=1)
    goal_commitments.commitment_create(
        access=plan.partner_editor, goal_id=plan.goal.pk, side=Side.PARTNER, text="Host a customer day"
    )
    goal = reload(plan.goal)
    assert (goal.status, goal.revision) == (GoalStatus.DRAFT, 2)
    with refused("goal.not_proposed"):
        goals.goal_approve(access=plan.partner, goal_id=goal.pk, revision=2)


def test_amending_an_agreed_goal_keeps_the_agreed_revision_in_force_and_readable(plan):
    agree(plan)
    goal = goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("260"))

    goal = reload(goal)
    assert goal.status == GoalStatus.AGREED  # still in force
    assert goal.amendment == RevisionState.DRAFT
    assert goal.has_pending_amendment
    assert (goal.revision, goal.agreed_revision) == (2, 1)
    agreed = GoalRevision.objects.get(goal=goal, number=goal.agreed_revision)
    assert agreed.terms["target"] == "200"
    assert {(c["side"], c["text"]) for c in agreed.commitments} == {
        (Side.VENDOR, "Fund two joint workshops"),
        (Side.PARTNER, "Certify three consultants"),
    }


def test_an_amendment_agreed_by_both_sides_becomes_the_new_agreed_revision(plan):
    agree(plan)
    goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("260"))
    goal = propose(plan)
    assert goal.amendment == RevisionState.PROPOSED
    assert goal.status == GoalStatus.AGREED

    goals.goal_approve(access=plan.partner, goal_id=goal.pk, revision=2)
    assert reload(goal).agreed_revision == 1  # one side is not enough for an amendment either
    goals.goal_approve(access=plan.vendor, goal_id=goal.pk, revision=2)

    goal = reload(goal)
    assert (goal.status, goal.agreed_revision, goal.amendment) == (GoalStatus.AGREED, 2, "")
    assert GoalRevision.objects.get(goal=goal, number=1).terms["target"] == "200"
    assert GoalRevision.objects.get(goal=goal, number=2).terms["target"] == "260"


def test_changes_requested_on_an_amendment_leave_the_agreed_terms_in_force(plan):
    agree(plan)
    goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("260"))
    propose(plan)
    goals.goal_request_changes(access=plan.partner, goal_id=plan.goal.pk, comment="Too ambitious")
    goal = reload(plan.goal)
    assert (goal.status, goal.amendment, goal.agreed_revision) == (GoalStatus.AGREED, "changes_requested", 1)
    with refused("goal.changes_requested"):
        goals.goal_approve(access=plan.vendor, goal_id=goal.pk, revision=2)


def test_discarding_an_amendment_restores_the_agreed_terms_and_commitments(plan):
    agree(plan)
    vendor_c = Commitment.objects.get(goal=plan.goal, side=Side.VENDOR)
    partner_c = Commitment.objects.get(goal=plan.goal, side=Side.PARTNER)
    goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("260"), title="Bigger")
    goal_commitments.commitment_update(access=plan.editor, commitment_id=vendor_c.pk, text="Fund one workshop")
    goal_commitments.commitment_delete(access=plan.partner_editor, commitment_id=partner_c.pk)
    goal_commitments.commitment_create(
        access=plan.partner_editor, goal_id=plan.goal.pk, side=Side.PARTNER, text="Something new"
    )
    propose(plan)

    goal = goals.goal_discard_amendment(access=plan.editor, goal_id=plan.goal.pk)

    goal = reload(goal)
    assert goal.status == GoalStatus.AGREED
    assert not goal.has_pending_amendment
    assert (goal.target, goal.title) == (Decimal("200"), plan.goal.title)
    assert commitment_texts(goal) == {
        (Side.VENDOR, "Fund two joint workshops"),
        (Side.PARTNER, "Certify three consultants"),
    }
    assert set(Commitment.objects.filter(goal=goal).values_list("id", flat=True)) == {vendor_c.pk, partner_c.pk}
    assert GoalRevision.objects.get(goal=goal, number=goal.agreed_revision).terms["target"] == "200"


def test_discarding_an_amendment_that_removed_a_done_commitment_brings_it_back_done(plan):
    agree(plan)
    kept = Commitment.objects.get(goal=plan.goal, side=Side.PARTNER)
    goal_commitments.commitment_update(access=plan.partner_editor, commitment_id=kept.pk, done=True)
    done_at = Commitment.objects.get(pk=kept.pk).done_at
    goal_commitments.commitment_delete(access=plan.editor, commitment_id=kept.pk)

    goals.goal_discard_amendment(access=plan.editor, goal_id=plan.goal.pk)

    restored = Commitment.objects.get(pk=kept.pk)
    assert (restored.text, restored.done, restored.done_at, restored.position) == (
        "Certify three consultants",
        True,
        done_at,
        kept.position,
    )


@pytest.mark.parametrize("state", ["draft", "proposed", "changes_requested"])
def test_a_goal_not_yet_agreed_can_be_withdrawn(plan, state):
    if state != "draft":
        propose(plan)
    if state == "changes_requested":
        goals.goal_request_changes(access=plan.partner, goal_id=plan.goal.pk, comment="No")
    goal = goals.goal_withdraw(access=plan.partner_editor, goal_id=plan.goal.pk, note="Not this quarter")
    goal = reload(goal)
    assert (goal.status, goal.close_note) == (GoalStatus.WITHDRAWN, "Not this quarter")
    assert goal.closed_at is not None


@pytest.mark.parametrize("outcome", ["achieved", "missed", "dropped"])
def test_an_agreed_goal_is_closed_at_its_period_end(plan, outcome):
    goal = agree(plan)
    goal = goals.goal_close(
        access=plan.partner, goal_id=goal.pk, outcome=outcome, note="Looked at the numbers", today=goal.period_end
    )
    goal = reload(goal)
    assert (goal.status, goal.close_note) == (outcome, "Looked at the numbers")
    assert goal.agreed_revision == 1


def test_an_agreed_goal_can_be_dropped_before_its_period_ends(plan):
    goal = agree(plan)
    goals.goal_close(
        access=plan.vendor, goal_id=goal.pk, outcome="dropped", note="Market changed", today=goal.period_start
    )
    assert reload(goal).status == GoalStatus.DROPPED


def test_both_sides_check_in_on_an_agreed_goal(plan):
    goal = agree(plan)
    today = dt.date.today()
    goal_check_ins.check_in_create(
        access=plan.editor, goal_id=goal.pk, value=Decimal("150"), measured_on=today, confidence=4
    )
    ci = goal_check_ins.check_in_create(
        access=plan.partner_editor, goal_id=goal.pk, value="160", measured_on=today, confidence=2
    )
    assert (ci.side, ci.value) == (Side.PARTNER, Decimal("160"))
    assert goal.progress(ci.value) == pytest.approx(0.6)


# --- Forbidden transitions --------------------------------------------------------------------


def make_bare_goal(plan, commitments):
    goal = f.make_goal(plan.editor, plan.objective, commitments=False)
    for side, text, placeholder in commitments:
        goal_commitments.commitment_create(access=plan.editor, goal_id=goal.pk, side=side, text=text)
        if placeholder:
            Commitment.objects.filter(goal=goal, side=side).update(placeholder=True)
    propose(plan, goal)
    return reload(goal)


def approver_of(plan, side):
    return plan.vendor if side == Side.VENDOR else plan.partner


@pytest.mark.parametrize("missing", [Side.PARTNER, Side.VENDOR])
def test_a_side_without_a_commitment_of_its_own_cannot_approve(plan, missing):
    """No quotas: a side approves a goal only with something it will do itself."""
    goal = make_bare_goal(plan, [(Side.other(missing), "We do our part", False)])
    with refused("goal.commitment_missing") as exc:
        goals.goal_approve(access=approver_of(plan, missing), goal_id=goal.pk, revision=goal.revision)
    assert f"{missing} side has no commitment" in exc.value.message
    assert not Approval.objects.filter(goal=goal).exists()


@pytest.mark.parametrize("missing", [Side.PARTNER, Side.VENDOR])
def test_a_goal_cannot_be_agreed_without_a_commitment_from_each_side(plan, missing):
    """One side may approve subject to the other side's commitment; the goal is agreed only when the
    other side has committed too, which it does as it approves, on the same revision."""
    present = Side.other(missing)
    goal = make_bare_goal(plan, [(present, "We do our part", False)])
    goals.goal_approve(access=approver_of(plan, present), goal_id=goal.pk, revision=goal.revision)
    assert reload(goal).status == GoalStatus.PROPOSED, "approved by one side only, subject to the other's commitment"
    goals.goal_commit_and_approve(
        access=approver_of(plan, missing), goal_id=goal.pk, revision=goal.revision, text="We bring two consultants"
    )
    agreed = reload(goal)
    assert (agreed.status, agreed.revision, agreed.agreed_revision) == (GoalStatus.AGREED, 1, 1)
    assert commitment_texts(agreed) == {(present, "We do our part"), (missing, "We bring two consultants")}
    [snapshot] = GoalRevision.objects.filter(goal=goal, number=1)
    assert {(c["side"], c["text"]) for c in snapshot.commitments} == commitment_texts(agreed)


def test_a_placeholder_commitment_does_not_count(plan):
    goal = make_bare_goal(
        plan, [(Side.VENDOR, "Fund a workshop", False), (Side.PARTNER, "What will the partner do?", True)]
    )
    with refused("goal.commitment_missing") as exc:
        goals.goal_approve(access=plan.partner, goal_id=goal.pk, revision=goal.revision)
    assert "partner side has no commitment" in exc.value.message


def test_approving_a_stale_revision_is_refused(plan):
    propose(plan)
    goals.goal_request_changes(access=plan.partner, goal_id=plan.goal.pk, comment="More")
    goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("300"))
    propose(plan)
    with refused("goal.stale_revision"):
        goals.goal_approve(access=plan.partner, goal_id=plan.goal.pk, revision=1)
    assert not Approval.objects.filter(goal=plan.goal).exists()


def test_a_draft_cannot_be_approved(plan):
    with refused("goal.not_proposed"):
        goals.goal_approve(access=plan.vendor, goal_id=plan.goal.pk, revision=1)


def test_a_side_approves_a_revision_only_once(plan):
    propose(plan)
    goals.goal_approve(access=plan.vendor, goal_id=plan.goal.pk, revision=1)
    with refused("goal.already_approved"):
        goals.goal_approve(access=plan.vendor, goal_id=plan.goal.pk, revision=1)
    assert Approval.objects.filter(goal=plan.goal).count() == 1


def test_an_agreed_goal_without_amendment_has_nothing_to_approve_or_propose(plan):
    agree(plan)
    with refused("goal.nothing_to_approve"):
        goals.goal_approve(access=plan.vendor, goal_id=plan.goal.pk, revision=1)
    with refused("goal.nothing_to_propose"):
        propose(plan)


def test_a_proposed_revision_cannot_be_proposed_again(plan):
    propose(plan)
    with refused("goal.already_proposed"):
        propose(plan, by=plan.partner_editor)


def test_changes_are_requested_only_on_a_proposed_revision(plan):
    with refused("goal.not_proposed"):
        goals.goal_request_changes(access=plan.partner, goal_id=plan.goal.pk, comment="Hm")


def test_requesting_changes_needs_a_comment(plan):
    propose(plan)
    with pytest.raises(InvalidInput):
        goals.goal_request_changes(access=plan.partner, goal_id=plan.goal.pk, comment="   ")
    assert reload(plan.goal).status == GoalStatus.PROPOSED


@pytest.mark.parametrize("who", ["editor", "partner_editor", "viewer"])
def test_only_approvers_approve_for_their_side(plan, who):
    propose(plan)
    with pytest.raises(NotAllowed):
        goals.goal_approve(access=getattr(plan, who), goal_id=plan.goal.pk, revision=1)
    assert not Approval.objects.exists()


def test_an_approver_approves_for_their_own_side_only(plan):
    propose(plan)
    approval = goals.goal_approve(access=plan.partner, goal_id=plan.goal.pk, revision=1)
    assert approval.side == Side.PARTNER
    with refused("goal.already_approved"):  # a second partner approval does not stand in for the vendor
        goals.goal_approve(access=plan.partner, goal_id=plan.goal.pk, revision=1)
    assert reload(plan.goal).status == GoalStatus.PROPOSED


@pytest.mark.parametrize(
    "action",
    [
        lambda p: goals.goal_update(access=p.viewer, goal_id=p.goal.pk, target=Decimal("300")),
        lambda p: goals.goal_propose(access=p.viewer, goal_id=p.goal.pk),
        lambda p: goals.goal_withdraw(access=p.viewer, goal_id=p.goal.pk),
        lambda p: goals.goal_delete(access=p.viewer, goal_id=p.goal.pk),
        lambda p: goal_commitments.commitment_create(access=p.viewer, goal_id=p.goal.pk, side=Side.VENDOR, text="x"),
        lambda p: goals.goal_create(
            access=p.viewer,
            objective_id=p.objective.pk,
            title="x",
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 3, 31),
            baseline=1,
            target=2,
        ),
    ],
    ids=["update", "propose", "withdraw", "delete", "commit", "create"],
)
def test_a_viewer_cannot_change_a_goal(plan, action):
    version = reload(plan.goal).version
    with pytest.raises(NotAllowed):
        action(plan)
    assert reload(plan.goal).version == version
    assert Goal.objects.count() == 1


def test_a_goal_is_closed_only_after_agreement(plan):
    propose(plan)
    with refused("goal.not_agreed"):
        goals.goal_close(access=plan.vendor, goal_id=plan.goal.pk, outcome="dropped", note="x")


def test_a_goal_is_not_achieved_before_its_period_ends(plan):
    goal = agree(plan)
    with refused("goal.period_not_over") as exc:
        goals.goal_close(
            access=plan.vendor, goal_id=goal.pk, outcome="achieved", today=goal.period_end - dt.timedelta(days=1)
        )
    assert goal.period_end.isoformat() in exc.value.message
    assert reload(goal).status == GoalStatus.AGREED


def test_a_missed_goal_needs_a_note(plan):
    goal = agree(plan)
    with pytest.raises(InvalidInput, check=lambda e: "note" in e.fields):
        goals.goal_close(access=plan.vendor, goal_id=goal.pk, outcome="missed", today=goal.period_end)


def test_an_unknown_outcome_is_invalid(plan):
    goal = agree(plan)
    with pytest.raises(InvalidInput, check=lambda e: "outcome" in e.fields):
        goals.goal_close(access=plan.vendor, goal_id=goal.pk, outcome="withdrawn", today=goal.period_end)


def test_a_goal_with_a_pending_amendment_is_not_closed(plan):
    goal = agree(plan)
    goals.goal_update(access=plan.editor, goal_id=goal.pk, target=Decimal("260"))
    with refused("goal.amendment_pending"):
        goals.goal_close(access=plan.vendor, goal_id=goal.pk, outcome="achieved", today=goal.period_end)


def test_an_agreed_goal_cannot_be_withdrawn(plan):
    agree(plan)
    with refused("goal.already_agreed"):
        goals.goal_withdraw(access=plan.editor, goal_id=plan.goal.pk)


def test_only_a_pending_amendment_can_be_discarded(plan):
    agree(plan)
    with refused("goal.no_amendment"):
        goals.goal_discard_amendment(access=plan.editor, goal_id=plan.goal.pk)


@pytest.mark.parametrize("closing", ["achieved", "withdrawn"])
def test_a_closed_goal_cannot_change(plan, closing):
    if closing == "withdrawn":
        goals.goal_withdraw(access=plan.editor, goal_id=plan.goal.pk)
    else:
        goal = agree(plan)
        goals.goal_close(access=plan.vendor, goal_id=goal.pk, outcome="achieved", today=goal.period_end)
    for action in (
        lambda: goals.goal_update(access=plan.editor, goal_id=plan.goal.pk, target=Decimal("300")),
        lambda: goals.goal_propose(access=plan.editor, goal_id=plan.goal.pk),
        lambda: goals.goal_withdraw(access=plan.editor, goal_id=plan.goal.pk),
        lambda: goal_commitments.commitment_create(
            access=plan.editor, goal_id=plan.goal.pk, side=Side.VENDOR, text="x"
        ),
    ):
        with refused("goal.closed"):
            action()
    assert reload(plan.goal).status == closing


@pytest.mark.parametrize("state", ["draft", "proposed", "withdrawn"])
def test_check_ins_are_recorded_on_agreed_goals_only(plan, state):
    if state == "proposed":
        propose(plan)
    if state == "withdrawn":
        goals.goal_withdraw(access=plan.editor, goal_id=plan.goal.pk)
    with refused("check_in.goal_not_agreed"):
        goal_check_ins.check_in_create(access=plan.editor, goal_id=plan.goal.pk, value=120, measured_on=dt.date.today())


def test_a_write_against_an_old_version_is_refused_with_the_current_state(plan):
    goal = reload(plan.goal)
    goals.goal_update(access=plan.partner_editor, goal_id=goal.pk, expected_version=goal.version, title="Theirs")
    with pytest.raises(StaleVersion) as exc:
        goals.goal_update(access=plan.editor, goal_id=goal.pk, expected_version=goal.version, title="Mine")
    assert exc.value.current.title == "Theirs"
    assert exc.value.current.version == goal.version + 1
    assert reload(goal).title == "Theirs"
    for action in (goals.goal_propose, goals.goal_withdraw):
        with pytest.raises(StaleVersion):
            action(access=plan.editor, goal_id=goal.pk, expected_version=goal.version)


def test_a_goal_that_was_proposed_cannot_be_deleted(plan):
    propose(plan)
    with refused("goal.not_deletable"):
        goals.goal_delete(access=plan.editor, goal_id=plan.goal.pk)
    assert Goal.objects.filter(pk=plan.goal.pk).exists()


def test_a_never_proposed_draft_is_deleted_with_its_commitments(plan):
    goals.goal_delete(access=plan.editor, goal_id=plan.goal.pk)
    assert not Goal.objects.filter(pk=plan.goal.pk).exists()
    assert not Commitment.objects.filter(goal_id=plan.goal.pk).exists()


# --- Concurrency on PostgreSQL ----------------------------------------------------------------


def _race(*calls):
    """Run each call in its own thread and connection, released together; return results/errors."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except Exception as exc:  # handed back to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racing service did not finish"
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_both_sides_approving_at_the_same_moment_agree_the_goal_once(cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    goals.goal_propose(access=editor, goal_id=goal.pk)
    vendor, partner = cast.vendor_approver, cast.partner_approver
    pid = cast.partnership.pk

    results = _race(
        lambda: goals.goal_approve(access=resolve(vendor, pid), goal_id=goal.pk, revision=1),
        lambda: goals.goal_approve(access=resolve(partner, pid), goal_id=goal.pk, revision=1),
    )

    assert all(isinstance(r, Approval) for r in results), results
    goal = reload(goal)
    assert (goal.status, goal.agreed_revision) == (GoalStatus.AGREED, 1)
    agreed_events = ChangeEvent.objects.filter(object_id=goal.pk, after__status="agreed", before__status="proposed")
    assert agreed_events.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_edits_of_the_same_version_never_both_win(cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    version, pid = reload(goal).version, cast.partnership.pk

    results = _race(
        lambda: goals.goal_update(
            access=resolve(cast.vendor_editor, pid), goal_id=goal.pk, expected_version=version, title="Vendor's title"
        ),
        lambda: goals.goal_update(
            access=resolve(cast.partner_editor, pid), goal_id=goal.pk, expected_version=version, title="Partner's title"
        ),
    )

    winners = [r for r in results if isinstance(r, Goal)]
    losers = [r for r in results if isinstance(r, StaleVersion)]
    assert (len(winners), len(losers)) == (1, 1), results
    assert reload(goal).title == winners[0].title
    assert losers[0].current.title == winners[0].title


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_client_chosen_id_make_one_object_and_clear_errors(cast):
    import uuid

    from alignment import services as plan
    from alignment.models import Objective

    chosen = uuid.uuid4()
    editor, pid = cast.vendor_editor, cast.partnership.pk

    def create():
        return plan.objective_create(access=resolve(editor, pid), id=chosen, title="Offline-created objective")

    results = _race(*[create] * 6)

    created = [r for r in results if isinstance(r, Objective)]
    refused = [r for r in results if isinstance(r, InvalidInput)]
    assert len(created) == 1 and len(refused) == 5, results
    assert all(r.fields == {"id": ["Already used."]} for r in refused)
    assert Objective.objects.filter(pk=chosen).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_goals_given_one_external_key_at_the_same_moment_keep_it_once_with_a_clear_refusal(cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    first, second = (f.make_goal(editor, objective, title=t) for t in ("First", "Second"))
    pid = cast.partnership.pk

    def key(goal):  # type: ignore[no-untyped-def]
        return lambda: goals.goal_update(access=resolve(cast.vendor_editor, pid), goal_id=goal.pk, external_key="CRM-1")

    results = _race(key(first), key(second))
    kept = [r for r in results if isinstance(r, Goal)]
    refused = [r for r in results if isinstance(r, InvalidInput)]
    assert len(kept) == 1 and len(refused) == 1, results
    assert refused[0].fields == {"external_key": ["Another goal of this plan has this key."]}
    assert Goal.objects.filter(partnership_id=pid, external_key="CRM-1").count() == 1


def test_recording_a_review_with_strangers_does_not_echo_who_they_are(cast):
    from alignment import services as plan

    editor = cast.access("vendor_editor")
    review = plan.review_schedule(access=editor)
    with pytest.raises(InvalidInput) as refused:
        review_services.review_hold(
            access=editor, review_id=review.pk, held_on=dt.date.today(), attendees=[cast.vendor_editor, cast.outsider]
        )
    assert cast.outsider.email not in str(refused.value.message) + str(refused.value.fields)
    assert refused.value.fields == {"attendees": ["1 of them are not members of this partnership."]}
