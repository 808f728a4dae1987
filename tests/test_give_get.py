"""The give/get balance (``cadence.balance``): what each side gave (commitments delivered) and got
(goals achieved that move its drivers), on hand-built plans with exact numbers; the health
component "value flows both ways" on each; the picture on the health page and the review agenda;
the API; constant queries at two sizes; outsiders get 404."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alignment.models import AlignmentReview, Driver, Side
from cadence import health
from cadence.balance import Balance, Flow, Period, flow_score, last_quarters, load_balances, partnership_balance
from goals.models import Commitment, Goal, GoalStatus
from tests import factories as f
from tests.api_support import ApiClient

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
Q4 = Period(dt.date(2026, 10, 1), dt.date(2026, 12, 31))
_seq = count(1)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def driver(p, side: str) -> Driver:
    return Driver.objects.create(partnership=p, side=side, name=f"{side} driver {next(_seq)}")


def objective(cast, *sides: str):
    o = f.make_objective(cast.access("vendor_editor"))
    for side in sides:
        o.drivers.add(driver(cast.partnership, side))
    return o


def goal(cast, o, status: str = GoalStatus.AGREED, *, closed: dt.date | None = None, agreed: bool = True) -> Goal:
    """A goal row as the services leave it (built directly: these tests are about counting)."""
    return Goal.objects.create(
        partnership=cast.partnership,
        objective=o,
        title=f"Goal {next(_seq)}",
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        metric_name="Pipeline",
        baseline=Decimal(0),
        target=Decimal(10),
        status=status,
        agreed_revision=1 if agreed else None,
        agreed_at=NOW - dt.timedelta(days=50) if agreed else None,
        closed_at=dt.datetime.combine(closed, dt.time(12), tzinfo=dt.UTC) if closed else None,
    )


def commit(g: Goal, side: str, due: dt.date | None, done: dt.date | None = None, *, placeholder: bool = False):
    return Commitment.objects.create(
        goal=g,
        side=side,
        text="" if placeholder else "Do the work",
        placeholder=placeholder,
        due_date=due,
        done=done is not None,
        done_at=dt.datetime.combine(done, dt.time(9), tzinfo=dt.UTC) if done else None,
    )


def d(month: int, day: int, year: int = 2026) -> dt.date:
    return dt.date(year, month, day)


@pytest.fixture
def one_sided(cast, frozen):
    """The vendor side carries the plan: it delivered four commitments and got the only outcome;
    the partner delivered nothing (two overdue, one dropped, one still open)."""
    vendor_only = objective(cast, Side.VENDOR)
    g = goal(cast, vendor_only)
    for due, done in [(d(10, 15), d(10, 10)), (d(10, 20), d(10, 20)), (d(11, 2), d(11, 1)), (d(11, 1), d(11, 5))]:
        commit(g, Side.VENDOR, due, done)
    commit(g, Side.PARTNER, d(11, 10))
    commit(g, Side.PARTNER, d(11, 12))
    commit(g, Side.PARTNER, d(12, 15))
    dropped = goal(cast, vendor_only, GoalStatus.DROPPED, closed=d(11, 20))
    commit(dropped, Side.PARTNER, d(11, 15))
    goal(cast, vendor_only, GoalStatus.ACHIEVED, closed=d(11, 20))
    # Not counted: a placeholder, a draft's commitment, no due date, due last quarter (counted there).
    commit(g, Side.PARTNER, d(11, 1), placeholder=True)
    commit(goal(cast, vendor_only, GoalStatus.DRAFT, agreed=False), Side.PARTNER, d(11, 3), d(11, 3))
    commit(g, Side.VENDOR, None, d(11, 3))
    commit(g, Side.VENDOR, d(9, 10), d(9, 9))
    return cast.partnership


def test_one_side_carrying_everything(one_sided):
    b = partnership_balance(one_sided.pk, Q4, TODAY)
    assert b.sides[Side.VENDOR] == Flow(on_time=3, late=1, overdue=0, dropped=0, open=0, got=1)
    assert b.sides[Side.PARTNER] == Flow(on_time=0, late=0, overdue=2, dropped=1, open=1, got=0)
    assert (b.achieved, b.unattributed, b.delivery_share, b.started) == (1, 0, 0.0, True)
    assert flow_score(b) == (
        0.0,
        "Delivered this quarter: vendor 4, partner 0. Only the vendor side got outcomes from goals achieved.",
    )


def test_the_last_quarters_count_each_commitment_in_its_own_quarter(one_sided):
    balances = load_balances([one_sided.pk], last_quarters(TODAY), TODAY)[one_sided.pk]
    assert [b.period.label for b in balances] == ["Q1 2026", "Q2 2026", "Q3 2026", "Q4 2026"]
    assert [b.sides[Side.VENDOR].gave for b in balances] == [0, 0, 1, 4]
    assert balances[2].sides[Side.VENDOR].on_time == 1


def test_balanced_plan(cast, frozen):
    """Both sides deliver (the partner half as much) and both get the outcome of a goal whose
    objective moves both sides' drivers."""
    both = objective(cast, Side.VENDOR, Side.PARTNER)
    g = goal(cast, both)
    for due in (d(10, 5), d(10, 6), d(10, 7), d(10, 8)):
        commit(g, Side.VENDOR, due, due)
    commit(g, Side.PARTNER, d(10, 5), d(10, 1))
    commit(g, Side.PARTNER, d(10, 5), d(10, 9))  # late
    goal(cast, both, GoalStatus.ACHIEVED, closed=d(11, 1))
    goal(cast, objective(cast), GoalStatus.ACHIEVED, closed=d(11, 2))  # no drivers: nobody's
    goal(cast, both, GoalStatus.MISSED, closed=d(11, 3))  # a missed goal gives no outcome
    b = partnership_balance(cast.partnership.pk, Q4, TODAY)
    assert b.sides[Side.VENDOR] == Flow(on_time=4, got=1)
    assert b.sides[Side.PARTNER] == Flow(on_time=1, late=1, got=1)
    assert (b.achieved, b.unattributed, b.delivery_share) == (2, 1, 0.5)
    assert flow_score(b) == (
        0.75,
        "Delivered this quarter: vendor 4, partner 2. Both sides got outcomes from goals achieved.",
    )
    flows = next(c for c in health.partnership_health(cast.partnership, NOW).components if c.key == "flows")
    assert (flows.score, flows.weight, flows.points) == (0.75, 10, 7.5)


def test_nothing_done(cast, frozen):
    g = goal(cast, objective(cast, Side.VENDOR))
    commit(g, Side.VENDOR, d(11, 1))
    commit(g, Side.PARTNER, d(11, 2))
    b = partnership_balance(cast.partnership.pk, Q4, TODAY)
    assert (b.sides[Side.VENDOR].overdue, b.sides[Side.PARTNER].overdue, b.delivery_share) == (1, 1, 0.0)
    assert flow_score(b) == (0.0, "Neither side delivered any of the 2 commitments due this quarter.")
    flows = next(c for c in health.partnership_health(cast.partnership, NOW).components if c.key == "flows")
    assert flows.score == 0.0


def test_no_commitments_is_nothing_to_balance_yet(cast, frozen):
    b = partnership_balance(cast.partnership.pk, Q4, TODAY)
    assert (b.started, b.has_commitments, b.delivery_share) == (False, False, None)
    score, why = flow_score(b)
    assert score == 1.0 and why.startswith("Nothing to balance yet") and "%" not in why
    flows = next(c for c in health.partnership_health(cast.partnership, NOW).components if c.key == "flows")
    assert (flows.score, flows.explanation) == (1.0, why)


def test_commitments_not_yet_due_are_nothing_to_balance_yet():
    b = Balance(Q4)
    b.sides[Side.VENDOR].open = 3
    assert (b.has_commitments, b.started, flow_score(b)[0]) == (True, False, 1.0)


def test_the_health_component_is_the_same_kept_goal_by_goal(one_sided):
    """``HealthState`` (the plan document's incremental path) gives what ``load_facts`` gives,
    also after a commitment of the partner is done and a goal closed."""
    pid = one_sided.pk
    state = health.load_state(pid, NOW)
    assert health.state_report(state, NOW) == health.health_for([pid], NOW)[pid]
    late = Commitment.objects.filter(goal__partnership_id=pid, side=Side.PARTNER, due_date=d(11, 10)).get()
    Commitment.objects.filter(pk=late.pk).update(done=True, done_at=NOW)
    closed = Goal.objects.filter(partnership_id=pid, status=GoalStatus.AGREED).first()
    Goal.objects.filter(pk=closed.pk).update(status=GoalStatus.ACHIEVED, closed_at=NOW)
    patched = health.patch_state(state, pid, NOW, goals={late.goal_id, closed.pk})
    report = health.state_report(patched, NOW)
    assert report == health.health_for([pid], NOW)[pid]
    flows = next(c for c in report.components if c.key == "flows")
    assert flows.explanation.startswith("Delivered this quarter: vendor 4, partner 1.")


# --- Pages and API ----------------------------------------------------------------------------


def browser(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_health_page_shows_the_picture_naming_the_sides_for_the_reader(one_sided, cast):
    page = browser(cast.partner_editor).get(f"/p/{one_sided.pk}/health/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Give and get" in html and "<rect" in html and "style=" not in html.split("Give and get", 1)[1]
    vendor_name = one_sided.vendor.name
    assert f"{vendor_name}: gave: 4 of 4 commitments delivered" in html
    assert "Your side: gave: 0 of 4 commitments delivered" in html
    assert browser(cast.outsider).get(f"/p/{one_sided.pk}/health/").status_code == 404


def test_review_agenda_shows_the_balance_since_the_last_review(one_sided, cast):
    held = AlignmentReview.objects.create(
        partnership=one_sided,
        scheduled_for=NOW - dt.timedelta(days=30),
        status=AlignmentReview.Status.HELD,
        held_on=d(10, 28),
    )
    assert held.pk
    nxt = AlignmentReview.objects.create(partnership=one_sided, scheduled_for=NOW + dt.timedelta(days=3))
    page = browser(cast.vendor_editor).get(f"/p/{one_sided.pk}/reviews/{nxt.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    # 29 Oct to 27 Nov: the vendor's two commitments due in November, the partner's three owed.
    assert "Your side: gave: 2 of 2 commitments delivered" in html
    assert f"{one_sided.partner.name}: gave: 0 of 3 commitments delivered" in html


def test_api_balance(one_sided, cast):
    api = ApiClient(cast.vendor_viewer)
    body = api.get(f"partnerships/{one_sided.pk}/balance").json()
    assert body["period"] == "2026-Q4" and body["started"] is True
    assert body["sides"]["vendor"] == {
        "on_time": 3,
        "late": 1,
        "overdue": 0,
        "dropped": 0,
        "open": 0,
        "gave": 4,
        "got": 1,
    }
    assert body["sides"]["partner"]["overdue"] == 2 and body["sides"]["partner"]["dropped"] == 1
    assert (body["delivery_share"], body["score"]) == (0.0, 0.0)
    assert [q["period"] for q in body["quarters"]] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    q3 = api.get(f"partnerships/{one_sided.pk}/balance", period="2026-Q3").json()
    assert q3["sides"]["vendor"]["on_time"] == 1 and q3["quarters"][-1]["period"] == "2026-Q3"


@pytest.mark.parametrize("bad", ["2026-Q5", "Q4", "2026-q4", "0000-Q1", "x" * 500])
def test_api_balance_refuses_a_bad_period(cast, bad):
    response = ApiClient(cast.vendor_viewer).get(f"partnerships/{cast.partnership.pk}/balance", period=bad)
    assert response.status_code == 400
    assert "period" in response.content.decode()


def test_api_balance_refuses_unknown_parameters(cast):
    response = ApiClient(cast.vendor_viewer).get(f"partnerships/{cast.partnership.pk}/balance", since="x")
    assert response.status_code == 400


def test_api_balance_is_404_for_outsiders(cast):
    response = ApiClient(cast.outsider).get(f"partnerships/{cast.partnership.pk}/balance")
    assert response.status_code == 404


def _grow(cast, goals: int) -> None:
    o = objective(cast, Side.VENDOR, Side.PARTNER)
    for _ in range(goals):
        g = goal(cast, o)
        commit(g, Side.VENDOR, d(10, 10), d(10, 9))
        commit(g, Side.PARTNER, d(11, 10))
        goal(cast, o, GoalStatus.ACHIEVED, closed=d(11, 1))


def test_queries_do_not_grow_with_the_plan(cast, frozen):
    pid = cast.partnership.pk
    api = ApiClient(cast.vendor_editor)
    page = browser(cast.vendor_editor)
    api.get("me")  # the token's first use is recorded once
    counts = []
    for more in (1, 12):
        _grow(cast, more)
        with CaptureQueriesContext(connection) as balance_queries:
            load_balances([pid, cast.outsider_partnership.pk], last_quarters(TODAY), TODAY)
        with CaptureQueriesContext(connection) as api_queries:
            assert api.get(f"partnerships/{pid}/balance").status_code == 200
        with CaptureQueriesContext(connection) as page_queries:
            assert page.get(f"/p/{pid}/health/").status_code == 200
        counts.append((len(balance_queries), len(api_queries), len(page_queries)))
    assert counts[0] == counts[1]
    assert counts[0][0] == 3
