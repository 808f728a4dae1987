"""The give/get balance as a picture, drawn on the server as SVG (``templates/health/_give_get.html``).

Pure, like ``goals.charts``: it takes balances already loaded (``cadence.balance.load_balances``)
and the names the reader knows the sides by, and returns coordinates. The SVG carries only
presentation attributes (no inline style or script: the Content-Security-Policy forbids them);
every bar has a ``<title>``, the picture a text description, and its numbers are in a table.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, ngettext

from alignment.models import Side

from .balance import Balance

SIDE_COLOUR: dict[str, str] = {Side.VENDOR: "#0b5cad", Side.PARTNER: "#9a3412"}
# The partner's bars are drawn lighter and outlined, so the sides differ without colour too.
SIDE_OPACITY: dict[str, str] = {Side.VENDOR: "1", Side.PARTNER: "0.55"}
WIDTH, HEIGHT = 640, 330
BAR_LEFT, BAR_SPAN = 160, 220
TREND_TOP, TREND_BOTTOM, TREND_LEFT, GROUP_WIDTH = 180, 290, 20, 155


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    opacity: str
    title: str


@dataclass
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"
    weight: str = "normal"


@dataclass
class GiveGetChart:
    title: str
    description: str
    uid: str = field(default_factory=lambda: f"gg-{uuid.uuid4().hex[:8]}")
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # name, colour, opacity
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)


def reader_names(access: Any) -> dict[str, str]:
    """How the reader knows each side: "Your side" for their own, the organisation's name for the
    other (``access.partnership`` with its organisations loaded)."""
    p = access.partnership
    return {
        side: gettext("Your side") if side == access.side else p.organisation_for(side).name for side in Side.values
    }


def _short(name: str, n: int = 18) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def share_text(balance: Balance) -> str:
    share = balance.delivery_share
    return "–" if share is None else f"{round(share * 100)} %"


def give_get(current: Balance, quarters: Sequence[Balance], names: Mapping[str, str]) -> GiveGetChart:
    """Two bars per side for ``current`` (commitments delivered, outcomes got) and, below, what
    each side delivered in each of ``quarters`` (oldest first) with the quarter's delivery balance."""
    chart = GiveGetChart(
        title=gettext("Give and get: %(period)s") % {"period": current.period.label},
        description="",
    )
    chart.legend = [(names[s], SIDE_COLOUR[s], SIDE_OPACITY[s]) for s in Side.values]
    gave_max = max([1, *(f.gave for f in current.sides.values())])
    got_max = max([1, *(f.got for f in current.sides.values())])
    chart.labels.append(Label(0, 16, current.period.label, weight="bold"))
    for i, side in enumerate(Side.values):
        flow, top = current.sides[side], 30 + i * 64
        name = names[side]
        chart.labels.append(Label(0, top + 22, _short(name), weight="bold"))
        gave = ngettext(
            "gave: %(n)s of %(due)s commitment delivered",
            "gave: %(n)s of %(due)s commitments delivered",
            flow.due,
        ) % {"n": flow.gave, "due": flow.due}
        got = ngettext("got: %(n)s goal achieved", "got: %(n)s goals achieved", flow.got) % {"n": flow.got}
        for row, (value, most, text) in enumerate(((flow.gave, gave_max, gave), (flow.got, got_max, got))):
            y = top + row * 24
            width = BAR_SPAN * value / most
            chart.bars.append(
                Bar(BAR_LEFT, y, max(width, 1.5), 18, SIDE_COLOUR[side], SIDE_OPACITY[side], f"{name}: {text}")
            )
            chart.labels.append(Label(BAR_LEFT + max(width, 1.5) + 6, y + 13, text))
    chart.labels.append(Label(0, TREND_TOP - 16, gettext("Delivered per quarter"), weight="bold"))
    chart.lines.append((TREND_LEFT, TREND_BOTTOM, WIDTH - TREND_LEFT, TREND_BOTTOM))
    trend_max = max([1, *(f.gave for b in quarters for f in b.sides.values())])
    for q, balance in enumerate(quarters):
        left = TREND_LEFT + q * GROUP_WIDTH + 30
        for i, side in enumerate(Side.values):
            value = balance.sides[side].gave
            height = (TREND_BOTTOM - TREND_TOP - 16) * value / trend_max
            x = left + i * 40
            title = gettext("%(period)s: %(name)s delivered %(n)s") % {
                "period": balance.period.label,
                "name": names[side],
                "n": value,
            }
            chart.bars.append(Bar(x, TREND_BOTTOM - height, 34, height, SIDE_COLOUR[side], SIDE_OPACITY[side], title))
            chart.labels.append(Label(x + 17, TREND_BOTTOM - height - 4, str(value), anchor="middle"))
        chart.labels.append(Label(left + 37, TREND_BOTTOM + 16, balance.period.label, anchor="middle"))
        chart.labels.append(
            Label(
                left + 37,
                TREND_BOTTOM + 32,
                gettext("balance %(share)s") % {"share": share_text(balance)},
                anchor="middle",
            )
        )
    chart.table_head = [
        gettext("Period"),
        *(gettext("%(name)s gave") % {"name": names[s]} for s in Side.values),
        *(gettext("%(name)s got") % {"name": names[s]} for s in Side.values),
        gettext("Balance"),
    ]
    for balance in [*quarters, *([] if current.period in {b.period for b in quarters} else [current])]:
        chart.table_rows.append(
            [
                balance.period.label,
                *(str(balance.sides[s].gave) for s in Side.values),
                *(str(balance.sides[s].got) for s in Side.values),
                share_text(balance),
            ]
        )
    chart.description = describe(current, names)
    return chart


def describe(balance: Balance, names: Mapping[str, str]) -> str:
    """The balance of a period in one sentence, naming the sides as the reader knows them."""
    if not balance.has_commitments and not balance.achieved:
        return gettext("Nothing to balance yet: no commitment is due in %(period)s and no goal was achieved.") % {
            "period": balance.period.label
        }
    vendor, partner = balance.sides[Side.VENDOR], balance.sides[Side.PARTNER]
    return gettext(
        "%(period)s: %(vendor)s delivered %(vendor_gave)s of %(vendor_due)s commitments due and got "
        "%(vendor_got)s; %(partner)s delivered %(partner_gave)s of %(partner_due)s and got %(partner_got)s."
    ) % {
        "period": balance.period.label,
        "vendor": names[Side.VENDOR],
        "vendor_gave": vendor.gave,
        "vendor_due": vendor.due,
        "vendor_got": _goals_achieved(vendor.got),
        "partner": names[Side.PARTNER],
        "partner_gave": partner.gave,
        "partner_due": partner.due,
        "partner_got": _goals_achieved(partner.got),
    }


def _goals_achieved(n: int) -> str:
    """What a side got, in the plural of the reader's language: "1 goal achieved", "2 goals achieved"."""
    return ngettext("%(n)s goal achieved", "%(n)s goals achieved", n) % {"n": n}
