"""The change log: every service writes exactly one event per object it changed, in its own
transaction; a service that fails writes nothing at all; and the feed never skips a change that
commits late."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.models import Organisation
from alignment import economics
from alignment import services as plan
from alignment.access import resolve
from alignment.changes import feed_queryset
from alignment.models import (
    AlignmentReview,
    ChangeEvent,
    Driver,
    Objective,
    Partnership,
    PartnershipMember,
    Role,
    Side,
    Vision,
)
from cadence import services as review_services
from core.errors import DomainError, InvalidInput
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import derive
from goals import services as goals
from goals.models import Approval, CheckIn, Comment, Commitment, Goal, GoalStatus
from tests import factories as f

CREATE, UPDATE, DELETE = "create", "update", "delete"


class Log:
    """The events written since the log was opened."""

    def __init__(self) -> None:
        self.start = ChangeEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0

    @property
    def events(self) -> list[ChangeEvent]:
        return list(ChangeEvent.objects.filter(seq__gt=self.start).order_by("seq"))

    def summary(self) -> Counter[tuple[str, str]]:
        """How many events each (object type, action) got."""
        return Counter((e.object_type, e.action) for e in self.events)


def assert_well_formed(events: list[ChangeEvent]) -> None:
    """One event per changed object, each with the states its action calls for."""
    per_object = Counter(e.object_id for e in events)
    assert max(per_object.values(), default=1) == 1, f"an object got several events: {per_object}"
    for e in events:
        if e.action == CREATE:
            assert e.before is None and e.after and e.after["id"] == str(e.object_id), e
        elif e.action == UPDATE:
            assert e.before and e.after and e.before != e.after, e
        else:
            assert e.before and e.after is None, e
        assert e.summary and e.actor_id is not None, e


@pytest.fixture
def p(cast):
    """People and a plan: an objective, a draft goal, an agreed goal with a check-in and a comment."""

    class P:
        editor = cast.access("vendor_editor")
        vendor = cast.access("vendor_approver")
        partner = cast.access("partner_approver")
        partner_editor = cast.access("partner_editor")
        admin = cast.access("vendor_admin")
        objective = f.make_objective(cast.access("vendor_editor"))

    P.draft = f.make_goal(P.editor, P.objective)
    P.agreed = f.agree(f.make_goal(P.editor, P.objective), P.vendor, P.partner)
    P.check_in = goal_check_ins.check_in_create(
        access=P.editor, goal_id=P.agreed.pk, value=150, measured_on=dt.date.today()
    )
    P.comment = goal_comments.comment_create(access=P.editor, goal_id=P.agreed.pk, body="First!")
    P.vendor_commitment = Commitment.objects.get(goal=P.agreed, side=Side.VENDOR)
    P.partner_commitment = Commitment.objects.get(goal=P.agreed, side=Side.PARTNER)
    P.review = plan.review_schedule(access=P.editor, scheduled_for=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))
    P.cast = cast
    return P


def _driver(p):
    return Driver.objects.filter(partnership=p.cast.partnership, side=Side.VENDOR).order_by("order").first()


def _propose_draft(p):
    goals.goal_propose(access=p.editor, goal_id=p.draft.pk)


def _amend(p):
    goals.goal_update(access=p.editor, goal_id=p.agreed.pk, target=Decimal("260"))
    goal_commitments.commitment_update(access=p.editor, commitment_id=p.vendor_commitment.pk, text="Fund one workshop")


# (service call, the events it must write). Setup steps run before the log opens.
CASES = {
    "partnership_create": (
        None,
        lambda p: f.make_partnership(p.cast.vendor_admin),
        # The factory names two business drivers of each side: each is a driver of its own.
        {("partnership", CREATE): 1, ("vision", CREATE): 1, ("partnershipmember", CREATE): 1, ("driver", CREATE): 4},
    ),
    "driver_add": (
        None,
        lambda p: economics.driver_add(access=p.editor, name="net retention", unit="%"),
        {("driver", CREATE): 1, ("partnership", UPDATE): 1},
    ),
    "driver_update (rename a linked driver)": (
        lambda p: economics.objective_link_driver(
            access=p.editor, objective_id=p.objective.pk, driver_id=_driver(p).pk
        ),
        lambda p: economics.driver_update(access=p.editor, driver_id=_driver(p).pk, name="net new licences"),
        {("driver", UPDATE): 1, ("partnership", UPDATE): 1, ("objective", UPDATE): 1},
    ),
    "objective_link_driver": (
        None,
        lambda p: economics.objective_link_driver(
            access=p.partner_editor, objective_id=p.objective.pk, driver_id=_driver(p).pk
        ),
        {("objective", UPDATE): 1},
    ),
    "figure_record": (
        None,
        lambda p: economics.figure_record(
            access=p.editor,
            driver_id=_driver(p).pk,
            period_start=dt.date(2026, 7, 1),
            period_end=dt.date(2026, 9, 30),
            value=3,
        ),
        {("driverfigure", CREATE): 1},
    ),
    "figure_set_visibility (share)": (
        lambda p: setattr(
            p,
            "figure",
            economics.figure_record(
                access=p.editor,
                driver_id=_driver(p).pk,
                period_start=dt.date(2026, 7, 1),
                period_end=dt.date(2026, 9, 30),
                value=3,
            ),
        ),
        lambda p: economics.figure_set_visibility(access=p.vendor, figure_id=p.figure.pk, visibility="shared"),
        {("driverfigure", UPDATE): 1},
    ),
    "partnership_update": (
        None,
        lambda p: plan.partnership_update(access=p.admin, economic_notes="20% margin"),
        {("partnership", UPDATE): 1},
    ),
    "member_add": (
        None,
        lambda p: plan.member_add(access=p.admin, user=f.make_user(), side=Side.VENDOR, role=Role.VIEWER),
        {("partnershipmember", CREATE): 1},
    ),
    "member_update": (
        None,
        lambda p: plan.member_update(
            access=p.admin, member_id=PartnershipMember.objects.get(user=p.cast.vendor_viewer).pk, role=Role.EDITOR
        ),
        {("partnershipmember", UPDATE): 1},
    ),
    "member_remove": (
        None,
        lambda p: plan.member_remove(
            access=p.admin, member_id=PartnershipMember.objects.get(user=p.cast.vendor_viewer).pk
        ),
        {("partnershipmember", DELETE): 1},
    ),
    "vision_update": (
        None,
        lambda p: plan.vision_update(access=p.editor, why_together="Shared customers"),
        {("vision", UPDATE): 1},
    ),
    "vision_endorse": (
        lambda p: plan.vision_update(access=p.editor, why_together="a", what_we_hope="b", how_we_work="c"),
        lambda p: plan.vision_endorse(access=p.partner, revision=2),
        {("visionendorsement", CREATE): 1},
    ),
    "objective_create": (None, lambda p: f.make_objective(p.editor), {("objective", CREATE): 1}),
    "objective_update": (
        None,
        lambda p: plan.objective_update(access=p.editor, objective_id=p.objective.pk, title="Grow pipeline in DACH"),
        {("objective", UPDATE): 1},
    ),
    "objective_delete": (
        lambda p: setattr(p, "spare", f.make_objective(p.editor)),
        lambda p: plan.objective_delete(access=p.editor, objective_id=p.spare.pk),
        {("objective", DELETE): 1},
    ),
    "review_schedule": (None, lambda p: plan.review_schedule(access=p.editor), {("alignmentreview", CREATE): 1}),
    "review_update": (
        None,
        lambda p: plan.review_update(access=p.editor, review_id=p.review.pk, notes="Agenda"),
        {("alignmentreview", UPDATE): 1},
    ),
    "review_skip": (
        None,
        lambda p: plan.review_skip(access=p.editor, review_id=p.review.pk),
        {("alignmentreview", UPDATE): 1},
    ),
    "review_hold": (
        None,
        lambda p: review_services.review_hold(
            access=p.editor, review_id=p.review.pk, held_on=dt.date(2026, 11, 20), attendees=[p.cast.vendor_editor]
        ),
        {("alignmentreview", UPDATE): 1, ("alignmentreview", CREATE): 1},
    ),  # and the next one
    "goal_create": (
        None,
        lambda p: f.make_goal(p.editor, p.objective),
        {("goal", CREATE): 1, ("commitment", CREATE): 2},
    ),
    "goal_update": (
        None,
        lambda p: goals.goal_update(access=p.editor, goal_id=p.draft.pk, target=Decimal("300")),
        {("goal", UPDATE): 1},
    ),
    "goal_delete": (
        None,
        lambda p: goals.goal_delete(access=p.editor, goal_id=p.draft.pk),
        {("goal", DELETE): 1, ("commitment", DELETE): 2},
    ),
    "goal_propose": (None, _propose_draft, {("goal", UPDATE): 1}),
    "goal_approve_first": (
        _propose_draft,
        lambda p: goals.goal_approve(access=p.vendor, goal_id=p.draft.pk, revision=1),
        {("approval", CREATE): 1, ("commitment", UPDATE): 1},  # the vendor commitment is approved by its side
    ),
    "goal_approve_second": (
        lambda p: (_propose_draft(p), goals.goal_approve(access=p.vendor, goal_id=p.draft.pk, revision=1)),
        lambda p: goals.goal_approve(access=p.partner, goal_id=p.draft.pk, revision=1),
        {("approval", CREATE): 1, ("goal", UPDATE): 1, ("commitment", UPDATE): 1},
    ),
    "goal_request_changes": (
        _propose_draft,
        lambda p: goals.goal_request_changes(access=p.partner, goal_id=p.draft.pk, comment="More"),
        {("goal", UPDATE): 1, ("comment", CREATE): 1},
    ),
    "goal_withdraw": (None, lambda p: goals.goal_withdraw(access=p.editor, goal_id=p.draft.pk), {("goal", UPDATE): 1}),
    "goal_discard_amendment": (
        _amend,
        lambda p: goals.goal_discard_amendment(access=p.editor, goal_id=p.agreed.pk),
        # the restored commitment, the other one approved again, the agreed revision leaves the plan
        {("goal", UPDATE): 1, ("commitment", UPDATE): 2, ("goalrevision", DELETE): 1},
    ),
    "goal_close": (
        None,
        lambda p: goals.goal_close(access=p.vendor, goal_id=p.agreed.pk, outcome="dropped", note="Budget cut"),
        {("goal", UPDATE): 1},
    ),
    "commitment_create": (
        None,
        lambda p: goal_commitments.commitment_create(
            access=p.editor, goal_id=p.draft.pk, side=Side.VENDOR, text="Co-fund an event"
        ),
        {("commitment", CREATE): 1, ("goal", UPDATE): 1},
    ),
    "commitment_update_terms": (
        None,
        lambda p: goal_commitments.commitment_update(
            access=p.editor, commitment_id=p.vendor_commitment.pk, text="Fund three workshops"
        ),
        # on an agreed goal: an amendment (its agreed revision stays in force, and the other
        # side's commitment is no longer approved on the new revision)
        {("commitment", UPDATE): 2, ("goal", UPDATE): 1, ("goalrevision", CREATE): 1},
    ),
    "commitment_update_done": (
        None,
        lambda p: goal_commitments.commitment_update(access=p.editor, commitment_id=p.vendor_commitment.pk, done=True),
        {("commitment", UPDATE): 1},
    ),
    "commitment_delete": (
        None,
        lambda p: goal_commitments.commitment_delete(access=p.partner_editor, commitment_id=p.partner_commitment.pk),
        {("commitment", DELETE): 1, ("goal", UPDATE): 1, ("goalrevision", CREATE): 1, ("commitment", UPDATE): 1},
    ),
    "check_in_create": (
        None,
        lambda p: goal_check_ins.check_in_create(
            access=p.partner_editor, goal_id=p.agreed.pk, value=170, measured_on=dt.date.today()
        ),
        {("checkin", CREATE): 1},
    ),
    "check_in_update": (
        None,
        lambda p: goal_check_ins.check_in_update(access=p.editor, check_in_id=p.check_in.pk, value=155),
        {("checkin", UPDATE): 1},
    ),
    "check_in_delete": (
        None,
        lambda p: goal_check_ins.check_in_delete(access=p.editor, check_in_id=p.check_in.pk),
        {("checkin", DELETE): 1},
    ),
    "comment_create": (
        None,
        lambda p: goal_comments.comment_create(access=p.partner, goal_id=p.agreed.pk, body="Agreed"),
        {("comment", CREATE): 1},
    ),
    "comment_update": (
        None,
        lambda p: goal_comments.comment_update(access=p.editor, comment_id=p.comment.pk, body="Edit"),
        {("comment", UPDATE): 1},
    ),
    "comment_delete": (
        None,
        lambda p: goal_comments.comment_delete(access=p.editor, comment_id=p.comment.pk),
        {("comment", DELETE): 1},
    ),
    "goals_derive": (
        lambda p: setattr(
            p,
            "measurable",
            f.make_objective(p.editor, baseline_date=dt.date(2026, 11, 27), target_date=dt.date(2027, 6, 30)),
        ),
        lambda p: derive.goals_derive(
            access=p.editor, objective_id=p.measurable.pk, count=2, today=dt.date(2026, 11, 27)
        ),
        {("goal", CREATE): 2, ("commitment", CREATE): 4},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_service_writes_one_event_per_changed_object(p, name):
    setup, call, expected = CASES[name]
    if setup:
        setup(p)
    log = Log()

    call(p)

    assert dict(log.summary()) == expected
    assert_well_formed(log.events)


def test_an_update_event_holds_the_state_before_and_after(p):
    log = Log()
    goals.goal_update(access=p.partner_editor, goal_id=p.draft.pk, target=Decimal("300"))
    [event] = log.events
    assert (event.object_type, event.object_id, event.partnership_id) == ("goal", p.draft.pk, p.cast.partnership.pk)
    assert (event.before["target"], event.after["target"]) == ("200", "300")
    assert event.after["version"] == event.before["version"] + 1
    assert event.actor == p.cast.partner_editor
    assert "target" in event.summary


def test_a_delete_event_keeps_the_last_state_as_a_tombstone(p):
    log = Log()
    goal_check_ins.check_in_delete(access=p.editor, check_in_id=p.check_in.pk)
    [event] = log.events
    assert (event.action, event.object_id, event.before["value"]) == (DELETE, p.check_in.pk, "150")


def test_an_invitation_record_leaves_out_the_token_hash(p):
    from alignment.models import Invitation

    inv = Invitation(
        partnership=p.cast.partnership,
        email="x@y.test",
        side=Side.PARTNER,
        token_hash="b" * 64,
        expires_at=dt.datetime(2026, 12, 11, tzinfo=dt.UTC),
    )
    assert "token_hash" not in inv.to_record()


@pytest.mark.parametrize(
    "call",
    [
        lambda p: plan.objective_update(access=p.editor, objective_id=p.objective.pk, title=p.objective.title),
        lambda p: plan.vision_update(access=p.editor, why_together=""),
        lambda p: goals.goal_update(access=p.editor, goal_id=p.draft.pk, target=p.draft.target),
    ],
    ids=["objective", "vision", "goal"],
)
def test_saving_without_a_change_writes_no_event(p, call):
    log = Log()
    call(p)
    assert log.events == []


# --- Failing services leave nothing behind ----------------------------------------------------


def snapshot_of_everything() -> dict[str, object]:
    models = (
        Organisation,
        Partnership,
        PartnershipMember,
        Vision,
        Objective,
        AlignmentReview,
        Goal,
        Commitment,
        Approval,
        CheckIn,
        Comment,
        ChangeEvent,
    )
    return {m.__name__: sorted((str(r.pk), getattr(r, "version", None)) for r in m.objects.all()) for m in models}


FAILURES = {
    # The goal and its first commitment are written before the second commitment is found empty.
    "goal_create with a bad second commitment": lambda p: goals.goal_create(
        access=p.editor,
        objective_id=p.objective.pk,
        title="Half a goal",
        baseline=1,
        target=5,
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        commitments=[{"side": Side.VENDOR, "text": "Real work"}, {"side": Side.PARTNER, "text": "  "}],
    ),
    # The partner organisation is created before the settings are found invalid.
    "partnership_create with bad settings": lambda p: plan.partnership_create(
        actor=p.cast.vendor_admin,
        vendor=p.cast.partnership.vendor,
        partner_name="Half Partner Ltd",
        reminder_offsets_days=[400],
    ),
    # The first derived goal is written before the second suggestion is found invalid.
    "goals_derive with a bad second period": lambda p: derive.goals_derive(
        access=p.editor,
        objective_id=p.objective.pk,
        suggestions=[
            derive.Suggestion(
                dt.date(2027, 1, 1), dt.date(2027, 3, 31), Decimal(100), Decimal(150), "Q1", commitments=[]
            ),
            derive.Suggestion(
                dt.date(2027, 4, 1), dt.date(2027, 6, 30), Decimal(150), Decimal(150), "Q2", commitments=[]
            ),
        ],
    ),
    # Refused before anything is written: the attendees are checked first.
    "review_hold with a stranger attending": lambda p: review_services.review_hold(
        access=p.editor, review_id=p.review.pk, held_on=dt.date(2026, 11, 20), attendees=[p.cast.outsider]
    ),
    # The goal is written before its commitment's owner turns out to be on the other side.
    "goal_create with an owner from the other side": lambda p: goals.goal_create(
        access=p.editor,
        objective_id=p.objective.pk,
        title="Owned wrongly",
        baseline=1,
        target=5,
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        commitments=[{"side": Side.VENDOR, "text": "Real work", "owner": p.cast.partner_editor.pk}],
    ),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_a_failing_service_leaves_no_event_and_no_partial_write(p, name):
    call = FAILURES[name]
    before = snapshot_of_everything()
    with pytest.raises(DomainError):
        call(p)
    assert snapshot_of_everything() == before


def test_a_failure_inside_a_larger_transaction_rolls_back_only_with_it(p):
    """Services nest: a caller that composes them gets all or nothing."""
    before = snapshot_of_everything()
    with pytest.raises(InvalidInput), transaction.atomic():
        plan.objective_update(access=p.editor, objective_id=p.objective.pk, title="Renamed")
        goals.goal_update(access=p.editor, goal_id=p.draft.pk, period_end=dt.date(2000, 1, 1))
    assert snapshot_of_everything() == before


# --- The feed on PostgreSQL: nothing commits behind a reader's cursor ---------------------------


def _feed_after(cursor):
    return [
        (e.txid, e.seq, e.object_type, e.after.get("title") if e.after else None) for e in feed_queryset(after=cursor)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_feed_waits_for_a_transaction_that_commits_late_with_a_smaller_seq(cast):
    partnership_id, user_id = cast.partnership.pk, cast.vendor_editor.pk
    other_id, outsider_id = cast.outsider_partnership.pk, cast.outsider.pk
    last = ChangeEvent.objects.order_by("-txid", "-seq").first()
    cursor = (last.txid, last.seq)

    written, release, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        from accounts.models import User

        try:
            with transaction.atomic():
                access = resolve(User.objects.get(pk=user_id), partnership_id)
                plan.objective_create(access=access, title="Slow")
                written.set()
                assert release.wait(timeout=30), "the test never released the slow writer"
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert written.wait(timeout=30), f"the slow writer did not write: {errors}"
        from accounts.models import User

        fast = resolve(User.objects.get(pk=outsider_id), other_id)
        plan.objective_create(access=fast, title="Fast")  # commits first, but got the larger seq

        # A reader now sees neither: "Fast" committed, but "Slow" may still commit before it.
        assert _feed_after(cursor) == []
        assert ChangeEvent.objects.filter(after__title="Fast").exists()  # committed and visible to plain reads
    finally:
        release.set()
        thread.join(timeout=30)
    assert done.is_set() and not errors, errors

    feed = _feed_after(cursor)
    assert [title for *_, title in feed] == ["Slow", "Fast"]
    (slow_txid, slow_seq, *_), (fast_txid, fast_seq, *_) = feed
    assert slow_seq < fast_seq  # the late committer holds the smaller seq ...
    assert slow_txid < fast_txid  # ... and is served first, so no cursor ever passes it
    assert _feed_after((fast_txid, fast_seq)) == []


@contextlib.contextmanager
def written_late(user_id: Any, partnership_id: Any, title: str) -> Iterator[None]:
    """Another thread opens a transaction and takes its id before the block runs, and writes an
    objective ``title`` in it (an event with a smaller transaction id than the block's) only after
    the block, then commits."""
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def early_then_late() -> None:
        from accounts.models import User

        try:
            with transaction.atomic():
                # Take a transaction id now without writing an event yet.
                Organisation.objects.create(name="Takes a txid")
                started.set()
                assert release.wait(timeout=30)
                plan.objective_create(access=resolve(User.objects.get(pk=user_id), partnership_id), title=title)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=early_then_late)
    thread.start()
    try:
        assert started.wait(timeout=30), errors
        yield
    finally:
        release.set()
        thread.join(timeout=30)
    assert done.is_set() and not errors, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reader_that_follows_the_feed_misses_nothing_while_writers_interleave(cast):
    """A writer opens its transaction first but writes its event last; the reader follows the feed
    all along and still sees every event exactly once, in (txid, seq) order."""
    partnership_id, user_id = cast.partnership.pk, cast.vendor_editor.pk
    last = ChangeEvent.objects.order_by("-txid", "-seq").first()
    cursor = (last.txid, last.seq)
    seen: list[tuple[int, int, str, str | None]] = []

    def follow() -> None:
        nonlocal cursor
        page = _feed_after(cursor)
        seen.extend(page)
        if page:
            cursor = page[-1][:2]

    with written_late(user_id, partnership_id, "Late"):
        editor = resolve(cast.vendor_editor, partnership_id)
        for title in ("One", "Two"):
            plan.objective_create(access=editor, title=title)
            follow()
        assert seen == []  # held back behind the open transaction
    follow()
    follow()

    assert [t for *_, t in seen] == ["Late", "One", "Two"]
    assert seen == sorted(seen)
    assert len({(txid, seq) for txid, seq, *_ in seen}) == 3


def test_the_feed_is_in_cursor_order_and_resumes_after_a_cursor(p):
    events = [(e.txid, e.seq) for e in feed_queryset()]
    assert len(events) == ChangeEvent.objects.count()  # everything here has committed
    assert events == sorted(events)
    if connection.vendor == "sqlite":
        assert {txid for txid, _ in events} == {0}  # writers are serialised: seq alone is commit order
    middle = events[len(events) // 2]
    assert [(e.txid, e.seq) for e in feed_queryset(after=middle)] == [c for c in events if c > middle]


def test_a_goal_status_change_is_in_the_feed(p):
    log = Log()
    goals.goal_withdraw(access=p.editor, goal_id=p.draft.pk)
    [event] = log.events
    assert (event.before["status"], event.after["status"]) == (GoalStatus.DRAFT, GoalStatus.WITHDRAWN)
    assert event.seq in {e.seq for e in feed_queryset()}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_long_transaction_in_another_database_does_not_stall_the_feed(cast):
    """Transaction ids are server-wide: a report running in another database on the same server
    must not hold back this database's feed."""
    import psycopg2

    settings = connection.settings_dict
    last = ChangeEvent.objects.order_by("-txid", "-seq").first()
    elsewhere = psycopg2.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname="postgres",
    )
    try:
        with elsewhere.cursor() as cur:
            cur.execute("BEGIN; SELECT pg_current_xact_id()")  # holds a transaction id, stays open
            plan.objective_create(access=resolve(cast.vendor_editor, cast.partnership.pk), title="Meanwhile")
            assert [title for *_, title in _feed_after((last.txid, last.seq))] == ["Meanwhile"]
    finally:
        elsewhere.rollback()
        elsewhere.close()


# The horizon's rule written inline (as before ``alignment 0014`` kept it in a function).
INLINE_HORIZON = """(
    SELECT coalesce(min(running.xid::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running(xid)
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_stat_activity other
        WHERE other.backend_xid = xid(running.xid) AND other.datname <> current_database()
    )
)"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_horizon_function_is_stable_and_holds_back_a_transaction_still_running(cast):
    """The horizon is read through ``partnerplan_feed_horizon()``: declared stable, so it runs in
    the calling statement's snapshot (a volatile one would take a newer snapshot than the page it
    bounds), and it gives what the rule inline gives: with a transaction of this database still
    running, that transaction's id."""
    import psycopg2

    from alignment.changes import FEED_HORIZON

    settings = connection.settings_dict
    with connection.cursor() as cur:
        cur.execute("SELECT provolatile FROM pg_proc WHERE proname = 'partnerplan_feed_horizon'")
        assert cur.fetchall() == [("s",)]
    open_writer = psycopg2.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
    )
    try:
        with open_writer.cursor() as other:
            other.execute("BEGIN; SELECT pg_current_xact_id()::text::bigint")
            (running,) = other.fetchone()
            plan.objective_create(access=resolve(cast.vendor_editor, cast.partnership.pk), title="After it")
            with connection.cursor() as cur:
                cur.execute(f"SELECT {FEED_HORIZON}, {INLINE_HORIZON}")
                function, inline = cur.fetchone()
            assert function == inline == running
            assert [title for *_, title in _feed_after((0, 0)) if title == "After it"] == []
    finally:
        open_writer.rollback()
        open_writer.close()
    with connection.cursor() as cur:
        cur.execute(f"SELECT {FEED_HORIZON}, {INLINE_HORIZON}")
        function, inline = cur.fetchone()
    assert function == inline > running
