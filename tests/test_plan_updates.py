"""``/plan`` kept up to date with what changed (``api.plan_updates``): after any sequence of changes
the updated document is byte for byte a fresh full build, its digest (the ``ETag``'s) too, and the
health kept goal by goal (``cadence.health.HealthState``) is what ``load_facts`` and ``compute`` give."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import pytest
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment import economics
from alignment import services as plan
from alignment.changes import cache_hour, plan_changed, plan_generations
from alignment.models import AlignmentReview, ChangeEvent, Driver, DriverFigure
from api import plan_updates
from api.feed import current_position, encode_cursor
from api.views.plan import DIGEST_SUFFIX, PlanView, document_key, shared_plan
from cadence import health, pulse
from core.errors import DomainError
from goals import check_ins as goal_check_ins
from goals import comments as goal_comments
from goals import commitments as goal_commitments
from goals import services as goal_services
from goals.models import Comment, Commitment, Goal, GoalStatus
from tests import factories as f
from tests.api_support import ApiClient
from tests.test_api_plan_document import ODD_TEXT, rich_plan

SLOW = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def kept(access: Any, name: str = "test") -> tuple[bytes, str]:
    """The document as ``cached_plan`` gets it when nothing is cached for the generation (the side's
    own: it passes over the other side's private figures)."""
    p = access.partnership
    return plan_updates.plan_json(
        access,
        f"{name}:{p.pk}:{access.side}",
        plan_generations([p.pk])[p.pk],
        cache_hour(timezone.now()),
        side=access.side,
    )


def fresh(access: Any) -> tuple[bytes, str]:
    """A full build, through the same path (so its digest is taken the same way), kept apart."""
    key = f"fresh:{access.partnership.pk}:{access.side}"
    plan_updates.forget(key)
    try:
        return kept(access, "fresh")
    finally:
        plan_updates.forget(key)


class Builds:
    """Counts full builds, to know the document was updated rather than built again."""

    def __init__(self, monkeypatch: Any) -> None:
        self.count = 0
        real = plan_updates.build

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(plan_updates, "build", counted)


def _goal(status: str | None = None, **filters: Any) -> Goal | None:
    qs = Goal.objects.filter(**filters).order_by("created_at")
    if status:
        qs = qs.filter(status=status)
    return qs.last()


def apply(cast: Any, op: str, n: int) -> None:
    """One change of the plan through the services; one that the rules refuse changes nothing."""
    editor = cast.access("vendor_editor")
    partner_editor = cast.access("partner_editor")
    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    p = cast.partnership
    goals = list(Goal.objects.filter(partnership=p).order_by("created_at"))
    goal = goals[n % len(goals)] if goals else None
    try:
        if op == "new goal":
            objective = p.objectives.order_by("created_at").first()
            f.make_goal(editor, objective, title=f"New goal {n} {ODD_TEXT[: n % 20]}")
        elif op == "rename" and goal:
            goal_services.goal_update(access=editor, goal_id=goal.pk, title=f"Renamed {n} ✓")
        elif op == "retarget" and goal:
            goal_services.goal_update(access=editor, goal_id=goal.pk, target=str(Decimal(100 + n) / 7)[:12])
        elif op == "propose" and goal:
            goal_services.goal_propose(access=editor, goal_id=goal.pk)
        elif op == "approve" and goal:
            goal.refresh_from_db()
            goal_services.goal_approve(access=vendor if n % 2 else partner, goal_id=goal.pk, revision=goal.revision)
        elif op == "request changes" and goal:
            goal.refresh_from_db()
            goal_services.goal_request_changes(
                access=partner if n % 2 else vendor, goal_id=goal.pk, comment=f"Not yet {n}", revision=goal.revision
            )
        elif op == "withdraw" and goal:
            goal_services.goal_withdraw(access=editor, goal_id=goal.pk, note="Not now")
        elif op == "discard amendment" and goal:
            goal_services.goal_discard_amendment(access=vendor, goal_id=goal.pk)
        elif op == "check-in" and goal:
            goal_check_ins.check_in_create(
                access=partner_editor if n % 2 else editor, goal_id=goal.pk, value=str(n * 3), confidence=1 + n % 5
            )
        elif op == "commitment" and goal:
            goal_commitments.commitment_create(
                access=editor,
                goal_id=goal.pk,
                side="vendor" if n % 2 else "partner",
                text=f"Do thing {n}",
                due_date=dt.date.today() - dt.timedelta(days=n % 9),
            )
        elif op == "commitment done":
            c = Commitment.objects.filter(goal__partnership=p, placeholder=False).order_by("created_at").last()
            if c:
                goal_commitments.commitment_update(access=editor, commitment_id=c.pk, done=True)
        elif op == "commitment delete":
            c = Commitment.objects.filter(goal__partnership=p).order_by("created_at").last()
            if c:
                goal_commitments.commitment_delete(access=editor, commitment_id=c.pk)
        elif op == "comment" and goal:
            goal_comments.comment_create(access=partner_editor, goal_id=goal.pk, body=f"Comment {n}\u2028next")
        elif op == "comment delete":
            c = Comment.objects.filter(goal__partnership=p, kind="comment").order_by("created_at").last()
            if c and c.author_id:
                goal_comments.comment_delete(access=f.access(c.author, p), comment_id=c.pk)
        elif op == "delete goal":
            draft = Goal.objects.filter(partnership=p, status=GoalStatus.DRAFT, revision=1).order_by("created_at")
            if draft.exists():
                goal_services.goal_delete(access=editor, goal_id=draft.last().pk)  # type: ignore[union-attr]
        elif op == "close" and goal:
            goal_services.goal_close(access=vendor, goal_id=goal.pk, outcome="achieved", note="Done")
        elif op == "drop" and goal:
            goal_services.goal_close(access=partner, goal_id=goal.pk, outcome="dropped", note="Not now")
        elif op == "figure":
            figure_change(vendor if n % 2 else partner, n)
        elif op == "pulse":
            # The review held yesterday (``rich_plan``): its pulse is in the document and still takes answers.
            review = AlignmentReview.objects.filter(partnership=p, title="Recent").first()
            who = ("vendor_editor", "partner_editor", "partner_viewer", "vendor_approver")[n % 4]
            if review:
                answers = dict.fromkeys(pulse.QUESTIONS, 1 + n % 5) | {"trust": 5 - n % 5}
                pulse.pulse_answer(access=cast.access(who), review_id=review.pk, answers=answers, note=f"Pulse {n}")
    except DomainError:
        pass  # refused by the rules: nothing changed


def figure_change(access: Any, n: int) -> None:
    """A side records, changes, shares or makes private one of its figures (on its driver, ``drivers``)."""
    driver = Driver.objects.filter(partnership=access.partnership, side=access.side).first()
    if driver is None:
        return
    figure = DriverFigure.objects.filter(driver=driver).order_by("created_at").last()
    if figure is None or n % 3 == 0:
        month = 1 + n % 12
        economics.figure_record(
            access=access,
            driver_id=driver.pk,
            period_start=dt.date(2025, month, 1),
            period_end=dt.date(2025, month, 28),
            value=str(n * 7),
            visibility="private" if n % 4 else "shared",
        )
    elif n % 3 == 1:
        economics.figure_update(access=access, figure_id=figure.pk, value=f"{n}.5")
    else:
        visibility = "shared" if figure.visibility == "private" else "private"
        economics.figure_set_visibility(access=access, figure_id=figure.pk, visibility=visibility)


def drivers(cast: Any) -> None:
    """A driver of each side, for ``figure_change``."""
    economics.driver_add(access=cast.access("vendor_approver"), name="Licence revenue", unit="EUR k")
    economics.driver_add(access=cast.access("partner_approver"), name="Utilisation", unit="%")


GOAL_CHANGES = [
    "new goal",
    "rename",
    "retarget",
    "propose",
    "approve",
    "request changes",
    "withdraw",
    "discard amendment",
    "check-in",
    "commitment",
    "commitment done",
    "commitment delete",
    "comment",
    "comment delete",
    "delete goal",
    "close",
    "drop",
    "figure",
    "pulse",
]


@pytest.mark.django_db
@SLOW
@given(steps=st.lists(st.tuples(st.sampled_from(GOAL_CHANGES), st.integers(0, 50)), min_size=1, max_size=6))
def test_after_any_changes_the_updated_document_is_a_fresh_full_build(cast, monkeypatch, steps):
    if not Goal.objects.filter(partnership=cast.partnership).exists():
        rich_plan(cast)
        drivers(cast)
    builds = Builds(monkeypatch)
    for side in ("vendor_editor", "partner_viewer"):
        kept(cast.access(side))
    start = builds.count
    for op, n in steps:
        apply(cast, op, n)
        for side in ("vendor_editor", "partner_viewer"):
            access = cast.access(side)
            body, digest = kept(access)
            assert body == shared_plan(access, plan_generations([cast.partnership.pk])[cast.partnership.pk])
            assert (body, digest) == fresh(access)
            # Whether it shows a private figure is known without looking through the bytes again.
            key = f"test:{cast.partnership.pk}:{access.side}"
            assert plan_updates.shows_private_figure(key, body) is (plan_updates.PRIVATE_FIGURE in body)
    # Built whole once per side per step by ``fresh``, never for the changes themselves.
    assert builds.count - start == 2 * len(steps)


@pytest.mark.django_db
@SLOW
@given(steps=st.lists(st.tuples(st.sampled_from(GOAL_CHANGES), st.integers(0, 50)), min_size=1, max_size=6))
def test_after_any_changes_the_health_kept_goal_by_goal_is_the_computed_one(cast, steps):
    if not Goal.objects.filter(partnership=cast.partnership).exists():
        rich_plan(cast)
    pid = cast.partnership.pk
    now = timezone.now()
    state = health.load_state(pid, now)
    for op, n in steps:
        before = set(Goal.objects.filter(partnership=cast.partnership).values_list("pk", flat=True))
        apply(cast, op, n)
        after = set(Goal.objects.filter(partnership=cast.partnership).values_list("pk", flat=True))
        # Every goal of the plan, as the change log would name the changed ones: patching one
        # that did not change must not move anything either.
        patched = health.patch_state(state, pid, now, goals=before | after)
        assert patched is not None
        state = patched
        facts = health.load_facts([pid], now)[pid]
        assert state.facts.current_goals == facts.current_goals
        assert sorted(map(repr, state.facts.commitments)) == sorted(map(repr, facts.commitments))
        assert state.facts.latest_check_ins == facts.latest_check_ins
        assert state.facts.confirmed_figures == facts.confirmed_figures
        assert state.facts.agreed_a_goal == facts.agreed_a_goal
        assert health.state_report(state, now) == health.compute(facts, now)
        # Each goal's part, kept and patched, is the one a state read whole works out.
        whole = health.load_state(pid, now)
        assert {gid: g.part for gid, g in state.goals.items()} == {gid: g.part for gid, g in whole.goals.items()}
        assert state.current == whole.current


@pytest.mark.django_db
def test_a_one_field_change_reads_only_that_goal(cast):
    world = rich_plan(cast)
    access = cast.access("vendor_editor")
    kept(access)
    goal_services.goal_update(access=access, goal_id=world.draft.pk, title="Only this changed")
    with CaptureQueriesContext(connection) as queries:
        body, _digest = kept(access)
    assert b"Only this changed" in body
    assert body == shared_plan(access)
    # The change log, the goal's row and its facts of health (its row, its commitments).
    assert len(queries) <= 5
    assert not any("goals_checkin" in q["sql"] or "goals_comment" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_a_change_of_one_goal_works_out_health_and_attention_for_that_goal_alone(cast, monkeypatch):
    """The health's part and the attention of the other goals are kept, not worked out again: the
    update reads the rules (``cadence.health.goal_part``, ``cadence.attention.plan_attention``)
    for the changed goal's rows only, and its document is still a full build's."""
    world = rich_plan(cast)
    access = cast.access("vendor_editor")
    kept(access)
    parts: set[str] = set()
    real_part = health.goal_part

    def part(goal: Any, commitments: Any, *args: Any) -> Any:
        parts.update(str(g) for g in [goal["id"]] if goal is not None)
        parts.update(str(c["goal_id"]) for c in commitments)
        return real_part(goal, commitments, *args)

    monkeypatch.setattr(health, "goal_part", part)
    attention: list[int] = []
    real_attention = plan_updates.plan_attention

    def counted(goals: Any, *args: Any) -> Any:
        attention.append(len(goals))
        return real_attention(goals, *args)

    monkeypatch.setattr(plan_updates, "plan_attention", counted)
    goal_services.goal_propose(access=access, goal_id=world.draft.pk)
    body, _digest = kept(access)
    assert parts == {str(world.draft.pk)}
    assert attention and max(attention) == 1
    monkeypatch.undo()
    assert body == shared_plan(access)
    # Proposed by the vendor's editor: it waits for both sides' approvers.
    assert str(world.draft.pk) in orjson.loads(body)["attention"]["waiting_goals"]["partner"]


@pytest.mark.django_db
def test_changes_it_does_not_update_for_build_the_document_whole(cast, monkeypatch):
    world = rich_plan(cast)
    access = cast.access("vendor_editor")
    kept(access)
    builds = Builds(monkeypatch)
    plan.review_schedule(access=access, scheduled_for=timezone.now() + dt.timedelta(days=3), title="Next one")
    assert kept(access)[0] == shared_plan(access)
    assert builds.count == 1
    plan.vision_update(access=access, why_together="Still together", what_we_hope="More", how_we_work="Weekly")
    assert kept(access)[0] == shared_plan(access)
    assert builds.count == 2
    for i in range(plan_updates.MAX_EVENTS + 1):
        goal_services.goal_update(access=access, goal_id=world.draft.pk, title=f"Title {i}")
    assert kept(access)[0] == shared_plan(access)
    assert builds.count == 3
    goal_services.goal_update(access=access, goal_id=world.draft.pk, title="One more")
    assert kept(access)[0] == shared_plan(access)
    assert builds.count == 3


@pytest.mark.django_db
def test_the_etag_changes_exactly_when_the_bytes_do(cast):
    world = rich_plan(cast)
    client = ApiClient(cast.vendor_editor)
    url = f"partnerships/{cast.partnership.pk}/plan"
    first = client.get(url)
    tag = first["ETag"]
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    # A new generation without a change of the document: the same bytes, the same tag.
    plan_changed(cast.partnership.pk)
    again = client.get(url)
    assert again["ETag"] == tag and again.content == first.content
    goal_services.goal_update(access=cast.access("vendor_editor"), goal_id=world.draft.pk, title="A new title")
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed["ETag"] != tag
    assert b"A new title" in changed.content
    assert changed.content.endswith(shared_plan(cast.access("vendor_editor"))[1:])
    # Another side: its own access in the tag, its own document.
    other = ApiClient(cast.partner_approver).get(url)
    assert other["ETag"] != changed["ETag"]
    assert orjson.loads(other.content)["goals"] == orjson.loads(changed.content)["goals"]


@pytest.mark.django_db
def test_a_new_day_loads_the_health_whole(cast):
    rich_plan(cast)
    pid = cast.partnership.pk
    now = timezone.now()
    state = health.load_state(pid, now)
    assert health.patch_state(state, pid, now + dt.timedelta(days=1), goals=set()) is None
    assert health.state_report(state, now) == health.health_for([pid], now)[pid]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the feed's horizon is PostgreSQL's")
def test_a_committed_change_the_feed_still_holds_back_is_in_the_document_and_replayed(cast):
    """An event of a transaction above the feed's horizon (one with a smaller id is still open) is
    committed: its rows go into the document now, as a full build would read them, but the cursor
    stays where the feed is, so a client following the feed gets that change once it is served."""
    world = rich_plan(cast)
    access = cast.access("vendor_editor")
    before, _digest = kept(access)
    Goal.objects.filter(pk=world.draft.pk).update(title="Committed, not served yet")
    ChangeEvent.objects.create(
        txid=2**62,  # far above any horizon: held back by the feed
        partnership_id=cast.partnership.pk,
        actor_label="system",
        object_type="goal",
        object_id=world.draft.pk,
        action="update",
    )
    plan_changed(cast.partnership.pk)
    body, _digest = kept(access)
    assert b"Committed, not served yet" in body
    assert (
        orjson.loads(body)["cursor"]
        == orjson.loads(before)["cursor"]
        == encode_cursor(current_position(cast.partnership.pk))
    )
    assert body == shared_plan(access)


@pytest.mark.django_db
def test_the_balance_the_pulse_and_figures_are_updated_in_place(cast, monkeypatch):
    world = rich_plan(cast)
    drivers(cast)
    editor = cast.access("vendor_editor")
    sides = {"vendor": editor, "partner": cast.access("partner_viewer")}
    documents = {side: kept(access) for side, access in sides.items()}
    builds = Builds(monkeypatch)

    def read(side: str) -> dict[str, Any]:
        body, digest = kept(sides[side])
        assert (body, digest) == fresh(sides[side])
        documents[side] = (body, digest)
        return orjson.loads(body)  # type: ignore[no-any-return]

    # A commitment due today, done: the balance of the quarter counts it for the vendor.
    on_time = orjson.loads(documents["vendor"][0])["balance"]["sides"]["vendor"]["on_time"]
    commitment = goal_commitments.commitment_create(
        access=editor, goal_id=world.agreed.pk, side="vendor", text="Deliver", due_date=timezone.localdate()
    )
    goal_commitments.commitment_update(access=editor, commitment_id=commitment.pk, done=True)
    for side in sides:
        assert read(side)["balance"]["sides"]["vendor"]["on_time"] == on_time + 1
    # A pulse answer at the review held yesterday: both sides' documents show it.
    apply(cast, "pulse", 2)  # the partner viewer's, next to the partner editor's
    for side in sides:
        recent = read(side)["pulse"][-1]
        assert recent["counts"]["partner"] == 2 and "Pulse 2" in {n["note"] for n in recent["notes"]}
    # The partner's private figure: the partner's document holds it, the vendor's is the same bytes.
    vendor_before = documents["vendor"]
    figure_change(cast.access("partner_approver"), 1)
    assert DriverFigure.objects.filter(visibility="private", driver__side="partner").exists()
    assert kept(sides["vendor"]) == vendor_before
    assert len(read("partner")["driver_figures"]) == 1
    assert builds.count == 5  # only ``fresh``'s, one per ``read``


def _plan_view_response(cast: Any) -> Any:
    """``GET /plan`` answered by the view and not yet closed (a WSGI server closes the response
    after sending its last byte)."""
    editor = ApiClient(cast.vendor_editor)
    path = f"/api/v1/partnerships/{cast.partnership.pk}/plan"
    request = RequestFactory().get(path, headers=editor.headers, secure=True)
    return PlanView.as_view()(request, pk=str(cast.partnership.pk))


def _close(response: Any) -> None:
    """What the WSGI server does after the last byte, keeping the test's connection (as the test
    client does: closing signals ``request_finished``, which closes connections in a transaction)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_a_document_made_for_a_request_is_shared_once_the_answer_is_sent(cast):
    rich_plan(cast)
    access = cast.access("vendor_editor")
    where = document_key(access)
    response = _plan_view_response(cast)
    assert response.status_code == 200 and b'"goals":[' in response.content
    assert cache.get(where.key) is None and cache.get(where.key + DIGEST_SUFFIX) is None
    _close(response)
    shared, digest = cache.get(where.key)
    assert shared == shared_plan(access)
    assert response.content.endswith(shared[1:])
    assert cache.get(where.key + DIGEST_SUFFIX) == digest and digest in response["ETag"]


@pytest.mark.django_db
def test_a_cache_that_fails_after_the_answer_was_sent_is_logged(cast, monkeypatch, caplog):
    rich_plan(cast)
    real = cache.set_many

    def down(mapping: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if any(key.startswith("plan-document-json") for key in mapping):
            raise ConnectionError("cache is down")
        return real(mapping, *args, **kwargs)

    monkeypatch.setattr(cache, "set_many", down)
    response = _plan_view_response(cast)
    assert response.status_code == 200
    with caplog.at_level("ERROR", logger="api.views.plan"):
        _close(response)
    assert response.closed
    assert "sharing it failed" in caplog.text and "cache is down" in caplog.text


@pytest.mark.django_db
def test_an_updated_documents_health_is_cached_for_the_dashboard_once_the_answer_is_sent(cast):
    """The dashboard finds the health an update computed (``remember_health``); with ``later`` (the
    view's: run after the last byte) it is written then, in the language it was written in."""
    world = rich_plan(cast)
    access = cast.access("vendor_editor")
    kept(access)
    goal_services.goal_update(access=access, goal_id=world.draft.pk, title="Cached after the answer")
    pid = cast.partnership.pk
    generation, hour = plan_generations([pid])[pid], cache_hour(timezone.now())
    later: list[Any] = []
    plan_updates.plan_json(access, f"test:{pid}:{access.side}", generation, hour, side=access.side, later=later)
    key = health._report_key(pid, generation, hour, translation.get_language())
    assert cache.get(key) is None
    with translation.override("de"):
        for action in later:
            action()
    assert cache.get(key) == health.health_for([pid])[pid]
