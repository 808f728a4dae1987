"""Approval subject to the other side's commitment, and the other side's one step: "add our
commitment and approve" (DESIGN section 9). Terms still need both approvals on the same revision;
commitments stay required from both sides."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from alignment.models import Side
from core.errors import RuleViolation
from goals import commitments as goal_commitments
from goals import services as goals
from goals.models import Approval, Commitment, Goal, GoalRevision, GoalStatus
from tests import factories as f
from tests.api_support import ApiClient


@pytest.fixture
def vendor_only(cast):  # type: ignore[no-untyped-def]
    """A goal the vendor proposed with its own commitment and approved, the partner's still missing."""
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), commitments=False, title="Pipeline Q4")
    goal_commitments.commitment_create(access=editor, goal_id=goal.pk, side=Side.VENDOR, text="Fund two workshops")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_approve(access=cast.access("vendor_approver"), goal_id=goal.pk, revision=1)
    return Goal.objects.get(pk=goal.pk)


def test_the_vendor_approves_subject_to_the_partners_commitment_and_the_goal_waits(vendor_only):
    assert vendor_only.status == GoalStatus.PROPOSED
    assert set(Approval.objects.filter(goal=vendor_only).values_list("side", "revision")) == {(Side.VENDOR, 1)}


def test_the_partner_cannot_approve_without_a_commitment_of_its_own(cast, vendor_only):
    with pytest.raises(RuleViolation) as exc:
        goals.goal_approve(access=cast.access("partner_approver"), goal_id=vendor_only.pk, revision=1)
    assert exc.value.code == "goal.commitment_missing"
    assert "partner side has no commitment yet" in exc.value.message


def test_the_partner_commits_and_approves_in_one_step_and_the_goal_is_agreed_on_the_same_revision(
    cast, vendor_only, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        goals.goal_commit_and_approve(
            access=cast.access("partner_approver"), goal_id=vendor_only.pk, revision=1, text="Assign a pre-sales lead"
        )
    goal = Goal.objects.get(pk=vendor_only.pk)
    assert (goal.status, goal.revision, goal.agreed_revision) == (GoalStatus.AGREED, 1, 1)
    [snapshot] = GoalRevision.objects.filter(goal=goal)
    assert {(c["side"], c["text"]) for c in snapshot.commitments} == {
        (Side.VENDOR, "Fund two workshops"),
        (Side.PARTNER, "Assign a pre-sales lead"),
    }
    # The vendor side is told what was committed, and that the goal is agreed.
    told = [m for m in mail.outbox if m.to[0].endswith("@vendor.test") and "Agreed" in m.subject]
    assert told and all("Assign a pre-sales lead" in m.body and "amendment" in m.body for m in told)


def test_committing_and_approving_fills_the_sides_empty_slot_rather_than_adding_one(cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), commitments=False)
    goal_commitments.commitment_create(access=editor, goal_id=goal.pk, side=Side.VENDOR, text="Fund two workshops")
    slot = goal_commitments.commitment_create(access=editor, goal_id=goal.pk, side=Side.PARTNER, text="(to write)")
    Commitment.objects.filter(pk=slot.pk).update(placeholder=True)
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_commit_and_approve(
        access=cast.access("partner_approver"), goal_id=goal.pk, revision=1, text="Train three consultants"
    )
    partner = list(Commitment.objects.filter(goal=goal, side=Side.PARTNER))
    assert [(c.pk, c.text, c.placeholder) for c in partner] == [(slot.pk, "Train three consultants", False)]
    assert Goal.objects.get(pk=goal.pk).revision == 1


def test_a_side_that_committed_already_approves_as_usual(cast, vendor_only):
    with pytest.raises(RuleViolation) as exc:
        goals.goal_commit_and_approve(
            access=cast.access("vendor_approver"), goal_id=vendor_only.pk, revision=1, text="More"
        )
    assert exc.value.code == "goal.already_committed"


def test_an_editor_writing_the_missing_commitment_completes_the_revision_and_the_approval_stands(cast, vendor_only):
    goal_commitments.commitment_create(
        access=cast.access("partner_editor"), goal_id=vendor_only.pk, side=Side.PARTNER, text="Co-sell two deals"
    )
    goal = Goal.objects.get(pk=vendor_only.pk)
    assert (goal.revision, goal.status) == (1, GoalStatus.PROPOSED)
    assert Approval.objects.filter(goal=goal, revision=1, side=Side.VENDOR).exists()
    goals.goal_approve(access=cast.access("partner_approver"), goal_id=goal.pk, revision=1)
    assert Goal.objects.get(pk=goal.pk).status == GoalStatus.AGREED


def test_changing_a_commitment_once_both_committed_is_a_new_revision_that_voids_the_approvals(cast, vendor_only):
    partner_editor = cast.access("partner_editor")
    mine = goal_commitments.commitment_create(
        access=partner_editor, goal_id=vendor_only.pk, side=Side.PARTNER, text="Co-sell two deals"
    )
    goal_commitments.commitment_update(access=partner_editor, commitment_id=mine.pk, text="Co-sell one deal")
    goal = Goal.objects.get(pk=vendor_only.pk)
    assert (goal.revision, goal.status) == (2, GoalStatus.DRAFT)
    assert not Approval.objects.filter(goal=goal, revision=2).exists()


def test_the_api_commits_and_approves_in_one_request(cast, vendor_only):
    api = ApiClient(cast.partner_approver)
    response = api.post(f"goals/{vendor_only.pk}/commit-and-approve", {"revision": 1, "text": "Assign a lead"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["goal"]["status"] == "agreed" and body["goal"]["agreed_revision"] == 1
    assert (body["commitment"]["side"], body["commitment"]["text"]) == ("partner", "Assign a lead")
    assert body["approval"]["side"] == "partner"
    again = api.post(f"goals/{vendor_only.pk}/commit-and-approve", {"revision": 1, "text": "Again"})
    assert again.status_code == 409 and again.json()["code"] == "goal.already_committed"


def test_the_review_queue_offers_the_partner_one_form_to_commit_and_approve(client, cast, vendor_only):
    client.force_login(cast.partner_approver)
    queue = reverse("goal-review-queue", args=[cast.partnership.pk])
    page = client.get(queue).content.decode()
    assert "Add the partner&#x27;s commitment and approve" in page or "Add the partner's commitment and approve" in page
    empty = client.post(
        reverse("goal-review-commit-approve", args=[cast.partnership.pk, vendor_only.pk]), {"revision": 1, "text": ""}
    )
    assert empty.status_code == 400 and "This field is required." in empty.content.decode()
    assert Goal.objects.get(pk=vendor_only.pk).status == GoalStatus.PROPOSED
    done = client.post(
        reverse("goal-review-commit-approve", args=[cast.partnership.pk, vendor_only.pk]),
        {"revision": 1, "text": "Assign a pre-sales lead"},
        follow=True,
    )
    assert "is agreed by both sides" in done.content.decode()
    assert Goal.objects.get(pk=vendor_only.pk).status == GoalStatus.AGREED


def test_the_vendors_approve_button_says_it_is_subject_to_the_partners_commitment(client, cast):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), commitments=False)
    goal_commitments.commitment_create(access=editor, goal_id=goal.pk, side=Side.VENDOR, text="Fund two workshops")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    client.force_login(cast.vendor_approver)
    card = client.get(f"/p/{cast.partnership.pk}/goals/{goal.pk}/card/").content.decode()
    assert "Approve revision 1, subject to the partner&#x27;s commitment" in card
    assert "Waiting for a commitment from the partner side" in card


def test_an_action_refused_on_a_card_says_why_inside_that_card(client, cast, vendor_only):
    client.force_login(cast.partner_approver)
    response = client.post(
        f"/p/{cast.partnership.pk}/goals/{vendor_only.pk}/approve/", {"revision": 1}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert page.startswith('<article id="goal-') or f'id="goal-{vendor_only.pk}"' in page
    assert 'class="refusal error" role="alert"' in page and "partner side has no commitment yet" in page
    assert "HX-Retarget" not in response  # it replaces the card it came from, not a region far above
