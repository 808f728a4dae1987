"""Print view and CSV exports of the joint plan: who may see them, what is in them, and that they
cost the same number of queries for a small and a large plan."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from goals import check_ins as goal_check_ins
from goals import services as goals
from plans.exports import safe_cell
from tests import factories as f

pytestmark = pytest.mark.django_db


def build_plan(cast, n_goals: int, *, title: str = "Pipeline"):
    """n agreed goals under one objective, each with a check-in from both sides."""
    editor, vendor, partner = (cast.access(w) for w in ("vendor_editor", "vendor_approver", "partner_approver"))
    objective = f.make_objective(editor, title="Grow the joint pipeline")
    made = []
    for i in range(n_goals):
        g = f.agree(f.make_goal(editor, objective, title=f"{title} {i}"), vendor, partner)
        goal_check_ins.check_in_create(
            access=vendor,
            goal_id=g.pk,
            value=Decimal("150"),
            confidence=4,
            measured_on=dt.date.today() - dt.timedelta(days=3),
        )
        goal_check_ins.check_in_create(
            access=partner,
            goal_id=g.pk,
            value=Decimal("140"),
            confidence=2,
            note="Slow month",
            measured_on=dt.date.today() - dt.timedelta(days=1),
        )
        made.append(g)
    return objective, made


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def urls(p):
    return {name: reverse(name, args=[p.pk]) for name in ("plan_print", "export_goals_csv", "export_check_ins_csv")}


# --- who may see them ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["plan_print", "export_goals_csv", "export_check_ins_csv"])
def test_outsiders_get_404_and_anonymous_people_are_sent_to_sign_in(client, cast, name):
    url = urls(cast.partnership)[name]
    client.force_login(cast.outsider)
    assert client.get(url).status_code == 404
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("who", ["partner_viewer", "vendor_viewer", "vendor_admin"])
def test_every_member_including_viewers_may_print_and_export(client, cast, who):
    client.force_login(getattr(cast, who))
    for url in urls(cast.partnership).values():
        assert client.get(url).status_code == 200


def test_a_bad_partnership_id_is_a_404(client, cast):
    client.force_login(cast.vendor_admin)
    assert client.get("/p/not-a-uuid/print/").status_code == 404
    assert client.get("/p/00000000-0000-4000-8000-000000000000/export/goals.csv").status_code == 404


# --- CSV ---------------------------------------------------------------------------------------


def test_goals_csv_has_one_row_per_goal_with_both_sides_commitments_and_latest_check_in(client, cast):
    _, made = build_plan(cast, 2)
    client.force_login(cast.partner_viewer)
    response = client.get(urls(cast.partnership)["export_goals_csv"])
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="acme-northwind-goals-')
    head, *rows = read_csv(response)
    assert head[:4] == ["Goal id", "Objective", "Goal", "Period start"]
    assert [r[0] for r in rows] == [str(g.pk) for g in made]
    row = dict(zip(head, rows[0], strict=True))
    assert row["Goal"] == "Pipeline 0"
    assert row["Baseline"] == "100" and row["Target"] == "200"
    assert row["Status"] == "Agreed" and row["Agreed revision"] == "1"
    assert row["Vendor commitments"] == "Fund two joint workshops"
    assert row["Partner commitments"] == "Certify three consultants"
    assert row["Latest value"] == "140"  # the partner's check-in is the newer one
    assert row["Progress %"] == "40"
    assert (row["Vendor confidence"], row["Partner confidence"]) == ("4", "2")


def test_check_ins_csv_lists_every_check_in_oldest_first(client, cast):
    build_plan(cast, 1)
    client.force_login(cast.vendor_viewer)
    head, *rows = read_csv(client.get(urls(cast.partnership)["export_check_ins_csv"]))
    table = [dict(zip(head, r, strict=True)) for r in rows]
    assert [(r["Side"], r["Value"], r["Progress %"], r["Confidence (1-5)"]) for r in table] == [
        ("vendor", "150", "50", "4"),
        ("partner", "140", "40", "2"),
    ]
    assert table[1]["Note"] == "Slow month"
    assert table[1]["By"] == "Pat Partner"


def test_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(client, cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor, title='=HYPERLINK("http://evil.test","click")')
    f.make_goal(editor, objective, title="+cmd|' /C calc'!A0")
    g = f.agree(
        f.make_goal(editor, objective, title="@SUM(1+1)"),
        cast.access("vendor_approver"),
        cast.access("partner_approver"),
    )
    goal_check_ins.check_in_create(
        access=cast.access("vendor_approver"),
        goal_id=g.pk,
        value=Decimal("-5"),
        note="-2+3",
        measured_on=dt.date.today(),
    )
    client.force_login(cast.vendor_editor)
    head, *rows = read_csv(client.get(urls(cast.partnership)["export_goals_csv"]))
    cells = [c for r in rows for c in r]
    assert '\'=HYPERLINK("http://evil.test","click")' in cells
    assert "'+cmd|' /C calc'!A0" in cells and "'@SUM(1+1)" in cells
    assert not any(c and c[0] in "=+@" for c in cells)
    head, *rows = read_csv(client.get(urls(cast.partnership)["export_check_ins_csv"]))
    row = dict(zip(head, rows[0], strict=True))
    assert row["Note"] == "'-2+3"
    assert row["Value"] == "-5"  # a number stays a number


def test_safe_cell_writes_values_plainly():
    assert safe_cell(Decimal("150.0000")) == "150"
    assert safe_cell(Decimal("12.5000")) == "12.5"
    assert safe_cell(None) == ""
    assert safe_cell(dt.date(2026, 11, 27)) == "2026-11-27"
    assert safe_cell(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)) == "2026-11-27T09:30:00Z"
    assert safe_cell("  =1+1") == "'  =1+1"
    assert safe_cell("Plain text, with comma") == "Plain text, with comma"


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200
        if response.streaming:
            b"".join(response.streaming_content)
        else:
            response.content  # noqa: B018
    return len(ctx)


@pytest.mark.parametrize("name", ["export_goals_csv", "export_check_ins_csv", "plan_print"])
def test_query_count_does_not_grow_with_the_plan(client, cast, name):
    build_plan(cast, 1, title="Small")
    client.force_login(cast.vendor_editor)
    url = urls(cast.partnership)[name]
    count_queries(client, url)  # warm the session
    small = count_queries(client, url)
    build_plan(cast, 6, title="Large")
    assert count_queries(client, url) == small


# --- print view --------------------------------------------------------------------------------


def test_print_view_shows_the_whole_plan_with_a_print_button(client, cast):
    from alignment import services as plan

    plan.vision_update(
        access=cast.access("vendor_editor"),
        why_together="We win the mid-market together",
        what_we_hope="Double joint revenue",
        how_we_work="Monthly pipeline calls",
    )
    plan.vision_endorse(access=cast.access("partner_approver"), revision=2)
    build_plan(cast, 1)
    client.force_login(cast.partner_viewer)
    html = client.get(urls(cast.partnership)["plan_print"]).content.decode()
    assert "Print / save as PDF" in html and "data-print" in html and "js/print.js" in html
    assert "css/print.css" in html
    assert "We win the mid-market together" in html
    assert "Vendor: not endorsed" in html and "Partner: endorsed by Pat Partner" in html
    assert "Grow the joint pipeline" in html and "Pipeline 0" in html
    assert "Fund two joint workshops" in html and "Certify three consultants" in html
    assert "partner 140 EUR k on" in html
    assert "confidence gap 2" in html
    assert 'role="progressbar"' in html and 'class="pp-chart__svg"' in html
    assert "Alignment health" in html and "Shared vision endorsed" in html
    assert "Ava Approver" in html and "Pat Partner" in html


def test_print_view_escapes_user_text(client, cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor, title="<script>alert('o')</script>")
    f.make_goal(editor, objective, title="<img src=x onerror=alert(1)>")
    client.force_login(cast.vendor_editor)
    html = client.get(urls(cast.partnership)["plan_print"]).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;o&#x27;)&lt;/script&gt;" in html


def test_print_view_shows_the_agreed_terms_in_force_while_an_amendment_is_negotiated(client, cast):
    _, (goal,) = build_plan(cast, 1)
    goals.goal_update(access=cast.access("vendor_editor"), goal_id=goal.pk, target=Decimal("260"))
    client.force_login(cast.partner_viewer)
    html = client.get(urls(cast.partnership)["plan_print"]).content.decode()
    assert "amendment draft" in html
    assert "from 100 to 260" in html
    assert "In force until the amendment is agreed: revision 1, target 200" in html


def test_closed_goals_carry_their_outcome_and_withdrawn_ones_are_left_out(client, cast):
    editor = cast.access("vendor_editor")
    objective = f.make_objective(editor)
    withdrawn = f.make_goal(editor, objective, title="Abandoned idea")
    goals.goal_withdraw(access=editor, goal_id=withdrawn.pk, note="Not now")
    client.force_login(cast.vendor_editor)
    html = client.get(urls(cast.partnership)["plan_print"]).content.decode()
    assert "Abandoned idea" not in html
    head, *rows = read_csv(client.get(urls(cast.partnership)["export_goals_csv"]))
    assert [dict(zip(head, r, strict=True))["Status"] for r in rows] == ["Withdrawn"]
