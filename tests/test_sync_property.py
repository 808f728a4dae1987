"""The sync guarantee as a property: whatever two people do to a plan, through the services and the
API — goals proposed, approved, amended and withdrawn, commitments drafted for the other side and
deleted, a vision edited after it was endorsed, drafts deleted with their comments, people added
and removed, reviews held — a replica built only from ``/plan`` and the change feed equals a fresh
``/plan`` exactly: every object of every type, endorsements and agreed revisions included, compared
as the JSON both give, with no normalisation of numbers, times or references.

Each side's figures are objects too: the replica is the vendor's, so it holds the vendor's figures
and those the partner shared, and the partner's private figures never reach it (the cursor of
``/plan`` is the newest change both sides see; the vendor's own newer changes come again).

Health, attention, the give/get balance and the pulse are computed views, not objects: a client
re-reads ``/plan`` with ``If-None-Match`` for them (docs/api.md), so they are left out of the
comparison, as are the caller's ``access`` and the ``cursor``; the balance is checked against
``/balance`` instead.

``SYNC_PROPERTY_EXAMPLES`` (default 12) sets how many random sequences one run tries.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from alignment import economics
from alignment import services as plan
from alignment.models import AlignmentReview, Driver, DriverFigure, PartnershipMember
from api import plan_updates
from cadence import pulse as review_pulse
from cadence import services as review_services
from core.errors import DomainError
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import services as goal_services
from goals.models import CheckIn, Comment, Commitment, Goal
from tests import factories as f
from tests.api_support import ApiClient, if_match

EXAMPLES = int(os.environ.get("SYNC_PROPERTY_EXAMPLES", "12"))

# Where each feed type lives in /plan (the partnership and the vision are single objects).
COLLECTIONS = {
    "endorsement": "endorsements",
    "member": "members",
    "objective": "objectives",
    "goal": "goals",
    "agreed-revision": "agreed_revisions",
    "approval": "approvals",
    "commitment": "commitments",
    "check-in": "check_ins",
    "comment": "comments",
    "review": "reviews",
    "driver": "drivers",
    "driver-figure": "driver_figures",
}
SINGLE = {"partnership", "vision"}
SEEN: set[tuple[str, str]] = set()  # (type, action) of every event the replicas applied


class Replica:
    """What a client keeps: the objects of /plan by (type, id), kept current from the feed."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.single = {kind: document[kind] for kind in SINGLE}
        self.objects = {kind: {item["id"]: item for item in document[key]} for kind, key in COLLECTIONS.items()}
        self.cursor = document["cursor"]

    def apply(self, event: dict[str, Any]) -> None:
        kind, action = event["type"], event["action"]
        SEEN.add((kind, action))
        if kind in SINGLE:
            self.single[kind] = None if action == "delete" else event["data"]
        elif kind in COLLECTIONS:
            if action == "delete":
                self.objects[kind].pop(event["id"], None)
            else:
                self.objects[kind][event["id"]] = event["data"]
        # Invitations are not part of /plan: a client keeps them elsewhere (or not at all).

    def follow(self, client: ApiClient, partnership: Any) -> None:
        while True:
            response = client.get("changes", since=self.cursor, partnership=str(partnership), limit=50)
            assert response.status_code == 200, response.content
            page = response.json()
            for event in page["results"]:
                self.apply(event)
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return

    def as_plan(self) -> dict[str, Any]:
        return {**self.single, **{key: self.objects[kind] for kind, key in COLLECTIONS.items()}}


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {
        **{kind: document[kind] for kind in SINGLE},
        **{key: {item["id"]: item for item in document[key]} for key in COLLECTIONS.values()},
    }


class Plan:
    """The two people's moves, by services and by the API. A move a rule refuses is simply refused."""

    def __init__(self, cast: Any) -> None:
        self.cast = cast
        self.p = cast.partnership
        self.vendor = ApiClient(cast.vendor_approver)
        self.partner = ApiClient(cast.partner_approver)
        self.newcomers: list[User] = []
        # Made at the start of each example, which is rolled back: the /plan documents this process
        # keeps must not outlive it (``cache.clear`` in ``run_one`` empties the shared cache).
        plan_updates.forget()

    def access(self, who: str) -> Any:
        return self.cast.access(who)

    def goals(self, **filters: Any) -> list[Goal]:
        return list(Goal.objects.filter(partnership=self.p, **filters).order_by("created_at"))

    # --- the moves ------------------------------------------------------------------------------

    def objective(self, data: Any) -> None:
        self.vendor.post("objectives", {"partnership": str(self.p.pk), "title": "Grow together", "baseline": "1"})

    def goal(self, data: Any) -> None:
        objective = self.p.objectives.order_by("created_at").first() or f.make_objective(self.access("vendor_editor"))
        client = data.draw(st.sampled_from([self.vendor, self.partner]), label="who adds a goal")
        target = data.draw(st.sampled_from(["250", "1.5", "99999.1234"]), label="target")
        client.post(
            "goals",
            {
                "objective": str(objective.pk),
                "title": "Pipeline",
                "metric_name": "Qualified pipeline",
                "period_start": "2026-10-01",
                "period_end": "2026-12-31",
                "baseline": "1",
                "target": target,
                "commitments": [
                    {"side": "vendor", "text": "Two workshops"},
                    {"side": "partner", "text": "Three consultants", "due_date": "2026-11-30"},
                ],
            },
        )

    def agree(self, data: Any) -> None:
        """Propose a goal and have both sides approve it (making one first if there is none)."""
        goals = self.goals(status__in=["draft", "proposed", "changes_requested"]) or self._new_goal(data)
        if not goals:
            return
        goal = data.draw(st.sampled_from(goals), label="goal to agree")
        self.vendor.post(f"goals/{goal.pk}/propose")
        goal.refresh_from_db()
        self.vendor.post(f"goals/{goal.pk}/approve", {"revision": goal.revision})
        self.partner.post(f"goals/{goal.pk}/approve", {"revision": goal.revision})

    def _new_goal(self, data: Any) -> list[Goal]:
        self.goal(data)
        return self.goals()[-1:]

    def propose(self, data: Any) -> None:
        for goal in self.goals()[-2:]:
            self.partner.post(f"goals/{goal.pk}/propose")

    def approve(self, data: Any) -> None:
        goals = self.goals()
        if goals:
            goal = data.draw(st.sampled_from(goals), label="goal to approve")
            client = data.draw(st.sampled_from([self.vendor, self.partner]), label="approver")
            client.post(f"goals/{goal.pk}/approve", {"revision": goal.revision})

    def commit_and_approve(self, data: Any) -> None:
        for goal in self.goals(status="proposed"):
            if not goal.commitments.filter(side="partner").exists():
                self.partner.post(f"goals/{goal.pk}/commit-and-approve", {"revision": goal.revision, "text": "We do"})

    def amend(self, data: Any) -> None:
        goals = self.goals(status="agreed")
        if not goals:
            self.agree(data)
            goals = self.goals(status="agreed")
        if goals:
            goal = data.draw(st.sampled_from(goals), label="goal to amend")
            goal_services.goal_update(access=self.access("partner_editor"), goal_id=goal.pk, target=Decimal("321.5"))

    def discard(self, data: Any) -> None:
        for goal in self.goals(status="agreed"):
            if goal.amendment:
                self.vendor.post(f"goals/{goal.pk}/discard-amendment")
                return

    def request_changes(self, data: Any) -> None:
        for goal in self.goals(status="proposed"):
            goal_services.goal_request_changes(access=self.access("partner_approver"), goal_id=goal.pk, comment="No")
            return

    def withdraw(self, data: Any) -> None:
        goals = self.goals(status__in=["proposed", "changes_requested"])
        if goals:
            goal_services.goal_withdraw(access=self.access("vendor_editor"), goal_id=goals[0].pk, note="Later")

    def draft_for_the_other_side(self, data: Any) -> None:
        goals = self.goals()
        if goals:
            goal = data.draw(st.sampled_from(goals), label="goal of a drafted commitment")
            self.partner.post("commitments", {"goal": str(goal.pk), "side": "vendor", "text": "Vendor pays"})

    def delete_commitment(self, data: Any) -> None:
        commitments = list(Commitment.objects.filter(goal__partnership=self.p).order_by("created_at"))
        if commitments:
            c = data.draw(st.sampled_from(commitments), label="commitment to delete")
            self.vendor.delete(f"commitments/{c.pk}", headers=if_match(c.version))

    def check_in(self, data: Any) -> None:
        goals = self.goals() or self._new_goal(data)
        if goals:
            value = data.draw(st.sampled_from(["0", "-0", "7", "12.3400", "-5.5"]), label="value")
            goal_check_ins.check_in_create(access=self.access("partner_editor"), goal_id=goals[-1].pk, value=value)

    def delete_check_in(self, data: Any) -> None:
        if not CheckIn.objects.filter(goal__partnership=self.p).exists():
            self.check_in(data)
        check_in = CheckIn.objects.filter(goal__partnership=self.p).order_by("created_at").first()
        if check_in is not None:
            self.partner.delete(f"check-ins/{check_in.pk}", headers=if_match(check_in.version))

    def comment(self, data: Any) -> None:
        goals = self.goals() or self._new_goal(data)
        if goals:
            goal_comments.comment_create(access=self.access("vendor_editor"), goal_id=goals[-1].pk, body="Noted")

    def delete_comment(self, data: Any) -> None:
        comment = Comment.objects.filter(goal__partnership=self.p).order_by("-created_at").first()
        if comment is not None:
            goal_comments.comment_delete(access=self.access(_author(self.cast, comment)), comment_id=comment.pk)

    def delete_draft(self, data: Any) -> None:
        if not self.goals(status="draft", revision=1):
            self._new_goal(data)
            self.comment(data)  # deleted with the goal: its tombstone must come too
        for goal in self.goals(status="draft", revision=1):
            self.vendor.delete(f"goals/{goal.pk}", headers=if_match(goal.version))
            return

    def edit_vision(self, data: Any) -> None:
        text = data.draw(st.sampled_from(["Grow", "Grow together", "Serve retail"]), label="vision text")
        plan.vision_update(
            access=self.access("vendor_editor"), why_together=text, what_we_hope="More", how_we_work="Monthly"
        )

    def endorse(self, data: Any) -> None:
        vision = self.p.vision
        vision.refresh_from_db()
        client = data.draw(st.sampled_from([self.vendor, self.partner]), label="endorser")
        client.post(f"visions/{vision.pk}/endorse", {"revision": vision.revision})

    def member(self, data: Any) -> None:
        person = f.make_user(full_name="New Person")
        plan.member_add(access=self.access("vendor_admin"), user=person, side="vendor", role="viewer")
        self.newcomers.append(person)

    def remove_member(self, data: Any) -> None:
        if not self.newcomers:
            self.member(data)
        if self.newcomers:
            member = PartnershipMember.objects.get(partnership=self.p, user=self.newcomers.pop())
            plan.member_remove(access=self.access("vendor_admin"), member_id=member.pk)

    def review(self, data: Any) -> None:
        review = AlignmentReview.objects.filter(partnership=self.p, status="scheduled").first()
        if review is None:
            plan.review_schedule(
                access=self.access("vendor_editor"),
                scheduled_for=dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            )
        else:
            review_services.review_hold(
                access=self.access("vendor_editor"),
                review_id=review.pk,
                held_on=dt.date(2026, 6, 1),
                attendees=[self.cast.partner_approver, self.cast.vendor_editor],
                schedule_next=False,
            )

    def figure(self, data: Any) -> None:
        """A side records, changes, shares, keeps to itself or deletes one of its figures (recording
        one first when it has none)."""
        access = self.access(data.draw(st.sampled_from(["vendor_approver", "partner_approver"]), label="whose"))
        driver = Driver.objects.filter(partnership=self.p, side=access.side).first()
        if driver is None:
            driver = economics.driver_add(access=access, name=f"Revenue of the {access.side}", unit="EUR k")
        figure = DriverFigure.objects.filter(driver=driver).order_by("created_at").last()
        what = data.draw(st.sampled_from(["record", "change", "share", "keep", "delete"]), label="figure change")
        if figure is None or what == "record":
            month = data.draw(st.integers(1, 12), label="month")
            figure = economics.figure_record(
                access=access,
                driver_id=driver.pk,
                period_start=dt.date(2025, month, 1),
                period_end=dt.date(2025, month, 28),
                value=data.draw(st.sampled_from(["1", "12.5", "-3"]), label="value"),
                visibility=data.draw(st.sampled_from(["private", "shared"]), label="visibility"),
            )
        if what == "change":
            economics.figure_update(access=access, figure_id=figure.pk, value="99.25")
        elif what in ("share", "keep"):
            visibility = "shared" if what == "share" else "private"
            economics.figure_set_visibility(access=access, figure_id=figure.pk, visibility=visibility)
        elif what == "delete":
            economics.figure_delete(access=access, figure_id=figure.pk)

    def pulse(self, data: Any) -> None:
        review = AlignmentReview.objects.filter(partnership=self.p).order_by("-scheduled_for").first()
        if review is not None:
            who = data.draw(st.sampled_from(["vendor_editor", "partner_approver"]), label="who answers the pulse")
            answers = dict.fromkeys(review_pulse.QUESTIONS, data.draw(st.integers(1, 5), label="score"))
            review_pulse.pulse_answer(access=self.access(who), review_id=review.pk, answers=answers, note="Fine")

    def partnership(self, data: Any) -> None:
        margin = data.draw(st.sampled_from(["10", "12.5", "0"]), label="margin")
        self.p.refresh_from_db()
        ApiClient(self.cast.vendor_admin).patch(
            f"partnerships/{self.p.pk}", {"margin_percent": margin}, headers=if_match(self.p.version)
        )


def _author(cast: Any, comment: Comment) -> str:
    for who in ("vendor_editor", "partner_approver", "vendor_approver", "partner_editor"):
        if getattr(cast, who).pk == comment.author_id:
            return who
    return "vendor_editor"


MOVES = [name for name in vars(Plan) if not name.startswith("_") and name not in ("access", "goals")]
# The moves that build a plan come up more often than the ones that take it apart.
WEIGHTED = [*MOVES, "goal", "agree", "agree", "amend", "check_in", "comment", "edit_vision", "endorse", "review"]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def run_one(cast: Any, data: Any) -> None:
    cache.clear()  # each example is rolled back, the cache (the plan's generation and document) is not
    with transaction.atomic():
        moves = Plan(cast)
        client = ApiClient(cast.vendor_admin)
        start = client.get(f"partnerships/{cast.partnership.pk}/plan").json()
        replica = Replica(start)
        steps = data.draw(st.lists(st.sampled_from(WEIGHTED), min_size=8, max_size=30), label="moves")
        for step in steps:
            try:
                with transaction.atomic():
                    getattr(moves, step)(data)
            except DomainError:
                pass  # a rule refused the move: nothing changed
            if data.draw(st.booleans(), label="sync now"):
                replica.follow(client, cast.partnership.pk)  # the client syncs in the middle, too
        replica.follow(client, cast.partnership.pk)
        fresh = client.get(f"partnerships/{cast.partnership.pk}/plan").json()
        assert replica.as_plan() == comparable(fresh)
        assert fresh["balance"] == client.get(f"partnerships/{cast.partnership.pk}/balance").json()
        transaction.set_rollback(True)


def test_a_replica_from_the_plan_and_the_feed_equals_a_fresh_plan(cast):
    plan.vision_update(
        access=cast.access("vendor_editor"), why_together="Grow", what_we_hope="More", how_we_work="Monthly"
    )
    SEEN.clear()
    run_one(cast)
    # The random runs did reach what is easy to get wrong.
    assert {
        ("endorsement", "create"),
        ("endorsement", "delete"),
        ("agreed-revision", "create"),
        ("agreed-revision", "delete"),
        ("approval", "create"),
        ("commitment", "update"),
        ("commitment", "delete"),
        ("goal", "delete"),
        ("comment", "delete"),
        ("check-in", "delete"),
        ("member", "create"),
        ("member", "delete"),
        ("review", "update"),
        ("partnership", "update"),
        ("driver-figure", "create"),
    } <= SEEN, sorted(SEEN)


def test_a_replica_of_one_side_gets_its_own_figures_and_what_the_other_shares(cast):
    """Each kind of figure change of both sides, the vendor's replica syncing between them: it ends
    as the vendor's fresh ``/plan``, without the partner's private figures, though the cursor of
    ``/plan`` leaves out what only one side sees."""
    cache.clear()
    moves = Plan(cast)
    client = ApiClient(cast.vendor_admin)
    path = f"partnerships/{cast.partnership.pk}/plan"
    replica = Replica(client.get(path).json())
    SEEN.clear()
    for who in ("vendor_approver", "partner_approver"):
        access = moves.access(who)
        driver = economics.driver_add(access=access, name="Revenue", unit="EUR k")
        for month, visibility in ((1, "private"), (2, "shared"), (3, "private")):
            figure = economics.figure_record(
                access=access,
                driver_id=driver.pk,
                period_start=dt.date(2025, month, 1),
                period_end=dt.date(2025, month, 28),
                value=str(month),
                visibility=visibility,
            )
            replica.follow(client, cast.partnership.pk)
            economics.figure_update(access=access, figure_id=figure.pk, value="99.25")
            flipped = "shared" if visibility == "private" else "private"
            economics.figure_set_visibility(access=access, figure_id=figure.pk, visibility=flipped)
            if month == 3:
                economics.figure_delete(access=access, figure_id=figure.pk)
        # A client that re-reads /plan in between resumes from its cursor.
        replica = Replica(client.get(path).json()) if who == "vendor_approver" else replica
    replica.follow(client, cast.partnership.pk)
    fresh = client.get(path).json()
    assert replica.as_plan() == comparable(fresh)
    sides = {str(pk): side for pk, side in Driver.objects.values_list("pk", "side")}
    shown = sorted((sides[figure["driver"]], figure["visibility"]) for figure in fresh["driver_figures"])
    # The vendor's January (shared now) and February (private now); of the partner's, January (shared now).
    assert shown == [("partner", "shared"), ("vendor", "private"), ("vendor", "shared")]
    assert {("driver-figure", action) for action in ("create", "update", "delete")} <= SEEN
