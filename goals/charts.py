"""Pictures of the plan, drawn on the server as SVG: a goal's progress against its target over time,
the alignment health trend, the trajectory of derived goals and progress bars.

Functions here are pure: they take already loaded objects (never query) and return a ``Chart``
whose coordinates the templates in ``templates/charts/`` draw. Every picture is readable without
colour: series differ by line pattern and marker shape, every point has a ``<title>``, the chart
has a text description, and the underlying numbers are available as a table.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from core.templatetags.formatting import format_number, side_word

from .models import Direction, progress_between

SIDE_STYLE = {
    # side: (label, colour, dash pattern, marker)
    "vendor": (_("Vendor check-ins"), "#0b5cad", "", "circle"),
    "partner": (_("Partner check-ins"), "#9a3412", "8 4", "square"),
}
TRAJECTORY_STYLE = (_("Planned trajectory"), "#57606a", "2 4", "none")
TARGET_COLOUR = "#1a7f37"
HEALTH_COLOUR = "#0b5cad"


# --- Building blocks --------------------------------------------------------------------------


@dataclass
class Point:
    x: float
    y: float
    title: str  # what a tooltip and a screen reader say about this point


def marker_path(marker: str, x: float, y: float, r: float = 4.0) -> str:
    """SVG path data of a marker centred on (x, y); shapes tell series apart without colour."""
    if marker == "square":
        return f"M{x - r:.1f},{y - r:.1f}h{2 * r:.1f}v{2 * r:.1f}h{-2 * r:.1f}Z"
    if marker == "diamond":
        d = r * 1.35
        return f"M{x:.1f},{y - d:.1f}L{x + d:.1f},{y:.1f}L{x:.1f},{y + d:.1f}L{x - d:.1f},{y:.1f}Z"
    if marker == "circle":
        return f"M{x - r:.1f},{y:.1f}a{r:.1f},{r:.1f} 0 1,0 {2 * r:.1f},0a{r:.1f},{r:.1f} 0 1,0 {-2 * r:.1f},0Z"
    return ""


@dataclass
class Series:
    key: str
    label: str
    colour: str
    dash: str  # SVG stroke-dasharray; "" for a solid line
    marker: str  # "circle", "square", "diamond" or "none"
    points: list[Point] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The SVG path through the points ("" with fewer than two)."""
        if len(self.points) < 2:
            return ""
        return "M" + " L".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def markers(self) -> list[tuple[Point, str]]:
        """Each point with the path of its marker (a lone point always gets one, to be seen)."""
        marker = self.marker if self.marker != "none" or len(self.points) != 1 else "circle"
        if marker == "none":
            return []
        return [(p, marker_path(marker, p.x, p.y)) for p in self.points]


@dataclass
class LegendEntry:
    """A legend entry, drawn in HTML under the chart so it wraps and scales like text: a 28 by 10
    swatch with the series' line pattern and marker, then the label."""

    series: Series
    marker: str  # path data of the marker in the swatch ("" for a line without markers)


@dataclass
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # the first and last date labels stay inside the plot's width


@dataclass
class Rule:
    """A labelled straight line across the plot (a target, today)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    colour: str
    label_x: float
    label_y: float
    anchor: str = "end"


@dataclass
class Chart:
    title: str
    description: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    series: list[Series] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    empty_message: str = ""
    # The numbers behind the picture, for the data table: column headings and rows of text.
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def plotted_series(self) -> list[Series]:
        return [s for s in self.series if s.points]

    @property
    def compact(self) -> bool:
        """A sparkline: no axes, legend or table; drawn at its own size."""
        return self.width < 200

    @property
    def x_label_y(self) -> float:
        return self.bottom + 18

    @property
    def y_label_x(self) -> float:
        return self.left - 6

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    @property
    def legend(self) -> list[LegendEntry]:
        """One entry per drawn series (none for a sparkline)."""
        if self.compact:
            return []
        return [
            LegendEntry(s, marker_path(s.marker, 14, 5, 3.5) if s.marker != "none" else "") for s in self.plotted_series
        ]


class Scale:
    """A linear map from a data interval onto a pixel interval."""

    def __init__(self, lo: float, hi: float, start: float, end: float):
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        self.lo, self.hi, self.start, self.end = lo, hi, start, end

    def __call__(self, value: float) -> float:
        return round(self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start), 1)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering ``lo..hi``."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    ticks, value = [], first
    while value < hi + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def fmt_number(value: Any) -> str:
    """A number as people write it: no trailing zeros, no exponent, thousands separated."""
    if value is None:
        return "–"
    return format_number(value)


def _with_unit(value: Any, unit: str) -> str:
    return f"{fmt_number(value)} {unit}".strip()


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _review(check_in: Any) -> str:
    """A check-in's review state; one that does not say counts as confirmed."""
    review = check_in.get("review") if isinstance(check_in, dict) else getattr(check_in, "review", None)
    return str(review or "confirmed")


def _day(day: dt.date) -> str:
    """A day as the charts write it ("3 Mar 2026"), in the active language."""
    return date_format(day, "j M Y")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _date_label(day: dt.date, span_days: int) -> str:
    return _day(day) if span_days > 300 else date_format(day, "j M")


def _date_ticks(first: dt.date, last: dt.date, scale: Scale, count: int = 5) -> list[Tick]:
    span = (last - first).days
    if span <= 0:
        return [Tick(scale(first.toordinal()), _date_label(first, 0))]
    steps = min(count - 1, span)
    days = sorted({first + dt.timedelta(days=round(span * i / steps)) for i in range(steps + 1)})
    ticks = [Tick(scale(d.toordinal()), _date_label(d, span)) for d in days]
    ticks[0].anchor, ticks[-1].anchor = "start", "end"
    return ticks


# --- Goal progress against target over time ---------------------------------------------------

GOAL_SIZE = (640, 260)
GOAL_MARGIN = (64, 20, 20, 30)  # left, top, right, bottom


def goal_progress(goal: Any, check_ins: Iterable[Any], *, today: dt.date | None = None) -> Chart:
    """The goal's check-ins of both sides over time, with the planned trajectory from the baseline at
    the period's start to the target at its end, and the target as a labelled line.

    ``goal`` needs ``title, metric_name, metric_unit, baseline, target, direction, period_start,
    period_end``; ``check_ins`` are objects (or dicts) with ``measured_on, value, side, confidence``
    and optionally ``review`` and ``disputed_value`` (two-key actuals).

    A disputed figure is no point of the lines (it does not count until the sides settle) but is a
    row of the table, with both numbers; an unconfirmed figure is drawn and said to be unconfirmed.
    """
    listed = sorted(check_ins, key=lambda c: (_get(c, "measured_on"), str(_get(c, "side"))))
    items = [c for c in listed if _review(c) != "disputed"]
    unit = goal.metric_unit or ""
    width, height = GOAL_SIZE
    left, top, right_margin, bottom_margin = GOAL_MARGIN
    right, bottom = width - right_margin, height - bottom_margin

    days = [goal.period_start, goal.period_end] + [_get(c, "measured_on") for c in items]
    first, last = min(days), max(days)
    values = [float(goal.baseline), float(goal.target)] + [float(_get(c, "value")) for c in items]
    y_values = nice_ticks(min(values), max(values))
    x = Scale(first.toordinal(), last.toordinal(), left, right)
    y = Scale(y_values[0], y_values[-1], bottom, top)

    label, colour, dash, marker = TRAJECTORY_STYLE
    trajectory = Series("trajectory", str(label), colour, dash, marker)
    trajectory.points = [
        Point(
            x(goal.period_start.toordinal()),
            y(float(goal.baseline)),
            gettext("Baseline %(value)s on %(date)s")
            % {"value": _with_unit(goal.baseline, unit), "date": _day(goal.period_start)},
        ),
        Point(
            x(goal.period_end.toordinal()),
            y(float(goal.target)),
            gettext("Target %(value)s by %(date)s")
            % {"value": _with_unit(goal.target, unit), "date": _day(goal.period_end)},
        ),
    ]
    chart = Chart(
        title=gettext("Progress of “%(title)s”") % {"title": goal.title},
        description="",
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        series=[trajectory],
        x_ticks=_date_ticks(first, last, x),
        y_ticks=[Tick(y(v), fmt_number(v)) for v in y_values],
        table_head=[
            gettext("Date"),
            pgettext("vendor or partner", "Side"),
            f"{goal.metric_name or gettext('Value')}{f' ({unit})' if unit else ''}",
            gettext("Progress"),
            gettext("Confidence"),
        ],
    )
    target_y = y(float(goal.target))
    chart.rules.append(
        Rule(
            left,
            target_y,
            right,
            target_y,
            gettext("Target %(value)s") % {"value": _with_unit(goal.target, unit)},
            TARGET_COLOUR,
            right - 4,
            target_y - 6,
        )
    )
    today = today or timezone.localdate()
    if first <= today <= last:
        tx = x(today.toordinal())
        chart.rules.append(Rule(tx, top, tx, bottom, gettext("Today"), "#57606a", tx + 4, bottom - 6, anchor="start"))

    for side, (label, colour, dash, marker) in SIDE_STYLE.items():
        series = Series(side, str(label), colour, dash, marker)
        for c in items:
            if _get(c, "side") != side:
                continue
            value, day = _get(c, "value"), _get(c, "measured_on")
            share = progress_between(goal.baseline, goal.target, Decimal(str(value)))
            pct = f"{round(share * 100)}%" if share is not None else "–"
            said = gettext(
                "%(side)s on %(date)s: %(value)s (%(progress)s of the way to target), confidence %(confidence)s of 5"
            ) % {
                "side": _capital(side_word(side)),
                "date": _day(day),
                "value": _with_unit(value, unit),
                "progress": pct,
                "confidence": _get(c, "confidence"),
            }
            if _review(c) == "unconfirmed":
                said = gettext("%(said)s (unconfirmed)") % {"said": said}
            series.points.append(Point(x(day.toordinal()), y(float(value)), said))
        chart.series.append(series)
    for c in listed:
        review = _review(c)
        share = progress_between(goal.baseline, goal.target, Decimal(str(_get(c, "value"))))
        shown = _with_unit(_get(c, "value"), unit)
        if review == "disputed":
            shown = gettext("disputed: %(value)s vs %(other)s") % {
                "value": shown,
                "other": _with_unit(_get(c, "disputed_value"), unit),
            }
        elif review == "unconfirmed":
            shown = gettext("%(value)s (unconfirmed)") % {"value": shown}
        chart.table_rows.append(
            [
                _day(_get(c, "measured_on")),
                _capital(side_word(str(_get(c, "side")))),
                shown,
                f"{round(share * 100)}%" if share is not None and review != "disputed" else "–",
                gettext("%(confidence)s of 5") % {"confidence": _get(c, "confidence")},
            ]
        )

    terms = {
        "metric": goal.metric_name or gettext("Value"),
        "baseline": _with_unit(goal.baseline, unit),
        "start": _day(goal.period_start),
        "target": _with_unit(goal.target, unit),
        "end": _day(goal.period_end),
    }
    if goal.direction == Direction.INCREASE:
        description = (
            gettext(
                "%(metric)s from a baseline of %(baseline)s on %(start)s to a target of %(target)s by %(end)s "
                "(higher is better)."
            )
            % terms
        )
    else:
        description = (
            gettext(
                "%(metric)s from a baseline of %(baseline)s on %(start)s to a target of %(target)s by %(end)s "
                "(lower is better)."
            )
            % terms
        )
    if items:
        latest = items[-1]
        share = progress_between(goal.baseline, goal.target, Decimal(str(_get(latest, "value"))))
        description += " " + ngettext(
            "%(n)s check-in; the latest, on %(date)s, measured %(value)s (%(progress)s of the way to target).",
            "%(n)s check-ins; the latest, on %(date)s, measured %(value)s (%(progress)s of the way to target).",
            len(items),
        ) % {
            "n": len(items),
            "date": _day(_get(latest, "measured_on")),
            "value": _with_unit(_get(latest, "value"), unit),
            "progress": f"{round((share or 0) * 100)}%",
        }
    else:
        chart.empty_message = gettext("No check-ins yet")
        description += " " + gettext("No check-ins yet.")
    chart.description = description
    return chart


# --- Alignment health over time ---------------------------------------------------------------

HEALTH_SIZE = {"line": (640, 226), "spark": (120, 32)}
HEALTH_MARGIN = {"line": (44, 16, 20, 30), "spark": (3, 3, 3, 3)}


def health_trend(snapshots: Iterable[Any], *, size: str = "line") -> Chart:
    """The health score (0-100) day by day. ``snapshots`` are ``HealthSnapshot`` objects (or dicts)
    with ``day`` and ``score``. ``size`` is "line" (axes, markers) or "spark" (a small inline line)."""
    if size not in HEALTH_SIZE:
        raise ValueError(f"size is 'line' or 'spark', not {size!r}")
    items = sorted(snapshots, key=lambda s: _get(s, "day"))
    width, height = HEALTH_SIZE[size]
    left, top, right_margin, bottom_margin = HEALTH_MARGIN[size]
    right, bottom = width - right_margin, height - bottom_margin
    chart = Chart(
        title=gettext("Alignment health trend"),
        description="",
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        table_head=[gettext("Day"), gettext("Health (0-100)")],
    )
    series = Series("health", gettext("Health score"), HEALTH_COLOUR, "", "circle" if size == "line" else "none")
    chart.series.append(series)
    if not items:
        chart.empty_message = gettext("No health history yet")
        chart.description = gettext("No health history yet.")
        return chart
    first, last = _get(items[0], "day"), _get(items[-1], "day")
    x = Scale(first.toordinal(), last.toordinal(), left, right)
    y = Scale(0, 100, bottom, top)
    for s in items:
        day, score = _get(s, "day"), int(_get(s, "score"))
        point_title = gettext("%(date)s: health %(score)s") % {"date": _day(day), "score": score}
        series.points.append(Point(x(day.toordinal()), y(score), point_title))
        chart.table_rows.append([_day(day), str(score)])
    if size == "spark":
        latest = series.points[-1]
        chart.series.append(Series("latest", gettext("Latest score"), HEALTH_COLOUR, "", "circle", [latest]))
    if size == "line":
        chart.x_ticks = _date_ticks(first, last, x, count=4)
        chart.y_ticks = [Tick(y(v), str(v)) for v in (0, 25, 50, 75, 100)]
    start, end = int(_get(items[0], "score")), int(_get(items[-1], "score"))
    if len(items) == 1:
        chart.description = gettext("Health %(score)s on %(date)s; no earlier history.") % {
            "score": end,
            "date": _day(last),
        }
    else:
        numbers = {
            "start": start,
            "first": _day(first),
            "end": end,
            "last": _day(last),
            "low": min(int(_get(s, "score")) for s in items),
            "high": max(int(_get(s, "score")) for s in items),
        }
        if end > start:
            text = gettext(
                "Health rose from %(start)s on %(first)s to %(end)s on %(last)s (lowest %(low)s, highest %(high)s)."
            )
        elif end < start:
            text = gettext(
                "Health fell from %(start)s on %(first)s to %(end)s on %(last)s (lowest %(low)s, highest %(high)s)."
            )
        else:
            text = gettext(
                "Health held steady from %(start)s on %(first)s to %(end)s on %(last)s "
                "(lowest %(low)s, highest %(high)s)."
            )
        chart.description = text % numbers
    return chart


# --- The trajectory of derived goals ----------------------------------------------------------


def derive_trajectory(objective: Any, suggestions: Sequence[Any], *, start_day: dt.date | None = None) -> Chart:
    """The straight line from the objective's baseline to its long-term target, with the interim
    target of every suggested period (``goals.derive.Suggestion`` objects) marked on it."""
    unit = objective.metric_unit or ""
    width, height = GOAL_SIZE
    left, top, right_margin, bottom_margin = GOAL_MARGIN
    right, bottom = width - right_margin, height - bottom_margin
    start = start_day or objective.baseline_date or timezone.localdate()
    end = objective.target_date or start
    days = [start, end] + [s.period_end for s in suggestions] + [s.period_start for s in suggestions]
    first, last = min(days), max(days)
    values = [float(objective.baseline or 0), float(objective.target or 0)] + [float(s.target) for s in suggestions]
    y_values = nice_ticks(min(values), max(values))
    x = Scale(first.toordinal(), last.toordinal(), left, right)
    y = Scale(y_values[0], y_values[-1], bottom, top)
    _label, colour, dash, marker = TRAJECTORY_STYLE
    line = Series("trajectory", gettext("Long-term trajectory"), colour, dash, marker)
    line.points = [
        Point(
            x(start.toordinal()),
            y(float(objective.baseline or 0)),
            gettext("Baseline %(value)s on %(date)s")
            % {"value": _with_unit(objective.baseline, unit), "date": _day(start)},
        ),
        Point(
            x(end.toordinal()),
            y(float(objective.target or 0)),
            gettext("Long-term target %(value)s by %(date)s")
            % {"value": _with_unit(objective.target, unit), "date": _day(end)},
        ),
    ]
    steps = Series("interim", gettext("Interim goal targets"), "#0b5cad", "", "diamond")
    chart = Chart(
        title=gettext("Interim goals towards “%(title)s”") % {"title": objective.title},
        description="",
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        series=[line, steps],
        x_ticks=_date_ticks(first, last, x),
        y_ticks=[Tick(y(v), fmt_number(v)) for v in y_values],
        table_head=[
            gettext("Period"),
            pgettext("start of a period", "From"),
            pgettext("end of a period", "To"),
            gettext("New"),
        ],
    )
    for s in suggestions:
        steps.points.append(
            Point(
                x(s.period_end.toordinal()),
                y(float(s.target)),
                (
                    gettext("%(start)s – %(end)s: %(target)s")
                    if getattr(s, "is_new", True)
                    else gettext("%(start)s – %(end)s: %(target)s (a goal exists already)")
                )
                % {"start": _day(s.period_start), "end": _day(s.period_end), "target": _with_unit(s.target, unit)},
            )
        )
        chart.table_rows.append(
            [
                f"{_day(s.period_start)} – {_day(s.period_end)}",
                _with_unit(s.baseline, unit),
                _with_unit(s.target, unit),
                gettext("yes") if getattr(s, "is_new", True) else gettext("exists"),
            ]
        )
    if objective.target is not None:
        ty = y(float(objective.target))
        chart.rules.append(
            Rule(
                left,
                ty,
                right,
                ty,
                gettext("Long-term target %(value)s") % {"value": _with_unit(objective.target, unit)},
                TARGET_COLOUR,
                right - 4,
                ty - 6,
            )
        )
    way = {
        "n": len(suggestions),
        "baseline": _with_unit(objective.baseline, unit),
        "start": _day(start),
        "target": _with_unit(objective.target, unit),
        "end": _day(end),
        "steps": "; ".join(p.title for p in steps.points),
    }
    if steps.points:
        chart.description = (
            ngettext(
                "%(n)s interim goal on the way from %(baseline)s on %(start)s to %(target)s by %(end)s: %(steps)s.",
                "%(n)s interim goals on the way from %(baseline)s on %(start)s to %(target)s by %(end)s: %(steps)s.",
                len(suggestions),
            )
            % way
        )
    else:
        chart.description = (
            ngettext(
                "%(n)s interim goal on the way from %(baseline)s on %(start)s to %(target)s by %(end)s.",
                "%(n)s interim goals on the way from %(baseline)s on %(start)s to %(target)s by %(end)s.",
                len(suggestions),
            )
            % way
        )
    if not suggestions:
        chart.empty_message = gettext("No periods to suggest")
    return chart


# --- Progress bars ----------------------------------------------------------------------------


@dataclass
class ProgressBar:
    percent: int | None  # 0..100, None when nothing was measured
    expected: int | None  # where the trajectory says the goal should be today
    label: str
    plain: bool = False  # just the percentage: a score, not progress towards a target
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def state(self) -> str:
        if self.percent is None:
            return "none"
        if self.percent >= 100:
            return "done"
        if self.expected is not None and self.percent < self.expected:
            return "behind"
        return "on_track"

    @property
    def text(self) -> str:
        if self.percent is None:
            return gettext("No check-in yet")
        if self.plain:
            return f"{self.percent}%"
        numbers = {"percent": self.percent, "expected": self.expected}
        if self.state == "done":
            return gettext("%(percent)s%% · target reached") % numbers
        if self.expected is None:
            return f"{self.percent}%"
        if self.state == "behind":
            return gettext("%(percent)s%% · behind plan (%(expected)s%% expected by now)") % numbers
        return gettext("%(percent)s%% · on track (%(expected)s%% expected by now)") % numbers

    @property
    def colour(self) -> str:
        if self.plain:
            return "#0b5cad"
        return {"behind": "#9a6700", "done": "#1a7f37"}.get(self.state, "#0b5cad")

    @property
    def expected_x(self) -> float | None:
        return None if self.expected is None else min(float(self.expected), 99.2)


def _percent(value: Any) -> int | None:
    if value is None or value == "":
        return None
    share = float(value)
    if math.isnan(share):
        return None
    return max(0, min(100, round(share * 100)))


def progress_bar(value: Any, *, expected: Any = None, label: str = "", plain: bool = False) -> ProgressBar:
    """A progress bar for a share of the way from baseline to target (0..1, clamped), optionally with
    the share the plan expects by now (see ``expected_share``); ``label`` defaults to "Progress
    towards target"."""
    label = label or gettext("Progress towards target")
    return ProgressBar(percent=_percent(value), expected=_percent(expected), label=label, plain=plain)


def expected_share(goal: Any, today: dt.date | None = None) -> float | None:
    """How far along its period the goal is (0..1): where a straight trajectory would be today."""
    today = today or timezone.localdate()
    total = (goal.period_end - goal.period_start).days
    if total <= 0:
        return 1.0 if today >= goal.period_end else 0.0
    share: float = (today - goal.period_start).days / total
    return max(0.0, min(1.0, share))
