"""Every screen, e-mail and API field reports the same numbers for a plan: the goals waiting for
each side, the overdue commitments of each side and the next review.

The truth is computed here straight from the single rules (``goals.rules``, ``alignment.reviews``)
over the plan's objects; then each place that shows those numbers is asked as its people see it:
the dashboard, the health page, the review agenda, the review queue, the weekly digest, the
approval reminders and ``GET /api/v1/partnerships/{id}/plan``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from alignment import services as plan
from alignment.models import AlignmentReview, Partnership, PartnershipMember, Role, Side
from alignment.reviews import next_reviews
from cadence import reminders
from cadence.digest import digest_rows
from core.models import OutboxMessage
from goals import commitments as goal_commitments
from goals import services as goals
from goals.models import Commitment, Goal
from goals.rules import PROPOSED_NOW, approved_sides_of, commitment_overdue, waits_for
from plans.demo import build_showcase
from tests import factories as f
from tests.api_support import ApiClient

SIDES = (Side.VENDOR, Side.PARTNER)


@dataclass
class Truth:
    waiting: dict[str, set[str]]  # goal ids waiting for each side
    overdue: dict[str, set[str]]  # overdue commitment ids of each side
    next_review: dt.datetime | None


def truth(p: Partnership, now: dt.datetime) -> Truth:
    plan_goals = list(Goal.objects.filter(partnership=p))
    approved = approved_sides_of(g.pk for g in plan_goals)
    today = timezone.localdate(now)
    overdue: dict[str, set[str]] = {side: set() for side in SIDES}
    for c in Commitment.objects.filter(goal__partnership=p).select_related("goal"):
        if commitment_overdue(c, c.goal.status, today):
            overdue[c.side].add(str(c.pk))
    review = next_reviews([p.pk], now).get(p.pk)
    return Truth(
        waiting={side: {str(g.pk) for g in plan_goals if waits_for(g, side, approved.get(g.pk, ()))} for side in SIDES},
        overdue=overdue,
        next_review=review.scheduled_for if review else None,
    )


def person_of(p: Partnership, side: str) -> User:
    """A member of ``side`` who sees the plan as that side (an approver where there is one)."""
    members = PartnershipMember.objects.filter(partnership=p, side=side).select_related("user")
    member = members.filter(role=Role.APPROVER).first() or members.first()
    assert member is not None, f"the plan has nobody on the {side} side"
    return member.user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def counts(per_side: dict[str, set[str]]) -> dict[str, int]:
    return {side: len(ids) for side, ids in per_side.items()}


OVERDUE = re.compile(r"(\d+) commitments? overdue \(vendor (\d+), partner (\d+)\)")


def health_page_overdue(client: Client, p: Partnership) -> dict[str, int]:
    response = client.get(f"/p/{p.pk}/health/")
    assert response.status_code == 200
    [timeliness] = [c for c in response.context["health"].components if c.key == "timeliness"]
    match = OVERDUE.search(timeliness.explanation)
    if match is None:
        return dict.fromkeys(SIDES, 0)
    total, vendor, partner = map(int, match.groups())
    assert total == vendor + partner
    assert match.group(0) in response.content.decode().replace("&nbsp;", " ")
    return {Side.VENDOR: vendor, Side.PARTNER: partner}


def check_every_screen(p: Partnership, now: dt.datetime) -> Truth:
    expected = truth(p, now)
    for side in SIDES:
        person = person_of(p, side)
        other = Side.other(side)
        client = signed_in(person)

        # The dashboard (its counts come from the database, its list from the page's rows).
        rows = [r for r in client.get("/?q=" + p.name).context["rows"] if r["partnership"].pk == p.pk]
        assert len(rows) == 1
        row = rows[0]
        assert row["waiting_count"] == len(expected.waiting[side]), ("dashboard count", side)
        assert {str(g["id"]) for g in row["waiting"]} == expected.waiting[side], ("dashboard list", side)
        assert (row["overdue_ours"], row["overdue_theirs"]) == (
            len(expected.overdue[side]),
            len(expected.overdue[other]),
        ), ("dashboard overdue", side)
        assert row["next_review"] == expected.next_review, ("dashboard next review", side)

        # The health page.
        assert health_page_overdue(client, p) == counts(expected.overdue), ("health page", side)

        # The review queue of this side.
        queue = client.get(f"/p/{p.pk}/review/").context["queue"]
        assert {str(item.goal.pk) for item in queue.items} == expected.waiting[side], ("review queue", side)
        assert {str(item.goal.pk) for item in queue.theirs} == expected.waiting[other] - expected.waiting[side]

        # The digest of this person.
        [digest] = [r for r in digest_rows(person, now) if r["partnership"].pk == p.pk]
        assert {str(item["goal"].pk) for item in digest["waiting"]} == expected.waiting[side], ("digest", side)
        owned = {
            str(pk)
            for pk in Commitment.objects.filter(
                owner=person, pk__in=expected.overdue[side] | expected.overdue[other]
            ).values_list("pk", flat=True)
        }
        assert {str(c.pk) for c in digest["overdue"]} == owned, ("digest overdue", side)
        review = digest["next_review"]
        assert (review.scheduled_for if review else None) == expected.next_review, ("digest next review", side)

        # The REST API's plan document.
        attention = ApiClient(person).get(f"partnerships/{p.pk}/plan").json()["attention"]
        assert attention["waiting"] == counts(expected.waiting), ("api waiting", side)
        assert {s: set(ids) for s, ids in attention["waiting_goals"].items()} == expected.waiting
        assert attention["overdue"] == counts(expected.overdue), ("api overdue", side)
        next_review = attention["next_review"]
        assert (dt.datetime.fromisoformat(next_review) if next_review else None) == expected.next_review

    # The review agenda (on the page of the next review, for both sides alike).
    if expected.next_review is not None:
        review = AlignmentReview.objects.get(partnership=p, status="scheduled", scheduled_for=expected.next_review)
        agenda = signed_in(person_of(p, Side.VENDOR)).get(f"/p/{p.pk}/reviews/{review.pk}/").context["agenda"]
        for side in SIDES:
            listed = {str(a["goal"].pk) for a in agenda.approvals if side in a["waiting_for"]}
            assert listed == expected.waiting[side], ("agenda", side)
            assert {str(c.pk) for c in agenda.overdue if c.side == side} == expected.overdue[side], ("agenda", side)
    return expected


def check_approval_reminders(p: Partnership, now: dt.datetime, settings: Any) -> None:
    """The approval reminders go to the approvers of exactly the sides a proposal waits for."""
    settings.REMINDER_APPROVAL_WAIT_DAYS = 0  # remind at once, however recent the proposal
    settings.REMINDER_APPROVAL_REPEAT_DAYS = 3650  # ... and however old
    expected = truth(p, now)
    proposed = {str(pk) for pk in Goal.objects.filter(PROPOSED_NOW, partnership=p).values_list("pk", flat=True)}
    reminders.sweep_approvals_waiting(now)
    sent = OutboxMessage.objects.filter(kind="approval_waiting", partnership_id=p.pk)
    sides = dict(PartnershipMember.objects.filter(partnership=p).values_list("user_id", "side"))
    for side in SIDES:
        reminded = {row.subject_id for row in sent if sides[row.recipient_id] == side}
        assert reminded == expected.waiting[side] & proposed, ("approval reminders", side)


@pytest.fixture
def hand_built(cast):  # type: ignore[no-untyped-def]
    """A plan with goals waiting for each side in every way, changes requested, overdue
    commitments of both sides and a review coming up."""
    editor, partner_editor = cast.access("vendor_editor"), cast.access("partner_editor")
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    objective = f.make_objective(editor)
    ours = f.make_goal(editor, objective, title="Proposed by the vendor")
    goals.goal_propose(access=editor, goal_id=ours.pk)
    theirs = f.make_goal(partner_editor, objective, title="Proposed by the partner")
    goals.goal_propose(access=partner_editor, goal_id=theirs.pk)
    goals.goal_approve(access=partner, goal_id=theirs.pk, revision=1)
    sent_back = f.make_goal(editor, objective, title="Sent back to the vendor")
    goals.goal_propose(access=editor, goal_id=sent_back.pk)
    goals.goal_request_changes(access=partner_editor, goal_id=sent_back.pk, comment="Lower, please")
    half = f.make_goal(editor, objective, title="Approved by the partner only")
    goals.goal_propose(access=editor, goal_id=half.pk)
    goals.goal_approve(access=partner, goal_id=half.pk, revision=1)
    amended = f.agree(f.make_goal(editor, objective, title="Amended"), vendor, partner)
    goals.goal_update(access=partner_editor, goal_id=amended.pk, target="999")
    goals.goal_propose(access=partner_editor, goal_id=amended.pk)
    late = f.agree(f.make_goal(editor, objective, title="Late on both sides"), vendor, partner)
    past = timezone.localdate() - dt.timedelta(days=5)
    for c in late.commitments.all():
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=past)
    goal_commitments.commitment_create(
        access=partner_editor,
        goal_id=late.pk,
        side=Side.PARTNER,
        text="Second late promise",
        owner=cast.partner_approver.pk,
        due_date=past,
    )
    # A draft's due date is no promise yet: never overdue.
    draft = f.make_goal(editor, objective, title="Draft")
    for c in draft.commitments.all():
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=past)
    plan.review_schedule(access=editor, scheduled_for=timezone.now() + dt.timedelta(days=10))
    return cast.partnership


def test_every_screen_email_and_api_field_counts_a_hand_built_plan_alike(hand_built, settings):
    now = timezone.now()
    expected = check_every_screen(hand_built, now)
    # The plan really has something of each kind to count.
    assert counts(expected.waiting) == {Side.VENDOR: 5, Side.PARTNER: 2}
    assert counts(expected.overdue) == {Side.VENDOR: 1, Side.PARTNER: 2}
    assert expected.next_review is not None
    check_approval_reminders(hand_built, now, settings)


def test_every_screen_email_and_api_field_counts_the_showcase_demo_alike(db, settings):
    showcase = build_showcase()
    assert len(showcase) == 2
    now = timezone.now()
    totals = {"waiting": 0, "overdue": 0}
    for p in showcase:
        expected = check_every_screen(p, now)
        totals["waiting"] += sum(counts(expected.waiting).values())
        totals["overdue"] += sum(counts(expected.overdue).values())
        check_approval_reminders(p, now, settings)
    assert totals["waiting"] > 0 and totals["overdue"] > 0, "the demo shows goals waiting and commitments overdue"
