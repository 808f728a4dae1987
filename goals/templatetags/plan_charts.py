"""Template tags that draw the plan's pictures as inline SVG (see ``goals.charts``).

Load with ``{% load plan_charts %}``. No tag runs a query: pass it what the view already loaded
(prefetch check-ins, load snapshots in bulk with ``alignment.health_snapshots.recent_snapshots``),
so a page keeps a constant number of queries whatever the number of goals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import template

from .. import charts

register = template.Library()


@register.inclusion_tag("charts/chart.html")
def goal_progress_chart(
    goal: Any, check_ins: Iterable[Any] | None = None, today: dt.date | None = None
) -> dict[str, Any]:
    """Progress of a goal against its target over time: both sides' check-ins (vendor: solid line,
    round markers; partner: dashed line, square markers), the planned trajectory from the baseline
    at the period's start to the target at its end (dotted), the target and today as labelled lines,
    and a "Show the numbers" table.

    Context it needs:
    - ``goal``: a ``goals.models.Goal`` (uses ``title, metric_name, metric_unit, baseline, target,
      direction, period_start, period_end``; no related objects, so no query);
    - ``check_ins``: the goal's ``CheckIn`` objects (or dicts with ``measured_on, value, side,
      confidence``), in any order, e.g. ``goal.check_ins.all`` after
      ``prefetch_related("check_ins")``. Leave it out only where one extra query per goal is fine.

    Usage: ``{% goal_progress_chart goal goal.check_ins.all %}``
    """
    if check_ins is None:
        check_ins = goal.check_ins.all()
    return {"chart": charts.goal_progress(goal, list(check_ins), today=today)}


@register.inclusion_tag("charts/chart.html")
def health_trend(snapshots: Iterable[Any] | None, size: str = "line") -> dict[str, Any]:
    """The alignment health (0-100) over time.

    Context it needs:
    - ``snapshots``: ``alignment.models.HealthSnapshot`` objects (or dicts with ``day`` and
      ``score``) of ONE partnership, in any order. For many partnerships at once (the dashboard)
      load them in one query with ``alignment.health_snapshots.recent_snapshots(ids, days=90)``,
      which returns ``{partnership_id: [snapshots]}``;
    - ``size``: ``"line"`` (default; axes, markers, a "Show the numbers" table) or ``"spark"``
      (a 120 by 32 sparkline for lists; its trend is in the SVG's title/description).

    Usage: ``{% health_trend snapshots %}`` or, in a list, ``{% health_trend p.snapshots size="spark" %}``
    """
    return {"chart": charts.health_trend(list(snapshots or []), size=size)}


@register.inclusion_tag("charts/chart.html")
def trajectory_chart(objective: Any, suggestions: Iterable[Any], start_day: dt.date | None = None) -> dict[str, Any]:
    """The derive-goals picture: the straight line from an objective's baseline to its long-term
    target, with each suggested interim goal's target (diamond markers) on it.

    Context it needs:
    - ``objective``: an ``alignment.models.Objective`` with ``baseline, target, target_date``;
    - ``suggestions``: the list from ``goals.derive.suggest_interim_goals(objective, ...)``.

    Usage: ``{% trajectory_chart objective suggestions %}``
    """
    return {"chart": charts.derive_trajectory(objective, list(suggestions), start_day=start_day)}


@register.inclusion_tag("charts/progress_bar.html")
def progress_bar(value: Any, expected: Any = None, label: str = "", plain: bool = False) -> dict[str, Any]:
    """A progress bar with its percentage written next to it (``role="progressbar"`` with
    ``aria-valuenow`` and a spoken text). With ``expected`` it marks where the plan should be by now
    and says "on track" or "behind plan" (behind is also hatched, not only a different colour).

    Context it needs:
    - ``value``: the share of the way from baseline to target, 0..1 (``goal.progress(latest.value)``),
      or None when nothing was measured yet ("No check-in yet");
    - ``expected`` (optional): 0..1, e.g. ``goal|expected_share`` (how far along the period is);
    - ``label`` (optional): the accessible name, e.g. the goal's title (else "Progress towards target");
    - ``plain`` (optional): only the percentage, for scores that are not progress towards a target.

    Usage: ``{% progress_bar progress expected=goal|expected_share label=goal.title %}``
    """
    return {"bar": charts.progress_bar(value, expected=expected, label=label, plain=plain)}


@register.filter
def expected_share(goal: Any, today: dt.date | None = None) -> float | None:
    """How far along its period a goal is today (0..1): where a straight trajectory would be."""
    return charts.expected_share(goal, today)


@register.filter
def goal_progress(goal: Any, value: Any) -> float | None:
    """``goal.progress(value)`` for templates: ``{{ goal|goal_progress:latest.value }}``."""
    if value is None or value == "":
        return None
    progress: float | None = goal.progress(Decimal(str(value)))
    return progress


@register.filter
def as_share(percent: Any) -> float | None:
    """A 0-100 score as a 0..1 share, for ``progress_bar``: ``{% progress_bar health.score|as_share %}``."""
    if percent is None or percent == "":
        return None
    return float(percent) / 100
