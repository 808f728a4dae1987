"""The dashboard as an inbox: what waits for the person across every partnership (their side in
each), the portfolio's totals with every count a link to the list it counts, those lists, and the
e-mail log of a partnership. Counts come from the rules of ``goals.rules`` (via
``cadence.attention``), so they agree with the review queue and the rows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alignment import invitations as inv
from alignment import services
from alignment.access import resolve_many, visible_partnerships
from alignment.models import Side
from cadence import attention
from core.models import MailKind, OutboxMessage
from goals import check_ins as goal_check_ins
from goals import commitments as goal_commitments
from goals import services as goals
from plans import inbox
from plans.dashboard import _soonest_reviews
from tests import factories as f


@pytest.fixture
def portfolio(cast):
    """The cast's partnership with a goal waiting for the partner, an agreed goal on track, one off
    track, and overdue commitments on both sides; and a second partnership where the partner
    approver of the first is on the vendor side (so "my side" differs between the two)."""
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    objective = f.make_objective(editor, title="Grow the pipeline")
    waiting = f.make_goal(editor, objective, title="Waiting goal")
    goals.goal_propose(access=editor, goal_id=waiting.pk)
    goals.goal_approve(access=vendor, goal_id=waiting.pk, revision=1)
    today = timezone.localdate()
    on_track = f.agree(
        f.make_goal(
            editor,
            objective,
            title="On track goal",
            period_start=today - dt.timedelta(days=10),
            period_end=today + dt.timedelta(days=80),
        ),
        vendor,
        partner,
    )
    for side in (editor, partner):
        goal_check_ins.check_in_create(access=side, goal_id=on_track.pk, value="190", confidence=4)
    behind = f.agree(f.make_goal(editor, objective, title="Behind goal"), vendor, partner)
    past = today - dt.timedelta(days=3)
    for c in behind.commitments.all():
        goal_commitments.commitment_update(access=editor, commitment_id=c.pk, due_date=past)
    other = f.make_partnership(f.make_user(), name="Second × Deal")
    f.add_member(other, cast.partner_approver, Side.VENDOR, "approver")
    other_editor = f.access(cast.partner_approver, other)
    theirs = f.make_goal(other_editor, f.make_objective(other_editor), title="Goal of the second plan")
    goals.goal_propose(access=other_editor, goal_id=theirs.pk)
    services.review_schedule(access=editor, scheduled_for=timezone.now() + dt.timedelta(days=12))
    return {"waiting": waiting, "on_track": on_track, "behind": behind, "other": other, "theirs": theirs}


def test_the_inbox_lists_what_waits_for_my_side_in_every_partnership_first(client, cast, portfolio):
    client.force_login(cast.partner_approver)
    response = client.get("/")
    html = response.content.decode()
    titles = [w["goal"].title for w in response.context["waiting"]]
    # Partner side in the first plan, vendor side in the second: both wait for this person.
    assert sorted(titles) == ["Goal of the second plan", "Waiting goal"]
    assert html.index("Waiting for you") < html.index("At a glance") < html.index("Your partnerships")
    assert [c.text for c in response.context["overdue"]] == ["Certify three consultants"]
    assert "Overdue since" in html and "your side's commitment for “Behind goal”" in html


def test_the_inbox_shows_a_change_to_a_plan_on_the_next_dashboard(client, cast, portfolio):
    client.force_login(cast.partner_approver)
    cache.clear()
    client.get("/")
    # A change to one of the plans stores its attention numbers again: the next dashboard shows it.
    editor, vendor = cast.access("vendor_editor"), cast.access("vendor_approver")
    fresh = f.make_goal(editor, f.make_objective(editor), title="Proposed a moment ago")
    goals.goal_propose(access=editor, goal_id=fresh.pk)
    goals.goal_approve(access=vendor, goal_id=fresh.pk, revision=1)
    titles = [w["goal"].title for w in client.get("/").context["waiting"]]
    assert "Proposed a moment ago" in titles


def test_the_totals_add_up_the_rules_and_link_to_what_they_count(client, cast, portfolio):
    client.force_login(cast.partner_approver)
    response = client.get("/")
    totals = response.context["totals"]
    assert (totals.partnerships, totals.waiting) == (2, 2)
    assert (totals.agreed, totals.current, totals.on_track, totals.off_track) == (2, 2, 1, 1)
    assert (totals.overdue_ours, totals.overdue_theirs) == (1, 1)
    assert totals.reviews_soon == 1 and totals.next_review["name"] == cast.partnership.name
    html = response.content.decode()
    for name in ("waiting", "agreed", "on-track", "off-track", "overdue-ours", "overdue-theirs", "reviews"):
        assert f'href="/lists/{name}/"' in html, name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("waiting", ["Goal of the second plan", "Waiting goal"]),
        ("agreed", ["Behind goal", "On track goal"]),
        ("on-track", ["On track goal"]),
        ("off-track", ["Behind goal"]),
        ("overdue-ours", ["Certify three consultants"]),
        ("overdue-theirs", ["Fund two joint workshops"]),
    ],
)
def test_each_list_shows_exactly_what_its_number_counts(client, cast, portfolio, name, expected):
    client.force_login(cast.partner_approver)
    response = client.get(f"/lists/{name}/")
    assert response.status_code == 200
    items = response.context["items"]
    shown = sorted(
        i["goal"].title if isinstance(i, dict) else getattr(i, "text", None) or getattr(i, "goal", i).title
        for i in items
    )
    assert shown == sorted(expected)
    totals = client.get("/").context["totals"]
    count = {
        "waiting": totals.waiting,
        "agreed": totals.agreed,
        "on-track": totals.on_track,
        "off-track": totals.off_track,
        "overdue-ours": totals.overdue_ours,
        "overdue-theirs": totals.overdue_theirs,
    }[name]
    assert count == len(expected)


def test_a_list_narrows_to_one_partnership_and_hides_other_peoples(client, cast, portfolio):
    client.force_login(cast.partner_approver)
    response = client.get("/lists/waiting/", {"p": str(cast.partnership.pk)})
    assert [w["goal"].title for w in response.context["items"]] == ["Waiting goal"]
    client.force_login(cast.outsider)
    html = client.get("/lists/waiting/", {"p": str(cast.partnership.pk)}).content.decode()
    assert "Waiting goal" not in html and "Nothing waits for your side" in html
    assert client.get("/lists/nonsense/").status_code == 404


def test_the_reviews_list_shows_each_partnerships_next_review(client, cast, portfolio):
    client.force_login(cast.vendor_editor)
    html = client.get("/lists/reviews/").content.decode()
    assert cast.partnership.name in html and "Alignment review" in html


def _count(client, url: str) -> int:
    attention.flush_pending()  # what the commit of the changes above stores (the test never commits)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _grow(cast, n: int) -> None:
    for i in range(n):
        p = f.make_partnership(cast.vendor_admin, name=f"More {i} {timezone.now().timestamp()}")
        a = f.access(cast.vendor_admin, p)
        goal = f.make_goal(a, f.make_objective(a))
        goals.goal_propose(access=a, goal_id=goal.pk)  # waits for the vendor side's approval


@pytest.mark.parametrize("name", ["waiting", "agreed", "on-track", "overdue-ours", "reviews"])
def test_the_lists_run_a_constant_number_of_queries(client, cast, portfolio, name):
    client.force_login(cast.vendor_admin)
    _grow(cast, 1)  # something waits for the vendor side: every list has rows at both sizes
    small = _count(client, f"/lists/{name}/")
    _grow(cast, 4)
    cache.clear()
    assert _count(client, f"/lists/{name}/") == small


def test_the_dashboard_with_its_inbox_runs_a_constant_number_of_queries(client, cast, portfolio):
    client.force_login(cast.vendor_admin)
    _grow(cast, 1)
    cache.clear()
    small = _count(client, "/")
    _grow(cast, 5)
    cache.clear()
    assert _count(client, "/") == small


def test_the_inbox_is_the_first_across_the_whole_portfolio_ties_and_sides_included(client, db, time_machine):
    """The inbox searches only the partnerships whose stored first waiting goal (first overdue
    commitment) is among the earliest: what it shows is still exactly the first of the whole
    portfolio's lists, with proposals at the same instant in many partnerships, an earlier goal
    that waits only for the other side, and a partnership where the person is on the partner side."""
    boss, partner = f.make_user(), f.make_user()
    start = timezone.now().replace(microsecond=0) - dt.timedelta(days=30)
    time_machine.move_to(start, tick=False)
    plans = [f.make_partnership(boss, name=f"Plan {n:02}") for n in range(11)]
    for p in plans:
        f.add_member(p, partner, Side.PARTNER, "approver")
    elsewhere = f.make_partnership(f.make_user(), name="Plan where the boss is the partner")
    f.add_member(elsewhere, boss, Side.PARTNER, "approver")
    plans.append(elsewhere)

    def propose(p, minutes, *, approved_by=None):
        time_machine.move_to(start + dt.timedelta(minutes=minutes), tick=False)
        vendor = f.access(elsewhere.members.exclude(user=boss).first().user if p == elsewhere else boss, p)
        goal = f.make_goal(vendor, f.make_objective(vendor))
        goals.goal_propose(access=vendor, goal_id=goal.pk)
        if approved_by:
            goals.goal_approve(
                access=f.access(approved_by, p) if approved_by != "vendor" else vendor, goal_id=goal.pk, revision=1
            )
        return goal

    # Minute 10 in four plans at once, minute 20 in four more (the sixth place is a tie), then later.
    for n, minutes in enumerate([10, 10, 10, 10, 20, 20, 20, 20, 30, 40]):
        propose(plans[n], minutes)
        propose(plans[n], minutes + 100)
    # Plan 10: its earliest goal waits only for the partner; what waits for the boss comes last.
    propose(plans[10], 1, approved_by="vendor")
    propose(plans[10], 200)
    # The boss is on the partner side: this waits for them (the vendor approved it) and is first.
    propose(elsewhere, 5, approved_by="vendor")

    # Overdue commitments: due three, two (in four plans at once) and one day ago, of both sides.
    time_machine.move_to(start + dt.timedelta(days=1), tick=False)
    today = timezone.localdate()
    for n, days in enumerate([3, 2, 2, 2, 2, 1, 1, 1, 1, 1]):
        vendor, other = f.access(boss, plans[n]), f.access(partner, plans[n])
        agreed = f.agree(f.make_goal(vendor, f.make_objective(vendor)), vendor, other)
        for c in agreed.commitments.all():
            goal_commitments.commitment_update(
                access=vendor, commitment_id=c.pk, due_date=today - dt.timedelta(days=days)
            )

    cache.clear()
    client.force_login(boss)
    page = client.get("/").context
    accesses = resolve_many(boss, list(visible_partnerships(boss)))
    assert {a.side for a in accesses.values()} == {Side.VENDOR, Side.PARTNER}
    whole = list(inbox.waiting_goals(accesses)[: inbox.INBOX_SIZE])
    assert [w["goal"].pk for w in page["waiting"]] == [g.pk for g in whole]
    assert whole[0].partnership_id == elsewhere.pk and len(whole) == inbox.INBOX_SIZE
    first_overdue = list(inbox.overdue_commitments(accesses, today, ours=True)[: inbox.INBOX_SIZE])
    assert [c.pk for c in page["overdue"]] == [c.pk for c in first_overdue]
    assert len(first_overdue) == inbox.INBOX_SIZE and {c.side for c in first_overdue} == {Side.VENDOR}


def test_the_soonest_reviews_are_the_first_of_the_whole_portfolio_ties_included(client, db):
    """The soonest reviews are read off the next review's index (the times of the first few, then
    the partnerships due by the last of them): still exactly the first of the whole portfolio in
    the order by time, name and id, with reviews at the same instant in many plans (the sixth
    place is a tie), earlier reviews of plans the person does not see, and overdue ones first."""
    boss = f.make_user()
    now = timezone.now().replace(microsecond=0)
    hidden = f.make_partnership(f.make_user(), name="A plan of someone else")
    services.review_schedule(
        access=f.access(hidden.members.first().user, hidden), scheduled_for=now - dt.timedelta(days=9)
    )
    hours = [-50, -2, -2, 30, 30, 30, 30, 30, 70, None]
    names = ["Kilo", "Echo", "Alpha", "Zulu", "Bravo", "Mike", "Delta", "Bravo", "Alpha", "Lima"]
    for name, hour in zip(names, hours, strict=True):
        p = f.make_partnership(boss, name=name)
        if hour is not None:
            services.review_schedule(access=f.access(boss, p), scheduled_for=now + dt.timedelta(hours=hour))
    attention.flush_pending()
    visible = [
        (p.attention.next_review, p.name, p.pk)
        for p in visible_partnerships(boss).select_related("attention")
        if p.attention.next_review is not None
    ]
    expected = [pk for *_, pk in sorted(visible)[: inbox.INBOX_SIZE]]
    assert len(visible) == 9 and len(expected) == inbox.INBOX_SIZE
    assert [r["pk"] for r in _soonest_reviews(boss)] == expected
    client.force_login(boss)
    page = client.get("/").context
    assert page["totals"].next_review["pid"] == expected[0]
    assert [r["pid"] for r in page["reviews_overdue"]] == expected[:3]


# --- The e-mail log --------------------------------------------------------------------------------


def test_the_email_log_lists_every_kind_with_names_or_addresses(client, cast):
    inv.invitation_create(
        access=cast.access("vendor_admin"), email="newcomer@partner.test", side=Side.PARTNER, role="approver"
    )
    OutboxMessage.objects.create(
        kind=MailKind.GOAL_PROPOSED,
        subject_type="goal",
        subject_id="x",
        occurrence=timezone.now(),
        recipient=cast.partner_approver,
        recipient_key=OutboxMessage.key_for(recipient_id=cast.partner_approver.pk),
        partnership_id=cast.partnership.pk,
        status="failed",
        attempts=3,
        last_error="SMTP 451 try later",
    )
    client.force_login(cast.vendor_admin)
    html = client.get(f"/p/{cast.partnership.pk}/reviews/deliveries/").content.decode()
    assert "No e-mail sent" not in html and "No reminders yet" not in html
    assert "Invitation to a partnership" in html and "newcomer@partner.test" in html and "(no account yet)" in html
    assert "A goal was proposed" in html and "Pat Partner" in html and "SMTP 451 try later" in html
    assert re.search(r'data-label="Attempts" class="num">3</td>', html)
    filtered = client.get(f"/p/{cast.partnership.pk}/reviews/deliveries/", {"kind": "weekly_digest"}).content.decode()
    assert "No e-mail matches this filter" in filtered and "No e-mail sent" not in filtered


def test_an_empty_email_log_says_so(client, cast):
    client.force_login(cast.vendor_admin)
    html = client.get(f"/p/{cast.partnership.pk}/reviews/deliveries/").content.decode()
    assert "No e-mail sent for this partnership yet" in html
