"""The stored attention numbers (``cadence.models.PartnershipAttention``) the dashboard ranks a
portfolio by: after every service call, once it has committed, a plan's stored row equals what
the rules compute from its data, whatever the sequence of calls — and the dashboard ranks, filters
and adds up the portfolio from those rows as the rules would.

``ATTENTION_PROPERTY_EXAMPLES`` (default 10) sets how many random sequences one run tries.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment import services as plan
from alignment.access import resolve_many, visible_partnerships
from alignment.models import AlignmentReview, Partnership, Side
from cadence import attention
from cadence import services as review_services
from cadence.agenda import off_track
from cadence.health import health_for
from cadence.models import PartnershipAttention
from core.errors import DomainError
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals import services as goal_services
from goals.models import Commitment, Goal, GoalStatus
from goals.queries import latest_check_ins
from goals.rules import approved_sides_of, commitment_overdue, waits_for
from plans.dashboard import ranked
from tests import factories as f

EXAMPLES = int(os.environ.get("ATTENTION_PROPERTY_EXAMPLES", "10"))


def goal_totals(pid: Any, today: dt.date) -> tuple[int, int, int]:
    """The partnership's agreed goals, those of them in this period, and of those the ones not off
    track (``cadence.agenda.off_track``), counted here goal by goal: an oracle independent of
    ``cadence.attention.goal_totals``, which the stored row is computed by."""
    agreed = list(Goal.objects.filter(partnership_id=pid, status=GoalStatus.AGREED))
    current = [g for g in agreed if g.period_start <= today <= g.period_end]
    latest = latest_check_ins(g.pk for g in current)
    on_track = [g for g in current if not off_track(g, latest, today).reasons]
    return len(agreed), len(current), len(on_track)


def firsts(pid: Any, today: dt.date) -> dict[str, Any]:
    """When the first goal waiting for each side was proposed and the first due date among each
    side's overdue commitments, found goal by goal with the rules (``goals.rules.waits_for``,
    ``is_overdue``): an oracle independent of the SQL the stored row is computed by."""
    found: dict[str, Any] = {}
    goals = list(Goal.objects.filter(partnership_id=pid))
    for side in Side.values:
        proposed = [
            g.proposed_at
            for g in goals
            if waits_for(g, side, approved_sides_of([g.pk]).get(g.pk, ())) and g.proposed_at is not None
        ]
        due = [
            c.due_date
            for c in Commitment.objects.filter(goal__partnership_id=pid, side=side).select_related("goal")
            if commitment_overdue(c, c.goal.status, today)
        ]
        found[f"first_waiting_{side}"] = min(proposed, default=None)
        found[f"first_overdue_{side}"] = min(due, default=None)
    return found


def expected(pid: Any) -> dict[str, Any]:
    """What the rules say now, through the cached-facts path (``attention.compute``: the counts
    and the next review), ``cadence.health`` (score, started) and the dashboard's goal totals as
    ``goal_totals`` counts them — not through ``attention.store``."""
    now, today = timezone.now(), timezone.localdate()
    fact = attention.compute([pid], now, today)[pid]
    agreed, current, on_track = goal_totals(pid, today)
    vendor, partner, name = Partnership.objects.values_list("vendor_id", "partner_id", "name").get(pk=pid)
    return {
        # The partnership's own, as it is now: the dashboard reads whom the row is visible to and
        # its order of names from the row.
        "vendor": vendor,
        "partner": partner,
        "name": name,
        "waiting_vendor": fact.waiting[Side.VENDOR],
        "waiting_partner": fact.waiting[Side.PARTNER],
        "overdue_vendor": fact.overdue[Side.VENDOR],
        "overdue_partner": fact.overdue[Side.PARTNER],
        "next_review": fact.next_review,
        "health": fact.score,
        "started": health_for([pid], now)[pid].started,
        "agreed_goals": agreed,
        "current_goals": current,
        "on_track_goals": on_track,
        **firsts(pid, today),
    }


def stored(pid: Any) -> dict[str, Any]:
    row = PartnershipAttention.objects.filter(pk=pid).values(
        *[k for k in attention.STORED_FIELDS if k != "computed_at"]
    )
    return dict(row.get())


class Moves:
    """Service calls that change what the numbers count. A call a rule refuses is simply refused."""

    def __init__(self, cast: Any) -> None:
        self.cast = cast
        self.p = cast.partnership
        self.today = timezone.localdate()

    def a(self, who: str) -> Any:
        return self.cast.access(who)

    def goals(self, **filters: Any) -> list[Goal]:
        return list(Goal.objects.filter(partnership=self.p, **filters).order_by("created_at"))

    def pick(self, data: Any, items: list[Any], label: str) -> Any:
        return data.draw(st.sampled_from(items), label=label) if items else None

    # --- goals ----------------------------------------------------------------------------------

    def propose_new(self, data: Any) -> None:
        who = data.draw(st.sampled_from(["vendor_editor", "partner_editor"]), label="proposer")
        objective = self.p.objectives.order_by("created_at").first() or f.make_objective(self.a("vendor_editor"))
        goal = f.make_goal(self.a(who), objective)
        goal_services.goal_propose(access=self.a(who), goal_id=goal.pk)

    def approve(self, data: Any) -> None:
        goal = self.pick(data, self.goals(status__in=["proposed", "agreed"]), "goal to approve")
        if goal is not None:
            who = data.draw(st.sampled_from(["vendor_approver", "partner_approver"]), label="approver")
            goal_services.goal_approve(access=self.a(who), goal_id=goal.pk, revision=goal.revision)

    def agree(self, data: Any) -> None:
        goal = self.pick(data, self.goals(status__in=["draft", "proposed", "changes_requested"]), "goal to agree")
        if goal is not None:
            f.agree(goal, self.a("vendor_approver"), self.a("partner_approver"))

    def counter(self, data: Any) -> None:
        goal = self.pick(data, self.goals(status__in=["proposed", "changes_requested", "agreed"]), "goal to counter")
        if goal is not None:
            goal_services.goal_update(access=self.a("partner_editor"), goal_id=goal.pk, target="321.5")
            goal_services.goal_propose(access=self.a("partner_editor"), goal_id=goal.pk)

    def request_changes(self, data: Any) -> None:
        goal = self.pick(data, self.goals(status="proposed"), "goal sent back")
        if goal is not None:
            goal_services.goal_request_changes(access=self.a("partner_approver"), goal_id=goal.pk, comment="Lower")

    def withdraw(self, data: Any) -> None:
        goal = self.pick(data, self.goals(status__in=["proposed", "changes_requested"]), "goal to withdraw")
        if goal is not None:
            goal_services.goal_withdraw(access=self.a("vendor_editor"), goal_id=goal.pk, note="Later")

    def drop(self, data: Any) -> None:
        goal = self.pick(data, self.goals(status="agreed"), "goal to drop")
        if goal is not None:
            goal_services.goal_close(access=self.a("vendor_approver"), goal_id=goal.pk, outcome="dropped", note="No")

    # --- commitments ----------------------------------------------------------------------------

    def add_commitment(self, data: Any) -> None:
        goal = self.pick(data, self.goals(), "goal of a new commitment")
        if goal is not None:
            days = data.draw(st.sampled_from([-20, -1, 0, 5]), label="due in days")
            side = data.draw(st.sampled_from(Side.values), label="side")
            goal_commitments.commitment_create(
                access=self.a("vendor_editor" if side == Side.VENDOR else "partner_editor"),
                goal_id=goal.pk,
                side=side,
                text="One more thing",
                due_date=self.today + dt.timedelta(days=days),
            )

    def due_date(self, data: Any) -> None:
        c = self.pick(data, list(Commitment.objects.filter(goal__partnership=self.p).order_by("created_at")), "due")
        if c is not None:
            days = data.draw(st.sampled_from([-10, -1, 3]), label="due in days")
            goal_commitments.commitment_update(
                access=self.a("vendor_editor"), commitment_id=c.pk, due_date=self.today + dt.timedelta(days=days)
            )

    def complete(self, data: Any) -> None:
        c = self.pick(data, list(Commitment.objects.filter(goal__partnership=self.p).order_by("created_at")), "done")
        if c is not None:
            who = "vendor_editor" if c.side == Side.VENDOR else "partner_editor"
            goal_commitments.commitment_update(access=self.a(who), commitment_id=c.pk, done=True)

    def delete_commitment(self, data: Any) -> None:
        c = self.pick(data, list(Commitment.objects.filter(goal__partnership=self.p).order_by("created_at")), "gone")
        if c is not None:
            goal_commitments.commitment_delete(access=self.a("vendor_editor"), commitment_id=c.pk)

    # --- reviews, check-ins, the partnership ----------------------------------------------------

    def schedule_review(self, data: Any) -> None:
        days = data.draw(st.sampled_from([-90, -3, 2, 40]), label="review in days")
        plan.review_schedule(
            access=self.a("vendor_editor"), scheduled_for=timezone.now() + dt.timedelta(days=days, hours=1)
        )

    def hold_review(self, data: Any) -> None:
        review = (
            AlignmentReview.objects.filter(partnership=self.p, status="scheduled").order_by("scheduled_for").first()
        )
        if review is not None:
            review_services.review_hold(
                access=self.a("vendor_editor"),
                review_id=review.pk,
                held_on=self.today,
                attendees=[self.cast.partner_approver, self.cast.vendor_editor],
                schedule_next=data.draw(st.booleans(), label="schedule the next"),
            )

    def skip_review(self, data: Any) -> None:
        review = (
            AlignmentReview.objects.filter(partnership=self.p, status="scheduled").order_by("scheduled_for").first()
        )
        if review is not None:
            plan.review_skip(access=self.a("vendor_editor"), review_id=review.pk)

    def check_in(self, data: Any) -> None:
        goal = self.pick(data, self.goals(status="agreed"), "goal checked in")
        if goal is not None:
            who = data.draw(st.sampled_from(["vendor_editor", "partner_editor"]), label="who checks in")
            value = data.draw(st.sampled_from(["0", "150", "400"]), label="value")
            goal_check_ins.check_in_create(access=self.a(who), goal_id=goal.pk, value=value, confidence=3)

    def endorse(self, data: Any) -> None:
        vision = self.p.vision
        vision.refresh_from_db()
        who = data.draw(st.sampled_from(["vendor_approver", "partner_approver"]), label="endorser")
        plan.vision_endorse(access=self.a(who), revision=vision.revision)

    def status(self, data: Any) -> None:
        status = data.draw(st.sampled_from(Partnership.Status.values), label="status")
        plan.partnership_update(access=self.a("vendor_admin"), status=status)

    def rename(self, data: Any) -> None:
        name = data.draw(st.sampled_from(["Acme × Northwind", "Northwind 2027", "Ägir × Zeta"]), label="name")
        plan.partnership_update(access=self.a("vendor_admin"), name=name)


MOVES = [name for name in vars(Moves) if not name.startswith("_") and name not in ("a", "goals", "pick")]
WEIGHTED = [*MOVES, "propose_new", "propose_new", "agree", "add_commitment", "approve"]


@settings(
    max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(data=st.data())
def run_one(cast: Any, capture: Any, data: Any) -> None:
    cache.clear()  # each example is rolled back, the cache is not
    with transaction.atomic():
        moves = Moves(cast)
        pid = cast.partnership.pk
        attention.store([pid])  # each example starts from the cast's plan as the fixture made it
        steps = data.draw(st.lists(st.sampled_from(WEIGHTED), min_size=6, max_size=24), label="moves")
        for step in steps:
            # The call's own transaction "commits" here: its on-commit callbacks run (the stored
            # row is recomputed from what the call left), or none when a rule refused the call.
            with capture(execute=True):
                try:
                    with transaction.atomic():
                        getattr(moves, step)(data)
                except DomainError:
                    pass
            assert stored(pid) == expected(pid), step
        transaction.set_rollback(True)


def test_after_every_service_call_the_stored_row_is_what_the_rules_compute(cast, django_capture_on_commit_callbacks):
    plan.vision_update(
        access=cast.access("vendor_editor"), why_together="Grow", what_we_hope="More", how_we_work="Monthly"
    )
    with django_capture_on_commit_callbacks(execute=True):
        pass
    run_one(cast, django_capture_on_commit_callbacks)


# --- Kept current: once per transaction, after the commit ------------------------------------------


def test_a_change_is_stored_after_its_commit_once_however_often_the_plan_changed(
    cast, django_capture_on_commit_callbacks
):
    attention.flush_pending()
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for _ in range(3):
            goal_services.goal_propose(access=editor, goal_id=f.make_goal(editor, objective).pk)
    assert PartnershipAttention.objects.get(pk=cast.partnership.pk).waiting_vendor == 0, "not before the commit"
    with CaptureQueriesContext(connection) as ctx:
        for callback in callbacks:
            callback()
    # Each store writes its rows in one upsert (SQLite has no FOR UPDATE to count).
    writes = [q for q in ctx.captured_queries if "DO UPDATE" in q["sql"] and "partnershipattention" in q["sql"]]
    assert len(writes) == 1, "one recomputation for the whole transaction"
    assert stored(cast.partnership.pk) == expected(cast.partnership.pk)
    assert stored(cast.partnership.pk)["waiting_vendor"] == 3


def test_a_read_in_the_same_transaction_sees_its_own_change(client, cast):
    editor = cast.access("vendor_editor")
    goal_services.goal_propose(access=editor, goal_id=f.make_goal(editor, f.make_objective(editor)).pk)
    client.force_login(cast.vendor_editor)
    row = client.get("/").context["rows"][0]
    assert row["waiting_count"] == len(row["waiting"]) == 1
    with CaptureQueriesContext(connection) as ctx:
        assert attention.flush_pending() == 0
    assert len(ctx) == 0, "nothing left to recompute"


def test_a_rolled_back_creation_leaves_no_row(cast):
    with pytest.raises(RuntimeError), transaction.atomic():
        gone = f.make_partnership(cast.vendor_admin, name="Never")
        raise RuntimeError
    assert attention.flush_pending() >= 0
    assert not PartnershipAttention.objects.filter(pk=gone.pk).exists()


def test_with_workers_a_burst_of_changes_asks_a_worker_once_and_its_row_counts_them_all(
    cast, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """Deployed (tasks on workers), the committing request does not recompute: it requests a store,
    once for a burst of changes while the request stands; the worker's store counts them all, and a
    change after the worker took the request asks again."""
    attention.flush_pending()
    settings.ATTENTION_STORED_BY_WORKER = True
    handed: list[list[Any]] = []
    monkeypatch.setattr(attention, "hand_off", handed.append)
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    goals = [f.make_goal(editor, objective) for _ in range(3)]
    handed.clear()
    before = stored(cast.partnership.pk)
    for goal in goals[:2]:
        with django_capture_on_commit_callbacks(execute=True):
            goal_services.goal_propose(access=editor, goal_id=goal.pk)
    assert handed == [[cast.partnership.pk]], "one request for the burst"
    assert stored(cast.partnership.pk) == before, "the request itself stored nothing"
    attention.store(handed.pop())  # the worker's task
    assert stored(cast.partnership.pk)["waiting_vendor"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        goal_services.goal_propose(access=editor, goal_id=goals[2].pk)
    assert handed == [[cast.partnership.pk]], "taken by the worker, so asked again"
    attention.store(handed.pop())
    assert stored(cast.partnership.pk) == expected(cast.partnership.pk)
    assert stored(cast.partnership.pk)["waiting_vendor"] == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_changes_of_one_plan_leave_the_row_of_both(cast):
    """Two transactions change the same plan at once; each recomputes the row after its commit. The
    first recomputation starts while the second change has not committed, yet the row left counts
    both: the second recomputation waits for the row's lock and reads after both commits."""
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    first, second = f.make_goal(editor, objective), f.make_goal(editor, objective)
    second_written, first_stored = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def propose_second() -> None:
        try:
            with transaction.atomic():
                goal_services.goal_propose(access=f.access(cast.vendor_editor, cast.partnership), goal_id=second.pk)
                second_written.set()
                first_stored.wait(10)  # commits only after the first recomputation has read
        except BaseException as exc:
            errors.append(exc)
        finally:
            second_written.set()
            connection.close()

    worker = threading.Thread(target=propose_second)
    worker.start()
    assert second_written.wait(10)
    goal_services.goal_propose(access=editor, goal_id=first.pk)  # commits, recomputes without the second
    assert stored(cast.partnership.pk)["waiting_vendor"] == 1
    first_stored.set()
    worker.join(20)
    assert not errors and not worker.is_alive()
    assert stored(cast.partnership.pk)["waiting_vendor"] == 2
    assert stored(cast.partnership.pk) == expected(cast.partnership.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_another_stores_the_row_does_not_wait_and_is_not_lost(cast):
    """While one transaction holds the plan's row (storing it), another change commits: its request
    does not wait for the lock, and the holder stores the row again after its own commit."""
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor))
    pid = cast.partnership.pk
    done = threading.Event()
    errors: list[BaseException] = []

    def propose() -> None:
        try:
            goal_services.goal_propose(access=f.access(cast.vendor_editor, cast.partnership), goal_id=goal.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
            connection.close()

    with transaction.atomic():
        attention.changed(pid)
        attention.flush_pending()  # holds the row's lock until this transaction ends
        worker = threading.Thread(target=propose)
        worker.start()
        assert done.wait(20), "the committing change waited for the row's lock"
        assert stored(pid)["waiting_vendor"] == 0  # read before the proposal committed
    worker.join(5)
    assert not errors
    assert stored(pid)["waiting_vendor"] == 1, "stored again after the holder's commit"
    assert stored(pid) == expected(pid)


# --- Time, backfill ------------------------------------------------------------------------------


def test_the_hourly_pass_stores_what_turned_with_the_day(cast, django_capture_on_commit_callbacks):
    editor = cast.access("vendor_editor")
    with django_capture_on_commit_callbacks(execute=True):
        goal = f.agree(
            f.make_goal(editor, f.make_objective(editor)),
            cast.access("vendor_approver"),
            cast.access("partner_approver"),
        )
        for c in goal.commitments.all():
            goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=timezone.localdate())
    row = stored(cast.partnership.pk)
    assert (row["overdue_vendor"], row["overdue_partner"]) == (0, 0)
    tomorrow = timezone.now() + dt.timedelta(days=1)
    attention.warm(now=tomorrow)  # beat, at minute 52: nothing changed, a day went by
    row = PartnershipAttention.objects.get(pk=cast.partnership.pk)
    assert (row.overdue_vendor, row.overdue_partner) == (1, 1) and row.computed_at == tomorrow


def test_the_command_fills_every_row_and_runs_a_fixed_number_of_queries_per_batch(cast):
    for i in range(4):
        f.make_partnership(cast.vendor_admin, name=f"More {i}", status="ended" if i == 0 else "active")
    attention.flush_pending()
    PartnershipAttention.objects.all().delete()
    call_command("store_attention", "--batch-size", "100")
    ids = set(Partnership.objects.values_list("pk", flat=True))
    assert set(PartnershipAttention.objects.values_list("pk", flat=True)) == ids
    for pid in ids:
        assert stored(pid) == expected(pid)
    cache.clear()
    with CaptureQueriesContext(connection) as few:
        attention.store_all(batch_size=100)
    f.make_partnership(cast.vendor_admin, name="One more")
    attention.flush_pending()
    cache.clear()
    with CaptureQueriesContext(connection) as more:
        attention.store_all(batch_size=100)
    assert len(more) == len(few)


# --- The dashboard reads them ---------------------------------------------------------------------


def test_the_viewer_side_in_sql_is_the_access_resolvers(cast):
    """Members (on either side), organisation admins, and a partner approver who is a member on the
    vendor side of another plan: the side the dashboard ranks by is the side the resolver gives."""
    other = f.make_partnership(f.make_user(), name="Second × Deal")
    f.add_member(other, cast.partner_approver, Side.VENDOR, "approver")
    now = timezone.now()
    for who in ("vendor_admin", "vendor_editor", "partner_approver", "partner_viewer", "outsider"):
        user = getattr(cast, who)
        sql = dict(ranked(user, now).annotate(side=F("viewer_side")).values_list("pk", "side"))
        resolved = resolve_many(user, list(visible_partnerships(user)))
        assert sql == {pid: a.side for pid, a in resolved.items()}, who
        assert sql, who


def test_a_cold_dashboard_computes_no_health(client, cast):
    for i in range(3):
        f.make_partnership(cast.vendor_admin, name=f"Cold {i}")
    attention.flush_pending()
    cache.clear()
    client.force_login(cast.vendor_admin)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/", {"sort": "health"}).status_code == 200
    assert not [q for q in ctx.captured_queries if "alignment_vision" in q["sql"]], "health is not loaded"


def test_sorts_filters_and_pages_are_those_of_the_rules(client, cast):
    """Thirty partnerships with different numbers: every sort the page offers lists them in the
    order the rules' numbers give, page after page."""
    for i in range(30):
        # Upper and lower case mixed: the page orders names by code point, as Python does.
        letter = chr(ord("a" if i % 2 else "A") + i % 26)
        p = f.make_partnership(cast.vendor_admin, name=f"{letter}{i:02d} {'x' if i % 3 else 'Y'}")
        a = f.access(cast.vendor_admin, p)
        objective = f.make_objective(a)
        for _ in range(i % 4):
            goal_services.goal_propose(access=a, goal_id=f.make_goal(a, objective).pk)
        if i % 3 == 0:
            plan.review_schedule(access=a, scheduled_for=timezone.now() + dt.timedelta(days=i - 10, hours=1))
    attention.flush_pending()
    client.force_login(cast.vendor_admin)
    now = timezone.now()
    facts = attention.compute(
        list(visible_partnerships(cast.vendor_admin).values_list("pk", flat=True)), now, timezone.localdate()
    )
    names = dict(visible_partnerships(cast.vendor_admin).values_list("pk", "name"))
    far = now + dt.timedelta(days=36500)

    def attention_key(pid: Any) -> tuple[Any, ...]:
        fact = facts[pid]
        overdue_review = 3 if fact.next_review and fact.next_review < now else 0
        return (-(fact.waiting["vendor"] + fact.overdue["vendor"] + overdue_review), fact.score, names[pid])

    keys = {
        "attention": attention_key,
        "name": lambda pid: (names[pid],),
        "health": lambda pid: (facts[pid].score, names[pid]),
        "-health": lambda pid: (-facts[pid].score, names[pid]),
        "review": lambda pid: (facts[pid].next_review or far, names[pid]),
    }
    for sort, key in keys.items():
        want = [names[pid] for pid in sorted(facts, key=key)]
        got = []
        for page in (1, 2):
            got += [r["name"] for r in client.get("/", {"sort": sort, "page": page}).context["rows"]]
        assert got == want, sort
    waiting = client.get("/", {"waiting": "on", "q": "y", "sort": "name"}).context
    want = sorted(n for pid, n in names.items() if facts[pid].waiting["vendor"] and "y" in n.casefold())
    assert [r["name"] for r in waiting["rows"]] == want and waiting["total"] == len(want)
