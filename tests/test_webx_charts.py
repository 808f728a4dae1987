"""The plan's pictures: server-rendered SVG that draws the right points and reads without colour."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.template import Context, Template

from goals import charts
from goals import check_ins as goal_check_ins

START, END = dt.date(2026, 10, 1), dt.date(2026, 12, 31)


def goal(**terms):
    fields = {
        "title": "Pipeline this quarter",
        "metric_name": "Qualified pipeline",
        "metric_unit": "EUR k",
        "baseline": Decimal("100"),
        "target": Decimal("200"),
        "direction": "increase",
        "period_start": START,
        "period_end": END,
    }
    return SimpleNamespace(**(fields | terms))


def check_in(day, value, side="vendor", confidence=3):
    return {"measured_on": day, "value": Decimal(value), "side": side, "confidence": confidence}


def render(source: str, **context) -> str:
    return Template("{% load plan_charts %}" + source).render(Context(context))


def points_of(svg: str, series: str) -> list[tuple[float, float]]:
    group = re.search(rf'pp-chart__series--{series}">(.*?)</g>', svg, re.S)
    assert group, f"no {series} series drawn"
    return [(float(x), float(y)) for x, y in re.findall(r'data-x="([\d.]+)" data-y="([\d.]+)"', group.group(1))]


# --- goal progress ------------------------------------------------------------------------------


def test_check_ins_are_placed_on_the_date_and_value_axes():
    # x: 1 Oct..31 Dec (91 days) onto 64..620; y: 100..200 onto 230..20.
    chart = charts.goal_progress(
        goal(), [check_in(dt.date(2026, 11, 15), "150"), check_in(END, "200", side="partner")], today=START
    )
    vendor, partner = chart.series[1], chart.series[2]
    assert [(p.x, p.y) for p in vendor.points] == [(round(64 + 556 * 45 / 91, 1), 125.0)]
    assert [(p.x, p.y) for p in partner.points] == [(620.0, 20.0)]
    trajectory = chart.series[0]
    assert [(p.x, p.y) for p in trajectory.points] == [(64.0, 230.0), (620.0, 20.0)]


def test_rendered_svg_draws_each_sides_points_with_its_own_marker_and_a_title():
    svg = render(
        "{% goal_progress_chart g cis today %}",
        g=goal(),
        today=START,
        cis=[
            check_in(dt.date(2026, 10, 15), "120", confidence=4),
            check_in(dt.date(2026, 11, 1), "130.5", side="partner", confidence=2),
            check_in(dt.date(2026, 11, 20), "150"),
        ],
    )
    assert points_of(svg, "vendor") == [(149.5, 188.0), (369.5, 125.0)]
    assert points_of(svg, "partner") == [(253.4, 165.9)]
    assert "Partner on 1 Nov 2026: 130.5 EUR k (30% of the way to target), confidence 2 of 5" in svg
    # Told apart without colour: a solid line with round markers against a dashed one with squares.
    assert 'stroke-dasharray="8 4"' in svg
    assert re.search(r'pp-chart__series--partner">.*?d="M249\.4,161\.9h8\.0v8\.0h-8\.0Z"', svg, re.S)
    assert 'role="img"' in svg and "<desc" in svg
    assert "3 check-ins; the latest, on 20 Nov 2026, measured 150 EUR k (50% of the way to target)" in svg
    assert "Target 200 EUR k" in svg
    assert svg.count("<tr>") == 4  # the numbers as a table: heading and three check-ins


def test_a_goal_without_check_ins_shows_the_trajectory_and_says_so():
    svg = render("{% goal_progress_chart g cis %}", g=goal(), cis=[])
    assert points_of(svg, "trajectory") == []  # the line has no markers
    assert 'd="M64.0,230.0 L620.0,20.0"' in svg
    assert "No check-ins yet" in svg
    assert "<table" not in svg
    assert "Vendor check-ins" not in svg  # no legend entry for an empty series


def test_a_single_check_in_gets_a_marker_but_no_line():
    chart = charts.goal_progress(goal(), [check_in(dt.date(2026, 11, 1), "140")])
    vendor = chart.series[1]
    assert vendor.path == ""
    assert len(vendor.markers) == 1
    assert "1 check-in;" in chart.description


def test_a_decreasing_metric_runs_downhill_and_counts_progress_downwards():
    g = goal(
        metric_name="Days to quote",
        metric_unit="days",
        baseline=Decimal("50"),
        target=Decimal("20"),
        direction="decrease",
    )
    chart = charts.goal_progress(g, [check_in(dt.date(2026, 11, 15), "35")])
    baseline_point, target_point = chart.series[0].points
    assert target_point.y > baseline_point.y  # the target is lower on the page
    assert chart.y_ticks[0].label == "20" and chart.y_ticks[-1].label == "50"
    assert "50% of the way to target" in chart.series[1].points[0].title
    assert "(lower is better)" in chart.description


def test_check_ins_outside_the_period_widen_the_axes_instead_of_leaving_the_plot():
    chart = charts.goal_progress(goal(), [check_in(dt.date(2027, 1, 10), "260")])
    point = chart.series[1].points[0]
    assert chart.left <= point.x <= chart.right
    assert chart.top <= point.y <= chart.bottom
    assert point.x == chart.right


def test_user_text_in_a_chart_is_escaped():
    svg = render(
        "{% goal_progress_chart g cis %}",
        g=goal(title="<script>alert(1)</script>", metric_unit="<b>"),
        cis=[check_in(dt.date(2026, 11, 1), "150")],
    )
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_the_tag_runs_no_query_with_prefetched_check_ins(cast, django_assert_num_queries):
    from goals.models import Goal
    from tests import factories as f

    vendor, partner = cast.access("vendor_approver"), cast.access("partner_approver")
    g = f.agree(f.make_goal(cast.access("vendor_editor"), f.make_objective(vendor)), vendor, partner)

    goal_check_ins.check_in_create(access=vendor, goal_id=g.pk, value="150", measured_on=dt.date.today())
    loaded = Goal.objects.prefetch_related("check_ins").get(pk=g.pk)
    with django_assert_num_queries(0):
        svg = render("{% goal_progress_chart g g.check_ins.all %}{% progress_bar 0.5 %}", g=loaded)
    assert len(points_of(svg, "vendor")) == 1


# --- health trend -------------------------------------------------------------------------------


def snapshots(*pairs):
    return [{"day": dt.date(2026, 11, d), "score": s} for d, s in pairs]


def test_health_trend_plots_scores_from_0_to_100():
    chart = charts.health_trend(snapshots((1, 0), (11, 50), (21, 100)))
    # x: 1..21 Nov onto 44..620; y: 0..100 onto 196..16.
    assert [(p.x, p.y) for p in chart.series[0].points] == [(44.0, 196.0), (332.0, 106.0), (620.0, 16.0)]
    assert chart.description == "Health rose from 0 on 1 Nov 2026 to 100 on 21 Nov 2026 (lowest 0, highest 100)."


def test_health_trend_in_any_order_and_falling():
    chart = charts.health_trend(snapshots((20, 40), (1, 70)))
    assert [p.title for p in chart.series[0].points] == ["1 Nov 2026: health 70", "20 Nov 2026: health 40"]
    assert chart.description.startswith("Health fell from 70")


def test_sparkline_is_small_with_its_trend_in_words_and_the_latest_point_marked():
    svg = render('{% health_trend snaps size="spark" %}', snaps=snapshots((1, 30), (8, 45), (15, 60)))
    assert 'width="120" height="32"' in svg
    assert "Health rose from 30" in svg
    assert "<table" not in svg and "pp-chart__legend" not in svg
    assert points_of(svg, "latest") == [(117.0, 13.4)]  # 60 of 100 on 29..3


def test_health_trend_without_history_and_with_one_day():
    assert "No health history yet" in render("{% health_trend snaps %}", snaps=[])
    assert "No health history yet" in render("{% health_trend snaps %}", snaps=None)
    chart = charts.health_trend(snapshots((5, 64)))
    assert chart.description == "Health 64 on 5 Nov 2026; no earlier history."
    assert len(chart.series[0].markers) == 1


def test_health_trend_refuses_an_unknown_size():
    with pytest.raises(ValueError, match="spark"):
        charts.health_trend([], size="huge")


# --- progress bars ------------------------------------------------------------------------------


def test_progress_bar_states_its_value_in_text_and_aria():
    html = render('{% progress_bar 0.456 label="Pipeline" %}')
    assert 'role="progressbar"' in html and 'aria-valuenow="46"' in html and 'aria-label="Pipeline"' in html
    assert ">46%</span>" in html
    assert 'width="46"' in html


def test_progress_bar_behind_plan_is_said_and_hatched_not_only_coloured():
    html = render("{% progress_bar 0.3 expected=0.6 %}")
    assert "30% · behind plan (60% expected by now)" in html
    assert re.search(r'class="pp-progress__fill" width="30" height="8" fill="url\(#\w+-hatch\)"', html)
    assert 'class="pp-progress__expected" x="60.0"' in html
    on_track = render("{% progress_bar 0.7 expected=0.6 %}")
    assert "70% · on track" in on_track and "url(#" not in on_track.split("</defs>")[1]


def test_progress_bar_without_a_check_in_and_clamped_values():
    none = render("{% progress_bar None %}")
    assert "No check-in yet" in none and "aria-valuenow" not in none and "pp-progress__fill" not in none
    assert charts.progress_bar(1.7).percent == 100
    assert charts.progress_bar(-0.2).percent == 0
    assert charts.progress_bar(1).text == "100% · target reached"


def test_expected_share_is_how_far_along_the_period_we_are():
    g = goal()
    assert charts.expected_share(g, START) == 0
    assert charts.expected_share(g, END) == 1
    assert charts.expected_share(g, dt.date(2027, 3, 1)) == 1
    assert round(charts.expected_share(g, dt.date(2026, 11, 15)), 3) == round(45 / 91, 3)


# --- derive trajectory --------------------------------------------------------------------------


def test_derive_trajectory_marks_each_interim_target_on_the_long_term_line():
    from goals.derive import Suggestion

    objective = SimpleNamespace(
        title="Grow pipeline",
        metric_unit="EUR k",
        baseline=Decimal("100"),
        target=Decimal("500"),
        baseline_date=dt.date(2027, 1, 1),
        target_date=dt.date(2027, 12, 31),
    )
    suggestions = [
        Suggestion(dt.date(2027, 1, 1), dt.date(2027, 6, 30), Decimal("100"), Decimal("298"), "H1"),
        Suggestion(
            dt.date(2027, 7, 1), dt.date(2027, 12, 31), Decimal("298"), Decimal("500"), "H2", existing_goal=object()
        ),
    ]
    chart = charts.derive_trajectory(objective, suggestions)
    line, steps = chart.series
    assert [(p.x, p.y) for p in line.points] == [(64.0, 230.0), (620.0, 20.0)]
    assert [p.y for p in steps.points] == [126.0, 20.0]
    assert "(a goal exists already)" in steps.points[1].title
    svg = render("{% trajectory_chart o s %}", o=objective, s=suggestions)
    assert "2 interim goals on the way from 100 EUR k on 1 Jan 2027 to 500 EUR k by 31 Dec 2027" in svg


def test_numbers_are_written_as_people_write_them():
    assert charts.fmt_number(Decimal("1500.0000")) == "1,500"
    assert charts.fmt_number(Decimal("12.5000")) == "12.5"
    assert charts.fmt_number(Decimal("1E+2")) == "100"
    assert charts.nice_ticks(0, 100) == [0, 25, 50, 75, 100]
    assert charts.nice_ticks(7, 7)[0] < 7 < charts.nice_ticks(7, 7)[-1]


def test_a_plain_bar_shows_a_score_without_judging_it():
    bar = charts.progress_bar(1, plain=True, label="Shared vision endorsed")
    assert (bar.text, bar.colour) == ("100%", "#0b5cad")
    assert ">50%</span>" in render("{% progress_bar 0.5 plain=True %}")
